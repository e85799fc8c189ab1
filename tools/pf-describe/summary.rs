//! The human summary pf-describe prints on a terminal (as `kubectl describe` does): the fields
//! an operator reads first, aligned, then sections (state history, task runs and subflow runs,
//! artifacts, last log lines). `-o json|ndjson` and pipes keep the full objects.

use std::fmt::Write as _;

use pf_common::output::{Cell, Style, table_lines};
use pf_common::refs::str_field;
use pf_common::time::{hms, local_datetime, parse_api_time, relative_age};
use pf_common::{Client, Result, logs, model, runtree, tables};
use serde_json::{Value, json};

/// How many log lines a flow run's summary ends with.
const LOG_LINES: usize = 10;

/// The summary of `object` (already with its related fields) of the registry's kind `kind`
/// (its name), or None for kinds without one (they print as pretty JSON).
pub fn render(client: &Client, kind: &str, object: &Value, color: bool) -> Result<Option<String>> {
    let mut out = Summary::new(color);
    match kind {
        "flow-run" => flow_run(client, object, &mut out)?,
        "task-run" => task_run(object, &mut out),
        "deployment" => deployment(object, &mut out),
        "work-pool" => work_pool(object, &mut out),
        "work-queue" => work_queue(object, &mut out),
        "flow" => flow(object, &mut out),
        _ => return Ok(None),
    }
    Ok(Some(out.text))
}

struct Summary {
    text: String,
    color: bool,
}

/// A column of a section's table of objects: its header and the field shown.
enum Column {
    /// The field as JSON text.
    Field(&'static str, &'static str),
    /// A timestamp field as an age ("3 minutes ago").
    Age(&'static str, &'static str),
}

impl Summary {
    fn new(color: bool) -> Self {
        Summary {
            text: String::new(),
            color,
        }
    }

    /// `Label:` padded, then the value (skipped when empty).
    fn field(&mut self, label: &str, value: impl AsRef<str>) {
        let value = value.as_ref();
        if !value.is_empty() {
            let _ = writeln!(self.text, "{:<14}{value}", format!("{label}:"));
        }
    }

    fn section(&mut self, title: &str, lines: &[String], empty: &str) {
        let _ = writeln!(self.text, "{title}:");
        if lines.is_empty() {
            let _ = writeln!(self.text, "  {empty}");
        }
        for line in lines {
            let _ = writeln!(self.text, "  {}", line.trim_end());
        }
    }

    fn table(&mut self, title: &str, headers: &[&str], rows: &[Vec<Cell>], empty: &str) {
        let lines = if rows.is_empty() {
            Vec::new()
        } else {
            table_lines(headers, rows, self.color)
        };
        self.section(title, &lines, empty);
    }

    /// A table of the objects in `list` (a JSON array), one row each.
    fn objects(&mut self, title: &str, list: Option<&Value>, columns: &[Column]) {
        let rows: Vec<Vec<Cell>> = list
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|object| {
                columns
                    .iter()
                    .map(|column| match column {
                        Column::Field(_, key) => Cell::from_json(object.get(*key)),
                        Column::Age(_, key) => Cell::age(object.get(*key)),
                    })
                    .collect()
            })
            .collect();
        let headers: Vec<&str> = columns
            .iter()
            .map(|(Column::Field(header, _) | Column::Age(header, _))| *header)
            .collect();
        self.table(title, &headers, &rows, "(none)");
    }

    fn state(&mut self, object: &Value) {
        let state_type = str_field(object, "state_type");
        let name = match str_field(object, "state_name") {
            "" => state_type,
            n => n,
        };
        let mut value = Style::for_state_type(state_type).paint(name, self.color);
        if let Some(message) = object
            .pointer("/state/message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            let _ = write!(value, " ({message})");
        }
        self.field("State", value);
    }

    fn times(&mut self, object: &Value) {
        for (label, key) in [
            ("Created", "created"),
            ("Expected", "expected_start_time"),
            ("Started", "start_time"),
            ("Ended", "end_time"),
        ] {
            self.field(label, when(object.get(key)));
        }
        if let Some(d) = model::run_duration(object) {
            self.field("Duration", hms(d));
        }
    }

    fn tags_and_labels(&mut self, object: &Value) {
        self.field("Tags", joined(object.get("tags")));
        if let Some(Value::Object(labels)) = object.get("labels") {
            let text: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().map_or(v.to_string(), str::to_string)))
                .collect();
            self.field("Labels", text.join(", "));
        }
    }

    fn mapping(&mut self, title: &str, value: Option<&Value>) {
        let lines: Vec<String> = match value {
            Some(Value::Object(map)) => map.iter().map(|(k, v)| format!("{k}: {v}")).collect(),
            _ => Vec::new(),
        };
        self.section(title, &lines, "(none)");
    }
}

/// `2026-12-03 07:40:01 (3 minutes ago)`, or "" without a time.
fn when(value: Option<&Value>) -> String {
    let Some(ts) = value.and_then(Value::as_str).and_then(parse_api_time) else {
        return String::new();
    };
    format!(
        "{} ({})",
        local_datetime(ts),
        relative_age(ts, jiff::Timestamp::now())
    )
}

/// A pool's or queue's `concurrency_limit`, "unlimited" without one.
fn limit(object: &Value) -> String {
    object
        .get("concurrency_limit")
        .filter(|v| !v.is_null())
        .map_or("unlimited".to_string(), Value::to_string)
}

fn joined(value: Option<&Value>) -> String {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or(i.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

fn flow_run(client: &Client, run: &Value, out: &mut Summary) -> Result<()> {
    let id = str_field(run, "id");
    out.field("Name", str_field(run, "name"));
    out.field("ID", id);
    out.field("Flow", str_field(run, "flow_name"));
    let deployment = match run.get("deployment_name").and_then(Value::as_str) {
        Some(d) => format!("{}/{d}", str_field(run, "flow_name")),
        None => String::new(),
    };
    out.field("Deployment", deployment);
    out.state(run);
    out.times(run);
    out.field(
        "Run Count",
        run.get("run_count")
            .map(Value::to_string)
            .unwrap_or_default(),
    );
    out.tags_and_labels(run);
    let queue = str_field(run, "work_queue_name");
    let pool = match run.get("work_queue_id").and_then(Value::as_str) {
        Some(queue_id) => client
            .get(&format!("work_queues/{queue_id}"))
            .map(|q| str_field(&q, "work_pool_name").to_string())
            .unwrap_or_default(),
        None => String::new(),
    };
    out.field("Work Pool", pool);
    out.field("Work Queue", queue);
    // The parity work's `ui_url` (pf_common::weburl), added before the summary is drawn.
    out.field("URL", str_field(run, "ui_url"));
    out.mapping("Parameters", run.get("parameters"));

    let history: Vec<Vec<Cell>> = run
        .get("state_history")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|state| {
            vec![
                Cell::time(state.get("timestamp")),
                Cell::Styled(
                    str_field(state, "name").to_string(),
                    Style::for_state_type(str_field(state, "type")),
                ),
                Cell::from_json(state.get("message")),
            ]
        })
        .collect();
    out.table(
        "State History",
        &["TIME", "STATE", "MESSAGE"],
        &history,
        "(none)",
    );

    let tree = runtree::fetch(client, id)?;
    out.table(
        "Task Runs",
        runtree::TREE_COLUMNS,
        &runtree::rows(&tree),
        "(none)",
    );

    let artifacts = client.post(
        "artifacts/filter",
        json!({ "artifacts": { "flow_run_id": { "any_": [id] } }, "sort": "CREATED_DESC", "limit": 20 }),
    )?;
    out.objects(
        "Artifacts",
        Some(&artifacts),
        &[
            Column::Field("KEY", "key"),
            Column::Field("TYPE", "type"),
            Column::Field("DESCRIPTION", "description"),
            Column::Age("AGE", "created"),
        ],
    );

    let newest = client.post(
        "logs/filter",
        json!({ "logs": { "flow_run_id": { "any_": [id] } }, "sort": "TIMESTAMP_DESC", "limit": LOG_LINES }),
    )?;
    let mut lines: Vec<String> = newest
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| logs::render_line(r, None, out.color))
        .collect();
    lines.reverse();
    out.section(&format!("Last Logs (up to {LOG_LINES})"), &lines, "(none)");
    Ok(())
}

fn task_run(task: &Value, out: &mut Summary) {
    out.field("Name", str_field(task, "name"));
    out.field("ID", str_field(task, "id"));
    out.field("Task Key", str_field(task, "task_key"));
    out.field("Flow Run ID", str_field(task, "flow_run_id"));
    out.state(task);
    out.times(task);
    out.tags_and_labels(task);
    out.field("URL", str_field(task, "ui_url"));
    let history: Vec<Vec<Cell>> = task
        .get("state_history")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| tables::state_row(s, &Default::default()))
        .map(|mut row| {
            row.truncate(3);
            row
        })
        .collect();
    out.table(
        "State History",
        &["TIME", "STATE", "MESSAGE"],
        &history,
        "(none)",
    );
}

fn deployment(d: &Value, out: &mut Summary) {
    out.field(
        "Name",
        format!("{}/{}", str_field(d, "flow_name"), str_field(d, "name")),
    );
    out.field("ID", str_field(d, "id"));
    out.field("Status", str_field(d, "status"));
    out.field(
        "Paused",
        d.get("paused").map(Value::to_string).unwrap_or_default(),
    );
    out.field("Work Pool", str_field(d, "work_pool_name"));
    out.field("Work Queue", str_field(d, "work_queue_name"));
    out.field("Entrypoint", str_field(d, "entrypoint"));
    out.field("Version", str_field(d, "version"));
    out.field("Created", when(d.get("created")));
    out.field("Updated", when(d.get("updated")));
    out.tags_and_labels(d);
    out.field("Description", str_field(d, "description"));
    out.field("URL", str_field(d, "ui_url"));
    let schedules: Vec<String> = d
        .get("schedules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| {
            let schedule = s.get("schedule").cloned().unwrap_or(Value::Null);
            let what = ["cron", "interval", "rrule"]
                .iter()
                .find_map(|k| schedule.get(*k).map(|v| format!("{k} {v}")))
                .unwrap_or_else(|| schedule.to_string());
            let active = if s.get("active").and_then(Value::as_bool) == Some(false) {
                " (inactive)"
            } else {
                ""
            };
            format!("{what}{active}")
        })
        .collect();
    out.section("Schedules", &schedules, "(none)");
    out.mapping("Parameters", d.get("parameters"));
}

fn work_pool(pool: &Value, out: &mut Summary) {
    out.field("Name", str_field(pool, "name"));
    out.field("ID", str_field(pool, "id"));
    out.field("Type", str_field(pool, "type"));
    out.field("Status", str_field(pool, "status"));
    out.field(
        "Paused",
        pool.get("is_paused")
            .map(Value::to_string)
            .unwrap_or_default(),
    );
    out.field("Concurrency", limit(pool));
    out.field("Created", when(pool.get("created")));
    out.field("Description", str_field(pool, "description"));
    out.field("URL", str_field(pool, "ui_url"));
    out.objects(
        "Work Queues",
        pool.get("work_queues"),
        &[
            Column::Field("NAME", "name"),
            Column::Field("PRIORITY", "priority"),
            Column::Field("CONCURRENCY", "concurrency_limit"),
            Column::Field("STATUS", "status"),
        ],
    );
    out.objects(
        "Workers",
        pool.get("workers"),
        &[
            Column::Field("NAME", "name"),
            Column::Field("STATUS", "status"),
            Column::Age("LAST HEARTBEAT", "last_heartbeat_time"),
        ],
    );
}

fn work_queue(queue: &Value, out: &mut Summary) {
    out.field(
        "Name",
        format!(
            "{}/{}",
            str_field(queue, "work_pool_name"),
            str_field(queue, "name")
        ),
    );
    out.field("ID", str_field(queue, "id"));
    out.field("Status", str_field(queue, "status"));
    out.field(
        "Paused",
        queue
            .get("is_paused")
            .map(Value::to_string)
            .unwrap_or_default(),
    );
    out.field(
        "Priority",
        queue
            .get("priority")
            .map(Value::to_string)
            .unwrap_or_default(),
    );
    out.field("Concurrency", limit(queue));
    out.field("Last Polled", when(queue.get("last_polled")));
    if let Some(late) = queue.pointer("/status_details/late_runs_count") {
        out.field("Late Runs", late.to_string());
    }
    out.field("Created", when(queue.get("created")));
    out.field("Description", str_field(queue, "description"));
    out.field("URL", str_field(queue, "ui_url"));
}

fn flow(flow: &Value, out: &mut Summary) {
    out.field("Name", str_field(flow, "name"));
    out.field("ID", str_field(flow, "id"));
    out.field("Created", when(flow.get("created")));
    out.tags_and_labels(flow);
    out.field("URL", str_field(flow, "ui_url"));
    out.objects(
        "Deployments",
        flow.get("deployments"),
        &[
            Column::Field("NAME", "name"),
            Column::Field("WORK POOL", "work_pool_name"),
            Column::Field("STATUS", "status"),
            Column::Field("ID", "id"),
        ],
    );
}
