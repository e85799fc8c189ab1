//! How run logs are printed (pf-logs, pf-get logs): terminal lines (TIMESTAMP, LEVEL, MESSAGE,
//! with a FLOW RUN column when several runs are shown), or the full records (with
//! `flow_run_name`) through the printer.

use serde_json::Value;

use crate::cli::Batch;
use crate::client::Client;
use crate::error::Result;
use crate::liveregion::LiveRegion;
use crate::logs::{LogQuery, LogWindow, level_name, read_logs, render_header, render_line};
use crate::output::{Cell, Format, Printer};
use crate::{input, refs};

/// TSV columns: the terminal's, with the run's name, and times in RFC 3339.
const TSV_HEADERS: &[&str] = &["TIMESTAMP", "LEVEL", "FLOW RUN", "MESSAGE"];

/// Prints log records of one or more runs in the chosen format.
#[derive(Debug)]
pub struct LogPrinter {
    printer: Printer,
    /// Terminal lines rather than the printer's objects.
    lines: bool,
    /// Lines carry the run's name.
    multi: bool,
    run_width: usize,
    runs: usize,
    header_printed: bool,
    /// Lines drawn under the log lines on a terminal (the live tree of `--follow`).
    live: LiveRegion,
    live_lines: Vec<String>,
}

impl LogPrinter {
    /// Wrap a printer: its table format becomes pf's log lines (messages never cut).
    pub fn new(mut printer: Printer) -> Self {
        // A table without --jq: pf-logs' own lines (messages are never cut, tracebacks keep
        // their lines).
        let lines = printer.format() == Format::Table && printer.needs_cells();
        if matches!(printer.format(), Format::Tsv | Format::Csv) {
            printer.columns(TSV_HEADERS);
        }
        LogPrinter {
            printer,
            lines,
            multi: false,
            run_width: 0,
            runs: 0,
            header_printed: false,
            live: LiveRegion::default(),
            live_lines: Vec::new(),
        }
    }

    /// Whether log lines go to a terminal as text (where a live region can be drawn).
    pub fn is_terminal_text(&self) -> bool {
        self.lines && crate::output::stdout_is_terminal()
    }

    /// Whether colour is on.
    pub fn color(&self) -> bool {
        self.printer.color()
    }

    /// Show these lines under the log lines, redrawn in place (a terminal only).
    pub fn set_live(&mut self, lines: Vec<String>) -> Result<()> {
        if !self.is_terminal_text() || lines == self.live_lines {
            return Ok(());
        }
        self.live_lines = lines;
        self.live.draw(&self.live_lines)
    }

    /// Whether lines carry the run's name from the start (several REFs given).
    pub fn set_multi(&mut self, multi: bool) {
        self.multi = multi;
    }

    /// A run whose lines follow; from the second run on, lines carry run names.
    pub fn add_run(&mut self, name: &str) {
        self.runs += 1;
        if self.runs > 1 {
            self.multi = true;
        }
        self.run_width = self
            .run_width
            .max(name.chars().count())
            .max("FLOW RUN".len());
    }

    /// Print records of the run `name`.
    pub fn records(&mut self, name: &str, records: Vec<Value>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let records: Vec<Value> = records
            .into_iter()
            .map(|r| with_run_name(r, name))
            .collect();
        if !self.lines {
            return self.printer.page(&records, tsv_cells);
        }
        let run = self.multi.then_some((name, self.run_width));
        let mut lines = Vec::with_capacity(records.len() + 1);
        if !self.header_printed {
            lines.push(render_header(run.map(|(_, w)| w)));
            self.header_printed = true;
        }
        lines.extend(
            records
                .iter()
                .map(|r| render_line(r, run, self.printer.color())),
        );
        self.live.clear()?;
        self.printer.line(&lines.join("\n"))?;
        if !self.live_lines.is_empty() {
            self.live.draw(&self.live_lines)?;
        }
        Ok(())
    }

    /// Finish the output (`No logs found.` on stderr for an empty terminal table).
    pub fn finish(&mut self) -> Result<()> {
        self.live.close()?;
        if self.lines && !self.header_printed && !crate::cli::item_failed() {
            eprintln!("No logs found.");
        }
        self.printer.finish()
    }
}

/// The record with its run's name added after the API's own fields.
fn with_run_name(mut record: Value, name: &str) -> Value {
    if let Value::Object(map) = &mut record {
        map.insert("flow_run_name".into(), Value::String(name.to_string()));
    }
    record
}

fn tsv_cells(record: &Value) -> Vec<Cell> {
    let level = record
        .get("level")
        .and_then(Value::as_u64)
        .map(level_name)
        .unwrap_or_default();
    vec![
        Cell::time(record.get("timestamp")),
        Cell::Text(level),
        Cell::from_json(record.get("flow_run_name")),
        Cell::from_json(record.get("message")),
    ]
}

/// Print each run's logs once, in the window (oldest first unless reversed; the first `head` or
/// the last `tail` lines of each): REFs from `refs` or stdin. With `--task-run` and no flow run
/// REF, the task run's own lines (found by `task_run_id` alone, so a task run with no flow run
/// works too). Returns the batch's exit code; `tool` names errors.
pub fn print_runs(
    client: &Client,
    targets: &LogTargets,
    window: LogWindow,
    out: &mut LogPrinter,
    tool: &str,
) -> Result<i32> {
    let (query, refs) = (&targets.query, &targets.runs);
    if let Some(task_run) = &targets.task_run
        && refs.is_empty()
    {
        out.add_run(task_run);
        read_logs(client, query, window, |page| out.records(task_run, page))?;
        return Ok(0);
    }
    let refs = input::collect_refs(refs)?;
    out.set_multi(refs.len() > 1);
    let mut batch = Batch::default();
    let mut shown = std::collections::HashSet::new();
    for reference in &refs {
        let Some(run) = batch.step(tool, refs::resolve(client, &refs::FLOW_RUN, reference)) else {
            continue;
        };
        // A run named twice (by id and by name, or piped in twice) is shown once.
        if !shown.insert(refs::str_field(&run, "id").to_string()) {
            batch.record(tool, Ok(()));
            continue;
        }
        let name = refs::str_field(&run, "name").to_string();
        out.add_run(&name);
        let run_query = LogQuery {
            flow_run_ids: vec![refs::str_field(&run, "id").to_string()],
            ..query.clone()
        };
        let printed = read_logs(client, &run_query, window, |page| out.records(&name, page));
        if let Err(e) = &printed
            && e.is_broken_pipe()
        {
            return printed.map(|()| 0);
        }
        batch.record(tool, printed);
    }
    Ok(batch.exit_code())
}

/// What to print: the query, the flow run REFs, and the task run's name when `--task-run` was
/// given without a flow run REF (its lines are then read by task run alone).
#[derive(Debug, Clone)]
pub struct LogTargets {
    /// The query (with `task_run_id` set by `--task-run`).
    pub query: LogQuery,
    /// Flow run REFs (empty: stdin, unless `task_run` is set).
    pub runs: Vec<String>,
    /// The task run's name, when its lines are shown without a flow run REF.
    pub task_run: Option<String>,
    /// The task run's flow run id, when it has one (what `--follow` follows).
    pub task_flow_run: Option<String>,
}

/// Apply `--task-run REF` to a query: only that task run's lines.
pub fn resolve_task_run(
    client: &Client,
    task_run: Option<&str>,
    mut query: LogQuery,
    runs: Vec<String>,
) -> Result<LogTargets> {
    let mut targets = LogTargets {
        query: query.clone(),
        runs,
        task_run: None,
        task_flow_run: None,
    };
    if let Some(task_run) = task_run {
        let task = refs::resolve(client, &refs::TASK_RUN, task_run)?;
        query.task_run_id = Some(refs::str_field(&task, "id").to_string());
        targets.query = query;
        if targets.runs.is_empty() {
            targets.task_run = Some(refs::str_field(&task, "name").to_string());
        }
        let flow_run = refs::str_field(&task, "flow_run_id");
        targets.task_flow_run = (!flow_run.is_empty()).then(|| flow_run.to_string());
    }
    Ok(targets)
}
