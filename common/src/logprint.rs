//! How run logs are printed (pf-logs, pf-get logs): terminal lines (TIMESTAMP, LEVEL, MESSAGE,
//! with a FLOW RUN column when several runs are shown), or the full records (with
//! `flow_run_name`) through the printer.

use serde_json::Value;

use crate::cli::Batch;
use crate::client::Client;
use crate::error::Result;
use crate::logs::{LogQuery, level_name, read_logs, render_header, render_line};
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
}

impl LogPrinter {
    /// Wrap a printer: its table format becomes pf's log lines (messages never cut).
    pub fn new(mut printer: Printer) -> Self {
        // A table without --jq: pf-logs' own lines (messages are never cut, tracebacks keep
        // their lines).
        let lines = printer.format() == Format::Table && printer.needs_cells();
        if printer.format() == Format::Tsv {
            printer.columns(TSV_HEADERS);
        }
        LogPrinter {
            printer,
            lines,
            multi: false,
            run_width: 0,
            runs: 0,
            header_printed: false,
        }
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
        self.printer.line(&lines.join("\n"))
    }

    /// Finish the output (`No logs found.` on stderr for an empty terminal table).
    pub fn finish(&mut self) -> Result<()> {
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

/// Print each run's logs once, oldest first (the first `head` or the last `tail` lines of each):
/// REFs from `refs` or stdin. Returns the batch's exit code; `tool` names errors.
pub fn print_runs(
    client: &Client,
    query: &LogQuery,
    refs: &[String],
    (head, tail): (Option<usize>, Option<usize>),
    out: &mut LogPrinter,
    tool: &str,
) -> Result<i32> {
    let refs = input::collect_refs(refs)?;
    out.set_multi(refs.len() > 1);
    let mut batch = Batch::default();
    let mut shown = std::collections::HashSet::new();
    for reference in &refs {
        let Some(run) = batch.record(tool, refs::resolve(client, &refs::FLOW_RUN, reference))
        else {
            continue;
        };
        // A run named twice (by id and by name, or piped in twice) is shown once.
        if !shown.insert(refs::str_field(&run, "id").to_string()) {
            continue;
        }
        let name = refs::str_field(&run, "name").to_string();
        out.add_run(&name);
        let run_query = LogQuery {
            flow_run_ids: vec![refs::str_field(&run, "id").to_string()],
            ..query.clone()
        };
        let printed = read_logs(client, &run_query, head, tail, |page| {
            out.records(&name, page)
        });
        if let Err(e) = printed {
            if e.is_broken_pipe() {
                return Err(e);
            }
            batch.record::<()>(tool, Err(e));
        }
    }
    Ok(batch.exit_code())
}

/// Apply `--task-run REF` to a query: only that task run's lines, and (when no flow run REF is
/// given) its flow run is the one shown. Returns the query and the flow run REFs.
pub fn resolve_task_run(
    client: &Client,
    task_run: Option<&str>,
    mut query: LogQuery,
    mut runs: Vec<String>,
) -> Result<(LogQuery, Vec<String>)> {
    if let Some(task_run) = task_run {
        let task = refs::resolve(client, &refs::TASK_RUN, task_run)?;
        query.task_run_id = Some(refs::str_field(&task, "id").to_string());
        if runs.is_empty() {
            let flow_run = refs::str_field(&task, "flow_run_id");
            if flow_run.is_empty() {
                return Err(crate::Error::usage(format!(
                    "task run '{task_run}' has no flow run"
                )));
            }
            runs.push(flow_run.to_string());
        }
    }
    Ok((query, runs))
}
