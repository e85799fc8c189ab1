//! What pf-apply and pf-export know about each kind: its natural key, where it is created and
//! updated, which fields the server owns, which fields name other objects, and which fields
//! the server fills in with defaults (compared loosely).

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// How an existing object is updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateStyle {
    /// `PATCH` with only the fields that changed.
    PatchChanged,
    /// `PUT` of the whole object (automations: the server has no partial update).
    PutWhole,
    /// `POST` of the whole object to the create path (tag concurrency limits: POST upserts).
    PostWhole,
    /// `PATCH` of `data` (block documents).
    PatchBlockData,
}

/// A field that names another object: `name_field` (what files and exports carry, a name)
/// stands for `id_field` (what the API takes, an id) of an object of kind `target`.
#[derive(Debug, Clone, Copy)]
pub struct Reference {
    /// The field that carries the id in the API (`flow_id`).
    pub id_field: &'static str,
    /// The field that carries the name in pf's files (`flow_name`).
    pub name_field: &'static str,
    /// The kind of the object named (a [`ApplySpec::kind`]).
    pub target: &'static str,
}

/// Everything apply needs to know about a kind.
#[derive(Debug)]
pub struct ApplySpec {
    /// The kind's name in files and on the command line: its registry entry's name
    /// (`work-pool`); the registry's other names for it are accepted too.
    pub kind: &'static str,
    /// Fields that make up the natural key, outermost first (`["work_pool_name", "name"]`).
    pub key: &'static [&'static str],
    /// Lookup by natural key: a path template whose `{}` are the key's parts.
    pub lookup: &'static str,
    /// Create: `POST` to this path template (`{}` are the key's parts).
    pub create: &'static str,
    /// Update path template: `{id}` is the object's id, `{}` the key's parts.
    pub update: &'static str,
    /// How updates are sent.
    pub update_style: UpdateStyle,
    /// OpenAPI schema of the create body.
    pub create_schema: &'static str,
    /// OpenAPI schema of the update body (fields outside it cannot change once created).
    pub update_schema: &'static str,
    /// Fields the server owns: dropped from the input without a word (pf-get's output is
    /// valid input), never compared, never exported.
    pub server_owned: &'static [&'static str],
    /// Fields that name other objects.
    pub references: &'static [Reference],
    /// Fields the server fills with defaults: compared on the keys the input gives only.
    pub loose: &'static [&'static str],
    /// Fields accepted in the input besides the create schema's (key parts it lacks).
    pub extra_input: &'static [&'static str],
    /// Export: `POST` this path with `{limit, offset}` to list every object.
    pub list: &'static str,
}

const COMMON_OWNED: [&str; 3] = ["id", "created", "updated"];

/// The kinds, in dependency order (what is created first comes first).
pub static SPECS: &[&ApplySpec] = &[
    &BLOCK,
    &VARIABLE,
    &CONCURRENCY_LIMIT,
    &WORK_POOL,
    &WORK_QUEUE,
    &FLOW,
    &DEPLOYMENT,
    &SCHEDULE,
    &AUTOMATION,
];

/// Block documents (TYPE/NAME).
pub static BLOCK: ApplySpec = ApplySpec {
    kind: "block",
    key: &["block_type_slug", "name"],
    lookup: "block_types/slug/{}/block_documents/name/{}?include_secrets=true",
    create: "block_documents/",
    update: "block_documents/{id}",
    update_style: UpdateStyle::PatchBlockData,
    create_schema: "BlockDocumentCreate",
    update_schema: "BlockDocumentUpdate",
    server_owned: &[
        "block_schema_id",
        "block_schema",
        "block_type_id",
        "block_type",
        "block_type_name",
        "block_document_references",
        "is_anonymous",
    ],
    references: &[],
    loose: &[],
    extra_input: &["block_type_slug"],
    list: "block_documents/filter",
};

/// Variables.
pub static VARIABLE: ApplySpec = ApplySpec {
    kind: "variable",
    key: &["name"],
    lookup: "variables/name/{}",
    create: "variables/",
    update: "variables/name/{}",
    update_style: UpdateStyle::PatchChanged,
    create_schema: "VariableCreate",
    update_schema: "VariableUpdate",
    server_owned: &[],
    references: &[],
    loose: &[],
    extra_input: &[],
    list: "variables/filter",
};

/// Global concurrency limits; a tag limit is `tag:TAG`.
pub static CONCURRENCY_LIMIT: ApplySpec = ApplySpec {
    kind: "concurrency-limit",
    key: &["name"],
    lookup: "v2/concurrency_limits/{}",
    create: "v2/concurrency_limits/",
    update: "v2/concurrency_limits/{id}",
    update_style: UpdateStyle::PatchChanged,
    create_schema: "ConcurrencyLimitV2Create",
    update_schema: "ConcurrencyLimitV2Update",
    // Slots in use are the server's state, not configuration.
    server_owned: &["active_slots", "denied_slots"],
    references: &[],
    loose: &[],
    extra_input: &[],
    list: "v2/concurrency_limits/filter",
};

/// Work pools.
pub static WORK_POOL: ApplySpec = ApplySpec {
    kind: "work-pool",
    key: &["name"],
    lookup: "work_pools/{}",
    create: "work_pools/",
    update: "work_pools/{}",
    update_style: UpdateStyle::PatchChanged,
    create_schema: "WorkPoolCreate",
    update_schema: "WorkPoolUpdate",
    server_owned: &[
        "status",
        "default_queue_id",
        "is_push",
        "is_managed",
        "active_slots",
    ],
    references: &[],
    loose: &["storage_configuration"],
    extra_input: &[],
    list: "work_pools/filter",
};

/// Work queues (POOL/QUEUE).
pub static WORK_QUEUE: ApplySpec = ApplySpec {
    kind: "work-queue",
    key: &["work_pool_name", "name"],
    lookup: "work_pools/{}/queues/{}",
    create: "work_pools/{}/queues",
    update: "work_pools/{}/queues/{}",
    update_style: UpdateStyle::PatchChanged,
    create_schema: "WorkQueueCreate",
    update_schema: "WorkQueueUpdate",
    server_owned: &["work_pool_id", "last_polled", "status", "active_slots"],
    references: &[],
    loose: &[],
    extra_input: &["work_pool_name"],
    list: "work_queues/filter",
};

/// Flows.
pub static FLOW: ApplySpec = ApplySpec {
    kind: "flow",
    key: &["name"],
    lookup: "flows/name/{}",
    create: "flows/",
    update: "flows/{id}",
    update_style: UpdateStyle::PatchChanged,
    create_schema: "FlowCreate",
    update_schema: "FlowUpdate",
    server_owned: &[],
    references: &[],
    loose: &["labels"],
    extra_input: &[],
    list: "flows/filter",
};

/// Deployments (FLOW/DEPLOYMENT).
pub static DEPLOYMENT: ApplySpec = ApplySpec {
    kind: "deployment",
    key: &["flow_name", "name"],
    lookup: "deployments/name/{}/{}",
    create: "deployments/",
    update: "deployments/{id}",
    update_style: UpdateStyle::PatchChanged,
    create_schema: "DeploymentCreate",
    update_schema: "DeploymentUpdate",
    server_owned: &[
        "work_queue_id",
        "last_polled",
        "status",
        "created_by",
        "updated_by",
        // The deployment's own limit, made by the server from `concurrency_limit`.
        "global_concurrency_limit",
        "global_concurrency_limit_id",
    ],
    references: &[
        Reference {
            id_field: "flow_id",
            name_field: "flow_name",
            target: "flow",
        },
        Reference {
            id_field: "storage_document_id",
            name_field: "storage_document",
            target: "block",
        },
        Reference {
            id_field: "infrastructure_document_id",
            name_field: "infrastructure_document",
            target: "block",
        },
    ],
    loose: &["schedules", "concurrency_options", "labels"],
    extra_input: &[],
    list: "deployments/filter",
};

/// One schedule of a deployment (`deployment: FLOW/DEPLOYMENT`, `schedule: {cron|interval|
/// rrule, timezone…}`, `active`, `slug`, `parameters`). Deployments have no lookup by schedule:
/// apply reads the deployment's schedules and matches by slug, or by an identical schedule when
/// there is no slug (see `apply::schedule`). Not exported on its own: a deployment carries its
/// schedules.
pub static SCHEDULE: ApplySpec = ApplySpec {
    kind: "schedule",
    key: &["deployment"],
    lookup: "",
    create: "deployments/{id}/schedules",
    update: "deployments/{}/schedules/{id}",
    update_style: UpdateStyle::PatchChanged,
    create_schema: "DeploymentScheduleCreate",
    update_schema: "DeploymentScheduleUpdate",
    server_owned: &["deployment_id"],
    references: &[],
    loose: &["schedule", "parameters"],
    extra_input: &["deployment"],
    list: "",
};

/// Automations.
pub static AUTOMATION: ApplySpec = ApplySpec {
    kind: "automation",
    key: &["name"],
    lookup: "",
    create: "automations/",
    update: "automations/{id}",
    update_style: UpdateStyle::PutWhole,
    create_schema: "AutomationCreate",
    update_schema: "AutomationUpdate",
    server_owned: &["owner_resource"],
    references: &[],
    loose: &[
        "trigger",
        "actions",
        "actions_on_trigger",
        "actions_on_resolve",
    ],
    extra_input: &[],
    list: "automations/filter",
};

/// Nested fields the server owns, per kind: `(field, keys dropped from each item)`.
pub fn nested_server_owned(kind: &str) -> &'static [(&'static str, &'static [&'static str])] {
    match kind {
        "deployment" => &[("schedules", &["id", "created", "updated", "deployment_id"])],
        _ => &[],
    }
}

impl ApplySpec {
    /// Find a kind by any of the registry's names for it (`work-pool`, `work-pools`, `pools`).
    pub fn find(name: &str) -> Option<&'static ApplySpec> {
        crate::kinds::find(name).and_then(|kind| kind.apply)
    }

    /// Like [`find`](Self::find), but an unknown name is a usage error listing the kinds.
    pub fn find_or_usage(name: &str) -> Result<&'static ApplySpec> {
        ApplySpec::find(name).ok_or_else(|| {
            Error::usage_hint(
                format!("unknown kind '{name}'"),
                format!("kinds: {}", kind_names().join(", ")),
            )
        })
    }

    /// Dependency rank: objects of a lower rank are applied (and exported) first.
    pub fn rank(&self) -> usize {
        SPECS
            .iter()
            .position(|s| std::ptr::eq(*s, self))
            .unwrap_or(SPECS.len())
    }

    /// Whether `field` is owned by the server (never written, compared or exported).
    pub fn is_server_owned(&self, field: &str) -> bool {
        COMMON_OWNED.contains(&field) || self.server_owned.contains(&field)
    }

    /// The natural key's parts of an object (None when one is missing or not a string).
    pub fn key_parts<'v>(&self, object: &'v Map<String, Value>) -> Option<Vec<&'v str>> {
        self.key
            .iter()
            .map(|field| {
                object
                    .get(*field)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            })
            .collect()
    }

    /// The natural key as shown (`etl/nightly`, `pool/queue`, `secret/db`; a schedule's
    /// `etl/nightly/SLUG`, or `etl/nightly/cron 0 3 * * *` when it has no slug).
    pub fn display_key(&self, object: &Map<String, Value>) -> String {
        if self.kind == "schedule" {
            return crate::apply::schedule::display_key(object);
        }
        self.key
            .iter()
            .map(|field| object.get(*field).and_then(Value::as_str).unwrap_or("?"))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Put a NAME from the command line into the key fields (`FLOW/DEPLOYMENT` splits on the
    /// first `/`, as the key's parts cannot contain one except the last).
    pub fn set_key(&self, object: &mut Map<String, Value>, name: &str) -> Result<()> {
        let parts: Vec<&str> = if self.key.len() == 1 {
            vec![name]
        } else {
            match name.split_once('/') {
                Some((a, b)) if !a.is_empty() && !b.is_empty() => vec![a, b],
                _ => {
                    return Err(Error::usage_hint(
                        format!("a {} is named {}", self.kind, self.key_form()),
                        format!("e.g. pf-apply {} {}", self.kind, self.key_example()),
                    ));
                }
            }
        };
        for (field, part) in self.key.iter().zip(parts) {
            object.insert(field.to_string(), Value::String(part.to_string()));
        }
        Ok(())
    }

    /// Whether an input field is one apply knows: the create body's, a key part, or a name
    /// reference.
    pub fn accepts(&self, field: &str) -> bool {
        crate::apply::schema::properties(self.create_schema).contains(&field)
            || self.key.contains(&field)
            || self.extra_input.contains(&field)
            || self.references.iter().any(|r| r.name_field == field)
    }

    /// The key's form in words (`FLOW/DEPLOYMENT`).
    pub fn key_form(&self) -> &'static str {
        match self.kind {
            "deployment" | "schedule" => "FLOW/DEPLOYMENT",
            "work-queue" => "POOL/QUEUE",
            "block" => "TYPE/NAME",
            _ => "NAME",
        }
    }

    fn key_example(&self) -> &'static str {
        match self.kind {
            "deployment" | "schedule" => "etl/nightly",
            "work-queue" => "etl/high",
            _ => "secret/db-password",
        }
    }

    /// Fill a path template: `{id}` with the id, each `{}` with the next key part (encoded).
    pub fn path(&self, template: &str, key: &[&str], id: Option<&str>) -> String {
        let mut out = template.replace("{id}", id.unwrap_or_default());
        for part in key {
            if let Some(i) = out.find("{}") {
                out.replace_range(i..i + 2, &crate::refs::encode_path(part));
            }
        }
        out
    }
}

/// The kinds' names, in dependency order.
pub fn kind_names() -> Vec<&'static str> {
    SPECS.iter().map(|s| s.kind).collect()
}

/// Recognise the kind of an object without a `kind` field from its fields, where that is
/// unambiguous (pf-get's NDJSON of any kind is recognised).
pub fn recognise(object: &Map<String, Value>) -> Option<&'static ApplySpec> {
    let has = |k: &str| object.contains_key(k);
    let kind = if has("trigger") && has("actions") {
        "automation"
    } else if has("schedule") && (has("deployment") || has("deployment_id")) {
        "schedule"
    } else if (has("tag") && has("concurrency_limit"))
        || (has("limit") && (has("slot_decay_per_second") || has("active_slots") || has("name")))
    {
        "concurrency-limit"
    } else if has("data") && (has("block_type") || has("block_type_slug") || has("block_schema_id"))
    {
        "block"
    } else if has("flow_id") || (has("flow_name") && (has("entrypoint") || has("work_pool_name"))) {
        "deployment"
    } else if has("base_job_template") || (has("type") && has("name") && !has("value")) {
        "work-pool"
    } else if has("work_pool_name") && (has("priority") || has("work_pool_id")) {
        "work-queue"
    } else if has("value") && has("name") {
        "variable"
    } else if has("name")
        && object
            .keys()
            .all(|k| ["id", "created", "updated", "name", "tags", "labels"].contains(&k.as_str()))
        && has("id")
    {
        "flow"
    } else {
        return None;
    };
    ApplySpec::find(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn recognises_pf_get_shapes() {
        let cases = [
            (
                json!({"name": "p", "type": "process", "base_job_template": {}}),
                "work-pool",
            ),
            (
                json!({"name": "q", "work_pool_name": "p", "priority": 1}),
                "work-queue",
            ),
            (json!({"name": "v", "value": 1}), "variable"),
            (
                json!({"tag": "t", "concurrency_limit": 1}),
                "concurrency-limit",
            ),
            (
                json!({"name": "g", "limit": 1, "slot_decay_per_second": 0}),
                "concurrency-limit",
            ),
            (json!({"name": "d", "flow_id": "x"}), "deployment"),
            (
                json!({"name": "a", "trigger": {}, "actions": []}),
                "automation",
            ),
            (json!({"id": "x", "name": "f", "tags": []}), "flow"),
        ];
        for (object, kind) in cases {
            assert_eq!(recognise(&map(object)).map(|s| s.kind), Some(kind));
        }
        assert!(recognise(&map(json!({"name": "x"}))).is_none());
    }

    #[test]
    fn every_spec_is_its_registry_entry_s() {
        for spec in SPECS {
            let kind = crate::kinds::find(spec.kind).expect("a registry kind");
            assert!(
                kind.apply.is_some_and(|a| std::ptr::eq(a, *spec)),
                "{}",
                spec.kind
            );
        }
        assert_eq!(
            ApplySpec::find("work_pools").map(|s| s.kind),
            Some("work-pool")
        );
        assert_eq!(
            ApplySpec::find("gcl").map(|s| s.kind),
            Some("concurrency-limit")
        );
        assert!(ApplySpec::find("flow-run").is_none());
    }

    #[test]
    fn keys_and_paths() {
        let spec = ApplySpec::find("work-queues").unwrap();
        let mut object = Map::new();
        spec.set_key(&mut object, "my pool/q").unwrap();
        assert_eq!(spec.display_key(&object), "my pool/q");
        let key = spec.key_parts(&object).unwrap();
        assert_eq!(
            spec.path(spec.update, &key, None),
            "work_pools/my%20pool/queues/q"
        );
        assert!(spec.set_key(&mut object, "q").is_err());
    }
}
