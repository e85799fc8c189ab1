//! pf-deploy's output: a row per deployment (NAME, ID, RESULT, POOL, SCHEDULES), the
//! deployment object with its `result` in NDJSON, ids alone with --quiet, and with --dry-run on
//! a terminal the fields that would change.

use std::io::Write;

use pf_common::output::{Cell, Format, Printer, Style};
use pf_common::{Error, Result};
use serde_json::Value;

use crate::upsert::Change;

/// One deployment's result.
#[derive(Debug)]
pub struct Outcome {
    /// `FLOW/NAME`.
    pub full_name: String,
    /// created / updated / unchanged (`would …` in a dry run).
    pub result: String,
    /// The deployment (as the server has it, or as it would be).
    pub object: Value,
    /// Fields written (or that would be).
    pub changes: Vec<Change>,
}

/// Results collected for printing at the end (a table's columns align over all rows).
pub struct Report {
    quiet: bool,
    dry_run: bool,
    outcomes: Vec<Outcome>,
}

const COLUMNS: &[&str] = &["NAME", "ID", "RESULT", "POOL", "SCHEDULES"];

impl Report {
    /// An empty report.
    pub fn new(quiet: bool, dry_run: bool) -> Report {
        Report {
            quiet,
            dry_run,
            outcomes: Vec::new(),
        }
    }

    /// Add a result.
    pub fn add(&mut self, outcome: Outcome) {
        self.outcomes.push(outcome);
    }

    /// Print everything.
    pub fn print(&self, printer: &mut Printer) -> Result<()> {
        if self.quiet {
            let mut out = std::io::stdout().lock();
            for outcome in &self.outcomes {
                if let Some(id) = outcome.object.get("id").and_then(Value::as_str) {
                    writeln!(out, "{id}").map_err(|e| Error::io("cannot write to stdout", e))?;
                }
            }
            return Ok(());
        }
        let objects: Vec<Value> = self
            .outcomes
            .iter()
            .map(|o| {
                let mut object = o.object.clone();
                object["result"] = Value::String(o.result.clone());
                if self.dry_run {
                    object["changes"] = o
                        .changes
                        .iter()
                        .map(|c| serde_json::json!({"field": c.field, "old": c.old, "new": c.new}))
                        .collect();
                }
                object
            })
            .collect();
        printer.columns(COLUMNS);
        let names: Vec<&str> = self.outcomes.iter().map(|o| o.full_name.as_str()).collect();
        let rows = |object: &Value| {
            let index = objects
                .iter()
                .position(|o| std::ptr::eq(o, object))
                .unwrap_or(0);
            row(names.get(index).copied().unwrap_or_default(), object)
        };
        let color = printer.color();
        let table = printer.format() == Format::Table;
        printer.page(&objects, rows)?;
        printer.finish()?;
        if self.dry_run && table {
            let mut out = std::io::stdout().lock();
            for outcome in self.outcomes.iter().filter(|o| !o.changes.is_empty()) {
                let mut text = format!("\n{} ({}):\n", outcome.full_name, outcome.result);
                for change in &outcome.changes {
                    if !change.old.is_null() {
                        text.push_str(
                            &Style::Red
                                .paint(&format!("- {}: {}", change.field, change.old), color),
                        );
                        text.push('\n');
                    }
                    text.push_str(
                        &Style::Green.paint(&format!("+ {}: {}", change.field, change.new), color),
                    );
                    text.push('\n');
                }
                out.write_all(text.as_bytes())
                    .map_err(|e| Error::io("cannot write to stdout", e))?;
            }
        }
        Ok(())
    }
}

fn row(full_name: &str, object: &Value) -> Vec<Cell> {
    let result = object["result"].as_str().unwrap_or_default();
    let style = match result {
        "created" | "updated" => Style::Green,
        _ => Style::Dim,
    };
    vec![
        Cell::Text(full_name.to_string()),
        Cell::from_json(object.get("id")),
        Cell::Styled(result.to_string(), style),
        Cell::from_json(object.get("work_pool_name")),
        Cell::Text(schedules_cell(&object["schedules"])),
    ]
}

/// `0 3 * * *`, `every 600s`, `rrule …`, comma-joined.
fn schedules_cell(schedules: &Value) -> String {
    schedules
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let spec = &s["schedule"];
            let text = if let Some(cron) = spec["cron"].as_str() {
                cron.to_string()
            } else if let Some(seconds) = spec["interval"].as_f64() {
                format!("every {}", pf_common::time::hms(seconds))
            } else if let Some(rrule) = spec["rrule"].as_str() {
                rrule.lines().last().unwrap_or(rrule).to_string()
            } else {
                "?".into()
            };
            if s["active"].as_bool() == Some(false) {
                format!("{text} (inactive)")
            } else {
                text
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
