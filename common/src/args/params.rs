//! Flow-run parameters and other `KEY=JSON` flags: parsing, merging a parameter file under the
//! flags, and checking values against a flow's parameter schema before a run is created.
//!
//! The server accepts unknown parameter names (the run then crashes when the flow is called),
//! so the check here is the one that tells the user, naming the parameter.

use std::io::Read;

use serde_json::{Map, Value};

use crate::args::jsonschema::{self, Schema};
use crate::error::{Error, Result};

/// Split `KEY=VALUE` (the key must not be empty). `flag` names the flag in the error.
pub fn split_key_value<'a>(text: &'a str, flag: &str) -> Result<(&'a str, &'a str)> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim(), value)),
        _ => Err(Error::usage_hint(
            format!("{flag} '{}' is not KEY=VALUE", crate::input::shorten(text)),
            format!("write it as {flag} name=value"),
        )),
    }
}

/// Parse `KEY=JSON` as Prefect's `load_json_key_values`: a value that is not JSON is taken as
/// a string (`name=Marvin`) unless it looks like broken JSON (it has a `"`, or starts with `[`
/// or `{`), which is a usage error naming the key.
///
/// ```
/// use serde_json::json;
/// use pf_common::params::parse_key_json;
/// assert_eq!(parse_key_json("n=5", "--param").unwrap(), ("n".to_string(), json!(5)));
/// assert_eq!(parse_key_json("who=Marvin", "--param").unwrap(), ("who".to_string(), json!("Marvin")));
/// assert_eq!(parse_key_json("xs=[1,2]", "--param").unwrap(), ("xs".to_string(), json!([1, 2])));
/// assert!(parse_key_json("=1", "--param").is_err());
/// assert!(parse_key_json(r#"x="foo"1"#, "--param").is_err());
/// assert!(parse_key_json("xs=[1,2", "--param").is_err());
/// assert_eq!(parse_key_json("v=1 2", "--param").unwrap().1, json!("1 2"));
/// ```
pub fn parse_key_json(text: &str, flag: &str) -> Result<(String, Value)> {
    let (key, raw) = split_key_value(text, flag)?;
    let value = match serde_json::from_str(raw) {
        Ok(value) => value,
        Err(e) => {
            let trimmed = raw.trim_start();
            if raw.contains('"') || trimmed.starts_with('[') || trimmed.starts_with('{') {
                return Err(Error::usage_hint(
                    format!("{flag} '{key}': the value is not valid JSON: {e}"),
                    format!("quote a string as JSON ({flag} {key}='\"text\"') or fix the JSON"),
                ));
            }
            Value::String(raw.to_string())
        }
    };
    Ok((key.to_string(), value))
}

/// Parse several `KEY=JSON` flags into one object (a later key wins).
pub fn parse_key_json_map(items: &[String], flag: &str) -> Result<Map<String, Value>> {
    let mut map = Map::new();
    for item in items {
        let (key, value) = parse_key_json(item, flag)?;
        map.insert(key, value);
    }
    Ok(map)
}

/// Read a JSON object of parameters from a file (`-` is stdin).
pub fn read_param_file(path: &str) -> Result<Map<String, Value>> {
    let text = if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::usage(format!("cannot read parameters from stdin: {e}")))?;
        text
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Error::usage(format!("cannot read parameter file '{path}': {e}")))?
    };
    let shown = if path == "-" { "stdin" } else { path };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::usage(format!(
            "parameters in {shown} must be a JSON object"
        ))),
        Err(e) => Err(Error::usage(format!(
            "parameters in {shown} are not valid JSON: {e}"
        ))),
    }
}

/// Parameters from a file, then a JSON object, then `--param` flags: each later source wins.
pub fn merge_params(layers: impl IntoIterator<Item = Map<String, Value>>) -> Map<String, Value> {
    let mut merged = Map::new();
    for layer in layers {
        merged.extend(layer);
    }
    merged
}

/// Check parameters against a flow's parameter schema (`parameter_openapi_schema`): unknown
/// names, wrong types, and required parameters that neither `params` nor `defaults` (the
/// deployment's own parameters) give. An empty or missing schema checks nothing; an open one
/// (`additionalProperties: true`) checks only the names it lists.
///
/// ```
/// use serde_json::json;
/// use pf_common::params::check_params;
/// let schema = json!({"type": "object", "required": ["n"],
///     "properties": {"n": {"type": "integer"}, "who": {"type": "string", "default": "x"}}});
/// let ok = json!({"n": 3}).as_object().unwrap().clone();
/// assert!(check_params(&schema, &ok, &Default::default()).is_ok());
/// let typo = json!({"n": 3, "whom": "a"}).as_object().unwrap().clone();
/// assert!(check_params(&schema, &typo, &Default::default()).unwrap_err().to_string().contains("'whom'"));
/// let wrong = json!({"n": "three"}).as_object().unwrap().clone();
/// assert!(check_params(&schema, &wrong, &Default::default()).unwrap_err().to_string().contains("'n'"));
/// ```
pub fn check_params(
    schema: &Value,
    params: &Map<String, Value>,
    defaults: &Map<String, Value>,
) -> Result<()> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    let known = || {
        let names: Vec<&str> = properties.keys().map(String::as_str).collect();
        if names.is_empty() {
            "the flow takes no parameters".to_string()
        } else {
            format!("known: {}", names.join(", "))
        }
    };
    // An open schema (`additionalProperties: true`) takes names it does not list.
    let open = schema.get("additionalProperties") == Some(&Value::Bool(true));
    for (name, value) in params {
        let Some(property) = properties.get(name) else {
            if open {
                continue;
            }
            return Err(Error::usage_hint(
                format!("unknown parameter '{name}'"),
                known(),
            ));
        };
        let resolve = |reference: &str| jsonschema::pointer(schema, reference);
        if let Err(mismatch) = Schema::new(property, &resolve).check(value, name) {
            return Err(Error::usage(format!(
                "parameter '{}' {}",
                mismatch.path, mismatch.message
            )));
        }
    }
    let missing: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|name| !params.contains_key(*name) && !defaults.contains_key(*name))
        .collect();
    if !missing.is_empty() {
        let plural = if missing.len() == 1 { "" } else { "s" };
        return Err(Error::usage_hint(
            format!("missing required parameter{plural}: {}", missing.join(", ")),
            format!("pass it with --param {}=VALUE", missing[0]),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "required": ["count"],
            "properties": {
                "count": {"type": "integer"},
                "ratio": {"type": "number", "default": 1.0},
                "names": {"type": "array", "items": {"type": "string"}, "default": []},
                "when": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
                "model": {"anyOf": [{"$ref": "#/definitions/M"}, {"type": "null"}]},
                "anything": {"title": "anything"}
            },
            "definitions": {"M": {"type": "object", "properties": {"a": {"type": "integer"}}}}})
    }

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn error(value: Value) -> String {
        check_params(&schema(), &params(value), &Map::new())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn accepts_matching_values() {
        let good = json!({"count": 2, "ratio": 3, "names": ["a"], "when": null, "model": {"a": 1}, "anything": [1]});
        check_params(&schema(), &params(good), &Map::new()).unwrap();
        check_params(&schema(), &params(json!({"count": 2.0})), &Map::new()).unwrap();
    }

    #[test]
    fn names_the_parameter_that_is_wrong() {
        assert_eq!(
            error(json!({"count": "x"})),
            "parameter 'count' must be an integer, not a string \"x\""
        );
        assert_eq!(
            error(json!({"count": 1, "names": [1]})),
            "parameter 'names[0]' must be a string, not a number 1"
        );
        assert_eq!(
            error(json!({"count": 1, "when": 5})),
            "parameter 'when' must be a string or null, not a number 5"
        );
        assert_eq!(
            error(json!({"count": 1, "model": {"a": "b"}})),
            "parameter 'model.a' must be an integer, not a string \"b\""
        );
        assert_eq!(
            error(json!({"count": 1, "cuont": 1})),
            "unknown parameter 'cuont'"
        );
        assert_eq!(error(json!({})), "missing required parameter: count");
    }

    #[test]
    fn deployment_defaults_satisfy_required() {
        let defaults = params(json!({"count": 1}));
        check_params(&schema(), &Map::new(), &defaults).unwrap();
        check_params(&json!({}), &params(json!({"x": 1})), &Map::new()).unwrap();
    }
}
