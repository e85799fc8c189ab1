//! Every object of a server (or of chosen kinds) in apply form: `kind` first, the server's own
//! fields dropped, references by name, in dependency order, so that `pf-export | pf-apply`
//! reproduces the server on another.

use serde_json::{Map, Value, json};

use super::prepare::normalize;
use super::references::Names;
use super::spec::{ApplySpec, SPECS};
use crate::client::Client;
use crate::error::Result;
use crate::paging::Pages;

/// Global limits the server makes for other objects (a deployment's `concurrency_limit`),
/// exported through their owners instead.
const OWNED_LIMIT_PREFIXES: [&str; 1] = ["deployment:"];

/// Kinds whose names other objects refer to: listed (not printed) even when not chosen.
const REFERENCED: [&str; 6] = [
    "block",
    "work-pool",
    "work-queue",
    "flow",
    "deployment",
    "automation",
];

/// Export the objects of `kinds` (all when empty), calling `emit` for each in dependency
/// order. Secret values stay obfuscated unless `include_secrets`.
pub fn export(
    client: &Client,
    kinds: &[&'static ApplySpec],
    include_secrets: bool,
    mut emit: impl FnMut(Value) -> Result<()>,
) -> Result<()> {
    let mut names = Names::default();
    for &spec in SPECS {
        let chosen = kinds.is_empty() || kinds.iter().any(|k| std::ptr::eq(*k, spec));
        // A kind without a list of its own (a schedule) is exported inside its parent.
        if (!chosen && !REFERENCED.contains(&spec.kind)) || spec.list.is_empty() {
            continue;
        }
        let mut body = json!({});
        if spec.kind == "block" {
            body = json!({ "include_secrets": include_secrets,
                "block_documents": { "is_anonymous": { "eq_": false } } });
        }
        for page in Pages::new(client, spec.list, body, None) {
            for object in page? {
                let Value::Object(mut object) = object else {
                    continue;
                };
                let id = object
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if is_owned_limit(spec, &object) {
                    continue;
                }
                normalize(spec, &mut object);
                names.to_names(spec, &mut object);
                names.remember(spec.kind, &spec.display_key(&object), &id);
                if chosen {
                    emit(Value::Object(apply_form(spec, object)))?;
                }
            }
        }
    }
    Ok(())
}

fn is_owned_limit(spec: &ApplySpec, object: &Map<String, Value>) -> bool {
    spec.kind == "concurrency-limit"
        && object
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| OWNED_LIMIT_PREFIXES.iter().any(|p| n.starts_with(p)))
}

/// `kind`, then the natural key's fields, then the rest in the API's order.
fn apply_form(spec: &ApplySpec, object: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("kind".into(), Value::String(spec.kind.into()));
    for field in spec.key {
        if let Some(value) = object.get(*field) {
            out.insert(field.to_string(), value.clone());
        }
    }
    for (field, value) in object {
        // A field a newer server added to its answers is not something apply could send.
        if !out.contains_key(&field) && spec.accepts(&field) {
            out.insert(field, value);
        }
    }
    out
}
