//! The request pf-api sends: its path, body (-d JSON, @FILE, @-, or stdin) and extra headers.

use pf_common::client::Method;
use pf_common::input::read_stdin_text;
use pf_common::output::stdin_is_terminal;
use pf_common::{Client, Error, Result};
use serde_json::Value;

/// The path below the API URL: a leading `/api/` (as the API docs write paths) is dropped when
/// the API URL already ends in `/api`.
pub fn api_path(client: &Client, path: &str) -> String {
    if client
        .settings()
        .api_url
        .trim_end_matches('/')
        .ends_with("/api")
        && let Some(rest) = path.strip_prefix("/api/")
    {
        return rest.to_string();
    }
    path.to_string()
}

/// `Name: value` → (name, value).
pub fn parse_header(text: &str) -> Result<(String, String)> {
    match text.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(Error::usage_hint(
            format!("bad header '{text}'"),
            "use -H 'Name: value'",
        )),
    }
}

/// The JSON body: from `-d` (text, @FILE, @-), else from stdin for POST/PUT/PATCH when stdin is
/// not a terminal and not empty, else `{}` for POST/PUT/PATCH. Invalid JSON is a usage error (exit 2), before any request.
pub fn request_body(data: Option<&str>, method: Method) -> Result<Option<Value>> {
    let (text, source) = match data {
        Some("@-") => (read_stdin()?, "stdin".to_string()),
        Some(arg) if arg.starts_with('@') => {
            let file = &arg[1..];
            let text = std::fs::read_to_string(file).map_err(|e| {
                Error::usage(format!(
                    "cannot read -d {arg}: {}",
                    e.to_string().to_lowercase()
                ))
            })?;
            (text, file.to_string())
        }
        Some(text) => (text.to_string(), "-d".to_string()),
        None if matches!(method, Method::Post | Method::Put | Method::Patch)
            && !stdin_is_terminal() =>
        {
            (read_stdin()?, "stdin".to_string())
        }
        // As `prefect api`: a write with no body sends `{}` (endpoints such as
        // deployments/ID/create_flow_run answer 422 to no body at all).
        None if matches!(method, Method::Post | Method::Put | Method::Patch) => {
            return Ok(Some(Value::Object(Default::default())));
        }
        None => return Ok(None),
    };
    if text.trim().is_empty() {
        return if data.is_some_and(|d| !d.starts_with('@')) {
            Err(Error::usage("-d is empty"))
        } else if data.is_none() && matches!(method, Method::Post | Method::Put | Method::Patch) {
            Ok(Some(Value::Object(Default::default())))
        } else {
            Ok(None)
        };
    }
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::usage_hint(
            format!("the body from {source} is not JSON: {e}"),
            "pass a JSON document",
        )
    })
}

fn read_stdin() -> Result<String> {
    read_stdin_text("the request body")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_split_at_the_first_colon() {
        assert_eq!(
            parse_header("X-Trace: a:b").unwrap(),
            ("X-Trace".into(), "a:b".into())
        );
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header(": v").is_err());
    }
}
