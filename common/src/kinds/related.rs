//! What pf-describe adds to an object of each kind ([`super::Kind::related`]), after the API's
//! own fields.

use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::paging::Pages;
use crate::refs::{encode_path, str_field};
use crate::states::{self, RunKind};

/// A flow: its deployments.
pub fn flow(client: &Client, mut object: Value) -> Result<Value> {
    let id = str_field(&object, "id").to_string();
    let body = json!({ "flows": { "id": { "any_": [id] } }, "sort": "NAME_ASC" });
    object["deployments"] = all(client, "deployments/filter", body)?;
    Ok(object)
}

/// A flow run: its flow's and deployment's names and its state history.
pub fn flow_run(client: &Client, mut object: Value) -> Result<Value> {
    let id = str_field(&object, "id").to_string();
    let flow = client.get(&format!("flows/{}", str_field(&object, "flow_id")))?;
    object["flow_name"] = flow.get("name").cloned().unwrap_or(Value::Null);
    object["deployment_name"] = match object.get("deployment_id").and_then(Value::as_str) {
        Some(deployment_id) => match client.get(&format!("deployments/{deployment_id}")) {
            Ok(d) => d.get("name").cloned().unwrap_or(Value::Null),
            // A deleted deployment leaves its id on old runs.
            Err(Error::Client { status: 404, .. }) => Value::Null,
            Err(e) => return Err(e),
        },
        None => Value::Null,
    };
    object["state_history"] = Value::Array(states::history(client, RunKind::FlowRun, &id)?);
    Ok(object)
}

/// A task run: its state history.
pub fn task_run(client: &Client, mut object: Value) -> Result<Value> {
    let id = str_field(&object, "id").to_string();
    object["state_history"] = Value::Array(states::history(client, RunKind::TaskRun, &id)?);
    Ok(object)
}

/// A deployment: its flow's name.
pub fn deployment(client: &Client, mut object: Value) -> Result<Value> {
    let flow = client.get(&format!("flows/{}", str_field(&object, "flow_id")))?;
    object["flow_name"] = flow.get("name").cloned().unwrap_or(Value::Null);
    Ok(object)
}

/// A work pool: its work queues and workers.
pub fn work_pool(client: &Client, mut object: Value) -> Result<Value> {
    let pool = encode_path(str_field(&object, "name"));
    object["work_queues"] = all(
        client,
        &format!("work_pools/{pool}/queues/filter"),
        json!({}),
    )?;
    object["workers"] = all(
        client,
        &format!("work_pools/{pool}/workers/filter"),
        json!({}),
    )?;
    // Slot use, as `prefect work-pool slots` (servers before 3.x lack the endpoint: left out).
    match client.post(&format!("work_pools/{pool}/concurrency_status"), json!({})) {
        Ok(status) => object["slots"] = status,
        Err(e) if matches!(e.status(), Some(404 | 405)) => {}
        Err(e) => return Err(e),
    }
    Ok(object)
}

/// A work queue: its health under `status_details`, as `prefect work-queue inspect`.
pub fn work_queue(client: &Client, mut object: Value) -> Result<Value> {
    let id = str_field(&object, "id").to_string();
    object["status_details"] = client.get(&format!("work_queues/{id}/status"))?;
    Ok(object)
}

/// An artifact: every version of its key under `versions`, newest first, each with its own
/// artifact id (as `prefect artifact inspect KEY`).
pub fn artifact(client: &Client, mut object: Value) -> Result<Value> {
    if let Some(key) = object.get("key").and_then(Value::as_str) {
        let body = json!({ "artifacts": { "key": { "any_": [key] } }, "sort": "CREATED_DESC" });
        object["versions"] = all(client, "artifacts/filter", body)?;
    }
    Ok(object)
}

/// Every object of a filter endpoint, as one JSON list.
fn all(client: &Client, path: &str, body: Value) -> Result<Value> {
    let mut objects = Vec::new();
    for page in Pages::new(client, path, body, None) {
        objects.extend(page?);
    }
    Ok(Value::Array(objects))
}
