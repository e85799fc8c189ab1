//! `pf-describe tasks`: every task run of a flow run, in the order they were expected to start.

use pf_common::cli::Batch;
use pf_common::listing::{Join, Listing, print_listing};
use pf_common::output::Printer;
use pf_common::refs::{self, str_field};
use pf_common::{Client, Error, Result, input, tables};
use serde_json::{Value, json};

/// The ids of the flow runs whose task runs to show: `--flow-run`, `--flow` (its most recent
/// started run), else the REFs (arguments or stdin, each failure reported as it happens),
/// with the batch's exit code.
pub fn flow_runs(
    client: &Client,
    args: &[String],
    flow_run: Option<&str>,
    flow: Option<&str>,
) -> Result<(Vec<String>, i32)> {
    if let Some(reference) = flow_run {
        return Ok((
            vec![str_field(&refs::resolve(client, &refs::FLOW_RUN, reference)?, "id").to_string()],
            0,
        ));
    }
    if let Some(name) = flow {
        return latest_run_of(client, name).map(|id| (vec![id], 0));
    }
    let mut ids = Vec::new();
    let mut batch = Batch::default();
    for reference in input::refs(args)? {
        let resolved = reference.and_then(|r| refs::resolve(client, &refs::FLOW_RUN, &r));
        if let Some(run) = batch.record("pf-describe", resolved) {
            ids.push(str_field(&run, "id").to_string());
        }
    }
    Ok((ids, batch.exit_code()))
}

fn latest_run_of(client: &Client, flow_name: &str) -> Result<String> {
    let flow = refs::resolve(client, &refs::FLOW, flow_name)?;
    let body = json!({
        "flows": { "id": { "any_": [str_field(&flow, "id")] } },
        "flow_runs": { "start_time": { "is_null_": false } },
        "sort": "START_TIME_DESC",
        "limit": 1,
    });
    match client.post("flow_runs/filter", body)? {
        Value::Array(runs) if !runs.is_empty() => Ok(str_field(&runs[0], "id").to_string()),
        _ => Err(Error::not_found(
            format!("flow '{flow_name}' has no run that has started"),
            Some(format!("pf-get flow-runs --flow '{flow_name}'")),
        )),
    }
}

/// Print the task runs of these flow runs (a table on a terminal, NDJSON in a pipe).
pub fn print(client: &Client, printer: &mut Printer, flow_run_ids: &[String]) -> Result<()> {
    let listing = Listing {
        path: "task_runs/filter",
        body: json!({ "task_runs": { "flow_run_id": { "any_": flow_run_ids } }, "sort": "EXPECTED_START_TIME_ASC" }),
        limit: None,
        columns: tables::TASK_TIMING_COLUMNS,
        join: Join::None,
        row: tables::task_timing_row,
    };
    print_listing(client, printer, listing)
}
