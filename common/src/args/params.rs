//! Flow-run parameters and other `KEY=JSON` flags: parsing, merging a parameter file under the
//! flags, and checking values against a flow's parameter schema before a run is created.
//!
//! The server accepts unknown parameter names (the run then crashes when the flow is called),
//! so the check here is the one that tells the user, naming the parameter.

use std::io::Read;

use serde_json::{Map, Value};

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
        if let Err(expected) = (Checker { root: schema }).check(property, value, 0) {
            return Err(Error::usage(format!(
                "parameter '{name}' must be {expected}, not {}",
                describe_value(value)
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

/// A small JSON-schema checker for what Prefect's parameter schemas use: `type`, `anyOf` /
/// `oneOf` / `allOf`, `$ref` into `definitions` / `$defs`, `enum`, `const`, array `items` and
/// object `properties`. Anything it does not know passes (the engine validates again).
struct Checker<'a> {
    root: &'a Value,
}

impl Checker<'_> {
    /// Ok, or what was expected ("an integer").
    fn check(
        &self,
        schema: &Value,
        value: &Value,
        depth: usize,
    ) -> std::result::Result<(), String> {
        if depth > 32 {
            return Ok(());
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            return match self.resolve(reference) {
                Some(target) => self.check(target, value, depth + 1),
                None => Ok(()),
            };
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(options) = schema.get(key).and_then(Value::as_array) {
                if options
                    .iter()
                    .any(|o| self.check(o, value, depth + 1).is_ok())
                {
                    break;
                }
                let expected: Vec<String> = options
                    .iter()
                    .filter_map(|o| self.check(o, value, depth + 1).err())
                    .collect();
                return Err(if expected.is_empty() {
                    "one of the allowed types".into()
                } else {
                    join_or(&expected)
                });
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.check(part, value, depth + 1)?;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let shown: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return Err(format!("one of {}", shown.join(", ")));
        }
        if let Some(constant) = schema.get("const")
            && constant != value
        {
            return Err(format!("{constant}"));
        }
        match schema.get("type") {
            Some(Value::String(t)) => check_type(t, value)?,
            Some(Value::Array(types)) => {
                let types: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
                if !types.iter().any(|t| check_type(t, value).is_ok()) {
                    let expected: Vec<String> = types.iter().map(|t| type_phrase(t)).collect();
                    return Err(join_or(&expected));
                }
            }
            _ => {}
        }
        if let (Some(items), Value::Array(values)) = (schema.get("items"), value) {
            for (i, item) in values.iter().enumerate() {
                self.check(items, item, depth + 1)
                    .map_err(|e| format!("a list whose item {i} is {e}"))?;
            }
        }
        if let (Some(properties), Value::Object(fields)) =
            (schema.get("properties").and_then(Value::as_object), value)
        {
            for (key, field) in fields {
                if let Some(property) = properties.get(key) {
                    self.check(property, field, depth + 1)
                        .map_err(|e| format!("an object whose '{key}' is {e}"))?;
                }
            }
        }
        Ok(())
    }

    fn resolve(&self, reference: &str) -> Option<&Value> {
        let path = reference.strip_prefix("#/")?;
        path.split('/')
            .try_fold(self.root, |node, key| node.get(key))
    }
}

fn check_type(expected: &str, value: &Value) -> std::result::Result<(), String> {
    let ok = match expected {
        "integer" => {
            value.as_i64().is_some()
                || value.as_u64().is_some()
                || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "number" => value.is_number(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(type_phrase(expected))
    }
}

fn type_phrase(t: &str) -> String {
    match t {
        "integer" => "an integer".into(),
        "number" => "a number".into(),
        "string" => "a string".into(),
        "boolean" => "true or false".into(),
        "array" => "a list".into(),
        "object" => "an object".into(),
        "null" => "null".into(),
        other => other.to_string(),
    }
}

fn join_or(items: &[String]) -> String {
    let mut unique: Vec<&String> = Vec::new();
    for item in items {
        if !unique.contains(&item) {
            unique.push(item);
        }
    }
    match unique.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => {
            format!(
                "{} or {last}",
                rest.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

fn describe_value(value: &Value) -> String {
    let kind = match value {
        Value::Null => return "null".into(),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    let mut text = value.to_string();
    if text.chars().count() > 40 {
        text = format!("{}…", text.chars().take(40).collect::<String>());
    }
    format!("{kind} {text}")
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
            "parameter 'names' must be a list whose item 0 is a string, not a list [1]"
        );
        assert_eq!(
            error(json!({"count": 1, "when": 5})),
            "parameter 'when' must be a string or null, not a number 5"
        );
        assert_eq!(
            error(json!({"count": 1, "model": {"a": "b"}})),
            "parameter 'model' must be an object whose 'a' is an integer or null, not an object {\"a\":\"b\"}"
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
