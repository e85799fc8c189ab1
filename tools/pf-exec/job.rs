//! One run of the command, start to end: Running, the command's attempts (with retries),
//! its final state from how it ended, and the exit code a shell would give.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use pf_common::states::TargetState;
use pf_common::time::to_api_time;
use serde_json::json;

use crate::child::{self, Ending, Event, Spec};
use crate::limits::{self, Acquire, LimitSpec, Slot};
use crate::recorder::Recorder;

/// Exit code when --timeout ended the command (as `timeout(1)`).
pub const EXIT_TIMED_OUT: i32 = 124;
/// Exit code when --no-overlap skipped the command (as `flock -n`).
pub const EXIT_SKIPPED: i32 = 1;
/// How long the command's output may stay open after it exited (a background process it left
/// behind can hold it open for ever).
const OUTPUT_GRACE: Duration = Duration::from_secs(5);
/// How long a concurrency slot is asked for while the server fails, before the command runs
/// without one.
const SLOT_SERVER_WAIT: Duration = Duration::from_secs(60);
/// How often the loop wakes while the command runs.
const TICK: Duration = Duration::from_millis(200);

/// How every run of this pf-exec behaves (validated flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// How to start the command.
    pub spec: Spec,
    /// --timeout.
    pub timeout: Option<Duration>,
    /// --retries.
    pub retries: u32,
    /// --retry-delay.
    pub retry_delay: Duration,
    /// --concurrency.
    pub concurrency: Option<LimitSpec>,
    /// --no-overlap.
    pub no_overlap: bool,
    /// How long to wait at the end for an unreachable server.
    pub flush_timeout: Duration,
    /// SIGTERM → SIGKILL grace when pf-exec stops the command.
    pub kill_grace: Duration,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The command ended by itself.
    Ended(Ending),
    /// --timeout ran out.
    TimedOut(Ending),
    /// pf-exec got this signal.
    Interrupted(i32, Ending),
    /// The run was cancelled on the server (served runs).
    Cancelled(Ending),
    /// --no-overlap: another run of the flow is Running.
    Skipped(String),
    /// The command could not be started (126/127).
    NotStarted(i32, String),
}

impl Outcome {
    /// pf-exec's exit code: the command's own.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Ended(e) | Outcome::Interrupted(_, e) | Outcome::Cancelled(e) => e.exit_code(),
            Outcome::TimedOut(_) => EXIT_TIMED_OUT,
            Outcome::Skipped(_) => EXIT_SKIPPED,
            Outcome::NotStarted(code, _) => *code,
        }
    }

    /// The final state to record, its message, and whether to force it.
    fn final_state(
        &self,
        stderr_tail: &[String],
        timeout: Option<Duration>,
    ) -> (TargetState, String, bool) {
        let tail = if stderr_tail.is_empty() {
            String::new()
        } else {
            format!("\n{}", stderr_tail.join("\n"))
        };
        match self {
            Outcome::Ended(Ending::Code(0)) => (
                TargetState::of_type("COMPLETED"),
                "exit status 0".into(),
                false,
            ),
            Outcome::Ended(Ending::Code(code)) => (
                TargetState::of_type("FAILED"),
                format!("exit status {code}{tail}"),
                false,
            ),
            Outcome::Ended(Ending::Signal(sig)) => (
                TargetState::of_type("CRASHED"),
                format!("killed by {}{tail}", child::signal_name(*sig)),
                true,
            ),
            Outcome::TimedOut(_) => (
                TargetState {
                    state_type: "FAILED".into(),
                    name: Some("TimedOut".into()),
                },
                format!(
                    "timed out after {}s: the command's process group was killed",
                    timeout.unwrap_or_default().as_secs()
                ),
                false,
            ),
            Outcome::Interrupted(sig, _) => (
                TargetState::of_type("CANCELLED"),
                format!(
                    "pf-exec got {}; the command was stopped",
                    child::signal_name(*sig)
                ),
                true,
            ),
            Outcome::Cancelled(_) => (
                TargetState::of_type("CANCELLED"),
                "cancelled; the command was stopped".into(),
                true,
            ),
            Outcome::Skipped(other) => (
                TargetState::of_type("CANCELLED"),
                format!("already running: flow run '{other}' (--no-overlap)"),
                true,
            ),
            Outcome::NotStarted(_, message) => {
                (TargetState::of_type("FAILED"), message.clone(), false)
            }
        }
    }
}

/// Asks the server whether a served run was cancelled (checked every poll interval).
pub type CancelCheck<'a> = &'a mut dyn FnMut(&mut Recorder) -> bool;

/// Run the command as the recorder's run, to the end, and record how it ended.
pub fn run(
    recorder: &mut Recorder,
    options: &Options,
    env: Vec<(String, String)>,
    cancel_check: Option<(Duration, CancelCheck<'_>)>,
) -> Outcome {
    let mut spec = options.spec.clone();
    spec.env.extend(env);
    let mut cancel_check = cancel_check;
    let mut slot: Option<Slot> = None;
    let mut tail: Vec<String> = Vec::new();
    let outcome = 'run: {
        if options.no_overlap
            && let Some(run) = recorder.ensure_run()
            && let Some(Some(other)) = recorder.attempt(|c| limits::earlier_running_run(c, &run))
        {
            break 'run Outcome::Skipped(other);
        }
        if let Some(limit) = &options.concurrency {
            match take_slot(recorder, limit) {
                Ok(held) => slot = held,
                Err(outcome) => break 'run outcome,
            }
        }
        if let Some(run) = recorder.ensure_run() {
            // What Prefect gives a flow's process: `pf-logs --write` in the command finds its run.
            spec.env.push(("PREFECT__FLOW_RUN_ID".into(), run.id));
        }
        let mut attempt = 1;
        loop {
            let (outcome, stderr_tail) =
                run_attempt(recorder, options, &spec, &mut slot, &mut cancel_check);
            tail = stderr_tail;
            let retry = matches!(outcome, Outcome::Ended(Ending::Code(c)) if c != 0)
                || matches!(outcome, Outcome::TimedOut(_));
            if !retry || attempt > options.retries {
                break 'run outcome;
            }
            attempt += 1;
            if let Some(outcome) = wait_for_retry(recorder, options, &outcome, &tail) {
                break 'run outcome;
            }
        }
    };
    if let (Some(slot), Some(limit)) = (&slot, &options.concurrency) {
        // A slot not given back keeps the next job waiting until its lease expires: ask again
        // while the server is away, as long as the final state would be waited for.
        let deadline = Instant::now() + options.flush_timeout;
        while recorder.attempt(|c| slot.release(c, limit)).is_none()
            && recorder.wait_to_retry(deadline)
        {}
    }
    let (target, message, force) = outcome.final_state(&tail, options.timeout);
    finish(recorder, options, &target, &message, force);
    outcome
}

/// Wait for a concurrency slot (creating the run first if the server did not have it yet).
/// The command runs without one only when the limit does not exist, when the server refused
/// the request for good (recording stopped), or after the server has not answered for
/// [`SLOT_SERVER_WAIT`] in a row; each is said on stderr and in the run's logs. Time spent
/// waiting for a full limit does not count: a job waits for its slot as long as it takes.
fn take_slot(recorder: &mut Recorder, limit: &LimitSpec) -> Result<Option<Slot>, Outcome> {
    let mut said = false;
    let mut unanswered_since: Option<Instant> = None;
    loop {
        if let Some(sig) = child::interrupted() {
            return Err(Outcome::Interrupted(sig, Ending::Signal(sig)));
        }
        let answer = match recorder.ensure_run() {
            Some(run) => recorder.attempt(|c| limits::acquire(c, limit, &run)),
            None => None,
        };
        let without_slot = match answer {
            Some(Acquire::Held(Slot::Missing)) => {
                format!("no concurrency limit named '{}'", limit.name)
            }
            Some(Acquire::Held(slot)) => return Ok(Some(slot)),
            Some(Acquire::Full(wait)) => {
                unanswered_since = None;
                if !said {
                    said = true;
                    recorder.logs.push(
                        20,
                        &format!(
                            "pf-exec: waiting for a slot of concurrency limit '{}'",
                            limit.name
                        ),
                    );
                }
                recorder.tick();
                std::thread::sleep(wait);
                continue;
            }
            None if recorder.stopped() => format!(
                "the server refused the request for a slot of concurrency limit '{}'",
                limit.name
            ),
            None => {
                let since = *unanswered_since.get_or_insert_with(Instant::now);
                if since.elapsed() < SLOT_SERVER_WAIT {
                    // attempt() asks again once the recorder's backoff is over.
                    std::thread::sleep(TICK);
                    continue;
                }
                format!(
                    "the server did not answer for {}s when asked for a slot of concurrency                      limit '{}'",
                    SLOT_SERVER_WAIT.as_secs(),
                    limit.name
                )
            }
        };
        let message = format!("{without_slot}: running without a slot");
        pf_common::cli::warn("pf-exec", &message);
        recorder.logs.push(30, &format!("pf-exec: {message}"));
        return Ok(None);
    }
}

/// One attempt: start the command, pass its output on, and wait for it to end.
fn run_attempt(
    recorder: &mut Recorder,
    options: &Options,
    spec: &Spec,
    slot: &mut Option<Slot>,
    cancel_check: &mut Option<(Duration, CancelCheck<'_>)>,
) -> (Outcome, Vec<String>) {
    if let Some(sig) = child::interrupted() {
        return (Outcome::Interrupted(sig, Ending::Signal(sig)), Vec::new());
    }
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    let child = match child::spawn(spec, &recorder.logs, &tx) {
        Ok(child) => child,
        Err(e) => {
            pf_common::cli::warn("pf-exec", &e.message);
            recorder.logs.push(40, &e.message);
            return (Outcome::NotStarted(e.code, e.message), Vec::new());
        }
    };
    drop(tx);
    let deadline = options.timeout.map(|t| started + t);
    let mut timed_out = false;
    let mut cancelled = false;
    let mut interrupted = None;
    let mut next_cancel_check = Instant::now();
    let mut ending = None;
    let mut open_streams = 2;
    let mut output_deadline: Option<Instant> = None;
    while ending.is_none() || open_streams > 0 {
        let wait = match output_deadline {
            Some(at) => at.saturating_duration_since(Instant::now()).min(TICK),
            None => TICK,
        };
        match rx.recv_timeout(wait) {
            Ok(Event::Exited(status)) => {
                ending = Some(Ending::of(status));
                child.forget();
                output_deadline = Some(Instant::now() + OUTPUT_GRACE);
                continue;
            }
            Ok(Event::Eof) => open_streams -= 1,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if output_deadline.is_some_and(|at| Instant::now() >= at) {
            break;
        }
        if ending.is_some() {
            continue;
        }
        if interrupted.is_none()
            && let Some(sig) = child::interrupted()
        {
            // The signal thread already passed it on to the command.
            interrupted = Some(sig);
        }
        if !timed_out && deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out = true;
            child.terminate(options.kill_grace);
        }
        recorder.tick();
        if let Some(held) = slot.as_mut()
            && recorder.attempt(|c| held.renew_if_due(c)) == Some(false)
        {
            // The lease expired while the server was away (more than its 5 minutes): the slot
            // is gone, and the command is not stopped for it.
            *slot = None;
            let message = "the concurrency slot's lease expired while the server could not be \
                           reached: the command goes on without it";
            pf_common::cli::warn("pf-exec", message);
            recorder.logs.push(30, &format!("pf-exec: {message}"));
        }
        if let Some((every, check)) = cancel_check.as_mut()
            && !cancelled
            && Instant::now() >= next_cancel_check
        {
            next_cancel_check = Instant::now() + *every;
            if check(recorder) {
                cancelled = true;
                child.terminate(options.kill_grace);
            }
        }
    }
    child.forget();
    let ending = ending.unwrap_or(Ending::Signal(9));
    let tail = child
        .stderr_tail
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    let outcome = if let Some(sig) = interrupted.or_else(child::interrupted) {
        Outcome::Interrupted(sig, ending)
    } else if cancelled {
        Outcome::Cancelled(ending)
    } else if timed_out {
        Outcome::TimedOut(ending)
    } else {
        Outcome::Ended(ending)
    };
    (outcome, tail)
}

/// Between attempts: AwaitingRetry, the delay, then Retrying (as Prefect's engine records a
/// flow retry). Returns an outcome when pf-exec was interrupted meanwhile.
fn wait_for_retry(
    recorder: &mut Recorder,
    options: &Options,
    failed: &Outcome,
    tail: &[String],
) -> Option<Outcome> {
    let (_, message, _) = failed.final_state(tail, options.timeout);
    let at = Timestamp::now() + options.retry_delay;
    let awaiting = json!({
        "type": "SCHEDULED",
        "name": "AwaitingRetry",
        "message": message,
        "state_details": { "scheduled_time": to_api_time(at) },
    });
    let run_id = recorder.run.as_ref().map(|r| r.id.clone());
    if let Some(run_id) = run_id {
        recorder.attempt(|c| {
            c.post(
                &format!("flow_runs/{run_id}/set_state"),
                json!({ "state": awaiting, "force": false }),
            )
        });
    }
    let until = Instant::now() + options.retry_delay;
    while Instant::now() < until {
        if let Some(sig) = child::interrupted() {
            return Some(Outcome::Interrupted(sig, failed_ending(failed)));
        }
        recorder.tick();
        std::thread::sleep(until.saturating_duration_since(Instant::now()).min(TICK));
    }
    let retrying = TargetState {
        state_type: "RUNNING".into(),
        name: Some("Retrying".into()),
    };
    // The server answers WAIT while the scheduled time is (by its clock) still ahead.
    for _ in 0..10 {
        match recorder.propose(&retrying, None, false) {
            Some(answer) if answer.status == "WAIT" => {
                std::thread::sleep(Duration::from_millis(500))
            }
            _ => break,
        }
    }
    None
}

fn failed_ending(outcome: &Outcome) -> Ending {
    match outcome {
        Outcome::Ended(e)
        | Outcome::TimedOut(e)
        | Outcome::Interrupted(_, e)
        | Outcome::Cancelled(e) => *e,
        _ => Ending::Code(1),
    }
}

/// Record the final state and send every line left, waiting for an unreachable server at most
/// --flush-timeout; what could not be sent is said on stderr.
fn finish(
    recorder: &mut Recorder,
    options: &Options,
    target: &TargetState,
    message: &str,
    force: bool,
) {
    let deadline = Instant::now() + options.flush_timeout;
    let state_done = loop {
        if recorder.propose(target, Some(message), force).is_some() {
            break true;
        }
        if !recorder.wait_to_retry(deadline) {
            break false;
        }
    };
    if state_done {
        // What Prefect's engine logs last: pf-run --watch and pf-logs --follow wait for it.
        recorder.logs.push_as(
            "prefect.flow_runs",
            if target.state_type == "COMPLETED" {
                20
            } else {
                40
            },
            &format!(
                "Finished in state {}('{}')",
                target.display_name(),
                message.lines().next().unwrap_or("")
            ),
        );
    }
    let report = recorder.finish_logs(deadline);
    if recorder.stopped() {
        return;
    }
    let what = match (state_done, report.lost) {
        _ if !recorder.has_run() => format!(
            "the flow run and its {} log lines were not recorded",
            report.pushed
        ),
        (true, 0) => return,
        (true, n) => format!("{n} log lines were not sent"),
        (false, 0) => "the final state was not recorded".to_string(),
        (false, n) => format!("the final state and {n} log lines were not recorded"),
    };
    pf_common::cli::warn(
        "pf-exec",
        format!(
            "{what}: the server did not answer within {}s",
            options.flush_timeout.as_secs()
        ),
    );
}
