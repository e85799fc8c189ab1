//! REFs from arguments or stdin: one REF per line, or NDJSON objects whose `id` is taken, so any
//! pf tool's piped output feeds any other.

use std::collections::HashSet;
use std::io::{self, BufRead};

use crate::error::{Error, Result};
use crate::output::stdin_is_terminal;

/// Where REFs come from: the arguments, or stdin when none (or `-`) is given and stdin is not a
/// terminal. Stdin is read lazily, line by line, so a REF is handed on as soon as its writer
/// produces it (`pf-run --quiet | pf-logs --follow`).
///
/// Each distinct REF is handed out once (100 000 copies of one id cost one lookup); a stdin read
/// error ends the stream with one usage error (exit 2); invalid UTF-8 is decoded lossily and
/// reported as a bad line, never a reason to drop the stream.
pub fn refs(args: &[String]) -> Result<Box<dyn Iterator<Item = Result<String>>>> {
    let from_stdin = args.is_empty() || args.iter().all(|a| a == "-");
    if !from_stdin {
        let mut seen = Distinct::default();
        let given: Vec<Result<String>> = args
            .iter()
            .filter(|a| *a != "-" && seen.first_time(a))
            .cloned()
            .map(Ok)
            .collect();
        return Ok(Box::new(given.into_iter()));
    }
    if stdin_is_terminal() {
        let tool = std::env::args()
            .next()
            .and_then(|a| a.rsplit('/').next().map(str::to_string))
            .unwrap_or_else(|| "pf-describe flow-run".into());
        return Err(Error::usage_hint(
            "no REF given",
            format!("pass an id or name, or pipe ids or NDJSON in: pf-get flow-runs | {tool} …"),
        ));
    }
    Ok(Box::new(StdinRefs {
        lines: Lines::new(io::stdin().lock()),
        seen: Distinct::default(),
    }))
}

/// All REFs at once (for tools that act on a batch).
pub fn collect_refs(args: &[String]) -> Result<Vec<String>> {
    refs(args)?.collect()
}

struct StdinRefs {
    lines: Lines<io::StdinLock<'static>>,
    seen: Distinct,
}

impl Iterator for StdinRefs {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        loop {
            let line = match self.lines.next()? {
                Ok(line) => line,
                Err(e) => return Some(Err(e)),
            };
            let parsed = if line.invalid_utf8 {
                Err(format!(
                    "'{}' is not a REF (not UTF-8 text)",
                    shorten(&line.text)
                ))
            } else if line.cut {
                Err(format!(
                    "'{}' is not a REF (line too long)",
                    shorten(&line.text)
                ))
            } else {
                parse_ref_line(&line.text)
            };
            match parsed {
                Ok(Some(r)) if self.seen.first_time(&r) => return Some(Ok(r)),
                Ok(_) => continue,
                Err(message) => {
                    return Some(Err(Error::usage(format!(
                        "stdin line {}: {message}",
                        line.number
                    ))));
                }
            }
        }
    }
}

/// Remembers REFs already handed out, up to a bound (past it, repeats are handed out again).
#[derive(Default)]
struct Distinct(HashSet<String>);

impl Distinct {
    const MAX: usize = 1_000_000;

    fn first_time(&mut self, reference: &str) -> bool {
        if self.0.contains(reference) {
            return false;
        }
        if self.0.len() < Self::MAX {
            self.0.insert(reference.to_string());
        }
        true
    }
}

/// Longest stdin line pf keeps, in bytes; the rest of a longer line is read and skipped.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One line of a text stream, as [`Lines`] hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The text without its line ending; invalid UTF-8 replaced by U+FFFD.
    pub text: String,
    /// 1-based line number.
    pub number: usize,
    /// The line had invalid UTF-8 (shown as U+FFFD in `text`).
    pub invalid_utf8: bool,
    /// The line was longer than the cap and was cut (the rest was skipped).
    pub cut: bool,
}

/// Lines of a reader for every stdin reader of pf: lossy UTF-8, each line capped at
/// [`MAX_LINE_BYTES`] (memory stays bounded whatever comes in), and a read error reported once
/// as a usage error (exit 2) that ends the stream, so a broken stdin cannot loop.
///
/// ```
/// use pf_common::input::Lines;
/// let mut lines = Lines::new(&b"one\r\ntw\xffo\n"[..]);
/// assert_eq!(lines.next().unwrap().unwrap().text, "one");
/// let second = lines.next().unwrap().unwrap();
/// assert_eq!((second.text.as_str(), second.invalid_utf8), ("tw\u{fffd}o", true));
/// assert!(lines.next().is_none());
/// ```
#[derive(Debug)]
pub struct Lines<R> {
    reader: R,
    max: usize,
    number: usize,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `reader`, each capped at [`MAX_LINE_BYTES`].
    pub fn new(reader: R) -> Self {
        Self::with_cap(reader, MAX_LINE_BYTES)
    }

    /// Lines of `reader`, each capped at `max` bytes.
    pub fn with_cap(reader: R, max: usize) -> Self {
        Lines {
            reader,
            max,
            number: 0,
            done: false,
        }
    }

    fn read_line(&mut self) -> io::Result<Option<(Vec<u8>, bool)>> {
        let mut line = Vec::new();
        let mut cut = false;
        let mut any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(any.then_some((line, cut)));
            }
            any = true;
            let (chunk, used, ended) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            let room = self.max.saturating_sub(line.len());
            if chunk.len() > room {
                cut = true;
            }
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            self.reader.consume(used);
            if ended {
                return Ok(Some((line, cut)));
            }
        }
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = Result<Line>;

    fn next(&mut self) -> Option<Result<Line>> {
        if self.done {
            return None;
        }
        match self.read_line() {
            Ok(Some((mut bytes, cut))) => {
                self.number += 1;
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
                let (text, invalid_utf8) = match String::from_utf8(bytes) {
                    Ok(text) => (text, false),
                    Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
                };
                Some(Ok(Line {
                    text,
                    number: self.number,
                    invalid_utf8,
                    cut,
                }))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(Error::usage(format!("cannot read stdin: {e}"))))
            }
        }
    }
}

/// Echoed input in a message: at most ~100 characters, on one line, `…` when cut.
///
/// ```
/// let long = "x".repeat(500);
/// assert_eq!(pf_common::input::shorten(&long).chars().count(), 101);
/// assert_eq!(pf_common::input::shorten("a\nb"), "a b");
/// ```
pub fn shorten(text: &str) -> String {
    crate::error::one_line(text, 100)
}

/// One stdin line as a REF: blank → None; a JSON object → its `id`; otherwise the trimmed text.
///
/// ```
/// use pf_common::input::parse_ref_line;
/// assert_eq!(parse_ref_line("  turquoise-gazelle ").unwrap().as_deref(), Some("turquoise-gazelle"));
/// assert_eq!(parse_ref_line(r#"{"id":"abc","name":"x"}"#).unwrap().as_deref(), Some("abc"));
/// assert_eq!(parse_ref_line("").unwrap(), None);
/// assert!(parse_ref_line(r#"{"name":"x"}"#).is_err());
/// ```
pub fn parse_ref_line(line: &str) -> std::result::Result<Option<String>, String> {
    let text = line.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        return match value.get("id") {
            Some(serde_json::Value::String(id)) if !id.is_empty() => Ok(Some(id.clone())),
            _ => Err("JSON object has no string \"id\" field".into()),
        };
    }
    if text.contains(char::is_whitespace) || text.contains(char::is_control) {
        return Err(format!(
            "'{}' is not a REF (expected an id or a name, one per line)",
            shorten(text)
        ));
    }
    Ok(Some(text.to_string()))
}

/// All of stdin as text (a request body, a secret value). Refused when stdin is a terminal, so
/// a tool never waits silently for typing and a secret is never echoed on screen.
pub fn read_stdin_text(what: &str) -> Result<String> {
    if stdin_is_terminal() {
        return Err(Error::usage_hint(
            format!("{what} is read from stdin, which is a terminal"),
            "pipe it in (`command | …`) or redirect a file (`… < FILE`)",
        ));
    }
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut io::stdin().lock(), &mut bytes)
        .map_err(|e| Error::usage(format!("cannot read stdin: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::usage(format!("{what} from stdin is not UTF-8 text")))
}
