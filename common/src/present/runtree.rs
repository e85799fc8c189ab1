//! The task runs and subflow runs of a flow run as a tree (`pf-describe flow-run` on a
//! terminal, and the live tree under `pf-run --watch` / `pf-logs --follow`).
//!
//! A subflow run hangs off a task run of its parent (`parent_task_run_id`); the tree shows the
//! subflow run in that task run's place, with its own task runs under it. Two requests per
//! level (task runs, subflow runs), depth and breadth bounded.

use serde_json::{Value, json};

use crate::client::Client;
use crate::error::Result;
use crate::model::{run_duration, state_cell};
use crate::output::Cell;
use crate::refs::str_field;

/// How deep subflows are followed.
pub const MAX_DEPTH: usize = 4;
/// How many task runs (and subflow runs) of one run are shown.
pub const MAX_CHILDREN: usize = 200;

/// One line of the tree.
#[derive(Debug, Clone)]
pub struct Node {
    /// 0 for the children of the root run.
    pub depth: usize,
    /// True for a subflow run, false for a task run.
    pub subflow: bool,
    /// The task run or flow run object.
    pub object: Value,
}

/// Columns of the tree as a table.
pub const TREE_COLUMNS: &[&str] = &["NAME", "KIND", "STATE", "DURATION", "ID"];

/// The task runs and subflow runs under `flow_run_id`, in the order they were expected to start.
pub fn fetch(client: &Client, flow_run_id: &str) -> Result<Vec<Node>> {
    let mut nodes = Vec::new();
    add_children(client, flow_run_id, 0, &mut nodes)?;
    Ok(nodes)
}

fn add_children(client: &Client, run_id: &str, depth: usize, out: &mut Vec<Node>) -> Result<()> {
    let tasks = list(
        client,
        "task_runs/filter",
        json!({ "task_runs": { "flow_run_id": { "any_": [run_id] } }, "sort": "EXPECTED_START_TIME_ASC" }),
    )?;
    let subflows = list(
        client,
        "flow_runs/filter",
        json!({ "flow_runs": { "parent_flow_run_id": { "any_": [run_id] } }, "sort": "EXPECTED_START_TIME_ASC" }),
    )?;
    for task in tasks {
        let task_id = str_field(&task, "id");
        match subflows
            .iter()
            .find(|s| str_field(s, "parent_task_run_id") == task_id)
        {
            Some(subflow) => {
                out.push(Node {
                    depth,
                    subflow: true,
                    object: subflow.clone(),
                });
                if depth + 1 < MAX_DEPTH {
                    add_children(client, str_field(subflow, "id"), depth + 1, out)?;
                }
            }
            None => out.push(Node {
                depth,
                subflow: false,
                object: task,
            }),
        }
    }
    Ok(())
}

fn list(client: &Client, path: &str, mut body: Value) -> Result<Vec<Value>> {
    body["limit"] = json!(MAX_CHILDREN);
    Ok(match client.post(path, body)? {
        Value::Array(items) => items,
        _ => Vec::new(),
    })
}

/// The tree as table rows: the name indented by depth.
pub fn rows(nodes: &[Node]) -> Vec<Vec<Cell>> {
    nodes
        .iter()
        .map(|node| {
            let indent = "  ".repeat(node.depth);
            let name = str_field(&node.object, "name");
            vec![
                Cell::Text(format!("{indent}{name}")),
                Cell::Text(if node.subflow { "subflow" } else { "task" }.into()),
                state_cell(&node.object),
                Cell::Duration(run_duration(&node.object)),
                Cell::from_json(node.object.get("id")),
            ]
        })
        .collect()
}

/// The tree as indented table lines (header first) for a live region; empty without nodes.
pub fn lines(nodes: &[Node], color: bool) -> Vec<String> {
    if nodes.is_empty() {
        return Vec::new();
    }
    crate::output::table_lines(TREE_COLUMNS, &rows(nodes), color)
        .into_iter()
        .map(|l| format!("  {l}"))
        .collect()
}

/// A live view of a run: a heading line (`NAME: State`), then its tree.
pub fn view(name: &str, state: (&str, &str), nodes: &[Node], color: bool) -> Vec<String> {
    let (state_type, state_name) = state;
    let style = crate::output::Style::for_state_type(state_type);
    let mut out = vec![format!("{name}: {}", style.paint(state_name, color))];
    out.extend(lines(nodes, color));
    out
}
