//! The kinds pf-get lists: their flags, validated into a plan, then into a server-side filter.

use clap::{Args, Subcommand};
use jiff::Timestamp;
use pf_common::filters::{FilterBody, any_of, name_filter};
use pf_common::listing::{Join, Listing};
use pf_common::model::{StateSelector, parse_states, state_filter};
use pf_common::time::{parse_time_ago, to_api_time};
use pf_common::{Client, Error, Result, refs, tables};
use serde_json::json;

#[derive(Debug, Subcommand)]
pub enum Kind {
    /// Flows (NAME, ID, TAGS, AGE)
    Flows(FlowsArgs),
    /// Flow runs, newest first (NAME, FLOW NAME, STATE, AGE, START TIME, DURATION, ID)
    FlowRuns(FlowRunsArgs),
    /// Deployments (NAME as FLOW/DEPLOYMENT, ID, WORK POOL, STATUS, TAGS, AGE)
    Deployments(DeploymentsArgs),
    /// Task runs, newest first (NAME, STATE, AGE, START TIME, DURATION, FLOW RUN ID, ID)
    #[command(alias = "tasks")]
    TaskRuns(TaskRunsArgs),
}

/// `--limit` / `--all`, shared by every kind.
#[derive(Debug, Args)]
pub struct Paging {
    /// Show at most N objects [default: 10 for runs, all for other kinds]
    #[arg(long, value_name = "N", conflicts_with = "all")]
    limit: Option<usize>,
    /// Show every object, walking all pages
    #[arg(long)]
    all: bool,
}

impl Paging {
    fn limit(&self, default: Option<usize>) -> Option<usize> {
        if self.all {
            None
        } else {
            self.limit.or(default)
        }
    }
}

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

/// A kind's flags after validation: everything but what needs the server to resolve.
#[derive(Debug)]
pub struct Plan {
    body: FilterBody,
    limit: Option<usize>,
    kind: PlanKind,
    /// A REF to resolve to an id before listing: (kind, REF, where its id goes).
    resolve: Option<(refs::RefKind, String, &'static [&'static str])>,
}

#[derive(Debug, Clone, Copy)]
enum PlanKind {
    Flows,
    FlowRuns,
    Deployments,
    TaskRuns,
}

impl Kind {
    /// Validate flags into a plan: bad times, states and sorts are usage errors (exit 2) here,
    /// before any request.
    pub fn listing_settings(&self) -> Result<Plan> {
        Ok(match self {
            Kind::Flows(a) => Plan {
                body: FilterBody::new()
                    .set(&["sort"], json!("NAME_ASC"))
                    .set_opt(&["flows", "name"], name_filter(&a.name))
                    .set_opt(&["flows", "tags", "all_"], non_empty(&a.tag)),
                limit: a.paging.limit(None),
                kind: PlanKind::Flows,
                resolve: None,
            },
            Kind::FlowRuns(a) => {
                let states = parse_states(&a.state)?;
                let time_field = if a.started {
                    "start_time"
                } else {
                    "expected_start_time"
                };
                let mut body = FilterBody::new()
                    .set(&["sort"], json!(parse_sort(&a.sort, FLOW_RUN_SORTS)?))
                    .set_opt(&["flows", "name"], any_names(&a.flow))
                    .set_opt(&["flow_runs", "name"], name_filter(&a.name))
                    .set_opt(&["flow_runs", "state"], state_filter(&states))
                    .set_opt(&["flow_runs", "tags", "all_"], non_empty(&a.tag))
                    .set_opt(
                        &["flow_runs", time_field, "after_"],
                        time_value(a.since.as_deref())?,
                    )
                    .set_opt(
                        &["flow_runs", time_field, "before_"],
                        time_value(a.until.as_deref())?,
                    );
                if a.started {
                    body.insert(&["flow_runs", "start_time", "is_null_"], json!(false));
                }
                Plan {
                    body,
                    limit: a.paging.limit(Some(10)),
                    kind: PlanKind::FlowRuns,
                    resolve: a.deployment.clone().map(|d| {
                        (
                            refs::DEPLOYMENT,
                            d,
                            &["flow_runs", "deployment_id", "any_"][..],
                        )
                    }),
                }
            }
            Kind::Deployments(a) => Plan {
                body: FilterBody::new()
                    .set(&["sort"], json!("NAME_ASC"))
                    .set_opt(&["flows", "name"], any_names(&a.flow))
                    .set_opt(&["deployments", "name"], name_filter(&a.name))
                    .set_opt(&["deployments", "tags", "all_"], non_empty(&a.tag))
                    .set_opt(&["work_pools", "name"], any_names(&a.work_pool)),
                limit: a.paging.limit(None),
                kind: PlanKind::Deployments,
                resolve: None,
            },
            Kind::TaskRuns(a) => {
                let states: Vec<StateSelector> = parse_states(&a.state)?;
                Plan {
                    body: FilterBody::new()
                        .set(&["sort"], json!("EXPECTED_START_TIME_DESC"))
                        .set_opt(&["flows", "name"], any_names(&a.flow))
                        .set_opt(&["task_runs", "name"], name_filter(&a.name))
                        .set_opt(&["task_runs", "state"], state_filter(&states)),
                    limit: a.paging.limit(Some(10)),
                    kind: PlanKind::TaskRuns,
                    resolve: a
                        .flow_run
                        .clone()
                        .map(|r| (refs::FLOW_RUN, r, &["task_runs", "flow_run_id", "any_"][..])),
                }
            }
        })
    }
}

impl Plan {
    /// Resolve REF flags (a deployment, a flow run) to ids and build the listing.
    pub fn into_listing(mut self, client: &Client) -> Result<Listing> {
        if let Some((kind, reference, path)) = &self.resolve {
            let object = refs::resolve(client, kind, reference)?;
            let id = refs::str_field(&object, "id").to_string();
            self.body.insert(path, json!([id]));
        }
        let (path, columns, join, row): (_, _, _, fn(&_, &_) -> _) = match self.kind {
            PlanKind::Flows => (
                "flows/filter",
                tables::FLOW_COLUMNS,
                Join::None,
                tables::flow_row,
            ),
            PlanKind::FlowRuns => (
                "flow_runs/filter",
                tables::FLOW_RUN_COLUMNS,
                Join::FlowNames,
                tables::flow_run_row,
            ),
            PlanKind::Deployments => (
                "deployments/filter",
                tables::DEPLOYMENT_COLUMNS,
                Join::FlowNames,
                tables::deployment_row,
            ),
            PlanKind::TaskRuns => (
                "task_runs/filter",
                tables::TASK_RUN_COLUMNS,
                Join::None,
                tables::task_run_row,
            ),
        };
        Ok(Listing {
            path,
            body: self.body.into_value(),
            limit: self.limit,
            columns,
            join,
            row,
        })
    }
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

fn parse_sort(value: &str, allowed: &[&str]) -> Result<String> {
    let normalized = value.trim().to_ascii_uppercase().replace('-', "_");
    if allowed.contains(&normalized.as_str()) {
        return Ok(normalized);
    }
    Err(Error::usage_hint(
        format!("unknown sort order '{value}'"),
        format!(
            "use one of: {}",
            allowed
                .iter()
                .map(|s| s.to_lowercase().replace('_', "-"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

fn non_empty(values: &[String]) -> Option<serde_json::Value> {
    (!values.is_empty()).then(|| json!(values))
}

fn any_names(names: &[String]) -> Option<serde_json::Value> {
    (!names.is_empty()).then(|| any_of(names.iter().cloned()))
}

fn time_value(text: Option<&str>) -> Result<Option<serde_json::Value>> {
    text.map(|t| parse_time_ago(t).map(|ts: Timestamp| json!(to_api_time(ts))))
        .transpose()
}
