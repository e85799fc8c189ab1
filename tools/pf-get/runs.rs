//! Flows, flow runs, deployments and task runs.

use clap::Args;
use pf_common::filters::{FilterBody, name_filter};
use pf_common::listing::{Join, Rows};
use pf_common::model::{parse_states, state_filter};
use pf_common::{Result, refs, tables};
use serde_json::json;

use crate::kinds::{Paging, Plan, any_names, non_empty, parse_sort, time_value};

#[derive(Debug, Args)]
pub struct FlowsArgs {
    /// Only flows of this name (repeatable; `*` matches partially)
    #[arg(long, value_name = "NAME")]
    name: Vec<String>,
    /// Only flows with this tag (repeatable: all must match)
    #[arg(long, value_name = "TAG")]
    tag: Vec<String>,
    #[command(flatten)]
    paging: Paging,
}

impl FlowsArgs {
    pub fn plan(&self) -> Plan {
        let body = FilterBody::new()
            .set(&["sort"], json!("NAME_ASC"))
            .set_opt(&["flows", "name"], name_filter(&self.name))
            .set_opt(&["flows", "tags", "all_"], non_empty(&self.tag));
        Plan::filter("flows/filter", body, self.paging.limit(None), FLOWS)
    }
}

const FLOWS: Rows = Rows {
    columns: tables::FLOW_COLUMNS,
    join: Join::None,
    row: tables::flow_row,
};

#[derive(Debug, Args)]
pub struct FlowRunsArgs {
    /// Only runs of this flow (repeatable)
    #[arg(long, value_name = "NAME")]
    flow: Vec<String>,
    /// Only runs of this deployment (id or FLOW/DEPLOYMENT)
    #[arg(long, value_name = "REF")]
    deployment: Option<String>,
    /// Only runs in this state: a type or a name, case-insensitive (repeatable)
    #[arg(long, value_name = "STATE")]
    state: Vec<String>,
    /// Only runs with this tag (repeatable: all must match)
    #[arg(long, value_name = "TAG")]
    tag: Vec<String>,
    /// Only runs of this name (repeatable; `*` matches partially)
    #[arg(long, value_name = "NAME")]
    name: Vec<String>,
    /// Only runs that have started (--since/--until then apply to the start time)
    #[arg(long)]
    started: bool,
    /// Only runs expected to start (or, with --started, started) at or after: 30m, 2h, 1d, RFC 3339
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only runs expected to start (or, with --started, started) at or before this time
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Sort order: expected-start-time-desc, start-time-desc, start-time-asc, end-time-desc, name-asc, name-desc, id-desc, …
    #[arg(long, value_name = "ORDER", default_value = "expected-start-time-desc")]
    sort: String,
    #[command(flatten)]
    paging: Paging,
}

const FLOW_RUN_SORTS: &[&str] = &[
    "ID_DESC",
    "START_TIME_ASC",
    "START_TIME_DESC",
    "EXPECTED_START_TIME_ASC",
    "EXPECTED_START_TIME_DESC",
    "NAME_ASC",
    "NAME_DESC",
    "NEXT_SCHEDULED_START_TIME_ASC",
    "END_TIME_DESC",
];

impl FlowRunsArgs {
    pub fn plan(&self) -> Result<Plan> {
        let states = parse_states(&self.state)?;
        let time_field = if self.started {
            "start_time"
        } else {
            "expected_start_time"
        };
        let mut body = FilterBody::new()
            .set(&["sort"], json!(parse_sort(&self.sort, FLOW_RUN_SORTS)?))
            .set_opt(&["flows", "name"], any_names(&self.flow))
            .set_opt(&["flow_runs", "name"], name_filter(&self.name))
            .set_opt(&["flow_runs", "state"], state_filter(&states))
            .set_opt(&["flow_runs", "tags", "all_"], non_empty(&self.tag))
            .set_opt(
                &["flow_runs", time_field, "after_"],
                time_value(self.since.as_deref())?,
            )
            .set_opt(
                &["flow_runs", time_field, "before_"],
                time_value(self.until.as_deref())?,
            );
        if self.started {
            body.insert(&["flow_runs", "start_time", "is_null_"], json!(false));
        }
        let rows = Rows {
            columns: tables::FLOW_RUN_COLUMNS,
            join: Join::FlowNames,
            row: tables::flow_run_row,
        };
        Ok(
            Plan::filter("flow_runs/filter", body, self.paging.limit(Some(10)), rows).resolving(
                refs::DEPLOYMENT,
                self.deployment.clone(),
                &["flow_runs", "deployment_id", "any_"],
            ),
        )
    }
}

#[derive(Debug, Args)]
pub struct DeploymentsArgs {
    /// Only deployments of this flow (repeatable)
    #[arg(long, value_name = "NAME")]
    flow: Vec<String>,
    /// Only deployments of this name (repeatable; `*` matches partially)
    #[arg(long, value_name = "NAME")]
    name: Vec<String>,
    /// Only deployments with this tag (repeatable: all must match)
    #[arg(long, value_name = "TAG")]
    tag: Vec<String>,
    /// Only deployments of this work pool (repeatable)
    #[arg(long, value_name = "POOL")]
    work_pool: Vec<String>,
    #[command(flatten)]
    paging: Paging,
}

impl DeploymentsArgs {
    pub fn plan(&self) -> Plan {
        let body = FilterBody::new()
            .set(&["sort"], json!("NAME_ASC"))
            .set_opt(&["flows", "name"], any_names(&self.flow))
            .set_opt(&["deployments", "name"], name_filter(&self.name))
            .set_opt(&["deployments", "tags", "all_"], non_empty(&self.tag))
            .set_opt(&["work_pools", "name"], any_names(&self.work_pool));
        let rows = Rows {
            columns: tables::DEPLOYMENT_COLUMNS,
            join: Join::FlowNames,
            row: tables::deployment_row,
        };
        Plan::filter("deployments/filter", body, self.paging.limit(None), rows)
    }
}

#[derive(Debug, Args)]
pub struct TaskRunsArgs {
    /// Only task runs of this flow run (id or name)
    #[arg(long, value_name = "REF")]
    flow_run: Option<String>,
    /// Only task runs of this flow (repeatable)
    #[arg(long, value_name = "NAME")]
    flow: Vec<String>,
    /// Only task runs of this name (repeatable; `*` matches partially)
    #[arg(long, value_name = "NAME")]
    name: Vec<String>,
    /// Only task runs in this state: a type or a name, case-insensitive (repeatable)
    #[arg(long, value_name = "STATE")]
    state: Vec<String>,
    #[command(flatten)]
    paging: Paging,
}

impl TaskRunsArgs {
    pub fn plan(&self) -> Result<Plan> {
        let states = parse_states(&self.state)?;
        let body = FilterBody::new()
            .set(&["sort"], json!("EXPECTED_START_TIME_DESC"))
            .set_opt(&["flows", "name"], any_names(&self.flow))
            .set_opt(&["task_runs", "name"], name_filter(&self.name))
            .set_opt(&["task_runs", "state"], state_filter(&states));
        let rows = Rows {
            columns: tables::TASK_RUN_COLUMNS,
            join: Join::None,
            row: tables::task_run_row,
        };
        Ok(
            Plan::filter("task_runs/filter", body, self.paging.limit(Some(10)), rows).resolving(
                refs::FLOW_RUN,
                self.flow_run.clone(),
                &["task_runs", "flow_run_id", "any_"],
            ),
        )
    }
}
