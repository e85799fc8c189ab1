//! REFs from arguments or stdin: one REF per line, or NDJSON objects whose `id` is taken, so any
//! pf tool's piped output feeds any other.

use std::io::{self, BufRead};

use crate::error::{Error, Result};
use crate::output::stdin_is_terminal;

/// Where REFs come from: the arguments, or stdin when none (or `-`) is given and stdin is not a
/// terminal. Stdin is read lazily, line by line, so a REF is handed on as soon as its writer
/// produces it (`pf-run --quiet | pf-logs --follow`).
pub fn refs(args: &[String]) -> Result<Box<dyn Iterator<Item = Result<String>>>> {
    let from_stdin = args.is_empty() || args.iter().all(|a| a == "-");
    if !from_stdin {
        let given: Vec<Result<String>> =
            args.iter().filter(|a| *a != "-").cloned().map(Ok).collect();
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
        lines: io::stdin().lock().lines(),
        line_no: 0,
    }))
}

/// All REFs at once (for tools that act on a batch).
pub fn collect_refs(args: &[String]) -> Result<Vec<String>> {
    refs(args)?.collect()
}

struct StdinRefs {
    lines: io::Lines<io::StdinLock<'static>>,
    line_no: usize,
}

impl Iterator for StdinRefs {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        loop {
            let line = match self.lines.next()? {
                Ok(line) => line,
                Err(e) => return Some(Err(Error::io("cannot read stdin", e))),
            };
            self.line_no += 1;
            match parse_ref_line(&line) {
                Ok(Some(r)) => return Some(Ok(r)),
                Ok(None) => continue,
                Err(message) => {
                    return Some(Err(Error::usage(format!(
                        "stdin line {}: {message}",
                        self.line_no
                    ))));
                }
            }
        }
    }
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
    if text.contains(char::is_whitespace) {
        return Err(format!(
            "'{text}' is not a REF (expected an id or a name, one per line)"
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
    let mut text = String::new();
    io::Read::read_to_string(&mut io::stdin().lock(), &mut text)
        .map_err(|e| Error::io("cannot read stdin", e))?;
    Ok(text)
}
