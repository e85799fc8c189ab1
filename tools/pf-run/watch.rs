//! Waiting for a run through the one watcher of runs (`pf_common::follow`: its states, logs and
//! task runs, and the child process that executes it, if any, through outages, --timeout and
//! Ctrl-C), and showing what happens: a live line of states and the logs on a terminal, NDJSON
//! events in a pipe.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use pf_common::follow::{self, FollowEvent, FollowOptions, ProcessCheck};
use pf_common::liveregion::LiveRegion;
use pf_common::output::{Cell, Format, Printer, Style, stdout_is_terminal};
use pf_common::refs::str_field;
use pf_common::runs::Created;
use pf_common::states::{self, RunKind, TargetState};
use pf_common::{Client, Error, logs, logstream, model, runtree};
use serde_json::{Map, Value, json};

use crate::plan::Plan;
use crate::python::Execution;

const TOOL: &str = "pf-run";

/// How a waited-for run ended.
#[derive(Debug)]
pub enum Outcome {
    /// It reached this terminal state.
    Ended(Value),
    /// pf-run was interrupted (SIGINT/SIGTERM) first.
    Interrupted,
    /// The run was deleted while it was watched (reported on stderr).
    Deleted,
}

impl Outcome {
    /// The exit code: 0 only for COMPLETED, 130 when interrupted, else 1 (reported on stderr).
    pub fn exit_code(&self, run: &Value) -> i32 {
        match self {
            Outcome::Interrupted => 130,
            Outcome::Deleted => pf_common::error::EXIT_NOT_FOUND,
            Outcome::Ended(state) if str_field(state, "type") == "COMPLETED" => 0,
            Outcome::Ended(state) => {
                let message = state
                    .get("message")
                    .and_then(Value::as_str)
                    .filter(|m| !m.is_empty());
                let reason = message.map(|m| format!(": {m}")).unwrap_or_default();
                let _ = writeln!(
                    std::io::stderr(),
                    "{TOOL}: error: flow run '{}' ended {}{reason}",
                    str_field(run, "name"),
                    str_field(state, "name")
                );
                pf_common::error::EXIT_FAILED
            }
        }
    }
}

static INTERRUPTED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Catch SIGINT/SIGTERM from here on: pf-run then stops what it started before exiting.
pub fn catch_interrupts() -> Result<(), Error> {
    let flag = Arc::new(AtomicBool::new(false));
    if INTERRUPTED.set(flag.clone()).is_ok() {
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .map_err(|e| Error::Failed(format!("cannot handle signals: {e}")))?;
    }
    Ok(())
}

/// Whether SIGINT/SIGTERM arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.get().is_some_and(|f| f.load(Ordering::SeqCst))
}

/// Sleep until `until` in short steps; false when interrupted first.
pub fn sleep_until(until: Instant) -> bool {
    while Instant::now() < until {
        if interrupted() {
            return false;
        }
        std::thread::sleep(
            until
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100)),
        );
    }
    !interrupted()
}

/// Wait for a run to end (and for `execution`, the child running it, if any) through the one
/// watcher of runs, showing its states, logs and task runs as they come.
pub fn supervise(
    client: &Client,
    plan: &Plan,
    run: &Value,
    mut execution: Option<&mut dyn Execution>,
    display: &mut Display,
) -> Result<Outcome, Error> {
    let run_id = str_field(run, "id").to_string();
    let events = plan.shows_events();
    let options = FollowOptions {
        logs: events && plan.logs,
        states: events,
        tree: display.shows_tree(),
        timeout: plan.timeout,
        stream: events && plan.logs && logstream::supported(client.settings()),
        tool: TOOL,
        verb: "watched",
        interrupted: Some(interrupted),
        ..FollowOptions::default()
    };
    let mut finished;
    let process: Option<ProcessCheck> = match execution.as_deref_mut() {
        Some(exec) => {
            finished = move || exec.finished();
            Some(&mut finished)
        }
        None => None,
    };
    let outcome = follow::watch_run(client, &options, run, process, |event| match event {
        FollowEvent::State(_, state) => display.states(&run_id, &[state]),
        FollowEvent::Record(_, record) => display.logs(&[record]),
        FollowEvent::Checked(runs) => runs.first().map_or(Ok(()), |r| display.set_tree(&r.tree)),
        FollowEvent::Ended(run) => display.set_tree(&run.tree),
        FollowEvent::Started(_) => Ok(()),
    })?;
    display.finish()?;
    let process_ended = outcome.process_ended.is_some();
    if outcome.interrupted {
        let stopped_here = execution.is_some() && !process_ended;
        stop(client, &run_id, execution, "pf-run was interrupted")?;
        let _ = writeln!(
            std::io::stderr(),
            "{TOOL}: interrupted; {}",
            after_stop(client, run, stopped_here)
        );
        return Ok(Outcome::Interrupted);
    }
    if outcome.timed_out {
        let waited = pf_common::time::hms(plan.timeout.unwrap_or_default().as_secs_f64());
        if execution.is_some() && !process_ended {
            stop(client, &run_id, execution, "pf-run --timeout ran out")?;
            return Err(Error::Timeout(format!(
                "flow run '{}' did not finish within {waited}; it was cancelled",
                str_field(run, "name")
            )));
        }
        let state = outcome
            .runs
            .first()
            .map(|(r, _)| str_field(r, "state_name").to_string())
            .unwrap_or_default();
        return Err(Error::Timeout(format!(
            "timed out after {waited} waiting for flow run '{}' (still {state})",
            str_field(run, "name")
        )));
    }
    if outcome.vanished > 0 {
        return Ok(Outcome::Deleted);
    }
    let last = outcome.runs.into_iter().next().map(|(r, _)| r);
    Ok(Outcome::Ended(
        last.and_then(|mut r| r.get_mut("state").map(Value::take))
            .unwrap_or(Value::Null),
    ))
}

fn after_stop(client: &Client, run: &Value, stopped_here: bool) -> String {
    let name = str_field(run, "name");
    let state = client
        .get(&format!("flow_runs/{}", str_field(run, "id")))
        .map(|r| str_field(&r, "state_name").to_string())
        .unwrap_or_else(|_| "unknown".into());
    if stopped_here {
        format!("flow run '{name}' is {state}")
    } else {
        format!("flow run '{name}' goes on ({state})")
    }
}

/// Stop a run this pf-run executes: end the child (the engine may report CRASHED), then mark the
/// run CANCELLED unless it already ended by itself. A run pf-run only watches is left alone.
fn stop(
    client: &Client,
    run_id: &str,
    execution: Option<&mut dyn Execution>,
    why: &str,
) -> Result<(), Error> {
    let Some(exec) = execution else { return Ok(()) };
    if exec.finished()?.is_none() {
        exec.terminate();
    }
    let run = client.get(&format!("flow_runs/{run_id}"))?;
    let state_type = str_field(&run, "state_type");
    if !matches!(state_type, "COMPLETED" | "FAILED" | "CANCELLED") {
        force_state(client, run_id, "CANCELLED", why)?;
    }
    Ok(())
}

/// Force a run pf-run is responsible for into a final state, with a message saying why.
pub fn force_state(
    client: &Client,
    run_id: &str,
    state_type: &str,
    message: &str,
) -> Result<(), Error> {
    let target = TargetState::of_type(state_type);
    states::set_state(
        client,
        RunKind::FlowRun,
        run_id,
        &target,
        Some(message),
        true,
    )
    .map(|_| ())
}

/// What pf-run prints: the run, then (with --watch) its states and logs.
pub struct Display<'p> {
    printer: &'p mut Printer,
    /// Open the run's page once printed (--web).
    web: bool,
    /// The web UI's address.
    ui_base: String,
    mode: Mode,
    /// Objects mode while watching: the run, then state and log events (TSV: event columns).
    events: bool,
    run_name: String,
    trail: Vec<(String, Style)>,
    /// The task runs and subflow runs drawn under the state line (terminal only).
    tree: Vec<runtree::Node>,
    /// The state line and the tree, redrawn in place (terminal only).
    live: LiveRegion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `--quiet`: the id only.
    Quiet,
    /// A table on a terminal: a live line of states, logs above it.
    Live,
    /// `-o table` elsewhere: a line per state change, logs as lines.
    Lines,
    /// ndjson/json/tsv/--jq: the run object, then one event object per state and log record.
    Objects,
}

/// Table columns of the created run.
const RUN_COLUMNS: &[&str] = &["NAME", "ID", "STATE", "DEPLOYMENT", "RUN"];

/// TSV columns of a watch: the run, then one row per state change and log record.
const EVENT_COLUMNS: &[&str] = &["EVENT", "TIME", "TYPE", "TEXT"];

impl<'p> Display<'p> {
    /// `ui_base` is the web UI's address, for the run's `ui_url` (and `--web`).
    pub fn new(plan: &Plan, printer: &'p mut Printer, ui_base: String) -> Self {
        let mode = match (
            plan.quiet,
            printer.needs_cells() && printer.format() == Format::Table,
        ) {
            (true, _) => Mode::Quiet,
            (false, true) if stdout_is_terminal() => Mode::Live,
            (false, true) => Mode::Lines,
            (false, false) => Mode::Objects,
        };
        let events = mode == Mode::Objects && (plan.watch || plan.execute);
        printer.columns(if events { EVENT_COLUMNS } else { RUN_COLUMNS });
        Display {
            printer,
            web: plan.web,
            ui_base,
            mode,
            events,
            run_name: String::new(),
            trail: Vec::new(),
            tree: Vec::new(),
            live: LiveRegion::default(),
        }
    }

    /// Print the created (or found) run: its id with --quiet, else the API object with
    /// `deployment_name`, `outcome` ("created" / "existing") and `ui_url` added after the API's
    /// fields; with --web, open `ui_url` in a browser.
    pub fn run(&mut self, created: &Created, deployment_name: Option<&str>) -> Result<(), Error> {
        self.run_name = str_field(&created.run, "name").to_string();
        self.trail.clear();
        let mut object = created.run.clone();
        object["deployment_name"] = json!(deployment_name);
        object["outcome"] = json!(if created.created {
            "created"
        } else {
            "existing"
        });
        let ui_url = format!(
            "{}/runs/flow-run/{}",
            self.ui_base,
            str_field(&object, "id")
        );
        object["ui_url"] = json!(ui_url);
        if self.web {
            pf_common::weburl::open_in_browser(&ui_url)?;
        }
        match self.mode {
            Mode::Quiet => self.printer.line(str_field(&object, "id")),
            Mode::Objects
                if self.events && matches!(self.printer.format(), Format::Tsv | Format::Csv) =>
            {
                self.printer.object(&object, |o| {
                    vec![
                        Cell::Text("run".into()),
                        Cell::time(o.get("created")),
                        Cell::Text(str_field(o, "state_type").into()),
                        Cell::Text(format!("{} {}", str_field(o, "name"), str_field(o, "id"))),
                    ]
                })
            }
            _ => self.printer.object(&object, |o| {
                vec![
                    Cell::from_json(o.get("name")),
                    Cell::from_json(o.get("id")),
                    model::state_cell(o),
                    Cell::from_json(o.get("deployment_name")),
                    Cell::from_json(o.get("outcome")),
                ]
            }),
        }
    }

    fn states(&mut self, run_id: &str, states: &[Value]) -> Result<(), Error> {
        if states.is_empty() {
            return Ok(());
        }
        match self.mode {
            Mode::Quiet => Ok(()),
            Mode::Objects => {
                for state in states {
                    let mut event = Map::new();
                    event.insert("event".into(), json!("state"));
                    event.insert("flow_run_id".into(), json!(run_id));
                    if let Value::Object(fields) = state {
                        event.extend(fields.clone());
                    }
                    self.printer.object(&Value::Object(event), |e| {
                        event_cells(e, str_field(e, "type"), str_field(e, "name"))
                    })?;
                }
                Ok(())
            }
            Mode::Live | Mode::Lines => {
                for state in states {
                    let style = Style::for_state_type(str_field(state, "type"));
                    self.trail
                        .push((str_field(state, "name").to_string(), style));
                }
                if self.mode == Mode::Live {
                    self.draw_live()
                } else {
                    self.printer.line(&self.trail_text())
                }
            }
        }
    }

    fn logs(&mut self, records: &[Value]) -> Result<(), Error> {
        if records.is_empty() {
            return Ok(());
        }
        match self.mode {
            Mode::Quiet => Ok(()),
            Mode::Objects => {
                for record in records {
                    let mut event = Map::new();
                    event.insert("event".into(), json!("log"));
                    if let Value::Object(fields) = record {
                        event.extend(fields.clone());
                    }
                    self.printer.object(&Value::Object(event), |e| {
                        let level =
                            logs::level_name(e.get("level").and_then(Value::as_u64).unwrap_or(0));
                        event_cells(e, &level, str_field(e, "message"))
                    })?;
                }
                Ok(())
            }
            Mode::Live | Mode::Lines => {
                self.clear_live()?;
                let color = self.printer.color();
                for record in records {
                    self.printer.line(&logs::render_line(record, None, color))?;
                }
                if self.mode == Mode::Live {
                    self.draw_live()
                } else {
                    Ok(())
                }
            }
        }
    }

    fn trail_text(&self) -> String {
        let color = self.printer.color();
        let states: Vec<String> = self
            .trail
            .iter()
            .map(|(name, style)| style.paint(name, color))
            .collect();
        format!("{}: {}", self.run_name, states.join(" -> "))
    }

    /// Whether the live tree of task runs is drawn (a terminal, one run).
    fn shows_tree(&self) -> bool {
        self.mode == Mode::Live
    }

    /// The run's task runs and subflows as last fetched: redrawn when they changed.
    fn set_tree(&mut self, tree: &[runtree::Node]) -> Result<(), Error> {
        if !self.shows_tree() || runtree::rows(tree) == runtree::rows(&self.tree) {
            return Ok(());
        }
        self.tree = tree.to_vec();
        if self.live.is_drawn() {
            self.draw_live()?;
        }
        Ok(())
    }

    /// Redraw the live region in place: the state line, then the tree.
    fn draw_live(&mut self) -> Result<(), Error> {
        let mut lines = vec![self.trail_text()];
        lines.extend(runtree::lines(&self.tree, self.printer.color()));
        self.live.draw(&lines)
    }

    fn clear_live(&mut self) -> Result<(), Error> {
        self.live.clear()
    }

    /// End the live region (it stays on screen) and flush.
    pub fn finish(&mut self) -> Result<(), Error> {
        if self.live.is_drawn() {
            if !self.tree.is_empty() {
                // The final states of the tree.
                self.draw_live()?;
            }
            self.live.close()?;
        }
        Ok(())
    }

    /// Close the output (the JSON array of `-o json`).
    pub fn close(&mut self) -> Result<(), Error> {
        self.finish()?;
        if self.mode == Mode::Objects {
            self.printer.finish()
        } else {
            Ok(())
        }
    }
}

fn event_cells(event: &Value, kind: &str, text: &str) -> Vec<Cell> {
    vec![
        Cell::Text(str_field(event, "event").into()),
        Cell::time(event.get("timestamp")),
        Cell::Text(kind.into()),
        Cell::Text(text.into()),
    ]
}
