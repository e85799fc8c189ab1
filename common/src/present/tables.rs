//! The table columns of each kind: what an operator scans first. Shared by every tool that
//! prints these objects as rows.

use serde_json::Value;

use crate::listing::Joined;
use crate::model::{run_duration, state_cell};
use crate::output::{Cell, Style};

fn text(object: &Value, key: &str) -> Cell {
    Cell::from_json(object.get(key))
}

/// When a run started, or (not started yet) when it is expected to.
fn start_cell(run: &Value) -> Cell {
    let start = run.get("start_time").filter(|v| !v.is_null());
    Cell::time(start.or_else(|| run.get("expected_start_time")))
}

/// Columns of flows (LABELS only with `-o wide`).
pub const FLOW_COLUMNS: &[&str] = &["NAME", "ID", "TAGS", "AGE", "LABELS"];

/// A flow's row.
pub fn flow_row(flow: &Value, _: &Joined) -> Vec<Cell> {
    vec![
        text(flow, "name"),
        text(flow, "id"),
        text(flow, "tags"),
        Cell::age(flow.get("created")),
        labels(flow),
    ]
}

/// `-o wide` columns: for each kind's columns, the ones shown only in wide output (or when
/// `--columns` names them). They come last in the kind's columns and its rows.
const WIDE_ONLY: &[(&[&str], &[&str])] = &[
    (FLOW_COLUMNS, &["LABELS"]),
    (
        FLOW_RUN_COLUMNS,
        &[
            "TAGS",
            "LABELS",
            "PARAMETERS",
            "DEPLOYMENT ID",
            "WORK POOL",
            "WORK QUEUE",
            "INFRA PID",
        ],
    ),
    (
        DEPLOYMENT_COLUMNS,
        &[
            "VERSION",
            "WORK QUEUE",
            "CONCURRENCY",
            "SCHEDULES",
            "PARAMETERS",
            "DESCRIPTION",
        ],
    ),
    (TASK_RUN_COLUMNS, &["TAGS", "TASK KEY", "RUN COUNT"]),
    (WORK_POOL_COLUMNS, &["DESCRIPTION", "DEFAULT QUEUE ID"]),
    (WORK_QUEUE_COLUMNS, &["DESCRIPTION"]),
];

/// The wide-only columns among a table's `columns` (none for a table without any). A table
/// that embeds a kind's columns (a watch's CHANGE column before them) has the kind's.
pub fn wide_only(columns: &[&str]) -> &'static [&'static str] {
    WIDE_ONLY
        .iter()
        .find(|(all, _)| columns.windows(all.len()).any(|w| w == *all))
        .map_or(&[], |(_, wide)| *wide)
}

/// `KEY=VALUE,…` of an object's `labels`.
fn labels(object: &Value) -> Cell {
    Cell::Text(
        object
            .get("labels")
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => format!("{k}={s}"),
                        other => format!("{k}={other}"),
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default(),
    )
}

/// Compact JSON of a field (parameters), empty when absent or `{}`.
fn compact_json(object: &Value, key: &str) -> Cell {
    Cell::Text(match object.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::Object(map)) if map.is_empty() => String::new(),
        Some(other) => other.to_string(),
    })
}

/// Columns of flow runs.
pub const FLOW_RUN_COLUMNS: &[&str] = &[
    "NAME",
    "FLOW NAME",
    "STATE",
    "AGE",
    "START TIME",
    "DURATION",
    "ID",
    "TAGS",
    "LABELS",
    "PARAMETERS",
    "DEPLOYMENT ID",
    "WORK POOL",
    "WORK QUEUE",
    "INFRA PID",
];

/// A flow run's row (the flow name comes from the page's join).
pub fn flow_run_row(run: &Value, joined: &Joined) -> Vec<Cell> {
    vec![
        text(run, "name"),
        Cell::Text(joined.flow_name(run)),
        state_cell(run),
        Cell::age(run.get("created")),
        start_cell(run),
        Cell::Duration(run_duration(run)),
        text(run, "id"),
        text(run, "tags"),
        labels(run),
        compact_json(run, "parameters"),
        text(run, "deployment_id"),
        text(run, "work_pool_name"),
        text(run, "work_queue_name"),
        text(run, "infrastructure_pid"),
    ]
}

/// Columns of deployments.
pub const DEPLOYMENT_COLUMNS: &[&str] = &[
    "NAME",
    "ID",
    "WORK POOL",
    "STATUS",
    "TAGS",
    "AGE",
    "VERSION",
    "WORK QUEUE",
    "CONCURRENCY",
    "SCHEDULES",
    "PARAMETERS",
    "DESCRIPTION",
];

/// A deployment's row: `FLOW/DEPLOYMENT` (the flow name comes from the page's join).
pub fn deployment_row(deployment: &Value, joined: &Joined) -> Vec<Cell> {
    let flow = joined.flow_name(deployment);
    let name = deployment
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let status = if deployment
        .get("paused")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        "PAUSED".to_string()
    } else {
        deployment
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    vec![
        Cell::Text(if flow.is_empty() {
            name.to_string()
        } else {
            format!("{flow}/{name}")
        }),
        text(deployment, "id"),
        text(deployment, "work_pool_name"),
        Cell::Text(status),
        text(deployment, "tags"),
        Cell::age(deployment.get("created")),
        text(deployment, "version"),
        text(deployment, "work_queue_name"),
        text(deployment, "concurrency_limit"),
        Cell::Text(
            deployment
                .get("schedules")
                .and_then(Value::as_array)
                .map(|schedules| {
                    schedules
                        .iter()
                        .map(schedule_spec)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default(),
        ),
        compact_json(deployment, "parameters"),
        text(deployment, "description"),
    ]
}

/// Columns of task runs.
pub const TASK_RUN_COLUMNS: &[&str] = &[
    "NAME",
    "STATE",
    "AGE",
    "START TIME",
    "DURATION",
    "FLOW RUN ID",
    "ID",
    "TAGS",
    "TASK KEY",
    "RUN COUNT",
];

/// A task run's row.
pub fn task_run_row(task_run: &Value, _: &Joined) -> Vec<Cell> {
    vec![
        text(task_run, "name"),
        state_cell(task_run),
        Cell::age(task_run.get("created")),
        start_cell(task_run),
        Cell::Duration(run_duration(task_run)),
        text(task_run, "flow_run_id"),
        text(task_run, "id"),
        text(task_run, "tags"),
        text(task_run, "task_key"),
        text(task_run, "run_count"),
    ]
}

/// "PAUSED" for a paused object, else its `status` (work pools, work queues).
fn status_or_paused(object: &Value) -> Cell {
    if object
        .get("is_paused")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Cell::Styled("PAUSED".into(), Style::Yellow);
    }
    let status = object
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let style = match status {
        "READY" | "ONLINE" => Style::Green,
        "NOT_READY" | "OFFLINE" => Style::Red,
        _ => Style::Plain,
    };
    Cell::Styled(status.to_string(), style)
}

/// Columns of work pools.
pub const WORK_POOL_COLUMNS: &[&str] = &[
    "NAME",
    "TYPE",
    "STATUS",
    "CONCURRENCY",
    "ID",
    "AGE",
    "DESCRIPTION",
    "DEFAULT QUEUE ID",
];

/// A work pool's row.
pub fn work_pool_row(pool: &Value, _: &Joined) -> Vec<Cell> {
    vec![
        text(pool, "name"),
        text(pool, "type"),
        status_or_paused(pool),
        text(pool, "concurrency_limit"),
        text(pool, "id"),
        Cell::age(pool.get("created")),
        text(pool, "description"),
        text(pool, "default_queue_id"),
    ]
}

/// Columns of work queues.
pub const WORK_QUEUE_COLUMNS: &[&str] = &[
    "NAME",
    "POOL",
    "STATUS",
    "PRIORITY",
    "CONCURRENCY",
    "LAST POLLED",
    "ID",
    "DESCRIPTION",
];

/// A work queue's row.
pub fn work_queue_row(queue: &Value, _: &Joined) -> Vec<Cell> {
    vec![
        text(queue, "name"),
        text(queue, "work_pool_name"),
        status_or_paused(queue),
        text(queue, "priority"),
        text(queue, "concurrency_limit"),
        Cell::age(queue.get("last_polled")),
        text(queue, "id"),
        text(queue, "description"),
    ]
}

/// Columns of workers.
pub const WORKER_COLUMNS: &[&str] = &["NAME", "POOL", "STATUS", "LAST HEARTBEAT", "ID"];

/// A worker's row (the pool name comes from the page's join).
pub fn worker_row(worker: &Value, joined: &Joined) -> Vec<Cell> {
    vec![
        text(worker, "name"),
        Cell::Text(joined.work_pool_name(worker)),
        status_or_paused(worker),
        Cell::age(worker.get("last_heartbeat_time")),
        text(worker, "id"),
    ]
}

/// Columns of artifacts.
pub const ARTIFACT_COLUMNS: &[&str] = &["KEY", "TYPE", "DESCRIPTION", "FLOW RUN ID", "AGE", "ID"];

/// An artifact's row; for an artifact collection (the latest version of a key) the ID is the
/// latest artifact's (`latest_id`), which every tool finds, and the age is the latest's.
pub fn artifact_row(artifact: &Value, _: &Joined) -> Vec<Cell> {
    let collection = artifact.get("latest_id").is_some();
    vec![
        text(artifact, "key"),
        text(artifact, "type"),
        text(artifact, "description"),
        text(artifact, "flow_run_id"),
        Cell::age(artifact.get(if collection { "updated" } else { "created" })),
        text(artifact, if collection { "latest_id" } else { "id" }),
    ]
}

/// Columns of variables.
pub const VARIABLE_COLUMNS: &[&str] = &["NAME", "VALUE", "TAGS", "AGE", "ID"];

/// A variable's row (a string value shows raw, other values as compact JSON).
pub fn variable_row(variable: &Value, _: &Joined) -> Vec<Cell> {
    vec![
        text(variable, "name"),
        Cell::Text(match variable.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        }),
        text(variable, "tags"),
        Cell::age(variable.get("updated")),
        text(variable, "id"),
    ]
}

/// Columns of block documents.
pub const BLOCK_COLUMNS: &[&str] = &["NAME", "TYPE", "ID", "AGE"];

/// A block document's row: NAME as `TYPE-SLUG/NAME`, the REF form pf-describe takes.
pub fn block_row(block: &Value, _: &Joined) -> Vec<Cell> {
    let name = block
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let slug = block
        .pointer("/block_type/slug")
        .and_then(Value::as_str)
        .unwrap_or_default();
    vec![
        Cell::Text(if slug.is_empty() {
            name.to_string()
        } else {
            format!("{slug}/{name}")
        }),
        text(block, "block_type_name"),
        text(block, "id"),
        Cell::age(block.get("updated")),
    ]
}

/// Columns of concurrency limits (tag limits of `/concurrency_limits` and global limits of
/// `/v2/concurrency_limits` in one table; KIND says which).
pub const CONCURRENCY_LIMIT_COLUMNS: &[&str] =
    &["KIND", "NAME", "LIMIT", "ACTIVE SLOTS", "ID", "AGE"];

/// The tag of a tag concurrency limit: its `tag` (the `/concurrency_limits` shape), or the
/// name after `tag:` of the global limit Prefect 3 keeps it as. None for other global limits.
pub fn limit_tag(limit: &Value) -> Option<&str> {
    match limit.get("tag").and_then(Value::as_str) {
        Some(tag) => Some(tag),
        None => limit
            .get("name")
            .and_then(Value::as_str)
            .and_then(|n| n.strip_prefix("tag:")),
    }
}

/// A concurrency limit's row, either kind.
pub fn concurrency_limit_row(limit: &Value, _: &Joined) -> Vec<Cell> {
    let tag = limit_tag(limit);
    let active = match limit.get("active_slots") {
        Some(Value::Array(slots)) => slots.len().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let kind = if tag.is_some() {
        Cell::Text("tag".into())
    } else if limit.get("active").and_then(Value::as_bool) == Some(false) {
        Cell::Styled("global (inactive)".into(), Style::Dim)
    } else {
        Cell::Text("global".into())
    };
    vec![
        kind,
        tag.map_or_else(|| text(limit, "name"), |t| Cell::Text(t.to_string())),
        text(
            limit,
            if limit.get("limit").is_some() {
                "limit"
            } else {
                "concurrency_limit"
            },
        ),
        Cell::Text(active),
        text(limit, "id"),
        Cell::age(limit.get("created")),
    ]
}

/// Columns of automations.
pub const AUTOMATION_COLUMNS: &[&str] = &["NAME", "ENABLED", "TRIGGER", "ACTIONS", "ID"];

/// An automation's row: its trigger's type and its actions' types.
pub fn automation_row(automation: &Value, _: &Joined) -> Vec<Cell> {
    let enabled = automation
        .get("enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let actions: Vec<&str> = automation
        .get("actions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get("type").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    vec![
        text(automation, "name"),
        Cell::Styled(
            enabled.to_string(),
            if enabled { Style::Green } else { Style::Dim },
        ),
        Cell::from_json(automation.pointer("/trigger/type")),
        Cell::Text(actions.join(",")),
        text(automation, "id"),
    ]
}

/// Columns of events.
pub const EVENT_COLUMNS: &[&str] = &["OCCURRED", "EVENT", "RESOURCE", "ID"];

/// An event's row: its resource by name when it has one, else by id.
pub fn event_row(event: &Value, _: &Joined) -> Vec<Cell> {
    let resource = event.get("resource");
    let name = resource
        .and_then(|r| r.get("prefect.resource.name"))
        .and_then(Value::as_str);
    let id = resource
        .and_then(|r| r.get("prefect.resource.id"))
        .and_then(Value::as_str);
    vec![
        Cell::time(event.get("occurred")),
        text(event, "event"),
        Cell::Text(name.or(id).unwrap_or_default().to_string()),
        text(event, "id"),
    ]
}

/// Columns of a run's state history.
pub const STATE_COLUMNS: &[&str] = &["RUN", "TIMESTAMP", "STATE", "MESSAGE", "ID"];

/// One state of a run's history, after the run's name (the state coloured by its type).
pub fn state_row_of(run_name: &str, state: &Value) -> Vec<Cell> {
    let mut row = vec![Cell::Text(run_name.to_string())];
    row.extend(state_row(state, &Joined::default()));
    row
}

/// One state of a run's history (the name, coloured by its type).
pub fn state_row(state: &Value, _: &Joined) -> Vec<Cell> {
    let state_type = state
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = state
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(state_type);
    vec![
        Cell::time(state.get("timestamp")),
        Cell::Styled(name.to_string(), Style::for_state_type(state_type)),
        text(state, "message"),
        text(state, "id"),
    ]
}

/// Columns of the task runs of one flow run (`pf-describe tasks`): state and timing.
pub const TASK_TIMING_COLUMNS: &[&str] =
    &["NAME", "STATE", "START TIME", "END TIME", "DURATION", "ID"];

/// A task run's row with its timing.
pub fn task_timing_row(task_run: &Value, _: &Joined) -> Vec<Cell> {
    vec![
        text(task_run, "name"),
        state_cell(task_run),
        Cell::time(task_run.get("start_time")),
        Cell::time(task_run.get("end_time")),
        Cell::Duration(run_duration(task_run)),
        text(task_run, "id"),
    ]
}

/// Columns of a deployment's schedules.
pub const SCHEDULE_COLUMNS: &[&str] = &["ID", "SLUG", "ACTIVE", "SCHEDULE", "DEPLOYMENT ID"];

/// A deployment schedule's spec: `cron 0 3 * * *`, `interval 3600` (seconds) or `rrule …`.
fn schedule_spec(schedule: &Value) -> String {
    let spec = schedule.get("schedule");
    ["cron", "interval", "rrule"]
        .iter()
        .find_map(|k| spec.and_then(|s| s.get(*k)).map(|v| (*k, v)))
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k} {s}"),
            other => format!("{k} {other}"),
        })
        .unwrap_or_default()
}

/// A schedule's row: SCHEDULE is its cron, interval (seconds) or rrule.
pub fn schedule_row(schedule: &Value, _: &Joined) -> Vec<Cell> {
    vec![
        text(schedule, "id"),
        text(schedule, "slug"),
        text(schedule, "active"),
        Cell::Text(schedule_spec(schedule)),
        text(schedule, "deployment_id"),
    ]
}
