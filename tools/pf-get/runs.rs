//! Flows, flow runs, deployments and task runs.

use clap::Args;
use pf_common::filters::{FilterBody, name_filter};
use pf_common::model::{
    StateSelector, custom_state_names, parse_state_types, parse_states, state_filter,
};
use pf_common::{Result, kinds};
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
        Plan::filter(
            kinds::FLOW.list_path,
            body,
            self.paging.limit(None),
            kinds::FLOW.rows,
        )
    }
}

#[derive(Debug, Args)]
pub struct FlowRunsArgs {
    /// Only runs of this flow (repeatable)
    #[arg(long, value_name = "NAME")]
    flow: Vec<String>,
    /// Only runs of this deployment (id or FLOW/DEPLOYMENT)
    #[arg(long, value_name = "REF")]
    deployment: Option<String>,
    /// Only runs of this work pool (repeatable)
    #[arg(long, value_name = "POOL")]
    work_pool: Vec<String>,
    /// Only runs of this work queue: POOL/QUEUE, or a queue name; with --state scheduled, the
    /// runs the queue would hand out next (as `prefect work-queue preview`)
    #[arg(long, value_name = "POOL/QUEUE")]
    work_queue: Option<String>,
    /// Only runs whose state has this name, as Prefect's --state (`Scheduled` excludes
    /// `Late`; custom names work); all lower-case, a type name is the type (`failed`) (repeatable)
    #[arg(long, value_name = "STATE")]
    state: Vec<String>,
    /// Only runs whose state has this type: scheduled, pending, running, completed, failed,
    /// cancelled, crashed, paused, cancelling (repeatable)
    #[arg(long, value_name = "TYPE")]
    state_type: Vec<String>,
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
        let states = states(&self.state, &self.state_type)?;
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
        let mut pools = self.work_pool.clone();
        if let Some(queue) = &self.work_queue {
            let queue = match queue.split_once('/') {
                Some((pool, queue)) => {
                    pools.push(pool.to_string());
                    queue
                }
                None => queue.as_str(),
            };
            body.insert(&["work_pool_queues", "name", "any_"], json!([queue]));
        }
        if !pools.is_empty() {
            body.insert(&["work_pools", "name", "any_"], json!(pools));
        }
        let rows = kinds::FLOW_RUN.rows;
        Ok(Plan::filter(
            kinds::FLOW_RUN.list_path,
            body,
            self.paging.limit(Some(10)),
            rows,
        )
        .resolving(
            kinds::DEPLOYMENT.refs,
            self.deployment.clone(),
            &["flow_runs", "deployment_id", "any_"],
        ))
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
        let rows = kinds::DEPLOYMENT.rows;
        Plan::filter(
            kinds::DEPLOYMENT.list_path,
            body,
            self.paging.limit(None),
            rows,
        )
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
    /// Only task runs whose state has this name (all lower-case, a type name is the type)
    /// (repeatable)
    #[arg(long, value_name = "STATE")]
    state: Vec<String>,
    /// Only task runs whose state has this type (repeatable)
    #[arg(long, value_name = "TYPE")]
    state_type: Vec<String>,
    #[command(flatten)]
    paging: Paging,
}

impl TaskRunsArgs {
    pub fn plan(&self) -> Result<Plan> {
        let states = states(&self.state, &self.state_type)?;
        let body = FilterBody::new()
            .set(&["sort"], json!("EXPECTED_START_TIME_DESC"))
            .set_opt(&["flows", "name"], any_names(&self.flow))
            .set_opt(&["task_runs", "name"], name_filter(&self.name))
            .set_opt(&["task_runs", "state"], state_filter(&states));
        let rows = kinds::TASK_RUN.rows;
        Ok(Plan::filter(
            kinds::TASK_RUN.list_path,
            body,
            self.paging.limit(Some(10)),
            rows,
        )
        .resolving(
            kinds::FLOW_RUN.refs,
            self.flow_run.clone(),
            &["task_runs", "flow_run_id", "any_"],
        ))
    }
}

/// `--state` and `--state-type` as one list (any of them matches); a name that is not
/// Prefect's own is used as given, with a warning (as `prefect flow-run ls --state`).
fn states(names: &[String], types: &[String]) -> Result<Vec<StateSelector>> {
    let mut states = parse_states(names)?;
    for name in custom_state_names(&states) {
        pf_common::cli::warn(
            "pf-get",
            format!(
                "state name '{name}' is not one of Prefect's state names; filtering by it as given"
            ),
        );
    }
    states.extend(parse_state_types(types)?);
    Ok(states)
}
