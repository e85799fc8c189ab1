//! How pf-logs prints records: terminal lines (TIMESTAMP, LEVEL, MESSAGE, with a FLOW RUN column
//! when several runs are shown), or the full records (with `flow_run_name`) through the printer.

use pf_common::Result;
use pf_common::logs::{level_name, render_header, render_line};
use pf_common::output::{Cell, Format, Printer};
use serde_json::Value;

/// TSV columns: the terminal's, with the run's name, and times in RFC 3339.
const TSV_HEADERS: &[&str] = &["TIMESTAMP", "LEVEL", "FLOW RUN", "MESSAGE"];

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

    pub fn finish(&mut self) -> Result<()> {
        if self.lines && !self.header_printed {
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
