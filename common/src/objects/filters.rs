//! Building the REST filter bodies of `*/filter` endpoints (`any_`, `like_`, `before_`,
//! `after_`, `is_null_`, `ge_`, …) from typed flag values.

use serde_json::{Map, Value, json};

/// A filter body under construction: nested objects set by path.
///
/// ```
/// use pf_common::filters::FilterBody;
/// use serde_json::json;
/// let body = FilterBody::new()
///     .set(&["flow_runs", "state", "type", "any_"], json!(["FAILED"]))
///     .set(&["flow_runs", "tags", "all_"], json!(["etl"]))
///     .into_value();
/// assert_eq!(body, json!({"flow_runs": {"state": {"type": {"any_": ["FAILED"]}}, "tags": {"all_": ["etl"]}}}));
/// ```
#[derive(Debug, Clone, Default)]
pub struct FilterBody(Map<String, Value>);

impl FilterBody {
    /// An empty body.
    pub fn new() -> Self {
        FilterBody(Map::new())
    }

    /// Set the value at a path of keys, creating the objects on the way.
    pub fn set(mut self, path: &[&str], value: Value) -> Self {
        self.insert(path, value);
        self
    }

    /// Set the value at a path only when `value` is Some.
    pub fn set_opt(self, path: &[&str], value: Option<Value>) -> Self {
        match value {
            Some(v) => self.set(path, v),
            None => self,
        }
    }

    /// Set a path in place.
    pub fn insert(&mut self, path: &[&str], value: Value) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut node = &mut self.0;
        for key in parents {
            let entry = node.entry(key.to_string()).or_insert_with(|| json!({}));
            if !entry.is_object() {
                *entry = json!({});
            }
            node = entry.as_object_mut().expect("just made an object");
        }
        node.insert(last.to_string(), value);
    }

    /// The finished JSON body.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// `{"any_": [values…]}`.
pub fn any_of<T: Into<Value>>(values: impl IntoIterator<Item = T>) -> Value {
    json!({ "any_": values.into_iter().map(Into::into).collect::<Vec<Value>>() })
}

/// A `like_` pattern from a shell-style name: `etl*` → `etl%`; names without `*` match as a
/// substring (the server's `like_` is already `%value%` for plain text).
pub fn like_pattern(name: &str) -> String {
    name.replace('*', "%")
}

/// True when a name flag holds a wildcard and so wants `like_` rather than an exact match.
pub fn is_pattern(name: &str) -> bool {
    name.contains('*') || name.contains('%')
}

/// The filter for a `--name` flag: exact (`any_`) unless it holds a wildcard (`like_`).
pub fn name_filter(names: &[String]) -> Option<Value> {
    match names {
        [] => None,
        [one] if is_pattern(one) => Some(json!({ "like_": like_pattern(one) })),
        many => Some(any_of(many.iter().cloned())),
    }
}
