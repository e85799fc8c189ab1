//! Create-or-update of one object by its natural key: created when absent, only the changed
//! fields written when present, nothing written when equal. Shared by pf-apply and pf-deploy.

use serde_json::{Map, Value, json};

use super::diff::{FieldChange, changed_fields};
use super::prepare::{Item, normalize};
use super::references::{Names, fetch_existing};
use super::schema;
use super::spec::{ApplySpec, UpdateStyle};
use crate::client::Client;
use crate::error::{Error, Result};

/// What applying one object did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The object did not exist and was created.
    Created,
    /// The object existed; these fields were changed.
    Updated(Vec<String>),
    /// The object existed as given; nothing was written.
    Unchanged,
}

impl Outcome {
    /// The RESULT cell: `created`, `updated: a, b`, `unchanged`.
    pub fn text(&self) -> String {
        match self {
            Outcome::Created => "created".into(),
            Outcome::Updated(fields) => format!("updated: {}", fields.join(", ")),
            Outcome::Unchanged => "unchanged".into(),
        }
    }
}

/// The result of applying one object.
#[derive(Debug, Clone)]
pub struct Applied {
    /// What happened.
    pub outcome: Outcome,
    /// The object's id on the server (None for a creation in a dry run).
    pub id: Option<String>,
    /// The field-level changes (all given fields for a creation).
    pub changes: Vec<FieldChange>,
}

/// Values the server shows instead of a secret (`GET` without `include_secrets`).
pub const OBFUSCATED: &str = "********";

/// Applies objects to one server, remembering names it has resolved or created.
#[derive(Debug)]
pub struct Applier<'c> {
    pub(super) client: &'c Client,
    pub(super) dry_run: bool,
    pub(super) names: Names,
    pub(super) writes: usize,
    /// The server's worker types, read once per run (the answer takes seconds).
    worker_metadata: Option<Value>,
}

impl<'c> Applier<'c> {
    /// An applier for `client`; a dry run reads but never writes.
    pub fn new(client: &'c Client, dry_run: bool) -> Self {
        Applier {
            client,
            dry_run,
            names: Names::default(),
            writes: 0,
            worker_metadata: None,
        }
    }

    /// How many write requests this applier has sent (0 in a dry run).
    pub fn writes(&self) -> usize {
        self.writes
    }

    /// Create or update one object. An error is this object's refusal (the batch goes on).
    pub fn apply(&mut self, item: &Item) -> Result<Applied> {
        let spec = item.spec;
        if spec.kind == "schedule" {
            return self.apply_schedule(item);
        }
        let key: Vec<String> = spec
            .key_parts(&item.object)
            .unwrap_or_default()
            .into_iter()
            .map(str::to_string)
            .collect();
        let key: Vec<&str> = key.iter().map(String::as_str).collect();
        let mut desired = item.object.clone();
        if spec.kind == "deployment" {
            self.ensure_flow(key[0])?;
        }
        self.names.to_ids(self.client, spec, &mut desired)?;
        let existing = fetch_existing(self.client, spec, &key)?;
        let applied = match existing {
            None => self.create(spec, &key, desired)?,
            Some(current) => self.update(spec, &key, desired, current)?,
        };
        match &applied.id {
            Some(id) => self.names.remember(spec.kind, &key.join("/"), id),
            None => self.names.plan(spec.kind, &key.join("/")),
        }
        Ok(applied)
    }

    /// A deployment's flow is made when missing, as `prefect deploy` does.
    fn ensure_flow(&mut self, flow: &str) -> Result<()> {
        let spec = ApplySpec::find("flow").expect("flow is a kind");
        if self.names.id_of(self.client, spec.kind, flow).is_ok() {
            return Ok(());
        }
        if self.dry_run {
            self.names.plan(spec.kind, flow);
            return Ok(());
        }
        self.writes += 1;
        let created = self.client.post(spec.create, json!({ "name": flow }))?;
        self.names.remember(spec.kind, flow, str_id(&created));
        Ok(())
    }

    fn create(
        &mut self,
        spec: &ApplySpec,
        key: &[&str],
        desired: Map<String, Value>,
    ) -> Result<Applied> {
        let mut body = desired;
        if spec.kind == "block" {
            if let Some(path) = obfuscated_path(body.get("data").unwrap_or(&Value::Null)) {
                return Err(Error::usage_hint(
                    format!("secret field '{path}' was not exported"),
                    "export with pf-export --include-secrets, or give the value",
                ));
            }
            self.block_type_ids(key[0], &mut body)?;
        }
        if spec.kind == "work-pool" {
            self.work_pool_template(&mut body)?;
        }
        let changes = body
            .iter()
            .filter(|(k, _)| !spec.key.contains(&k.as_str()))
            .map(|(field, value)| FieldChange {
                field: field.clone(),
                old: None,
                new: value.clone(),
            })
            .collect();
        for field in spec.extra_input {
            body.remove(*field);
        }
        if self.dry_run {
            return Ok(Applied {
                outcome: Outcome::Created,
                id: None,
                changes,
            });
        }
        self.writes += 1;
        let created = self
            .client
            .post(&spec.path(spec.create, key, None), Value::Object(body))?;
        Ok(Applied {
            outcome: Outcome::Created,
            id: Some(str_id(&created).to_string()),
            changes,
        })
    }

    fn update(
        &mut self,
        spec: &ApplySpec,
        key: &[&str],
        mut desired: Map<String, Value>,
        current: Value,
    ) -> Result<Applied> {
        let id = str_id(&current).to_string();
        let Value::Object(mut current) = current else {
            return Err(Error::Server {
                status: 200,
                message: format!("the server's {} is not an object", spec.kind),
            });
        };
        normalize(spec, &mut current);
        for field in spec.key {
            desired.remove(*field);
        }
        let mut kept_secrets = false;
        if spec.kind == "block"
            && let (Some(Value::Object(want)), Some(Value::Object(have))) =
                (desired.get_mut("data"), current.get("data"))
        {
            kept_secrets = drop_obfuscated(want, have);
        }
        // Secrets left out of the input are kept: compare the data on the keys given.
        let mut loose = spec.loose.to_vec();
        if kept_secrets {
            loose.push("data");
        }
        let changes = changed_fields(&desired, &current, &loose);
        if changes.is_empty() {
            return Ok(Applied {
                outcome: Outcome::Unchanged,
                id: Some(id),
                changes,
            });
        }
        let updatable = schema::properties(spec.update_schema);
        if let Some(fixed) = changes
            .iter()
            .find(|c| !updatable.contains(&c.field.as_str()))
        {
            return Err(Error::Client {
                status: 0,
                message: format!(
                    "'{}' cannot be changed once created (the server has {})",
                    fixed.field,
                    fixed.old.clone().unwrap_or(Value::Null)
                ),
                hint: Some(format!(
                    "delete it first: pf-rm {} {}",
                    spec.kind,
                    key.join("/")
                )),
            });
        }
        let fields: Vec<String> = changes.iter().map(|c| c.field.clone()).collect();
        let body = match spec.update_style {
            UpdateStyle::PatchChanged => changes
                .iter()
                .map(|c| (c.field.clone(), c.new.clone()))
                .collect(),
            UpdateStyle::PutWhole => {
                let mut whole = current.clone();
                whole.extend(desired);
                whole.retain(|k, _| updatable.contains(&k.as_str()));
                whole
            }
            UpdateStyle::PostWhole => {
                let mut whole = desired;
                for (field, part) in spec.key.iter().zip(key) {
                    whole.insert(field.to_string(), Value::String(part.to_string()));
                }
                whole
            }
            UpdateStyle::PatchBlockData => {
                let mut body = Map::new();
                body.insert("data".into(), desired.remove("data").unwrap_or_default());
                body.insert("merge_existing_data".into(), Value::Bool(kept_secrets));
                body
            }
        };
        if !self.dry_run {
            let path = spec.path(spec.update, key, Some(&id));
            let request = match spec.update_style {
                UpdateStyle::PutWhole => {
                    crate::client::Request::new(crate::client::Method::Put, path)
                }
                UpdateStyle::PostWhole => {
                    crate::client::Request::new(crate::client::Method::Post, path).idempotent(true)
                }
                _ => crate::client::Request::new(crate::client::Method::Patch, path),
            };
            self.writes += 1;
            self.client.call(request.json(Value::Object(body)))?;
        }
        Ok(Applied {
            outcome: Outcome::Updated(fields),
            id: Some(id),
            changes,
        })
    }

    /// A new work pool's type must be one the server knows a worker for; without a
    /// `base_job_template` it gets that worker's default (as `prefect work-pool create`).
    fn work_pool_template(&mut self, body: &mut Map<String, Value>) -> Result<()> {
        let pool_type = body
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("process")
            .to_string();
        if self.worker_metadata.is_none() {
            self.worker_metadata = Some(
                self.client
                    .get("collections/views/aggregate-worker-metadata")?,
            );
        }
        let metadata = self.worker_metadata.as_ref().expect("read above");
        let workers: Vec<(&String, &Value)> = metadata
            .as_object()
            .into_iter()
            .flat_map(|collections| collections.values())
            .filter_map(Value::as_object)
            .flat_map(|workers| workers.iter())
            .collect();
        let Some((_, worker)) = workers.iter().find(|(t, _)| **t == pool_type) else {
            let mut known: Vec<&str> = workers.iter().map(|(t, _)| t.as_str()).collect();
            known.sort_unstable();
            known.dedup();
            return Err(Error::Client {
                status: 0,
                message: format!("the server knows no worker of type '{pool_type}'"),
                hint: Some(format!("types: {}", known.join(", "))),
            });
        };
        if !body.contains_key("base_job_template")
            && let Some(default) = worker.get("default_base_job_configuration")
        {
            body.insert("base_job_template".into(), default.clone());
        }
        Ok(())
    }

    /// A block's type and newest schema on this server, from the type's slug.
    fn block_type_ids(&mut self, slug: &str, body: &mut Map<String, Value>) -> Result<()> {
        let block_type = match self.client.get(&format!(
            "block_types/slug/{}",
            crate::refs::encode_path(slug)
        )) {
            Err(Error::Client { status: 404, .. }) => {
                return Err(Error::not_found(
                    format!("block type '{slug}' not found on the server"),
                    Some("register it first (prefect block register)".into()),
                ));
            }
            other => other?,
        };
        let type_id = str_id(&block_type).to_string();
        let schemas = self.client.post(
            "block_schemas/filter",
            json!({ "block_schemas": { "block_type_id": { "any_": [type_id] } }, "limit": 1 }),
        )?;
        let schema_id = schemas
            .get(0)
            .map(str_id)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::not_found(
                    format!("block type '{slug}' has no schema on the server"),
                    None,
                )
            })?;
        body.insert("block_type_id".into(), Value::String(type_id));
        body.insert(
            "block_schema_id".into(),
            Value::String(schema_id.to_string()),
        );
        Ok(())
    }
}

fn str_id(object: &Value) -> &str {
    object.get("id").and_then(Value::as_str).unwrap_or_default()
}

/// The first path of `data` whose value is the server's obfuscation.
fn obfuscated_path(data: &Value) -> Option<String> {
    match data {
        Value::String(s) if s == OBFUSCATED => Some(String::new()),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            obfuscated_path(v).map(|rest| {
                if rest.is_empty() {
                    k.clone()
                } else {
                    format!("{k}.{rest}")
                }
            })
        }),
        _ => None,
    }
}

/// Remove obfuscated values from `want` and the same keys from `have` (the secret was not
/// exported: keep what the server has). True when something was removed.
fn drop_obfuscated(want: &mut Map<String, Value>, have: &Map<String, Value>) -> bool {
    let mut dropped = false;
    want.retain(|_, v| {
        if v.as_str() == Some(OBFUSCATED) {
            dropped = true;
            return false;
        }
        true
    });
    for (k, v) in want.iter_mut() {
        if let (Value::Object(inner), Some(Value::Object(other))) = (v, have.get(k)) {
            dropped |= drop_obfuscated(inner, other);
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_obfuscated_secrets() {
        let data = json!({"user": "a", "auth": {"password": OBFUSCATED}});
        assert_eq!(obfuscated_path(&data).as_deref(), Some("auth.password"));
        let mut want = data.as_object().unwrap().clone();
        let have = json!({"user": "a", "auth": {"password": "real"}});
        assert!(drop_obfuscated(&mut want, have.as_object().unwrap()));
        assert_eq!(Value::Object(want), json!({"user": "a", "auth": {}}));
    }
}
