//! Names instead of ids, so objects move between servers: finding an object by its natural
//! key, turning the names an object gives into the target server's ids (apply), and ids into
//! names (export).
//!
//! Besides the kinds' own reference fields (a deployment's `flow_name`), automations name
//! objects inside their actions (`deployment: FLOW/NAME` for `deployment_id`, `work_pool`,
//! `work_queue: POOL/QUEUE`, `automation`, `block: TYPE/NAME`) and inside their triggers'
//! resource ids, written `prefect.deployment.@FLOW/NAME` for `prefect.deployment.<id>`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::spec::ApplySpec;
use crate::client::Client;
use crate::error::{Error, Result};

/// Fields of automation actions that name objects: `(id field, name field, kind)`.
pub const ACTION_REFERENCES: [(&str, &str, &str); 5] = [
    ("deployment_id", "deployment", "deployment"),
    ("work_pool_id", "work_pool", "work-pool"),
    ("work_queue_id", "work_queue", "work-queue"),
    ("automation_id", "automation", "automation"),
    ("block_document_id", "block", "block"),
];

/// The action lists of an automation.
pub const ACTION_FIELDS: [&str; 3] = ["actions", "actions_on_trigger", "actions_on_resolve"];

/// Prefect event resource kinds (`prefect.<kind>.<id>`) and pf's kinds.
const RESOURCE_KINDS: [(&str, &str); 6] = [
    ("deployment", "deployment"),
    ("flow", "flow"),
    ("work-pool", "work-pool"),
    ("work-queue", "work-queue"),
    ("automation", "automation"),
    ("block-document", "block"),
];

/// Find the object of `spec` with natural key `key` on the server (None: there is none).
pub fn fetch_existing(client: &Client, spec: &ApplySpec, key: &[&str]) -> Result<Option<Value>> {
    if spec.kind == "automation" {
        let body = json!({ "automations": { "name": { "any_": [key[0]] } }, "limit": 10 });
        let found = client.post("automations/filter", body)?;
        let items = found.as_array().cloned().unwrap_or_default();
        return match items.len() {
            0 => Ok(None),
            1 => Ok(items.into_iter().next()),
            n => Err(Error::Client {
                status: 0,
                message: format!(
                    "automation name '{}' matches {n} automations on the server",
                    key[0]
                ),
                hint: Some("rename them so each automation's name is unique".into()),
            }),
        };
    }
    match client.get(&spec.path(spec.lookup, key, None)) {
        Ok(value) => Ok(Some(value)),
        Err(Error::Client { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Names ↔ ids of one server, cached: apply resolves each name once per run, export fills it
/// from its listings.
#[derive(Debug, Default)]
pub struct Names {
    ids: HashMap<(&'static str, String), String>,
    names: HashMap<(&'static str, String), String>,
    /// Names of objects a dry run would create: references to them resolve to a placeholder.
    planned: Vec<(&'static str, String)>,
}

/// The id a dry run gives references to objects it would create.
const PLANNED_ID: &str = "00000000-0000-0000-0000-000000000000";

impl Names {
    /// Remember an object's name and id.
    pub fn remember(&mut self, kind: &'static str, name: &str, id: &str) {
        self.ids.insert((kind, name.to_string()), id.to_string());
        self.names.insert((kind, id.to_string()), name.to_string());
    }

    /// Remember that a dry run would create this object.
    pub fn plan(&mut self, kind: &'static str, name: &str) {
        self.planned.push((kind, name.to_string()));
    }

    /// The name of an id seen in a listing.
    pub fn name_of(&self, kind: &'static str, id: &str) -> Option<&str> {
        self.names.get(&(kind, id.to_string())).map(String::as_str)
    }

    /// The id of `kind` named `name` on the server; a name that does not resolve is a client
    /// error naming it.
    pub fn id_of(&mut self, client: &Client, kind: &'static str, name: &str) -> Result<String> {
        if let Some(id) = self.ids.get(&(kind, name.to_string())) {
            return Ok(id.clone());
        }
        if self.planned.iter().any(|(k, n)| *k == kind && n == name) {
            return Ok(PLANNED_ID.to_string());
        }
        let spec = ApplySpec::find(kind).expect("reference kinds are specs");
        let key: Vec<&str> = if spec.key.len() == 1 {
            vec![name]
        } else {
            name.splitn(2, '/').collect()
        };
        let found = if key.len() == spec.key.len() {
            fetch_existing(client, spec, &key)?
        } else {
            None
        };
        let Some(object) = found else {
            return Err(Error::not_found(
                format!("{kind} '{name}' not found"),
                Some(format!("apply the {kind} first, or fix the name")),
            ));
        };
        let id = object
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        self.remember(spec.kind, name, &id);
        Ok(id)
    }

    /// Apply direction: replace every name an object gives by the target server's id.
    pub fn to_ids(
        &mut self,
        client: &Client,
        spec: &ApplySpec,
        object: &mut Map<String, Value>,
    ) -> Result<()> {
        for reference in spec.references {
            let target = kind_of(reference.target);
            if let Some(name) = object.remove(reference.name_field) {
                let id = match name {
                    Value::String(name) => Value::String(self.id_of(client, target, &name)?),
                    _ => Value::Null,
                };
                object.insert(reference.id_field.to_string(), id);
            }
        }
        if spec.kind == "automation" {
            for field in ACTION_FIELDS {
                if let Some(Value::Array(actions)) = object.get_mut(field) {
                    for action in actions.iter_mut().filter_map(Value::as_object_mut) {
                        for (id_field, name_field, kind) in ACTION_REFERENCES {
                            if let Some(Value::String(name)) = action.remove(name_field) {
                                let id = self.id_of(client, kind_of(kind), &name)?;
                                action.insert(id_field.to_string(), Value::String(id));
                            }
                        }
                    }
                }
            }
            if let Some(trigger) = object.get_mut("trigger") {
                self.resource_names_to_ids(client, trigger)?;
            }
        }
        Ok(())
    }

    fn resource_names_to_ids(&mut self, client: &Client, value: &mut Value) -> Result<()> {
        match value {
            Value::String(text) => {
                if let Some((resource, kind, name)) = parse_named_resource(text) {
                    let id = self.id_of(client, kind, &name)?;
                    *text = format!("prefect.{resource}.{id}");
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.resource_names_to_ids(client, item)?;
                }
            }
            Value::Object(map) => {
                for item in map.values_mut() {
                    self.resource_names_to_ids(client, item)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Export direction: replace ids by names where the name is known (an id of an object
    /// that no longer exists stays an id).
    pub fn to_names(&self, spec: &ApplySpec, object: &mut Map<String, Value>) {
        for reference in spec.references {
            let target = kind_of(reference.target);
            let name = object
                .get(reference.id_field)
                .and_then(Value::as_str)
                .and_then(|id| self.name_of(target, id))
                .map(str::to_string);
            if let Some(name) = name {
                object.remove(reference.id_field);
                object.insert(reference.name_field.to_string(), Value::String(name));
            } else if object.get(reference.id_field).is_some_and(Value::is_null) {
                object.remove(reference.id_field);
            }
        }
        if spec.kind == "automation" {
            for field in ACTION_FIELDS {
                if let Some(Value::Array(actions)) = object.get_mut(field) {
                    for action in actions.iter_mut().filter_map(Value::as_object_mut) {
                        for (id_field, name_field, kind) in ACTION_REFERENCES {
                            let name = action
                                .get(id_field)
                                .and_then(Value::as_str)
                                .and_then(|id| self.name_of(kind_of(kind), id))
                                .map(str::to_string);
                            if let Some(name) = name {
                                action.remove(id_field);
                                action.insert(name_field.to_string(), Value::String(name));
                            }
                        }
                    }
                }
            }
            if let Some(trigger) = object.get_mut("trigger") {
                self.resource_ids_to_names(trigger);
            }
        }
    }

    fn resource_ids_to_names(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                for (resource, kind) in RESOURCE_KINDS {
                    let prefix = format!("prefect.{resource}.");
                    if let Some(id) = text.strip_prefix(&prefix)
                        && let Some(name) = self.name_of(kind_of(kind), id)
                    {
                        *text = format!("{prefix}@{name}");
                        return;
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.resource_ids_to_names(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.resource_ids_to_names(i)),
            _ => {}
        }
    }
}

/// `prefect.deployment.@etl/nightly` → (`deployment`, kind, `etl/nightly`).
fn parse_named_resource(text: &str) -> Option<(&'static str, &'static str, String)> {
    let rest = text.strip_prefix("prefect.")?;
    RESOURCE_KINDS.iter().find_map(|(resource, kind)| {
        let name = rest.strip_prefix(resource)?.strip_prefix(".@")?;
        Some((*resource, kind_of(kind), name.to_string()))
    })
}

/// The `'static` kind name of a spec (references name kinds by string).
fn kind_of(kind: &str) -> &'static str {
    ApplySpec::find(kind).map_or("", |s| s.kind)
}

/// Drop the ids the server gives triggers (each automation's trigger gets a new one).
pub fn strip_trigger_ids(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("type") {
                map.remove("id");
            }
            map.values_mut().for_each(strip_trigger_ids);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_trigger_ids),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_names_and_back() {
        let mut names = Names::default();
        let id = "11111111-1111-1111-1111-111111111111";
        names.remember("deployment", "etl/nightly", id);
        let spec = ApplySpec::find("automation").unwrap();
        let mut object = json!({
            "trigger": {"type": "event", "id": "x", "match_related": {"prefect.resource.id": format!("prefect.deployment.{id}")}},
            "actions": [{"type": "run-deployment", "source": "selected", "deployment_id": id}]
        })
        .as_object()
        .unwrap()
        .clone();
        names.to_names(spec, &mut object);
        strip_trigger_ids(object.get_mut("trigger").unwrap());
        assert_eq!(object["actions"][0]["deployment"], "etl/nightly");
        assert!(object["actions"][0].get("deployment_id").is_none());
        assert_eq!(
            object["trigger"]["match_related"]["prefect.resource.id"],
            "prefect.deployment.@etl/nightly"
        );
        assert!(object["trigger"].get("id").is_none());
        assert_eq!(
            parse_named_resource("prefect.deployment.@etl/nightly"),
            Some(("deployment", "deployment", "etl/nightly".to_string()))
        );
    }
}
