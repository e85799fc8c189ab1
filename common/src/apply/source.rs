//! Reading the objects to apply: files (YAML, JSON, NDJSON), directories, stdin, or one object
//! built from `KIND NAME KEY=JSON…`. Every object keeps where it came from (file and line), so
//! an error can point at it.

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Where an object came from: a file (or `stdin`, or `arguments`) and its first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// File name as given, `stdin`, or `arguments`.
    pub file: String,
    /// 1-based line of the object's start (0 when unknown).
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// One object read from the input, as written (no kind decided yet).
#[derive(Debug, Clone)]
pub struct Document {
    /// The object.
    pub value: Map<String, Value>,
    /// Where it was read.
    pub origin: Origin,
}

/// The file extensions a directory is searched for.
const EXTENSIONS: [&str; 5] = ["yaml", "yml", "json", "ndjson", "jsonl"];

/// Read every object of `paths` (files, directories — their YAML/JSON/NDJSON files in name
/// order — or `-` for stdin).
pub fn read_paths(paths: &[String]) -> Result<Vec<Document>> {
    let mut documents = Vec::new();
    for path in paths {
        if path == "-" {
            let text = crate::input::read_stdin_text("objects to apply")?;
            documents.extend(parse_text(&text, "stdin", None)?);
            continue;
        }
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::usage(format!("cannot read '{path}': {e}")))?;
        if meta.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| Error::usage(format!("cannot read directory '{path}': {e}")))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && extension(p).is_some())
                .collect();
            files.sort();
            for file in files {
                documents.extend(read_file(&file)?);
            }
        } else {
            documents.extend(read_file(Path::new(path))?);
        }
    }
    Ok(documents)
}

/// Read all of stdin as objects (YAML, JSON or NDJSON, recognised by content).
pub fn read_stdin() -> Result<Vec<Document>> {
    read_paths(&["-".to_string()])
}

fn extension(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    EXTENSIONS.iter().copied().find(|e| *e == ext)
}

fn read_file(path: &Path) -> Result<Vec<Document>> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read '{shown}': {e}")))?;
    parse_text(&text, &shown, extension(path))
}

/// Parse text as objects. `extension` picks the format (`json`, `ndjson`/`jsonl`, `yaml`/`yml`);
/// without one the content decides: `{` or `[` first is JSON or NDJSON, anything else YAML.
///
/// ```
/// use pf_common::apply::source::parse_text;
/// let docs = parse_text("{\"name\":\"a\"}\n{\"name\":\"b\"}\n", "stdin", None).unwrap();
/// assert_eq!(docs.len(), 2);
/// assert_eq!(docs[1].origin.to_string(), "stdin:2");
/// let docs = parse_text("kind: variable\nname: a\nvalue: 1\n---\nkind: flow\nname: f\n", "x.yaml", None).unwrap();
/// assert_eq!(docs[1].origin.line, 5);
/// ```
pub fn parse_text(text: &str, file: &str, extension: Option<&str>) -> Result<Vec<Document>> {
    let first = text.trim_start().chars().next();
    match extension {
        Some("yaml" | "yml") => parse_yaml(text, file),
        Some(_) => parse_json_stream(text, file),
        None if matches!(first, Some('{' | '[')) => parse_json_stream(text, file),
        None => parse_yaml(text, file),
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// One JSON value, an array of them, or NDJSON (one value after another).
fn parse_json_stream(text: &str, file: &str) -> Result<Vec<Document>> {
    let mut documents = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    loop {
        let start = stream.byte_offset();
        let skipped = text[start..].len() - text[start..].trim_start().len();
        let origin = Origin {
            file: file.to_string(),
            line: line_of(text, start + skipped),
        };
        match stream.next() {
            None => break,
            Some(Ok(value)) => push_value(&mut documents, value, origin)?,
            Some(Err(e)) => {
                return Err(Error::usage(format!(
                    "{file}:{}: not valid JSON: {}",
                    e.line(),
                    strip_position(&e.to_string())
                )));
            }
        }
    }
    Ok(documents)
}

/// serde's messages end with " at line L column C"; the line is already in front.
fn strip_position(message: &str) -> &str {
    match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

fn push_value(documents: &mut Vec<Document>, value: Value, origin: Origin) -> Result<()> {
    match value {
        Value::Object(map) => documents.push(Document { value: map, origin }),
        Value::Array(items) => {
            for item in items {
                push_value(documents, item, origin.clone())?;
            }
        }
        Value::Null => {}
        other => {
            return Err(Error::usage(format!(
                "{origin}: expected an object, found {}",
                match other {
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    _ => "a boolean",
                }
            )));
        }
    }
    Ok(())
}

/// YAML: documents separated by `---`; a document may be one object or a list of objects.
fn parse_yaml(text: &str, file: &str) -> Result<Vec<Document>> {
    let mut documents = Vec::new();
    // Split on document markers ourselves so each object knows its first line.
    let mut chunk = String::new();
    let mut chunk_start = 1;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let bare = line.trim_end();
        if bare == "---" || bare.starts_with("--- ") {
            parse_yaml_chunk(&chunk, chunk_start, file, &mut documents)?;
            chunk.clear();
            chunk_start = i + 2;
            if let Some(rest) = bare.strip_prefix("--- ") {
                chunk.push_str(rest);
                chunk.push('\n');
                chunk_start = i + 1;
            }
        } else {
            chunk.push_str(line);
        }
    }
    parse_yaml_chunk(&chunk, chunk_start, file, &mut documents)?;
    Ok(documents)
}

fn parse_yaml_chunk(
    chunk: &str,
    first_line: usize,
    file: &str,
    documents: &mut Vec<Document>,
) -> Result<()> {
    if chunk
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "...")
    {
        return Ok(());
    }
    let value: Value = serde_norway::from_str(chunk).map_err(|e| {
        let line = e
            .location()
            .map_or(first_line, |l| first_line + l.line() - 1);
        Error::usage(format!(
            "{file}:{line}: not valid YAML: {}",
            strip_position(&e.to_string())
        ))
    })?;
    // The object starts at its first line of content, not at a comment above it.
    let skipped = chunk
        .lines()
        .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        .count();
    let origin = Origin {
        file: file.to_string(),
        line: first_line + skipped,
    };
    push_value(documents, value, origin)
}

/// The object of `KIND NAME KEY=JSON…`: the name goes where the kind's natural key says (see
/// [`super::spec::ApplySpec::set_key`]), each `KEY=JSON` (the rule of `pf-run --param`) sets
/// a field.
pub fn from_arguments(assignments: &[String]) -> Result<Map<String, Value>> {
    crate::params::parse_key_json_map(assignments, "KEY=JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_errors_carry_the_line() {
        let text = "kind: flow\nname: a\n---\nkind: flow\nname: [b\n";
        let error = parse_text(text, "f.yaml", Some("yaml"))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("f.yaml:"), "{error}");
        let line: usize = error.split(':').nth(1).unwrap().parse().unwrap();
        assert!((4..=6).contains(&line), "{error}");
    }

    #[test]
    fn yaml_lists_and_comments() {
        let text = "# objects\n- kind: flow\n  name: a\n- kind: flow\n  name: b\n";
        let docs = parse_text(text, "f.yaml", None).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].origin.line, 2);
    }

    #[test]
    fn ndjson_errors_carry_the_line() {
        let error = parse_text("{\"a\":1}\n{\"a\":\n", "stdin", None)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("stdin:3: not valid JSON"), "{error}");
    }
}
