//! Changing the state of a batch of runs: resolve every REF, ask once on a terminal, then
//! propose the state to each run and report the server's answer per REF.

use std::io::{BufRead, IsTerminal, Write};

use pf_common::cli::Batch;
use pf_common::model::{TERMINAL_STATE_TYPES, is_terminal};
use pf_common::output::{Cell, Printer, Style};
use pf_common::refs::str_field;
use pf_common::states::{self, Orchestration, RunKind, TargetState};
use pf_common::{Client, Error, Result, input, refs};
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
    let mut runs = Vec::new();
    for reference in input::refs(references)? {
        if let Some(run) = batch.record(
            "pf-state",
            reference.and_then(|r| refs::resolve(client, &kind.ref_kind(), &r)),
        ) {
            runs.push(run);
        }
    }
    if runs.len() > 1
        && !options.yes
        && !options.dry_run
        && !confirm(&verb.question(runs.len(), kind))?
    {
        return Err(Error::Failed("nothing changed".into()));
    }
    printer.columns(COLUMNS);
    let target = verb.target(kind);
    let message = options.message.as_deref().or(verb.default_message());
    // A table is printed once at the end, aligned; NDJSON streams a line per REF.
    let mut table = Vec::new();
    for run in runs {
        let label = format!("{} '{}'", kind.ref_kind().label, str_field(&run, "name"));
        let refusal = verb.precheck(&run).or_else(|| {
            options
                .dry_run
                .then(|| verb.predicted_refusal(&run))
                .flatten()
        });
        let report = match refusal {
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
                report
            }
            None if options.dry_run => {
                let report = outcome(
                    &run,
                    verb.predicted_state(&run, target.display_name()),
                    "DRY-RUN",
                    None,
                    true,
                    Value::Null,
                );
                batch.record("pf-state", Ok(()));
                report
            }
            None => {
                let answer = states::set_state(
                    client,
                    kind,
                    str_field(&run, "id"),
                    &target,
                    message,
                    verb.force(),
                );
                let Some(answer) = batch.record("pf-state", answer) else {
                    continue;
                };
                let ok = verb.succeeded(&answer);
                let to = str_field(&answer.state, "name").to_string();
                let report = outcome(
                    &run,
                    to,
                    &answer.status,
                    answer.reason.as_deref(),
                    ok,
                    answer.state.clone(),
                );
                let result = if ok {
                    Ok(())
                } else {
                    Err(Error::Failed(format!(
                        "{label}: {} refused ({}){}",
                        verb.name(),
                        answer.status,
                        answer
                            .reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    )))
                };
                batch.record("pf-state", result);
                report
            }
        };
        if printer.needs_cells() {
            table.push(report);
        } else {
            printer.object(&report, row)?;
        }
    }
    if !table.is_empty() {
        printer.page(&table, row)?;
    }
    printer.finish()?;
    Ok(batch.exit_code())
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

/// Ask on the terminal (`/dev/tty`, so it works when REFs are piped in). Not on a terminal
/// (cron, CI, a pipe to a file) there is no one to ask, and the change goes ahead.
fn confirm(question: &str) -> Result<bool> {
    if !std::io::stderr().is_terminal() {
        return Ok(true);
    }
    let Ok(tty) = std::fs::File::options().read(true).open("/dev/tty") else {
        return Ok(true);
    };
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{question} [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::BufReader::new(tty)
        .read_line(&mut answer)
        .map_err(|e| Error::io("cannot read the answer", e))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
