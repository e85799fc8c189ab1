//! The table columns of each kind: what an operator scans first. Shared by every tool that
//! prints these objects as rows.

use serde_json::Value;

use crate::listing::Joined;
use crate::model::{run_duration, state_cell};
use crate::output::Cell;

fn text(object: &Value, key: &str) -> Cell {
    Cell::from_json(object.get(key))
}

/// Columns of flows.
pub const FLOW_COLUMNS: &[&str] = &["NAME", "ID", "TAGS", "AGE"];

/// A flow's row.
pub fn flow_row(flow: &Value, _: &Joined) -> Vec<Cell> {
    vec![text(flow, "name"), text(flow, "id"), text(flow, "tags"), Cell::age(flow.get("created"))]
}

/// Columns of flow runs.
pub const FLOW_RUN_COLUMNS: &[&str] =
    &["NAME", "FLOW NAME", "STATE", "AGE", "START TIME", "DURATION", "ID"];

/// A flow run's row (the flow name comes from the page's join).
pub fn flow_run_row(run: &Value, joined: &Joined) -> Vec<Cell> {
    let start = run.get("start_time").filter(|v| !v.is_null()).or_else(|| run.get("expected_start_time"));
    vec![
        text(run, "name"),
        Cell::Text(joined.flow_name(run)),
        state_cell(run),
        Cell::age(run.get("created")),
        Cell::time(start),
        Cell::Duration(run_duration(run)),
        text(run, "id"),
    ]
}

/// Columns of deployments.
pub const DEPLOYMENT_COLUMNS: &[&str] = &["NAME", "ID", "WORK POOL", "STATUS", "TAGS", "AGE"];

/// A deployment's row: `FLOW/DEPLOYMENT` (the flow name comes from the page's join).
pub fn deployment_row(deployment: &Value, joined: &Joined) -> Vec<Cell> {
    let flow = joined.flow_name(deployment);
    let name = deployment.get("name").and_then(Value::as_str).unwrap_or_default();
    let status = if deployment.get("paused").and_then(Value::as_bool).unwrap_or(false) {
        "PAUSED".to_string()
    } else {
        deployment.get("status").and_then(Value::as_str).unwrap_or_default().to_string()
    };
    vec![
        Cell::Text(if flow.is_empty() { name.to_string() } else { format!("{flow}/{name}") }),
        text(deployment, "id"),
        text(deployment, "work_pool_name"),
        Cell::Text(status),
        text(deployment, "tags"),
        Cell::age(deployment.get("created")),
    ]
}

/// Columns of task runs.
pub const TASK_RUN_COLUMNS: &[&str] =
    &["NAME", "STATE", "AGE", "START TIME", "DURATION", "FLOW RUN ID", "ID"];

/// A task run's row.
pub fn task_run_row(task_run: &Value, _: &Joined) -> Vec<Cell> {
    let start = task_run
        .get("start_time")
        .filter(|v| !v.is_null())
        .or_else(|| task_run.get("expected_start_time"));
    vec![
        text(task_run, "name"),
        state_cell(task_run),
        Cell::age(task_run.get("created")),
        Cell::time(start),
        Cell::Duration(run_duration(task_run)),
        text(task_run, "flow_run_id"),
        text(task_run, "id"),
    ]
}
