//! Desired deployment vs. the server's: which fields differ, then one create or one PATCH of
//! only those fields. Schedules are compared as a set and replaced as a set only when they
//! differ. (Kept in this one module so that the generic apply engine can take its place.)

use pf_common::client::{Method, Request};
use pf_common::refs::{encode_path, str_field};
use pf_common::{Client, Error, Result};
use serde_json::{Map, Value, json};

use crate::spec::Desired;

/// One field that would change.
#[derive(Debug, Clone)]
pub struct Change {
    /// The API field.
    pub field: String,
    /// The server's value (null when creating).
    pub old: Value,
    /// The value pf-deploy writes.
    pub new: Value,
}

/// What an upsert would do.
#[derive(Debug)]
pub struct Diff {
    /// The deployment on the server, if it exists.
    pub existing: Option<Value>,
    /// Fields that differ (every field when creating).
    pub changes: Vec<Change>,
}

impl Diff {
    /// `created`, `updated` or `unchanged` (with `would ` for a dry run).
    pub fn result(&self, dry_run: bool) -> String {
        let word = match (&self.existing, self.changes.is_empty()) {
            (None, _) => "created",
            (Some(_), true) => "unchanged",
            (Some(_), false) => "updated",
        };
        match (dry_run, word) {
            (true, "created") => "would create".into(),
            (true, "updated") => "would update".into(),
            _ => word.into(),
        }
    }
}

/// Fields compared, in the order shown.
const FIELDS: &[&str] = &[
    "entrypoint",
    "work_pool_name",
    "work_queue_name",
    "parameters",
    "description",
    "version",
    "tags",
    "concurrency_limit",
    "concurrency_options",
    "paused",
    "job_variables",
    "pull_steps",
    "parameter_openapi_schema",
    "enforce_parameter_schema",
    "path",
];

/// Compare the desired deployment with the server's.
pub fn diff(client: &Client, desired: &Desired) -> Result<Diff> {
    let path = format!(
        "deployments/name/{}/{}",
        encode_path(&desired.flow_name),
        encode_path(&desired.name)
    );
    let existing = match client.get(&path) {
        Ok(found) => found,
        Err(Error::Client { status: 404, .. }) => {
            let mut changes: Vec<Change> = FIELDS
                .iter()
                .filter_map(|f| desired.body.get(*f).map(|v| (f, v)))
                .filter(|(_, v)| !v.is_null())
                .map(|(f, v)| Change {
                    field: f.to_string(),
                    old: Value::Null,
                    new: v.clone(),
                })
                .collect();
            if let Some(schedules) = &desired.schedules {
                changes.push(Change {
                    field: "schedules".into(),
                    old: Value::Null,
                    new: json!(schedules),
                });
            }
            return Ok(Diff {
                existing: None,
                changes,
            });
        }
        Err(e) => return Err(e),
    };
    let mut changes = Vec::new();
    for field in FIELDS {
        let Some(new) = desired.body.get(*field) else {
            continue;
        };
        let old = current_value(&existing, field);
        let same = match *field {
            "work_queue_name" if new.is_null() => old == json!("default"),
            "concurrency_options" if new.is_null() => true,
            _ => &old == new,
        };
        if !same {
            changes.push(Change {
                field: field.to_string(),
                old,
                new: new.clone(),
            });
        }
    }
    if let Some(schedules) = &desired.schedules {
        let current = existing["schedules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !same_schedules(&current, schedules) {
            changes.push(Change {
                field: "schedules".into(),
                old: json!(current.iter().map(shown_schedule).collect::<Vec<_>>()),
                new: json!(schedules),
            });
        }
    }
    Ok(Diff {
        existing: Some(existing),
        changes,
    })
}

fn current_value(existing: &Value, field: &str) -> Value {
    match field {
        "concurrency_limit" => existing
            .get("global_concurrency_limit")
            .and_then(|g| g.get("limit"))
            .cloned()
            .or_else(|| existing.get("concurrency_limit").cloned())
            .unwrap_or(Value::Null),
        _ => existing.get(field).cloned().unwrap_or(Value::Null),
    }
}

/// A server schedule in the shape of a desired one (for the diff).
fn shown_schedule(schedule: &Value) -> Value {
    json!({"schedule": schedule["schedule"], "active": schedule["active"],
        "parameters": schedule["parameters"], "slug": schedule["slug"]})
}

/// Whether each desired schedule matches a different current one, and none is left over.
fn same_schedules(current: &[Value], desired: &[Value]) -> bool {
    if current.len() != desired.len() {
        return false;
    }
    let mut unused: Vec<&Value> = current.iter().collect();
    for want in desired {
        match unused.iter().position(|have| schedule_matches(have, want)) {
            Some(i) => {
                unused.remove(i);
            }
            None => return false,
        }
    }
    true
}

/// The server fills in what a desired schedule leaves out (timezone, anchor date, a DTSTART
/// in an rrule); only what was given is compared.
fn schedule_matches(have: &Value, want: &Value) -> bool {
    let Some(spec) = want["schedule"].as_object() else {
        return false;
    };
    for (key, value) in spec {
        let current = &have["schedule"][key];
        let same = match (key.as_str(), value, current) {
            ("interval", Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            ("rrule", Value::String(a), Value::String(b)) => {
                a == b || b.ends_with(&format!("\n{a}"))
            }
            ("anchor_date", Value::String(a), Value::String(b)) => {
                match (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>()) {
                    (Ok(x), Ok(y)) => x == y,
                    _ => a == b,
                }
            }
            _ => value == current,
        };
        if !same {
            return false;
        }
    }
    let active = want.get("active").and_then(Value::as_bool).unwrap_or(true);
    let parameters = want.get("parameters").cloned().unwrap_or_else(|| json!({}));
    active == have["active"].as_bool().unwrap_or(true)
        && parameters == have["parameters"]
        && want.get("slug").cloned().unwrap_or(Value::Null) == have["slug"]
}

/// Write the difference: create (with the flow, made by name), or PATCH only the changed
/// fields. Returns the deployment as the server now has it (unchanged: as it was).
pub fn write(client: &Client, desired: &Desired, diff: &Diff) -> Result<Value> {
    match &diff.existing {
        None => {
            // Both creates are upserts on the server (a flow by name, a deployment by flow and
            // name), so a resend after a lost answer makes nothing twice.
            let flow = client.call(
                Request::new(Method::Post, "flows/")
                    .json(json!({ "name": desired.flow_name }))
                    .idempotent(true),
            )?;
            let mut body = Map::new();
            body.insert("flow_id".into(), flow["id"].clone());
            body.extend(desired.body.clone());
            body.insert(
                "schedules".into(),
                json!(desired.schedules.clone().unwrap_or_default()),
            );
            if body.get("concurrency_options").is_some_and(Value::is_null) {
                body.remove("concurrency_options");
            }
            client.call(
                Request::new(Method::Post, "deployments/")
                    .json(Value::Object(body))
                    .idempotent(true),
            )
        }
        Some(existing) if diff.changes.is_empty() => Ok(existing.clone()),
        Some(existing) => {
            let id = str_field(existing, "id");
            let mut body = Map::new();
            for change in &diff.changes {
                body.insert(change.field.clone(), change.new.clone());
            }
            if body.contains_key("version") {
                body.insert("version_info".into(), desired.body["version_info"].clone());
            }
            if body.contains_key("work_queue_name") || body.contains_key("work_pool_name") {
                // The server finds the queue within the pool named alongside it.
                body.insert(
                    "work_pool_name".into(),
                    desired.body["work_pool_name"].clone(),
                );
                body.insert(
                    "work_queue_name".into(),
                    desired.body["work_queue_name"].clone(),
                );
            }
            client.patch(&format!("deployments/{id}"), Value::Object(body))?;
            client.get(&format!("deployments/{id}"))
        }
    }
}
