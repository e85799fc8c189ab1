//! Changing the state of a batch of runs: resolve every REF, ask once on a terminal, then
//! propose the state to each run and report the server's answer per REF.

use pf_common::cli::{self, Batch};
use pf_common::kinds::{self, Kind};
use pf_common::model::{TERMINAL_STATE_TYPES, is_terminal};
use pf_common::output::{Cell, Printer, Style};
use pf_common::progress::Progress;
use pf_common::refs::str_field;
use pf_common::states::{self, Orchestration, RunKind, TargetState};
use pf_common::writes::BulkSupport;
use pf_common::{Client, Error, Result, writes};
use serde_json::{Value, json};

/// What to do to each run.
#[derive(Debug)]
pub enum Verb {
    Cancel,
    Retry,
    Set { target: TargetState, force: bool },
}

/// Flags shared by the verbs.
#[derive(Debug)]
pub struct Options {
    pub message: Option<String>,
    /// One set_state call per run even where the server has bulk_set_state.
    pub per_item: bool,
    pub dry_run: bool,
    pub yes: bool,
}

const COLUMNS: &[&str] = &["NAME", "FROM", "TO", "STATUS", "REASON", "ID"];

impl Verb {
    fn target(&self, kind: RunKind) -> TargetState {
        match self {
            // A task run has no infrastructure to stop: it is cancelled at once.
            Verb::Cancel if kind == RunKind::TaskRun => TargetState::of_type("CANCELLED"),
            Verb::Cancel => TargetState::of_type("CANCELLING"),
            Verb::Retry => TargetState::of_type("SCHEDULED"),
            Verb::Set { target, .. } => target.clone(),
        }
    }

    fn force(&self) -> bool {
        match self {
            Verb::Cancel => false,
            Verb::Retry => true,
            Verb::Set { force, .. } => *force,
        }
    }

    fn default_message(&self) -> Option<&'static str> {
        match self {
            Verb::Retry => Some("Retried by pf-state"),
            _ => None,
        }
    }

    fn question(&self, count: usize, kind: RunKind) -> String {
        let what = if kind == RunKind::TaskRun {
            "task runs"
        } else {
            "flow runs"
        };
        match self {
            Verb::Cancel => format!("Cancel {count} {what}?"),
            Verb::Retry => format!("Retry {count} {what}?"),
            Verb::Set { target, .. } => format!("Set {count} {what} to {}?", target.display_name()),
        }
    }

    /// pf's own refusal before asking the server (retry needs a finished run with a deployment).
    fn precheck(&self, run: &Value) -> Option<String> {
        if !matches!(self, Verb::Retry) {
            return None;
        }
        if !is_terminal(run) {
            return Some(format!(
                "it is {}: only runs in a terminal state ({}) can be retried",
                state_name(run),
                TERMINAL_STATE_TYPES.join(", ")
            ));
        }
        if run.get("deployment_id").is_none_or(Value::is_null) {
            return Some(
                "it has no deployment, so no worker would pick it up; run its flow again instead"
                    .into(),
            );
        }
        None
    }

    /// What a dry run predicts the server will refuse (a real run lets the server answer).
    fn predicted_refusal(&self, run: &Value) -> Option<String> {
        match self {
            Verb::Cancel if is_terminal(run) => Some(format!(
                "it is already {}: a finished run cannot be cancelled",
                state_name(run)
            )),
            _ => None,
        }
    }

    /// The state a dry run predicts: a run that has not started is cancelled outright.
    fn predicted_state(&self, run: &Value, target: String) -> String {
        let scheduled = run.get("state_type").and_then(Value::as_str) == Some("SCHEDULED");
        match self {
            Verb::Cancel if scheduled => "Cancelled".into(),
            _ => target,
        }
    }

    /// Whether the run is already where the verb would put it: cancel of a Cancelling or
    /// Cancelled run, set of a run in that state (type, and name when one is given), retry of
    /// a Scheduled run. Re-running the same command is then a success ("ALREADY").
    fn already_done(&self, run: &Value, target: &TargetState) -> bool {
        let state_type = run
            .pointer("/state/type")
            .or_else(|| run.get("state_type"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        match self {
            Verb::Cancel => matches!(state_type, "CANCELLING" | "CANCELLED"),
            Verb::Retry => state_type == "SCHEDULED",
            Verb::Set { .. } => {
                state_type == target.state_type
                    && target.name.as_deref().is_none_or(|n| n == state_name(run))
            }
        }
    }

    /// Whether the server's answer achieved what the verb is for. Cancelling a run that has
    /// not started is answered REJECT with the run Cancelled outright: that is a success.
    fn succeeded(&self, answer: &Orchestration) -> bool {
        match self {
            Verb::Cancel => {
                matches!(answer.status.as_str(), "ACCEPT" | "REJECT")
                    && matches!(answer.state_type(), "CANCELLING" | "CANCELLED")
            }
            _ => answer.status == "ACCEPT",
        }
    }

    fn past_tense(&self) -> &'static str {
        match self {
            Verb::Cancel => "cancelled",
            Verb::Retry => "retried",
            Verb::Set { .. } => "changed",
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Verb::Cancel => "cancel",
            Verb::Retry => "retry",
            Verb::Set { .. } => "set",
        }
    }
}

/// Resolve the REFs, confirm, change each run, print a row per REF; the exit code.
pub fn run_all(
    client: &Client,
    printer: &mut Printer,
    kind: RunKind,
    verb: &Verb,
    options: &Options,
    references: &[String],
) -> Result<i32> {
    let mut batch = Batch::default();
    let registry_kind = match kind {
        RunKind::FlowRun => &kinds::FLOW_RUN,
        RunKind::TaskRun => &kinds::TASK_RUN,
    };
    let mut runs = Vec::new();
    for resolved in writes::resolve_refs(client, registry_kind, references, false)? {
        match resolved {
            Ok(found) => runs.extend(found.into_iter().map(|t| t.object)),
            Err((_, error)) => {
                batch.record::<()>("pf-state", Err(error));
            }
        }
    }
    if runs.len() > 1
        && !options.yes
        && !options.dry_run
        && !writes::confirm(&verb.question(runs.len(), kind))?
    {
        return Err(Error::Failed("nothing changed".into()));
    }
    printer.columns(COLUMNS);
    let target = verb.target(kind);
    let message = options.message.as_deref().or(verb.default_message());
    let progress = if runs.len() > 1 {
        Progress::new(Some(runs.len() as u64), kind.ref_kind().label)
    } else {
        Progress::none()
    };
    let mut out = Rows {
        printer,
        progress,
        table: Vec::new(),
        next: 0,
        waiting: std::collections::BTreeMap::new(),
    };
    // Runs the server is asked about, after pf's own checks.
    let mut to_change = Vec::new();
    for (i, run) in runs.into_iter().enumerate() {
        let label = format!("{} '{}'", kind.ref_kind().label, str_field(&run, "name"));
        if verb.already_done(&run, &target) {
            let report = outcome(
                &run,
                state_name(&run),
                "ALREADY",
                None,
                true,
                run_state(&run),
            );
            batch.record("pf-state", Ok(()));
            out.put(i, Some(report))?;
            continue;
        }
        let refusal = verb.precheck(&run).or_else(|| {
            options
                .dry_run
                .then(|| verb.predicted_refusal(&run))
                .flatten()
        });
        match refusal {
            Some(reason) => {
                let status = if options.dry_run {
                    "WOULD REFUSE"
                } else {
                    "REFUSED"
                };
                let report = outcome(
                    &run,
                    state_name(&run),
                    status,
                    Some(&reason),
                    false,
                    Value::Null,
                );
                batch.record::<()>(
                    "pf-state",
                    Err(Error::Failed(format!(
                        "{label}: not {}: {reason}",
                        verb.past_tense()
                    ))),
                );
                out.put(i, Some(report))?;
            }
            None if options.dry_run => {
                let to = verb.predicted_state(&run, target.display_name());
                let report = outcome(&run, to, "DRY-RUN", None, true, Value::Null);
                batch.record("pf-state", Ok(()));
                out.put(i, Some(report))?;
            }
            None => to_change.push((i, run)),
        }
    }
    let change = Change {
        kind,
        verb,
        target: &target,
        message,
        per_item: options.per_item,
    };
    change.apply(client, to_change, &mut batch, &mut out)?;
    out.finish()?;
    Ok(batch.exit_code())
}

/// Rows printed as they come in a pipe, or at the end as one aligned table.
/// Rows come in REF order: a row done early waits for the rows before it (the runs of one
/// bulk call are answered together).
struct Rows<'p> {
    printer: &'p mut Printer,
    /// A bar on a terminal's stderr while several runs are changed.
    progress: Progress,
    table: Vec<Value>,
    /// The position of the next row to print.
    next: usize,
    /// Rows done ahead of `next` (None: that REF has no row, its error went to stderr).
    waiting: std::collections::BTreeMap<usize, Option<Value>>,
}

impl Rows<'_> {
    /// The row of the REF at `position` (None: no row).
    fn put(&mut self, position: usize, report: Option<Value>) -> Result<()> {
        self.progress.inc(1);
        self.waiting.insert(position, report);
        while let Some(report) = self.waiting.remove(&self.next) {
            self.next += 1;
            if let Some(report) = report {
                self.push(report)?;
            }
        }
        Ok(())
    }

    fn push(&mut self, report: Value) -> Result<()> {
        if self.printer.needs_cells() {
            self.table.push(report);
            Ok(())
        } else {
            self.printer.object(&report, row)
        }
    }

    fn finish(self) -> Result<()> {
        self.progress.finish();
        if !self.table.is_empty() {
            self.printer.page(&self.table, row)?;
        }
        self.printer.finish()
    }
}

/// One state change over many runs.
struct Change<'a> {
    kind: RunKind,
    verb: &'a Verb,
    target: &'a TargetState,
    message: Option<&'a str>,
    per_item: bool,
}

impl Change<'_> {
    /// Propose the state to every run: `bulk_set_state` 50 at a time for flow runs (detected
    /// once: an older server without it gets one call per run), else one call per run.
    fn apply(
        &self,
        client: &Client,
        runs: Vec<(usize, Value)>,
        batch: &mut Batch,
        out: &mut Rows,
    ) -> Result<()> {
        let registry_kind = match self.kind {
            RunKind::FlowRun => &kinds::FLOW_RUN,
            RunKind::TaskRun => &kinds::TASK_RUN,
        };
        let bulk_path = registry_kind
            .verbs
            .set_state
            .and_then(|s| s.bulk)
            .filter(|_| !self.per_item);
        let mut bulk = BulkSupport::default();
        for chunk in runs.chunks(kinds::BULK_LIMIT) {
            let mut answers: Vec<Option<Result<Orchestration>>> =
                std::iter::repeat_with(|| None).take(chunk.len()).collect();
            // After a bulk call whose outcome is unknown, each run is read back first.
            let mut read_back = false;
            if let Some(path) = bulk_path.filter(|_| bulk.available()) {
                let ids: Vec<&str> = chunk.iter().map(|(_, r)| str_field(r, "id")).collect();
                let body = json!({
                    "flow_runs": { "id": { "any_": ids } },
                    "state": self.target.to_json(self.message),
                    "force": self.verb.force(),
                    "limit": kinds::BULK_LIMIT,
                });
                match bulk.call(client, path, body) {
                    Ok(Some(answer)) => {
                        let results = answer.get("results").and_then(Value::as_array);
                        for result in results.into_iter().flatten() {
                            let run_id = str_field(result, "flow_run_id");
                            if let Some(i) = ids.iter().position(|id| *id == run_id) {
                                answers[i] = Some(Orchestration::from_answer(path, result));
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(e) if e.is_broken_pipe() => return Err(e),
                    // Unknown outcome: each run is read back below before anything is resent.
                    Err(e) => {
                        cli::warn(
                            "pf-state",
                            format!(
                                "{path} failed ({e}); checking its {} runs one by one",
                                chunk.len()
                            ),
                        );
                        read_back = true;
                    }
                }
            }
            for ((i, run), answer) in chunk.iter().zip(answers) {
                if read_back
                    && let Ok(Some(now)) = writes::reread(client, registry_kind, run)
                    && self.verb.already_done(&now, self.target)
                {
                    let report =
                        outcome(run, state_name(&now), "ACCEPT", None, true, run_state(&now));
                    batch.record("pf-state", Ok(()));
                    out.put(*i, Some(report))?;
                    continue;
                }
                let answer = match answer {
                    Some(answer) => answer,
                    None => states::set_state(
                        client,
                        self.kind,
                        str_field(run, "id"),
                        self.target,
                        self.message,
                        self.verb.force(),
                    ),
                };
                let report = self.report(client, registry_kind, run, answer, batch);
                out.put(*i, report)?;
            }
        }
        Ok(())
    }

    /// One run's row from the server's answer. A lost answer (network, 5xx) is read back: a
    /// run now in the requested state is reported from that state, as a success.
    fn report(
        &self,
        client: &Client,
        registry_kind: &Kind,
        run: &Value,
        answer: Result<Orchestration>,
        batch: &mut Batch,
    ) -> Option<Value> {
        let answer = match answer {
            Err(e) if writes::outcome_unknown(&e) => {
                match writes::reread(client, registry_kind, run) {
                    Ok(Some(now)) if self.verb.already_done(&now, self.target) => {
                        let reason = "the answer was lost; the run was read back";
                        let report = outcome(
                            run,
                            state_name(&now),
                            "ACCEPT",
                            Some(reason),
                            true,
                            run_state(&now),
                        );
                        batch.record("pf-state", Ok(()));
                        return Some(report);
                    }
                    _ => Err(e),
                }
            }
            other => other,
        };
        // A step: the row's final record below decides (a refusal is the run's outcome).
        let answer = batch.step("pf-state", answer)?;
        let label = format!(
            "{} '{}'",
            self.kind.ref_kind().label,
            str_field(run, "name")
        );
        let ok = self.verb.succeeded(&answer);
        let to = str_field(&answer.state, "name").to_string();
        let report = outcome(
            run,
            to,
            &answer.status,
            answer.reason.as_deref(),
            ok,
            answer.state.clone(),
        );
        if ok {
            batch.record("pf-state", Ok(()));
        } else {
            batch.record::<()>(
                "pf-state",
                Err(Error::Failed(format!(
                    "{label}: {} refused ({}){}",
                    self.verb.name(),
                    answer.status,
                    answer
                        .reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ))),
            );
        }
        Some(report)
    }
}

/// A run's state object, for the row's `state`.
fn run_state(run: &Value) -> Value {
    run.get("state").cloned().unwrap_or(Value::Null)
}

fn state_name(run: &Value) -> String {
    run.pointer("/state/name")
        .or_else(|| run.get("state_name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// One REF's outcome, as printed (NDJSON in a pipe, so `id` feeds other pf tools).
fn outcome(
    run: &Value,
    to: String,
    status: &str,
    reason: Option<&str>,
    ok: bool,
    state: Value,
) -> Value {
    json!({
        "id": str_field(run, "id"),
        "name": str_field(run, "name"),
        "from": state_name(run),
        "to": to,
        "status": status,
        "reason": reason,
        "ok": ok,
        "state": state,
    })
}

fn row(report: &Value) -> Vec<Cell> {
    let ok = report.get("ok").and_then(Value::as_bool).unwrap_or(false);
    let cell = |key: &str| Cell::from_json(report.get(key));
    let to_type = report
        .pointer("/state/type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    vec![
        cell("name"),
        cell("from"),
        Cell::Styled(
            str_field(report, "to").to_string(),
            Style::for_state_type(to_type),
        ),
        Cell::Styled(
            str_field(report, "status").to_string(),
            if ok { Style::Green } else { Style::Red },
        ),
        cell("reason"),
        cell("id"),
    ]
}
