//! Answer bodies that may be too large to hold twice (issue 15: one 200 MB answer took 831 MB).
//!
//! A body up to [`SPOOL_THRESHOLD`] is read into memory as before. A larger one is spooled, as
//! it arrives, to an unlinked temporary file: the whole body is still read before the request
//! counts as answered (so a read dropped midway is retried like any other), but it is then
//! parsed from the file instead of from a second copy in memory, and a JSON array can be
//! parsed one element at a time ([`Body::for_each_element`]) for output that is printed as it
//! is parsed.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, Write};
use std::path::PathBuf;

use serde::Serializer as _;
use serde::de::{Error as _, IgnoredAny};
use serde::ser::SerializeSeq;
use serde_json::Value;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter, Serializer};

use crate::error::{Error, Result};

/// Bodies larger than this (after decompression) are spooled to a temporary file.
pub const SPOOL_THRESHOLD: usize = 8 << 20;

/// The buffer parsing reads a spooled body through.
const READ_BUFFER: usize = 256 << 10;

/// An answer's body: in memory, or spooled to a temporary file when it was large.
#[derive(Debug)]
pub enum Body {
    /// The whole body (up to [`SPOOL_THRESHOLD`], or when no temporary file could be made).
    Memory(Vec<u8>),
    /// A body above the threshold, in a temporary file that is gone when this is dropped.
    Spooled(Spool),
}

/// A temporary file holding a large body. It is unlinked as soon as it is created, so nothing
/// is left behind even when pf is killed; where that is not possible it is removed on drop.
#[derive(Debug)]
pub struct Spool {
    file: File,
    len: u64,
    leftover: Option<PathBuf>,
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(path) = self.leftover.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Body {
    /// Read `reader` to its end: into memory up to `threshold` bytes, the rest (and what came
    /// before) into a temporary file. When no temporary file can be made, the body is read
    /// into memory as a whole: a full disk is no reason to lose the answer.
    pub fn read_from(mut reader: impl Read, threshold: usize) -> io::Result<Body> {
        // Room for exactly what is kept in memory: growing by doubling would reserve twice the
        // threshold. Pages not written to are not memory the process uses.
        let mut head = Vec::with_capacity(threshold + 1);
        (&mut reader)
            .take(threshold as u64 + 1)
            .read_to_end(&mut head)?;
        if head.len() <= threshold {
            return Ok(Body::Memory(head));
        }
        let Ok((file, leftover)) = spool_file() else {
            reader.read_to_end(&mut head)?;
            return Ok(Body::Memory(head));
        };
        let mut out = io::BufWriter::with_capacity(READ_BUFFER, file);
        out.write_all(&head)?;
        drop(head);
        let rest = io::copy(&mut reader, &mut out)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        Ok(Body::Spooled(Spool {
            file,
            len: threshold as u64 + 1 + rest,
            leftover,
        }))
    }

    /// The body's size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Memory(bytes) => bytes.len() as u64,
            Body::Spooled(spool) => spool.len,
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the body went to a temporary file.
    pub fn is_spooled(&self) -> bool {
        matches!(self, Body::Spooled(_))
    }

    /// The whole body in memory (a spooled one is read back).
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self {
            Body::Memory(bytes) => Ok(bytes),
            Body::Spooled(mut spool) => {
                let mut bytes = Vec::with_capacity(usize::try_from(spool.len).unwrap_or(0));
                spool.file.rewind()?;
                spool.file.read_to_end(&mut bytes)?;
                Ok(bytes)
            }
        }
    }

    /// The body from its start, buffered.
    pub fn reader(&mut self) -> io::Result<Box<dyn BufRead + '_>> {
        Ok(match self {
            Body::Memory(bytes) => Box::new(&bytes[..]),
            Body::Spooled(spool) => {
                spool.file.rewind()?;
                Box::new(BufReader::with_capacity(READ_BUFFER, &spool.file))
            }
        })
    }

    /// The first byte that is not ASCII whitespace (None: the body is blank).
    pub fn first_byte(&mut self) -> io::Result<Option<u8>> {
        let mut reader = self.reader()?;
        loop {
            let buffer = reader.fill_buf()?;
            if buffer.is_empty() {
                return Ok(None);
            }
            if let Some(&b) = buffer.iter().find(|b| !b.is_ascii_whitespace()) {
                return Ok(Some(b));
            }
            let n = buffer.len();
            reader.consume(n);
        }
    }

    /// Parse the body as one JSON value. A spooled body is parsed from its file (no second
    /// copy of the text is held), a list element by element.
    pub fn json(&mut self) -> std::result::Result<Value, serde_json::Error> {
        if let Body::Memory(bytes) = self {
            return serde_json::from_slice(bytes);
        }
        if self.first_byte().map_err(serde_json::Error::io)? == Some(b'[') {
            let mut list = Vec::new();
            return match self.for_each_element(|element| {
                list.push(element);
                Ok(())
            }) {
                Ok(()) => Ok(Value::Array(list)),
                Err(e) => Err(serde_json::Error::custom(e.to_string())),
            };
        }
        let reader = self.reader().map_err(serde_json::Error::io)?;
        serde_json::from_reader(reader)
    }

    /// Whether the body is one valid JSON array (checked without building it).
    pub fn is_json_list(&mut self) -> bool {
        self.reader().is_ok_and(is_json_list)
    }

    /// Parse the body as a JSON array and hand each element to `each` as soon as it is parsed,
    /// so only one element is in memory at a time. Stops at the first error `each` returns.
    pub fn for_each_element(&mut self, each: impl FnMut(Value) -> Result<()>) -> Result<()> {
        let reader = self
            .reader()
            .map_err(|e| Error::io("cannot read the answer back", e))?;
        for_each_element(reader, each)
    }

    /// Write the body, a JSON array, to `out` one element at a time as it is parsed, then a
    /// newline: compact, or pretty (`pretty`), byte for byte what serde_json writes for the
    /// whole list parsed at once.
    pub fn write_list(&mut self, out: impl Write, pretty: bool) -> Result<()> {
        if pretty {
            self.write_list_as(Serializer::with_formatter(out, PrettyFormatter::new()))
        } else {
            self.write_list_as(Serializer::with_formatter(out, CompactFormatter))
        }
    }

    fn write_list_as<W: Write, F: Formatter>(&mut self, mut json: Serializer<W, F>) -> Result<()> {
        let mut list = (&mut json).serialize_seq(None).map_err(write_error)?;
        self.for_each_element(|element| list.serialize_element(&element).map_err(write_error))?;
        list.end().map_err(write_error)?;
        let mut out = json.into_inner();
        out.write_all(b"\n")
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("cannot write to stdout", e))
    }

    /// Copy the body as it is to `out`.
    pub fn copy_to(&mut self, out: &mut impl Write) -> io::Result<u64> {
        io::copy(&mut self.reader()?, out)
    }
}

/// A response whose body may have been spooled to a file because it was large (see
/// this module); error bodies are always in memory, cut at
/// [`crate::error::MAX_ERROR_BODY`].
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Body,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Parse the body as JSON (`null` for an empty body), from the file when it was spooled.
    pub fn json(&mut self) -> Result<Value> {
        let status = self.status;
        let not_json = |e: String| Error::Server {
            status,
            message: format!("the server's answer is not JSON: {e}"),
        };
        if self
            .body
            .first_byte()
            .map_err(|e| not_json(e.to_string()))?
            .is_none()
        {
            return Ok(Value::Null);
        }
        self.body.json().map_err(|e| not_json(e.to_string()))
    }

    /// The whole body in memory (a spooled body is read back from its file).
    pub fn into_response(self) -> Result<crate::client::Response> {
        let status = self.status;
        let body = self
            .body
            .into_bytes()
            .map_err(|e| Error::io("cannot read the answer back from its temporary file", e))?;
        Ok(crate::client::Response { status, body })
    }
}

/// Parse `reader` as one JSON array, handing each element to `each` as it is parsed.
///
/// The text of each element is cut out by a small scanner (strings, escapes and nesting) and
/// parsed with `serde_json::from_slice`: serde_json's own reader-based parser goes byte by
/// byte through the reader and is several times slower.
pub fn for_each_element(
    reader: impl BufRead,
    mut each: impl FnMut(Value) -> Result<()>,
) -> Result<()> {
    split_elements(reader, |text| match serde_json::from_slice(text) {
        Ok(element) => each(element),
        Err(e) => Err(not_a_list(e)),
    })
}

/// Whether `reader` holds one valid JSON array (no values are built).
fn is_json_list(reader: impl BufRead) -> bool {
    split_elements(reader, |text| {
        serde_json::from_slice::<IgnoredAny>(text)
            .map(|_| ())
            .map_err(not_a_list)
    })
    .is_ok()
}

fn not_a_list(e: impl fmt::Display) -> Error {
    Error::Server {
        status: 200,
        message: format!("the server's answer is not a JSON list: {e}"),
    }
}

/// Hand `each` the text of every element of the JSON array in `reader`, trimmed. Only the
/// array's own structure is checked here (brackets, commas, nothing after the end); each
/// element's text is for `each` to parse.
fn split_elements(
    mut reader: impl BufRead,
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let read_error = |e: io::Error| Error::io("cannot read the answer back", e);
    let mut element: Vec<u8> = Vec::new();
    let (mut started, mut ended, mut elements) = (false, false, 0usize);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    loop {
        let chunk = reader.fill_buf().map_err(read_error)?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len();
        let mut from = 0;
        for (i, &b) in chunk.iter().enumerate() {
            if ended || !started {
                if b.is_ascii_whitespace() {
                    continue;
                }
                if ended {
                    return Err(not_a_list("more text after the list"));
                }
                if b != b'[' {
                    return Err(not_a_list("it does not start with ["));
                }
                started = true;
                from = i + 1;
                continue;
            }
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => depth += 1,
                b']' | b'}' if depth > 0 => depth -= 1,
                b',' | b']' if depth == 0 => {
                    element.extend_from_slice(&chunk[from..i]);
                    from = i + 1;
                    let text = element.trim_ascii();
                    if text.is_empty() {
                        if b == b',' || elements > 0 {
                            return Err(not_a_list("an element is missing"));
                        }
                    } else {
                        each(text)?;
                        elements += 1;
                    }
                    element.clear();
                    ended = b == b']';
                }
                b'}' => return Err(not_a_list("an unmatched }")),
                _ => {}
            }
        }
        if started && !ended {
            element.extend_from_slice(&chunk[from..]);
        }
        reader.consume(n);
    }
    if ended {
        Ok(())
    } else {
        Err(not_a_list("it ends before the list does"))
    }
}

fn write_error(e: serde_json::Error) -> Error {
    Error::io("cannot write to stdout", io::Error::from(e))
}

/// A new temporary file, unlinked at once (where the system allows it) and readable only by
/// the user: answers can hold variable values.
fn spool_file() -> io::Result<(File, Option<PathBuf>)> {
    let dir = std::env::temp_dir();
    let mut last = io::Error::other("no temporary file name was free");
    for _ in 0..8 {
        let path = dir.join(format!(
            "pf-answer-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let mut options = OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(file) => {
                let leftover = std::fs::remove_file(&path).err().map(|_| path);
                return Ok((file, leftover));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bodies_stay_in_memory_and_large_ones_are_spooled_whole() {
        let small = Body::read_from(&b"[1,2]"[..], 8).unwrap();
        assert!(!small.is_spooled());
        let text: String = format!(
            "[{}]",
            (0..1000)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        let mut large = Body::read_from(text.as_bytes(), 64).unwrap();
        assert!(large.is_spooled());
        assert_eq!(large.len(), text.len() as u64);
        let mut seen = Vec::new();
        large
            .for_each_element(|v| {
                seen.push(v.as_u64().unwrap());
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert_eq!(large.json().unwrap().as_array().unwrap().len(), 1000);
        assert!(large.is_json_list());
        assert_eq!(large.first_byte().unwrap(), Some(b'['));
        assert_eq!(large.into_bytes().unwrap(), text.as_bytes());
    }

    #[test]
    fn a_list_written_element_by_element_is_what_the_whole_list_gives() {
        let list = serde_json::json!([
            {"id": "a", "n": 1.5, "nested": {"x": [1, 2, {}], "e": []}, "s": "é\n\"q\""},
            [], {}, null, -3, 12345678901234567890u64, "plain"
        ]);
        for value in [list, serde_json::json!([])] {
            let text = value.to_string();
            for pretty in [false, true] {
                let mut body = Body::read_from(text.as_bytes(), 2).unwrap();
                let mut out = Vec::new();
                body.write_list(&mut out, pretty).unwrap();
                let mut expected = if pretty {
                    serde_json::to_vec_pretty(&value).unwrap()
                } else {
                    serde_json::to_vec(&value).unwrap()
                };
                expected.push(b'\n');
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    String::from_utf8(expected).unwrap()
                );
            }
        }
    }

    #[test]
    fn the_scanner_agrees_with_serde_json_on_lists() {
        let cases = [
            "[]",
            " [ ] \n",
            "[1]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "[1] x",
            "[1]]",
            "[",
            "",
            "{}",
            "[1}",
            "[{\"a\":1}}]",
            r#"["a,]\"\\", "]"]"#,
            r#"[[1, 2], {"a": [3, {"b": "}"}]}, null]"#,
            "[[1, 2]",
        ];
        for text in cases {
            let expected: Option<Value> = serde_json::from_str::<Value>(text)
                .ok()
                .filter(Value::is_array);
            let mut got = Vec::new();
            let walked = for_each_element(text.as_bytes(), |v| {
                got.push(v);
                Ok(())
            });
            assert_eq!(walked.ok().map(|()| Value::Array(got)), expected, "{text}");
            assert_eq!(is_json_list(text.as_bytes()), expected.is_some(), "{text}");
            // Elements cut across reads: one byte per read.
            let one_byte = BufReader::with_capacity(1, text.as_bytes());
            assert_eq!(is_json_list(one_byte), expected.is_some(), "{text}");
        }
    }

    #[test]
    fn a_body_exactly_at_the_threshold_stays_in_memory() {
        assert!(!Body::read_from(&[b' '; 16][..], 16).unwrap().is_spooled());
        assert!(Body::read_from(&[b' '; 17][..], 16).unwrap().is_spooled());
    }

    #[test]
    fn broken_arrays_and_consumer_errors_stop_the_walk() {
        let mut broken = Body::read_from(&b"[1, 2, oops]"[..], 4).unwrap();
        let mut count = 0;
        assert!(
            broken
                .for_each_element(|_| {
                    count += 1;
                    Ok(())
                })
                .is_err()
        );
        assert_eq!(count, 2);
        assert!(!broken.is_json_list());
        let mut fine = Body::read_from(&b"[1, 2, 3]"[..], 4).unwrap();
        let stopped = fine.for_each_element(|_| Err(Error::Failed("enough".into())));
        assert!(matches!(stopped, Err(Error::Failed(m)) if m == "enough"));
    }
}
