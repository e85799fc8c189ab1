//! Work pools, work queues, workers, artifacts, variables, blocks, concurrency limits and
//! automations.

use clap::Args;
use pf_common::filters::{FilterBody, name_filter};
use pf_common::kinds;
use serde_json::json;

use crate::kinds::{Paging, Plan, Source, any_names, non_empty};

#[derive(Debug, Args)]
pub struct WorkPoolsArgs {
    /// Only pools of this name (repeatable)
    #[arg(long, value_name = "NAME")]
    name: Vec<String>,
    /// Only pools of this type: process, docker, kubernetes, … (repeatable)
    #[arg(long = "type", value_name = "TYPE")]
    pool_type: Vec<String>,
    #[command(flatten)]
    paging: Paging,
}

impl WorkPoolsArgs {
    pub fn plan(&self) -> Plan {
        let body = FilterBody::new()
            .set_opt(&["work_pools", "name"], any_names(&self.name))
            .set_opt(&["work_pools", "type"], any_names(&self.pool_type));
        let rows = kinds::WORK_POOL.rows;
        Plan::filter(
            kinds::WORK_POOL.list_path,
            body,
            self.paging.limit(None),
            rows,
        )
    }
}

#[derive(Debug, Args)]
pub struct WorkQueuesArgs {
    /// Only queues of this work pool (name or id)
    #[arg(long, value_name = "POOL")]
    pool: Option<String>,
    /// Only queues of this name (repeatable)
    #[arg(long, value_name = "NAME")]
    name: Vec<String>,
    #[command(flatten)]
    paging: Paging,
}

impl WorkQueuesArgs {
    pub fn plan(&self) -> Plan {
        let body = FilterBody::new().set_opt(&["work_queues", "name"], any_names(&self.name));
        let rows = kinds::WORK_QUEUE.rows;
        let source = match &self.pool {
            Some(pool) => Source::PerPool {
                pool: Some(pool.clone()),
                suffix: "queues/filter",
            },
            None => Source::Filter(kinds::WORK_QUEUE.list_path),
        };
        Plan {
            body,
            limit: self.paging.limit(None),
            source,
            rows,
            resolve: Vec::new(),
        }
    }
}

#[derive(Debug, Args)]
pub struct WorkersArgs {
    /// Only workers of this work pool (name or id) [default: every pool]
    #[arg(long, value_name = "POOL")]
    pool: Option<String>,
    /// Only workers with this status: online or offline
    #[arg(long, value_name = "STATUS", value_parser = ["online", "offline"])]
    status: Option<String>,
    #[command(flatten)]
    paging: Paging,
}

impl WorkersArgs {
    pub fn plan(&self) -> Plan {
        let body = FilterBody::new().set_opt(
            &["workers", "status", "any_"],
            self.status
                .as_ref()
                .map(|s| json!([s.to_ascii_uppercase()])),
        );
        let rows = kinds::WORKER.rows;
        let source = Source::PerPool {
            pool: self.pool.clone(),
            suffix: "workers/filter",
        };
        Plan {
            body,
            limit: self.paging.limit(None),
            source,
            rows,
            resolve: Vec::new(),
        }
    }
}

#[derive(Debug, Args)]
pub struct ArtifactsArgs {
    /// Only artifacts with this key (repeatable; `*` matches partially)
    #[arg(long, value_name = "KEY")]
    key: Vec<String>,
    /// Only artifacts of this flow run (id or name)
    #[arg(long, value_name = "REF")]
    flow_run: Option<String>,
    /// Only artifacts of this type: markdown, table, link, progress, image, result (repeatable)
    #[arg(long = "type", value_name = "TYPE")]
    artifact_type: Vec<String>,
    /// Every version of every artifact (default: the latest version of each key, as
    /// `prefect artifact ls`; unkeyed artifacts show only here)
    #[arg(long)]
    all_versions: bool,
    #[command(flatten)]
    paging: Paging,
}

impl ArtifactsArgs {
    pub fn plan(&self) -> Plan {
        // The latest version per key comes from the artifact collections (`latest_id` is the
        // artifact's id; the table's ID column shows it).
        let (path, sort) = if self.all_versions {
            ("artifacts/filter", "CREATED_DESC")
        } else {
            ("artifacts/latest/filter", "UPDATED_DESC")
        };
        let body = FilterBody::new()
            .set(&["sort"], json!(sort))
            .set_opt(&["artifacts", "key"], name_filter(&self.key))
            .set_opt(&["artifacts", "type"], any_names(&self.artifact_type));
        let rows = kinds::ARTIFACT.rows;
        Plan::filter(path, body, self.paging.limit(Some(10)), rows).resolving(
            kinds::FLOW_RUN.refs,
            self.flow_run.clone(),
            &["artifacts", "flow_run_id", "any_"],
        )
    }
}

#[derive(Debug, Args)]
pub struct VariablesArgs {
    /// Only variables of this name (repeatable; `*` matches partially)
    #[arg(long, value_name = "NAME")]
    name: Vec<String>,
    /// Only variables with this tag (repeatable: all must match)
    #[arg(long, value_name = "TAG")]
    tag: Vec<String>,
    #[command(flatten)]
    paging: Paging,
}

impl VariablesArgs {
    pub fn plan(&self) -> Plan {
        let body = FilterBody::new()
            .set(&["sort"], json!("NAME_ASC"))
            .set_opt(&["variables", "name"], name_filter(&self.name))
            .set_opt(&["variables", "tags", "all_"], non_empty(&self.tag));
        let rows = kinds::VARIABLE.rows;
        Plan::filter(
            kinds::VARIABLE.list_path,
            body,
            self.paging.limit(None),
            rows,
        )
    }
}

#[derive(Debug, Args)]
pub struct BlocksArgs {
    /// Only blocks of this type, by slug: secret, json, … (repeatable)
    #[arg(long = "type", value_name = "SLUG")]
    block_type: Vec<String>,
    /// Only blocks of this name (repeatable; `*` matches partially)
    #[arg(long, value_name = "NAME")]
    name: Vec<String>,
    #[command(flatten)]
    paging: Paging,
}

impl BlocksArgs {
    pub fn plan(&self) -> Plan {
        let body = FilterBody::new()
            .set(&["sort"], json!("BLOCK_TYPE_AND_NAME_ASC"))
            .set_opt(&["block_types", "slug"], any_names(&self.block_type))
            .set_opt(&["block_documents", "name"], name_filter(&self.name));
        let rows = kinds::BLOCK.rows;
        Plan::filter(kinds::BLOCK.list_path, body, self.paging.limit(None), rows)
    }
}

#[derive(Debug, Args)]
pub struct LimitsArgs {
    #[command(flatten)]
    paging: Paging,
}

impl LimitsArgs {
    pub fn plan(&self) -> Plan {
        let rows = kinds::CONCURRENCY_LIMIT.rows;
        Plan {
            body: FilterBody::new(),
            limit: self.paging.limit(None),
            // One shape per kind, the API's own: tag limits as `/concurrency_limits` gives them
            // (`tag`, `concurrency_limit`, `active_slots`, as pf-limit get). Prefect 3 keeps
            // them as global limits named `tag:NAME` with the same ids, so reading v1 first
            // makes the v2 copies duplicates, which the walk drops by id.
            source: Source::Filters(&[
                "concurrency_limits/filter",
                kinds::CONCURRENCY_LIMIT.list_path,
            ]),
            rows,
            resolve: Vec::new(),
        }
    }
}

#[derive(Debug, Args)]
pub struct AutomationsArgs {
    /// Only automations of this name (repeatable)
    #[arg(long, value_name = "NAME")]
    name: Vec<String>,
    #[command(flatten)]
    paging: Paging,
}

impl AutomationsArgs {
    pub fn plan(&self) -> Plan {
        let body = FilterBody::new()
            .set(&["sort"], json!("NAME_ASC"))
            .set_opt(&["automations", "name"], any_names(&self.name));
        let rows = kinds::AUTOMATION.rows;
        Plan::filter(
            kinds::AUTOMATION.list_path,
            body,
            self.paging.limit(None),
            rows,
        )
    }
}
