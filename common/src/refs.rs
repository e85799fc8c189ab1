//! Resolving a REF (a UUID or a name) to the API object it names.

use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{Error, Result};

/// True when `s` is a UUID (the form the API's ids take).
pub fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

/// How objects of a kind are looked up by REF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// `GET {path}/{id}` for a UUID, else `POST {path}/filter` on `{filter_key: {name: any_}}`.
    IdOrFilterName,
    /// As IdOrFilterName, plus `FLOW/DEPLOYMENT` through `GET deployments/name/{flow}/{name}`.
    Deployment,
    /// `GET {path}/{id}` for a UUID, else `GET {name_path}/{name}` (variables); a `{}` in
    /// `name_path` marks where the name goes (`artifacts/{}/latest`).
    IdOrNamePath(&'static str),
    /// Always by name: `GET {name_path}/{name}` (`{}` marks the name); a UUID that names no
    /// object is looked up by id through `POST {path}/filter` (work pools, whose paths take names).
    NamePath(&'static str),
    /// `GET {path}/{id}` for a UUID; `A/B` through `GET` of the template with both filled in
    /// (`work_pools/{}/queues/{}`, `block_types/slug/{}/block_documents/name/{}`); else a name
    /// through `POST {path}/filter` (ambiguous names are an error listing the matches).
    IdOrPairPath(&'static str),
    /// Only ids: names are not unique or not searchable for this kind.
    IdOnly,
}

/// A kind of API object that REFs can name.
#[derive(Debug, Clone, Copy)]
pub struct RefKind {
    /// Human name, singular: "flow run".
    pub label: &'static str,
    /// The pf-get kind that lists these (for hints): "flow-runs".
    pub list_kind: &'static str,
    /// API collection path: "flow_runs".
    pub path: &'static str,
    /// Key of this kind's filter in a filter body: "flow_runs".
    pub filter_key: &'static str,
    /// How to look one up.
    pub lookup: Lookup,
}

/// Flows.
pub const FLOW: RefKind = RefKind {
    label: "flow",
    list_kind: "flows",
    path: "flows",
    filter_key: "flows",
    lookup: Lookup::IdOrFilterName,
};
/// Flow runs.
pub const FLOW_RUN: RefKind = RefKind {
    label: "flow run",
    list_kind: "flow-runs",
    path: "flow_runs",
    filter_key: "flow_runs",
    lookup: Lookup::IdOrFilterName,
};
/// Deployments (REF: id or FLOW/DEPLOYMENT, or a deployment name that is unique).
pub const DEPLOYMENT: RefKind = RefKind {
    label: "deployment",
    list_kind: "deployments",
    path: "deployments",
    filter_key: "deployments",
    lookup: Lookup::Deployment,
};
/// Task runs.
pub const TASK_RUN: RefKind = RefKind {
    label: "task run",
    list_kind: "task-runs",
    path: "task_runs",
    filter_key: "task_runs",
    lookup: Lookup::IdOrFilterName,
};

/// Work pools (REF: name or id).
pub const WORK_POOL: RefKind = RefKind {
    label: "work pool",
    list_kind: "work-pools",
    path: "work_pools",
    filter_key: "work_pools",
    lookup: Lookup::NamePath("work_pools/{}"),
};
/// Work queues (REF: id, POOL/QUEUE, or a queue name that is unique across pools).
pub const WORK_QUEUE: RefKind = RefKind {
    label: "work queue",
    list_kind: "work-queues",
    path: "work_queues",
    filter_key: "work_queues",
    lookup: Lookup::IdOrPairPath("work_pools/{}/queues/{}"),
};
/// Artifacts (REF: id, or a key for the latest artifact of that key).
pub const ARTIFACT: RefKind = RefKind {
    label: "artifact",
    list_kind: "artifacts",
    path: "artifacts",
    filter_key: "artifacts",
    lookup: Lookup::IdOrNamePath("artifacts/{}/latest"),
};
/// Variables (REF: id or name).
pub const VARIABLE: RefKind = RefKind {
    label: "variable",
    list_kind: "variables",
    path: "variables",
    filter_key: "variables",
    lookup: Lookup::IdOrNamePath("variables/name"),
};
/// Block documents (REF: id, TYPE/NAME as `secret/db-password`, or a name that is unique).
pub const BLOCK: RefKind = RefKind {
    label: "block",
    list_kind: "blocks",
    path: "block_documents",
    filter_key: "block_documents",
    lookup: Lookup::IdOrPairPath("block_types/slug/{}/block_documents/name/{}"),
};
/// Automations (REF: id or name).
pub const AUTOMATION: RefKind = RefKind {
    label: "automation",
    list_kind: "automations",
    path: "automations",
    filter_key: "automations",
    lookup: Lookup::IdOrFilterName,
};

/// Find the one object a REF names, or fail: not found → exit 4 with a hint; a name matching
/// several objects → exit 4 listing them.
pub fn resolve(client: &Client, kind: &RefKind, reference: &str) -> Result<Value> {
    let reference = reference.trim();
    if reference.is_empty() {
        return Err(Error::usage(format!("empty {} REF", kind.label)));
    }
    if let Lookup::NamePath(template) = kind.lookup {
        return match get_or_not_found(client, kind, &fill(template, &[reference]), reference) {
            Err(Error::Client { status: 404, .. }) if is_uuid(reference) => {
                by_id_filter(client, kind, reference)
            }
            other => other,
        };
    }
    if is_uuid(reference) {
        return get_or_not_found(
            client,
            kind,
            &format!("{}/{reference}", kind.path),
            reference,
        );
    }
    match kind.lookup {
        Lookup::NamePath(_) => unreachable!("handled above"),
        Lookup::IdOrPairPath(template) => match reference.split_once('/') {
            Some((a, b)) => get_or_not_found(client, kind, &fill(template, &[a, b]), reference),
            None => by_name(client, kind, reference),
        },
        Lookup::IdOrNamePath(name_path) if name_path.contains("{}") => {
            get_or_not_found(client, kind, &fill(name_path, &[reference]), reference)
        }
        Lookup::IdOnly => Err(Error::usage(format!(
            "'{reference}' is not a {} id (a UUID is needed)",
            kind.label
        ))),
        Lookup::IdOrNamePath(name_path) => get_or_not_found(
            client,
            kind,
            &format!("{name_path}/{}", encode_path(reference)),
            reference,
        ),
        Lookup::Deployment if reference.contains('/') => {
            let (flow, name) = reference.split_once('/').expect("checked");
            get_or_not_found(
                client,
                kind,
                &format!(
                    "deployments/name/{}/{}",
                    encode_path(flow),
                    encode_path(name)
                ),
                reference,
            )
        }
        Lookup::IdOrFilterName | Lookup::Deployment => by_name(client, kind, reference),
    }
}

/// Fill each `{}` of a path template with the next value, percent-encoded.
fn fill(template: &str, values: &[&str]) -> String {
    let mut out = String::new();
    let mut values = values.iter();
    let mut parts = template.split("{}").peekable();
    while let Some(part) = parts.next() {
        out.push_str(part);
        if parts.peek().is_some() {
            out.push_str(&encode_path(values.next().copied().unwrap_or_default()));
        }
    }
    out
}

fn by_id_filter(client: &Client, kind: &RefKind, id: &str) -> Result<Value> {
    let body = json!({ kind.filter_key: { "id": { "any_": [id] } }, "limit": 1 });
    match client.post(&format!("{}/filter", kind.path), body)? {
        Value::Array(mut items) if !items.is_empty() => Ok(items.remove(0)),
        _ => Err(not_found(kind, id)),
    }
}

fn by_name(client: &Client, kind: &RefKind, name: &str) -> Result<Value> {
    let body = json!({ kind.filter_key: { "name": { "any_": [name] } }, "limit": 10 });
    let found = client.post(&format!("{}/filter", kind.path), body)?;
    let mut items = match found {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    match items.len() {
        0 => Err(not_found(kind, name)),
        1 => Ok(items.remove(0)),
        n => {
            let listed: Vec<String> = items
                .iter()
                .map(|i| format!("{} ({})", str_field(i, "id"), describe_extra(kind, i)))
                .collect();
            let more = if n >= 10 { " (and possibly more)" } else { "" };
            Err(Error::Client {
                status: 0,
                message: format!(
                    "{} name '{name}' matches {n} objects{more}: {}",
                    kind.label,
                    listed.join(", ")
                ),
                hint: Some(match kind.lookup {
                    Lookup::Deployment => "use the id, or FLOW/DEPLOYMENT".into(),
                    Lookup::IdOrPairPath(_) if kind.path == "work_queues" => {
                        "use the id, or POOL/QUEUE".into()
                    }
                    Lookup::IdOrPairPath(_) => "use the id, or TYPE/NAME".into(),
                    _ => "use the id instead of the name".into(),
                }),
            })
        }
    }
}

fn describe_extra(kind: &RefKind, item: &Value) -> String {
    match kind.lookup {
        Lookup::Deployment => format!("flow id {}", str_field(item, "flow_id")),
        Lookup::IdOrPairPath(_) if kind.path == "work_queues" => {
            format!("pool {}", str_field(item, "work_pool_name"))
        }
        Lookup::IdOrPairPath(_) => format!("type {}", str_field(item, "block_type_name")),
        _ => item
            .get("created")
            .and_then(Value::as_str)
            .map(|c| format!("created {c}"))
            .unwrap_or_default(),
    }
}

fn get_or_not_found(client: &Client, kind: &RefKind, path: &str, reference: &str) -> Result<Value> {
    match client.get(path) {
        Err(Error::Client { status: 404, .. }) => Err(not_found(kind, reference)),
        other => other,
    }
}

/// The standard "not found" error for a REF, with a listing hint.
pub fn not_found(kind: &RefKind, reference: &str) -> Error {
    Error::not_found(
        format!("{} '{reference}' not found", kind.label),
        Some(format!("list them with: pf-get {}", kind.list_kind)),
    )
}

/// A string field of an object ("" when missing).
pub fn str_field<'v>(value: &'v Value, key: &str) -> &'v str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Percent-encode one path segment.
pub fn encode_path(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_in_encoded_order() {
        assert_eq!(
            fill("work_pools/{}/queues/{}", &["my pool", "q"]),
            "work_pools/my%20pool/queues/q"
        );
        assert_eq!(fill("artifacts/{}/latest", &["k"]), "artifacts/k/latest");
        assert_eq!(fill("variables/name", &[]), "variables/name");
    }
}
