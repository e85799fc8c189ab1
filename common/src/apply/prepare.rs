//! From documents to items: deciding each object's kind, dropping what the server owns,
//! checking it against the API schema, and refusing duplicates — all before any write.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::references::{ACTION_FIELDS, ACTION_REFERENCES, strip_trigger_ids};
use super::schema;
use super::source::{Document, Origin};
use super::spec::{self, ApplySpec, nested_server_owned};
use crate::error::{Error, Result};

/// An object ready to apply: its kind, its fields in apply form (names, not ids), and where
/// it was read.
#[derive(Debug, Clone)]
pub struct Item {
    /// The kind.
    pub spec: &'static ApplySpec,
    /// The fields (no server-owned fields, no `kind`).
    pub object: Map<String, Value>,
    /// Where it came from.
    pub origin: Origin,
}

impl Item {
    /// The natural key as shown (`etl/nightly`).
    pub fn name(&self) -> String {
        self.spec.display_key(&self.object)
    }
}

/// Decide kinds and check every document; the first problem is a usage error naming the file
/// and line. The items come back in dependency order (stable within a kind).
pub fn prepare(documents: Vec<Document>, kind_flag: Option<&str>) -> Result<Vec<Item>> {
    let forced = kind_flag.map(ApplySpec::find_or_usage).transpose()?;
    let mut items = Vec::new();
    let mut seen: HashMap<(&str, String), Origin> = HashMap::new();
    for document in documents {
        let item = prepare_one(document, forced)?;
        let key = (item.spec.kind, item.name());
        if let Some(first) = seen.get(&key) {
            return Err(Error::usage(format!(
                "{}: {} '{}' is given twice (first at {first})",
                item.origin, item.spec.kind, key.1
            )));
        }
        seen.insert(key, item.origin.clone());
        items.push(item);
    }
    items.sort_by_key(|item| item.spec.rank());
    Ok(items)
}

fn prepare_one(document: Document, forced: Option<&'static ApplySpec>) -> Result<Item> {
    let Document {
        value: mut object,
        origin,
    } = document;
    let declared = match object.remove("kind") {
        Some(Value::String(kind)) => Some(ApplySpec::find(&kind).ok_or_else(|| {
            Error::usage_hint(
                format!("{origin}: unknown kind '{kind}'"),
                format!("kinds: {}", spec::kind_names().join(", ")),
            )
        })?),
        Some(other) => {
            return Err(Error::usage(format!(
                "{origin}: 'kind' must be a string, not {other}"
            )));
        }
        None => None,
    };
    let spec = match (declared, forced) {
        (Some(d), Some(f)) if !std::ptr::eq(d, f) => {
            return Err(Error::usage(format!(
                "{origin}: the object says kind '{}' but --kind is '{}'",
                d.kind, f.kind
            )));
        }
        (Some(s), _) | (None, Some(s)) => s,
        (None, None) => spec::recognise(&object).ok_or_else(|| {
            Error::usage_hint(
                format!("{origin}: cannot tell which kind of object this is"),
                "add a 'kind' field (e.g. kind: work-pool) or pass --kind",
            )
        })?,
    };
    normalize(spec, &mut object);
    if spec.key_parts(&object).is_none() {
        let missing: Vec<&str> = spec
            .key
            .iter()
            .copied()
            .filter(|f| {
                object
                    .get(*f)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            })
            .collect();
        let message = format!("{origin}: {} has no {}", spec.kind, missing.join(" or "));
        return Err(if object.contains_key("flow_id") {
            // pf-get prints a deployment's flow as an id, which means nothing on another server.
            Error::usage_hint(
                message,
                "pf-export deployments prints them with flow_name (pf-describe deployment too)",
            )
        } else {
            Error::usage(message)
        });
    }
    let body = placeholder_body(spec, &object);
    schema::validate(spec.create_schema, &Value::Object(body)).map_err(|message| {
        Error::usage(format!(
            "{origin}: {} '{}': {message}",
            spec.kind,
            spec.display_key(&object)
        ))
    })?;
    Ok(Item {
        spec,
        object,
        origin,
    })
}

/// Turn an object as pf-get or the API prints it into apply form: drop what the server owns
/// (also inside schedules and triggers), and take a block's type from `block_type`.
pub fn normalize(spec: &ApplySpec, object: &mut Map<String, Value>) {
    if spec.kind == "block"
        && !object.contains_key("block_type_slug")
        && let Some(slug) = object
            .get("block_type")
            .and_then(|t| t.get("slug"))
            .cloned()
    {
        object.insert("block_type_slug".into(), slug);
    }
    // A tag limit in the shape of the old API (pf-limit, `/concurrency_limits`) is, since
    // Prefect 3, the global limit `tag:TAG`.
    if spec.kind == "concurrency-limit"
        && let Some(Value::String(tag)) = object.remove("tag")
    {
        object.insert("name".into(), Value::String(format!("tag:{tag}")));
        if let Some(limit) = object.remove("concurrency_limit") {
            object.insert("limit".into(), limit);
        }
    }
    object.retain(|field, _| !spec.is_server_owned(field));
    // The server labels a deployment with its flow's id: an id of this server, not a setting.
    if let Some(Value::Object(labels)) = object.get_mut("labels") {
        labels.remove("prefect.flow.id");
    }
    // The server stores an empty parameter schema as `{}` or as an empty object schema,
    // depending on how the deployment was made: one form, so the two compare equal.
    if spec.kind == "deployment"
        && let Some(schema) = object.get_mut("parameter_openapi_schema")
        && schema.as_object().is_some_and(Map::is_empty)
    {
        *schema = serde_json::json!({"type": "object", "properties": {}});
    }
    for (field, owned) in nested_server_owned(spec.kind) {
        if let Some(Value::Array(items)) = object.get_mut(*field) {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                item.retain(|k, _| !owned.contains(&k.as_str()));
            }
        }
    }
    if let Some(trigger) = object.get_mut("trigger") {
        strip_trigger_ids(trigger);
    }
}

/// The create body with every name reference replaced by a placeholder id, to check the
/// shape against the schema before the names are looked up.
fn placeholder_body(spec: &ApplySpec, object: &Map<String, Value>) -> Map<String, Value> {
    const PLACEHOLDER: &str = "00000000-0000-0000-0000-000000000000";
    let mut body = object.clone();
    for field in spec.extra_input {
        body.remove(*field);
    }
    for reference in spec.references {
        if let Some(name) = body.remove(reference.name_field) {
            let id = if name.is_null() {
                Value::Null
            } else {
                Value::String(PLACEHOLDER.into())
            };
            body.insert(reference.id_field.to_string(), id);
        }
    }
    if spec.kind == "block" {
        body.insert("block_type_id".into(), Value::String(PLACEHOLDER.into()));
        body.insert("block_schema_id".into(), Value::String(PLACEHOLDER.into()));
    }
    for field in ACTION_FIELDS {
        if let Some(Value::Array(actions)) = body.get_mut(field) {
            for action in actions.iter_mut().filter_map(Value::as_object_mut) {
                for (id_field, name_field, _) in ACTION_REFERENCES {
                    if action.remove(name_field).is_some() {
                        action.insert(id_field.to_string(), Value::String(PLACEHOLDER.into()));
                    }
                }
            }
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value, line: usize) -> Document {
        Document {
            value: value.as_object().unwrap().clone(),
            origin: Origin {
                file: "in.yaml".into(),
                line,
            },
        }
    }

    fn error(documents: Vec<Document>, kind: Option<&str>) -> String {
        prepare(documents, kind).unwrap_err().to_string()
    }

    #[test]
    fn input_problems_name_file_and_line() {
        assert_eq!(
            error(vec![doc(json!({"name": "x"}), 3)], None),
            "in.yaml:3: cannot tell which kind of object this is"
        );
        assert_eq!(
            error(
                vec![doc(json!({"kind": "variable", "name": "x", "value": 1}), 1)],
                Some("flow")
            ),
            "in.yaml:1: the object says kind 'variable' but --kind is 'flow'"
        );
        let twice = vec![
            doc(json!({"kind": "variable", "name": "x", "value": 1}), 1),
            doc(json!({"kind": "variables", "name": "x", "value": 2}), 4),
        ];
        assert_eq!(
            error(twice, None),
            "in.yaml:4: variable 'x' is given twice (first at in.yaml:1)"
        );
        assert_eq!(
            error(
                vec![doc(json!({"kind": "work-pool", "name": "p", "typo": 1}), 7)],
                None
            ),
            "in.yaml:7: work-pool 'p': unknown field 'typo' (known: name, description, type, base_job_template, is_paused, concurrency_limit, storage_configuration)"
        );
        assert_eq!(
            error(
                vec![doc(json!({"kind": "deployment", "name": "d"}), 2)],
                None
            ),
            "in.yaml:2: deployment has no flow_name"
        );
    }

    #[test]
    fn pf_get_output_is_valid_input() {
        let pool = json!({"id": "x", "created": "t", "updated": "t", "name": "p", "type": "process",
            "base_job_template": {}, "status": "READY", "default_queue_id": "q", "description": null,
            "is_paused": false, "concurrency_limit": null, "storage_configuration": {}});
        let items = prepare(vec![doc(pool, 1)], None).unwrap();
        assert_eq!(items[0].spec.kind, "work-pool");
        assert!(!items[0].object.contains_key("status"));
    }

    #[test]
    fn dependency_order() {
        let items = prepare(
            vec![
                doc(
                    json!({"kind": "deployment", "name": "d", "flow_name": "f"}),
                    1,
                ),
                doc(json!({"kind": "flow", "name": "f"}), 2),
            ],
            None,
        )
        .unwrap();
        assert_eq!(items[0].spec.kind, "flow");
    }
}
