//! prefect.yaml templating, as Prefect's `prefect.utilities.templating` does it:
//! `{{ name }}` placeholders (`[\w.\-\[\]$]+`), a whole-string placeholder replaced by the value
//! itself (any JSON), inline ones by its text; `{{ $ENV }}`, `{{ prefect.variables.NAME }}`,
//! `{{ prefect.blocks.TYPE.NAME[.key…] }}` and step outputs (`{{ step-id.field }}`).

use std::collections::HashMap;

use pf_common::refs::encode_path;
use pf_common::{Client, Error, Result};
use serde_json::{Map, Value};

/// One `{{ … }}` in a string: the whole match and the name inside.
struct Placeholder<'a> {
    full: &'a str,
    name: &'a str,
}

fn name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']' | '$')
}

/// The placeholders of a string, in order (duplicates kept).
fn placeholders(text: &str) -> Vec<Placeholder<'_>> {
    let mut found = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find("{{") {
        let start = rest + open;
        let inner = &text[start + 2..];
        let trimmed = inner.trim_start();
        let lead = inner.len() - trimmed.len();
        let name_len = trimmed
            .char_indices()
            .find(|(_, c)| !name_char(*c))
            .map_or(trimmed.len(), |(i, _)| i);
        let after = &trimmed[name_len..];
        let after_trimmed = after.trim_start();
        if name_len > 0 && after_trimmed.starts_with("}}") {
            let end = start + 2 + lead + name_len + (after.len() - after_trimmed.len()) + 2;
            found.push(Placeholder {
                full: &text[start..end],
                name: &trimmed[..name_len],
            });
            rest = end;
        } else {
            rest = start + 2;
        }
    }
    found
}

/// `a.b[0].c` into a nested value (Prefect's `get_from_dict`).
pub fn get_path<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let normalised = path.replace('[', ".").replace(']', "");
    normalised
        .split('.')
        .try_fold(root, |node, key| match node {
            Value::Object(map) => map.get(key),
            Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// How a pass treats a placeholder it does not resolve.
#[derive(Clone, Copy, PartialEq)]
pub enum Unset {
    /// Drop the key or list item (a whole-string placeholder) or the text (inline).
    Remove,
    /// Keep the template text.
    Keep,
}

/// Prefect's `apply_values`: standard placeholders from `values`, `$ENV` from the environment
/// (inline only, as Prefect does), names starting with `skip` left alone.
pub fn apply_values(template: &Value, values: &Value, unset: Unset, skip: &[&str]) -> Value {
    apply(template, values, unset, skip).unwrap_or_else(|| template.clone())
}

fn is_standard(name: &str) -> bool {
    !name.starts_with("prefect.blocks.")
        && !name.starts_with("prefect.variables.")
        && !name.starts_with('$')
}

/// `None` means "not set" (the caller drops or keeps the original).
fn apply(template: &Value, values: &Value, unset: Unset, skip: &[&str]) -> Option<Value> {
    match template {
        Value::String(text) => {
            let found: Vec<Placeholder> = placeholders(text)
                .into_iter()
                .filter(|p| !skip.iter().any(|s| p.name.starts_with(s)))
                .collect();
            if found.is_empty() {
                return Some(template.clone());
            }
            if found.len() == 1 && found[0].full == text && is_standard(found[0].name) {
                return get_path(values, found[0].name).cloned();
            }
            let mut out = text.clone();
            for p in &found {
                let value = if is_standard(p.name) {
                    get_path(values, p.name).map(text_of)
                } else if let Some(var) = p.name.strip_prefix('$') {
                    std::env::var(var.trim_start_matches('$')).ok()
                } else {
                    continue;
                };
                match (value, unset) {
                    (Some(v), _) => out = out.replace(p.full, &v),
                    (None, Unset::Remove) => out = out.replace(p.full, ""),
                    (None, Unset::Keep) => {}
                }
            }
            Some(Value::String(out))
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match apply(value, values, unset, skip) {
                    Some(v) => {
                        out.insert(key.clone(), v);
                    }
                    None if unset == Unset::Keep => {
                        out.insert(key.clone(), value.clone());
                    }
                    None => {}
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .filter_map(|item| match apply(item, values, unset, skip) {
                    Some(v) => Some(v),
                    None if unset == Unset::Keep => Some(item.clone()),
                    None => None,
                })
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// Reads variables and blocks from the API for templating, each once.
pub struct Resolver<'a> {
    client: &'a Client,
    variables: HashMap<String, Option<Value>>,
    blocks: HashMap<(String, String), Value>,
}

impl<'a> Resolver<'a> {
    /// A resolver over this client.
    pub fn new(client: &'a Client) -> Self {
        Resolver {
            client,
            variables: HashMap::new(),
            blocks: HashMap::new(),
        }
    }

    /// Replace `{{ prefect.blocks.… }}` then `{{ prefect.variables.… }}` placeholders, as
    /// `resolve_block_document_references` and `resolve_variables` do (a missing variable
    /// becomes "", a missing block is an error).
    pub fn resolve(&mut self, template: &Value) -> Result<Value> {
        let blocks = self.walk(template, "prefect.blocks.")?;
        self.walk(&blocks, "prefect.variables.")
    }

    fn walk(&mut self, template: &Value, prefix: &str) -> Result<Value> {
        Ok(match template {
            Value::String(text) => {
                let found: Vec<Placeholder> = placeholders(text)
                    .into_iter()
                    .filter(|p| p.name.starts_with(prefix))
                    .collect();
                if found.is_empty() {
                    return Ok(template.clone());
                }
                let all = placeholders(text);
                if all.len() == 1 && found.len() == 1 && found[0].full == text {
                    return self.value(found[0].name, text);
                }
                let mut out = text.clone();
                for p in &found {
                    let value = self.value(p.name, text)?;
                    if value.is_object() || value.is_array() {
                        return Err(Error::usage(format!(
                            "'{text}': {} is not a single value and cannot be part of a string",
                            p.full
                        )));
                    }
                    out = out.replace(p.full, &text_of(&value));
                }
                Value::String(out)
            }
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, value) in map {
                    out.insert(key.clone(), self.walk(value, prefix)?);
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.walk(v, prefix))
                    .collect::<Result<_>>()?,
            ),
            other => other.clone(),
        })
    }

    fn value(&mut self, name: &str, text: &str) -> Result<Value> {
        if let Some(variable) = name.strip_prefix("prefect.variables.") {
            return Ok(self
                .variable(variable)?
                .unwrap_or(Value::String(String::new())));
        }
        let rest = name.trim_start_matches("prefect.blocks.");
        let mut parts = rest.splitn(3, '.');
        let (Some(kind), Some(block)) = (parts.next(), parts.next()) else {
            return Err(Error::usage(format!(
                "'{name}' is not prefect.blocks.TYPE.NAME"
            )));
        };
        let keypath = parts.next();
        let data = self.block(kind, block)?;
        let mut root = data.clone();
        if let Value::Object(map) = &data
            && map.len() == 1
            && map.contains_key("value")
            && !keypath
                .is_some_and(|k| k == "value" || k.starts_with("value.") || k.starts_with("value["))
        {
            root = map["value"].clone();
        }
        match keypath {
            None => Ok(root),
            Some(path) => get_path(&root, path).cloned().ok_or_else(|| {
                Error::usage(format!("'{text}': block {kind}/{block} has no '{path}'"))
            }),
        }
    }

    fn variable(&mut self, name: &str) -> Result<Option<Value>> {
        if let Some(cached) = self.variables.get(name) {
            return Ok(cached.clone());
        }
        let value = match self
            .client
            .get(&format!("variables/name/{}", encode_path(name)))
        {
            Ok(variable) => variable.get("value").cloned(),
            Err(Error::Client { status: 404, .. }) => None,
            Err(e) => return Err(e),
        };
        self.variables.insert(name.to_string(), value.clone());
        Ok(value)
    }

    fn block(&mut self, kind: &str, name: &str) -> Result<Value> {
        let key = (kind.to_string(), name.to_string());
        if let Some(data) = self.blocks.get(&key) {
            return Ok(data.clone());
        }
        let path = format!(
            "block_types/slug/{}/block_documents/name/{}?include_secrets=true",
            encode_path(kind),
            encode_path(name)
        );
        let document = self.client.get(&path).map_err(|e| match e {
            Error::Client { status: 404, .. } => Error::not_found(
                format!("block '{name}' of type '{kind}' not found (named in a template)"),
                Some(format!(
                    "pf-get blocks  # or create it: prefect block create {kind}"
                )),
            ),
            other => other,
        })?;
        let data = document.get("data").cloned().unwrap_or(Value::Null);
        self.blocks.insert(key, data.clone());
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_and_inline_placeholders() {
        let values = json!({"build": {"image": "repo/img:1", "n": 3}});
        let t = json!({"a": "{{ build.image }}", "b": "x-{{build.n}}-y", "c": "{{ missing }}",
            "d": ["{{ missing }}", 1], "e": "{{ ctx.flow_run.id }}"});
        assert_eq!(
            apply_values(&t, &values, Unset::Remove, &["ctx."]),
            json!({"a": "repo/img:1", "b": "x-3-y", "d": [1], "e": "{{ ctx.flow_run.id }}"})
        );
        assert_eq!(
            apply_values(&json!({"c": "{{ missing }}"}), &values, Unset::Keep, &[]),
            json!({"c": "{{ missing }}"})
        );
        assert_eq!(
            apply_values(&json!("{{ build.n }}"), &values, Unset::Remove, &[]),
            json!(3)
        );
    }

    #[test]
    fn environment_inline() {
        let path = std::env::var("PATH").unwrap();
        let t = json!({"a": "{{ $PATH }}", "b": "{{ $PF_TEMPLATE_UNSET_X }}"});
        assert_eq!(
            apply_values(&t, &json!({}), Unset::Keep, &[]),
            json!({"a": path, "b": "{{ $PF_TEMPLATE_UNSET_X }}"})
        );
    }

    #[test]
    fn finds_placeholders() {
        let found = placeholders("{{a}} and {{  b-c.d[0] }} but not {{ x y }}");
        let names: Vec<&str> = found.iter().map(|p| p.name).collect();
        assert_eq!(names, ["a", "b-c.d[0]"]);
    }
}
