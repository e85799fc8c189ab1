//! The kinds pf-get lists: their flags, validated into a [`Plan`] (before any request), then —
//! once REFs are resolved — into page sources and rows for the shared listing machinery.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use jiff::Timestamp;
use pf_common::filters::{FilterBody, any_of};
use pf_common::listing::Rows;
use pf_common::paging::{PageSource, Pages};
use pf_common::time::{parse_time_ago, to_api_time};
use pf_common::{Client, Error, Result, kinds, refs};
use serde_json::{Value, json};

use crate::{objects, runs, streams};

#[derive(Debug, Subcommand)]
pub enum Kind {
    /// Flows (NAME, ID, TAGS, AGE)
    Flows(runs::FlowsArgs),
    /// Flow runs, newest first (NAME, FLOW NAME, STATE, AGE, START TIME, DURATION, ID)
    FlowRuns(runs::FlowRunsArgs),
    /// Deployments (NAME as FLOW/DEPLOYMENT, ID, WORK POOL, STATUS, TAGS, AGE)
    Deployments(runs::DeploymentsArgs),
    /// Task runs, newest first (NAME, STATE, AGE, START TIME, DURATION, FLOW RUN ID, ID)
    #[command(alias = "tasks")]
    TaskRuns(runs::TaskRunsArgs),
    /// Work pools (NAME, TYPE, STATUS, CONCURRENCY, ID, AGE)
    WorkPools(objects::WorkPoolsArgs),
    /// Work queues (NAME, POOL, STATUS, PRIORITY, CONCURRENCY, LAST POLLED, ID)
    WorkQueues(objects::WorkQueuesArgs),
    /// Workers of one or every work pool (NAME, POOL, STATUS, LAST HEARTBEAT, ID)
    Workers(objects::WorkersArgs),
    /// Artifacts: the latest version of each key, newest first (--all-versions: every version)
    /// (KEY, TYPE, DESCRIPTION, FLOW RUN ID, AGE, ID)
    Artifacts(objects::ArtifactsArgs),
    /// Variables (NAME, VALUE, TAGS, AGE, ID)
    Variables(objects::VariablesArgs),
    /// Block documents (NAME as TYPE/NAME, TYPE, ID, AGE)
    Blocks(objects::BlocksArgs),
    /// Tag concurrency limits and global concurrency limits (KIND, NAME, LIMIT, ACTIVE SLOTS, ID, AGE)
    #[command(alias = "limits")]
    ConcurrencyLimits(objects::LimitsArgs),
    /// Automations (NAME, ENABLED, TRIGGER, ACTIONS, ID)
    Automations(objects::AutomationsArgs),
    /// Events, newest first (OCCURRED, EVENT, RESOURCE, ID)
    Events(streams::EventsArgs),
    /// The logs of runs, oldest first (TIMESTAMP, LEVEL, MESSAGE); pf-logs without --follow
    Logs(streams::LogsArgs),
    /// Prefect 2 and later have no projects: says what replaced them (exit 2)
    Projects,
}

/// `--limit` / `--all`, shared by every kind.
#[derive(Debug, Args)]
pub struct Paging {
    /// Show at most N objects [default: 10 for runs, artifacts and events, all for other kinds]
    #[arg(long, value_name = "N", conflicts_with = "all")]
    limit: Option<usize>,
    /// Show every object, walking all pages
    #[arg(long)]
    all: bool,
}

impl Paging {
    /// The limit in effect, given the kind's default.
    pub fn limit(&self, default: Option<usize>) -> Option<usize> {
        if self.all {
            None
        } else {
            self.limit.or(default)
        }
    }
}

/// Where a plan's pages come from, once REFs are resolved.
#[derive(Debug)]
pub enum Source {
    /// One `*/filter` endpoint.
    Filter(&'static str),
    /// Several `*/filter` endpoints, one after the other, with the same body.
    Filters(&'static [&'static str]),
    /// `work_pools/{pool}/{suffix}` of one pool, or of every pool when None.
    PerPool {
        pool: Option<String>,
        suffix: &'static str,
    },
    /// `events/filter` with `next_page` tokens (the body goes under `filter`).
    Events,
}

/// A kind's flags after validation: everything but what needs the server to resolve.
#[derive(Debug)]
pub struct Plan {
    pub body: FilterBody,
    pub limit: Option<usize>,
    pub source: Source,
    pub rows: Rows,
    /// REFs to resolve to ids before listing: (kind, REF, the body path whose `any_` list the
    /// id joins).
    pub resolve: Vec<(refs::RefKind, String, &'static [&'static str])>,
}

impl Plan {
    /// A plan over one filter endpoint.
    pub fn filter(path: &'static str, body: FilterBody, limit: Option<usize>, rows: Rows) -> Plan {
        Plan {
            body,
            limit,
            source: Source::Filter(path),
            rows,
            resolve: Vec::new(),
        }
    }

    /// Also resolve `reference` (when given) and filter on its id at `path`.
    pub fn resolving(
        mut self,
        kind: refs::RefKind,
        references: impl IntoIterator<Item = String>,
        path: &'static [&'static str],
    ) -> Plan {
        self.resolve
            .extend(references.into_iter().map(|r| (kind, r, path)));
        self
    }

    /// Resolve REF flags to ids and turn the plan into page sources.
    pub fn into_sources(
        mut self,
        client: &Client,
    ) -> Result<(Vec<PageSource>, Option<usize>, Rows)> {
        let mut ids: BTreeMap<&'static [&'static str], Vec<String>> = BTreeMap::new();
        for (kind, reference, path) in &self.resolve {
            let object = refs::resolve(client, kind, reference)?;
            ids.entry(*path)
                .or_default()
                .push(refs::str_field(&object, "id").to_string());
        }
        for (path, ids) in ids {
            self.body.insert(path, json!(ids));
        }
        let body = self.body.into_value();
        let offset = |path: String| PageSource::Offset {
            path,
            body: body.clone(),
        };
        let sources = match self.source {
            Source::Filter(path) => vec![offset(path.to_string())],
            Source::Filters(paths) => paths.iter().map(|p| offset(p.to_string())).collect(),
            Source::PerPool {
                pool: Some(pool),
                suffix,
            } => {
                let pool = kinds::WORK_POOL.resolve(client, &pool)?;
                vec![offset(pool_path(refs::str_field(&pool, "name"), suffix))]
            }
            Source::PerPool { pool: None, suffix } => {
                let mut sources = Vec::new();
                for page in Pages::new(client, "work_pools/filter", json!({}), None) {
                    for pool in page? {
                        sources.push(offset(pool_path(refs::str_field(&pool, "name"), suffix)));
                    }
                }
                sources
            }
            Source::Events => vec![PageSource::Events {
                body: json!({ "filter": body }),
            }],
        };
        Ok((sources, self.limit, self.rows))
    }
}

fn pool_path(pool: &str, suffix: &str) -> String {
    format!("work_pools/{}/{suffix}", refs::encode_path(pool))
}

impl Kind {
    /// Validate flags into a plan: bad times, states, levels and sorts are usage errors (exit 2)
    /// here, before any request.
    pub fn plan(&self) -> Result<Plan> {
        match self {
            Kind::Flows(a) => Ok(a.plan()),
            Kind::FlowRuns(a) => a.plan(),
            Kind::Deployments(a) => Ok(a.plan()),
            Kind::TaskRuns(a) => a.plan(),
            Kind::WorkPools(a) => Ok(a.plan()),
            Kind::WorkQueues(a) => Ok(a.plan()),
            Kind::Workers(a) => Ok(a.plan()),
            Kind::Artifacts(a) => Ok(a.plan()),
            Kind::Variables(a) => Ok(a.plan()),
            Kind::Blocks(a) => Ok(a.plan()),
            Kind::ConcurrencyLimits(a) => Ok(a.plan()),
            Kind::Automations(a) => Ok(a.plan()),
            Kind::Events(a) => a.plan(),
            // Printed by `LogsArgs::print`, the way pf-logs prints them.
            Kind::Logs(_) => Err(Error::usage("pf-get logs is not a listing")),
            Kind::Projects => Err(Error::usage_hint(
                "Prefect 2 and later have no projects",
                "group flows with tags (pf-get flows --tag TAG), route runs with work pools \
                 (pf-get work-pools), and separate teams with Prefect Cloud workspaces (pf-auth)",
            )),
        }
    }
}

impl Kind {
    /// How `--watch` follows the kind (the registry's `watch`); None: it does not.
    pub fn watch(&self) -> Option<kinds::Watch> {
        let kind = match self {
            Kind::FlowRuns(_) => &kinds::FLOW_RUN,
            Kind::TaskRuns(_) => &kinds::TASK_RUN,
            Kind::Deployments(_) => &kinds::DEPLOYMENT,
            Kind::WorkPools(_) => &kinds::WORK_POOL,
            Kind::WorkQueues(_) => &kinds::WORK_QUEUE,
            Kind::Workers(_) => &kinds::WORKER,
            Kind::Automations(_) => &kinds::AUTOMATION,
            Kind::Flows(_) => &kinds::FLOW,
            Kind::Artifacts(_) => &kinds::ARTIFACT,
            Kind::Variables(_) => &kinds::VARIABLE,
            Kind::Blocks(_) => &kinds::BLOCK,
            Kind::ConcurrencyLimits(_) => &kinds::CONCURRENCY_LIMIT,
            Kind::Events(_) | Kind::Logs(_) | Kind::Projects => return None,
        };
        kind.watch
    }
}

/// Parse a `--sort` value (`start-time-desc`) against the server's sort names.
pub fn parse_sort(value: &str, allowed: &[&str]) -> Result<String> {
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

/// The values as a JSON list, or None when there are none.
pub fn non_empty(values: &[String]) -> Option<Value> {
    (!values.is_empty()).then(|| json!(values))
}

/// `{"any_": names}`, or None when there are none.
pub fn any_names(names: &[String]) -> Option<Value> {
    (!names.is_empty()).then(|| any_of(names.iter().cloned()))
}

/// A `--since`/`--until` value as an API time.
pub fn time_value(text: Option<&str>) -> Result<Option<Value>> {
    text.map(|t| parse_time_ago(t).map(|ts: Timestamp| json!(to_api_time(ts))))
        .transpose()
}
