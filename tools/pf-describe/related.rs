//! The related objects each kind is described with.

use pf_common::paging::Pages;
use pf_common::refs::{self, str_field};
use pf_common::states::{self, RunKind};
use pf_common::{Client, Result};
use serde_json::{Value, json};

use crate::Kind;

/// Add the related fields of `kind` to `object` (after the API's own fields).
pub fn add(client: &Client, kind: Kind, mut object: Value) -> Result<Value> {
    let id = str_field(&object, "id").to_string();
    match kind {
        Kind::Flow => {
            let body = json!({ "flows": { "id": { "any_": [id] } }, "sort": "NAME_ASC" });
            let mut deployments = Vec::new();
            for page in Pages::new(client, "deployments/filter", body, None) {
                deployments.extend(page?);
            }
            object["deployments"] = Value::Array(deployments);
        }
        Kind::FlowRun => {
            let flow = client.get(&format!("flows/{}", str_field(&object, "flow_id")))?;
            object["flow_name"] = flow.get("name").cloned().unwrap_or(Value::Null);
            object["deployment_name"] = match object.get("deployment_id").and_then(Value::as_str) {
                Some(deployment_id) => match client.get(&format!("deployments/{deployment_id}")) {
                    Ok(d) => d.get("name").cloned().unwrap_or(Value::Null),
                    // A deleted deployment leaves its id on old runs.
                    Err(pf_common::Error::Client { status: 404, .. }) => Value::Null,
                    Err(e) => return Err(e),
                },
                None => Value::Null,
            };
            object["state_history"] = Value::Array(states::history(client, RunKind::FlowRun, &id)?);
        }
        Kind::TaskRun => {
            object["state_history"] = Value::Array(states::history(client, RunKind::TaskRun, &id)?);
        }
        Kind::Deployment => {
            let flow = client.get(&format!("flows/{}", str_field(&object, "flow_id")))?;
            object["flow_name"] = flow.get("name").cloned().unwrap_or(Value::Null);
        }
        Kind::WorkPool => {
            let pool = refs::encode_path(str_field(&object, "name"));
            object["work_queues"] = all(client, &format!("work_pools/{pool}/queues/filter"))?;
            object["workers"] = all(client, &format!("work_pools/{pool}/workers/filter"))?;
        }
        Kind::WorkQueue
        | Kind::Artifact
        | Kind::Variable
        | Kind::Block
        | Kind::Automation
        | Kind::Tasks => {}
    }
    Ok(object)
}

/// Every object of a filter endpoint, as one JSON list.
fn all(client: &Client, path: &str) -> Result<Value> {
    let mut objects = Vec::new();
    for page in Pages::new(client, path, json!({}), None) {
        objects.extend(page?);
    }
    Ok(Value::Array(objects))
}
