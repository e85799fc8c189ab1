//! The one JSON-schema checker of pf, for what Prefect's schemas use: `type` (one or a list),
//! `anyOf` / `oneOf` / `allOf`, `$ref`, `enum`, `const`, array `items`, object `properties`,
//! `required` and `additionalProperties: false`. Anything else passes (the server checks again).
//! Flow parameters (`parameter_openapi_schema`) and pf-apply's request bodies (Prefect's OpenAPI
//! document) are both checked here; each caller says how its `$ref`s resolve.

use serde_json::Value;

/// How deep schemas are followed; deeper parts pass (a recursive schema cannot loop).
const MAX_DEPTH: usize = 40;

/// Where a value departs from its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The field at fault from the checked value's root (`schedules[0].active`; the root's own
    /// path when the value itself is wrong).
    pub path: String,
    /// What is wrong: `must be an integer, not a string "x"`, `unknown field 'x' (known: …)`,
    /// `missing required field 'x'`.
    pub message: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// A schema with the way its `$ref`s resolve.
pub struct Schema<'a> {
    schema: &'a Value,
    resolve: &'a dyn Fn(&str) -> Option<&'a Value>,
}

impl<'a> Schema<'a> {
    /// `schema`, whose `$ref`s `resolve` turns into the schemas they name.
    pub fn new(schema: &'a Value, resolve: &'a dyn Fn(&str) -> Option<&'a Value>) -> Self {
        Schema { schema, resolve }
    }

    /// Check `value`, whose own path is `path` (empty for a whole body, a parameter's name for
    /// a parameter).
    ///
    /// ```
    /// use serde_json::{json, Value};
    /// use pf_common::args::jsonschema::{Schema, pointer};
    /// let schema = json!({"type": "array", "items": {"$ref": "#/definitions/N"},
    ///     "definitions": {"N": {"type": "integer"}}});
    /// let resolve = |r: &str| pointer(&schema, r);
    /// let error = Schema::new(&schema, &resolve).check(&json!([1, "two"]), "counts").unwrap_err();
    /// assert_eq!(error.to_string(), "counts[1]: must be an integer, not a string \"two\"");
    /// ```
    pub fn check(&self, value: &Value, path: &str) -> Result<(), Mismatch> {
        self.check_at(self.schema, value, path, 0)
    }

    fn check_at(
        &self,
        schema: &'a Value,
        value: &Value,
        path: &str,
        depth: usize,
    ) -> Result<(), Mismatch> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            return match (self.resolve)(reference) {
                Some(target) => self.check_at(target, value, path, depth + 1),
                None => Ok(()),
            };
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(options) = schema.get(key).and_then(Value::as_array) {
                return self.check_options(options, value, path, depth);
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.check_at(part, value, path, depth + 1)?;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let shown: Vec<String> = allowed.iter().map(Value::to_string).collect();
            let message = format!("must be one of {}, not {value}", shown.join(", "));
            return Err(mismatch(path, message));
        }
        if let Some(constant) = schema.get("const")
            && constant != value
        {
            return Err(mismatch(path, format!("must be {constant}, not {value}")));
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
            let expected: Vec<String> = types.iter().map(|t| type_phrase(t)).collect();
            return Err(not_a(path, &expected, value));
        }
        match value {
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check_at(item_schema, item, &format!("{path}[{i}]"), depth + 1)?;
                    }
                }
            }
            Value::Object(fields) => self.check_fields(schema, fields, path, depth)?,
            _ => {}
        }
        Ok(())
    }

    fn check_fields(
        &self,
        schema: &'a Value,
        fields: &serde_json::Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Result<(), Mismatch> {
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (key, field) in fields {
                match properties.get(key) {
                    Some(property) => {
                        self.check_at(property, field, &join(path, key), depth + 1)?
                    }
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        let known: Vec<&str> = properties.keys().map(String::as_str).collect();
                        let message =
                            format!("unknown field '{key}' (known: {})", known.join(", "));
                        return Err(mismatch(path, message));
                    }
                    None => {}
                }
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !fields.contains_key(name) {
                    return Err(mismatch(path, format!("missing required field '{name}'")));
                }
            }
        }
        Ok(())
    }

    /// anyOf/oneOf: fine when one option fits; else the complaint of the option the value
    /// meant (the same `type` discriminator, else the only option of the same JSON type), else
    /// the list of types the options take.
    fn check_options(
        &self,
        options: &'a [Value],
        value: &Value,
        path: &str,
        depth: usize,
    ) -> Result<(), Mismatch> {
        let mut errors = Vec::new();
        for option in options {
            match self.check_at(option, value, path, depth + 1) {
                Ok(()) => return Ok(()),
                Err(e) => errors.push((self.deref(option), e)),
            }
        }
        if let Some(discriminator) = value.get("type") {
            for (option, error) in &errors {
                let declared = option
                    .get("properties")
                    .and_then(|p| p.get("type"))
                    .and_then(|t| t.get("const").or_else(|| t.get("default")));
                if declared == Some(discriminator) {
                    return Err(error.clone());
                }
            }
        }
        let same_type: Vec<&Mismatch> = errors
            .iter()
            .filter(|(option, _)| option_type(option).is_some_and(|t| type_matches(t, value)))
            .map(|(_, e)| e)
            .collect();
        if same_type.len() == 1 {
            return Err(same_type[0].clone());
        }
        let mut expected: Vec<String> = Vec::new();
        for phrase in errors
            .iter()
            .filter_map(|(option, _)| option_type(option).map(type_phrase))
        {
            if !expected.contains(&phrase) {
                expected.push(phrase);
            }
        }
        if expected.is_empty() || !same_type.is_empty() {
            // Several shapes of the value's own type: the first option's complaint is the most
            // specific.
            return Err(errors
                .into_iter()
                .next()
                .map(|(_, e)| e)
                .unwrap_or_else(|| mismatch(path, "does not match the schema".into())));
        }
        Err(not_a(path, &expected, value))
    }

    fn deref(&self, schema: &'a Value) -> &'a Value {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| (self.resolve)(r))
        {
            Some(target) => target,
            None => schema,
        }
    }
}

/// Resolve a local `$ref` (`#/definitions/M`, `#/$defs/M`) as a JSON pointer into `root`.
pub fn pointer<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    root.pointer(reference.strip_prefix('#')?)
}

/// `value` in a few words: its JSON type and its text cut at 40 characters (`a string "x"`).
pub fn describe(value: &Value) -> String {
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

fn mismatch(path: &str, message: String) -> Mismatch {
    Mismatch {
        path: path.to_string(),
        message,
    }
}

fn not_a(path: &str, expected: &[String], value: &Value) -> Mismatch {
    mismatch(
        path,
        format!("must be {}, not {}", expected.join(" or "), describe(value)),
    )
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn option_type(schema: &Value) -> Option<&str> {
    schema.get("type").and_then(Value::as_str).or_else(|| {
        schema
            .get("properties")
            .map(|_| "object")
            .or_else(|| schema.get("items").map(|_| "array"))
    })
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match expected {
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
    }
}

fn type_phrase(t: &str) -> String {
    match t {
        "integer" => "an integer",
        "number" => "a number",
        "string" => "a string",
        "boolean" => "true or false",
        "array" => "a list",
        "object" => "an object",
        "null" => "null",
        other => other,
    }
    .to_string()
}
