//! Resolving a REF (a UUID or a name) to the API object it names.

use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{Error, Result};

/// True when `s` is a UUID (the form the API's ids take).
pub fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

/// How objects of a kind are looked up by REF.
#[derive(Debug, Clone, Copy)]
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
    /// A kind-specific lookup (schedules of a deployment, workers of a pool, concurrency
    /// limits by tag or name): the function gets the trimmed, non-empty REF.
    Custom(fn(&Client, &str) -> Result<Value>),
}

/// How REFs name objects of a kind. Each kind's value lives in its [`crate::kinds::Kind`]
/// entry (`kinds::FLOW_RUN.refs`); the constants below are those, kept for existing callers.
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
    /// The two-part REF form, for hints when a name is ambiguous: "FLOW/DEPLOYMENT" ("": none).
    pub pair_form: &'static str,
    /// The field that tells apart objects sharing a name, and the word it is shown after in
    /// the ambiguity error: `("work_pool_name", "pool")`.
    pub tell_apart: (&'static str, &'static str),
}

/// Flows.
pub const FLOW: RefKind = crate::kinds::FLOW.refs;
/// Flow runs.
pub const FLOW_RUN: RefKind = crate::kinds::FLOW_RUN.refs;
/// Deployments (REF: id or FLOW/DEPLOYMENT, or a deployment name that is unique).
pub const DEPLOYMENT: RefKind = crate::kinds::DEPLOYMENT.refs;
/// Task runs.
pub const TASK_RUN: RefKind = crate::kinds::TASK_RUN.refs;
/// Work pools (REF: name or id).
pub const WORK_POOL: RefKind = crate::kinds::WORK_POOL.refs;
/// Work queues (REF: id, POOL/QUEUE, or a queue name that is unique across pools).
pub const WORK_QUEUE: RefKind = crate::kinds::WORK_QUEUE.refs;
/// Artifacts (REF: id, or a key for the latest artifact of that key).
pub const ARTIFACT: RefKind = crate::kinds::ARTIFACT.refs;
/// Variables (REF: id or name).
pub const VARIABLE: RefKind = crate::kinds::VARIABLE.refs;
/// Block documents (REF: id, TYPE/NAME as `secret/db-password`, or a name that is unique).
pub const BLOCK: RefKind = crate::kinds::BLOCK.refs;
/// Automations (REF: id or name).
pub const AUTOMATION: RefKind = crate::kinds::AUTOMATION.refs;

/// Find the one object a REF names, or fail: not found → exit 4 with a hint; a name matching
/// several objects → exit 4 listing them.
pub fn resolve(client: &Client, kind: &RefKind, reference: &str) -> Result<Value> {
    let reference = reference.trim();
    if reference.is_empty() {
        return Err(Error::usage(format!("empty {} REF", kind.label)));
    }
    if let Lookup::Custom(lookup) = kind.lookup {
        return lookup(client, reference);
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
        Lookup::NamePath(_) | Lookup::Custom(_) => unreachable!("handled above"),
        Lookup::IdOrPairPath(template) => match reference.split_once('/') {
            Some((a, b)) => get_or_not_found(client, kind, &fill(template, &[a, b]), reference),
            None => by_name(client, kind, reference),
        },
        Lookup::IdOrNamePath(name_path) if name_path.contains("{}") => {
            get_or_not_found(client, kind, &fill(name_path, &[reference]), reference)
        }
        Lookup::IdOnly => Err(Error::usage(format!(
            "'{}' is not a {} id (a UUID is needed)",
            crate::input::shorten(reference),
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

/// Find the object with id `id` through `POST {path}/filter` (not found → exit 4).
pub fn by_id_filter(client: &Client, kind: &RefKind, id: &str) -> Result<Value> {
    let body = json!({ kind.filter_key: { "id": { "any_": [id] } }, "limit": 1 });
    match client.post(&format!("{}/filter", kind.path), body)? {
        Value::Array(mut items) if !items.is_empty() => Ok(items.remove(0)),
        _ => Err(not_found(kind, id)),
    }
}

/// Find the one object named `name` through `POST {path}/filter` (the kind's `name` filter):
/// not found → exit 4; several → an error listing them.
pub fn by_name(client: &Client, kind: &RefKind, name: &str) -> Result<Value> {
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
                hint: Some(if kind.pair_form.is_empty() {
                    "use the id instead of the name".into()
                } else {
                    format!("use the id, or {}", kind.pair_form)
                }),
            })
        }
    }
}

fn describe_extra(kind: &RefKind, item: &Value) -> String {
    let (field, word) = kind.tell_apart;
    match item.get(field) {
        Some(Value::String(v)) => format!("{word} {v}"),
        _ => String::new(),
    }
}

/// Find the one object a REF names by `GET path`, or the standard "not found" error (exit 4).
pub fn get_or_not_found(
    client: &Client,
    kind: &RefKind,
    path: &str,
    reference: &str,
) -> Result<Value> {
    match client.get(path) {
        Err(Error::Client { status: 404, .. }) => Err(not_found(kind, reference)),
        other => other,
    }
}

/// The standard "not found" error for a REF, with a listing hint.
pub fn not_found(kind: &RefKind, reference: &str) -> Error {
    Error::not_found(
        format!(
            "{} '{}' not found",
            kind.label,
            crate::input::shorten(reference)
        ),
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
