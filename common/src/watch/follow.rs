//! Watching flow runs until they end (or reach a state): the one loop under `pf-logs --follow`
//! and `pf-wait`. It reads REFs as they arrive, checks every watched run's state in one
//! batched request per tick, optionally follows their logs, and rides out server outages.
//!
//! Polling `/logs/filter` with a timestamp cursor (de-duplicated by log id, see
//! [`crate::logs::LogPoller`]) works on any server and is the source of truth; where the server
//! streams `/logs/out` ([`crate::logstream`]), records arrive through it first, with lower
//! latency, and polling slows down to a safety net. REFs may arrive while following (read from a
//! pipe whose writer has not produced them yet). A lost connection is reported on stderr and
//! retried with backoff; the pollers then look back far enough that no line is lost, and none is
//! printed twice.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::{Batch, warn};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::logs::{LogPoller, LogQuery};
use crate::logstream::{LiveLogs, StreamEvent};
use crate::outage::Outage;
use crate::refs::{self, str_field};

/// Poll interval while the websocket does not deliver records.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Poll interval while the websocket delivers records (a safety net for what it drops).
pub const STREAM_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// How often run states are checked.
pub const STATE_INTERVAL: Duration = Duration::from_secs(1);
/// How long after a run ends its late lines are still waited for (they lag the final state by
/// up to ~3 s: clients send logs in batches every 2 s).
pub const LATE_WINDOW: Duration = Duration::from_secs(5);
/// After an outage, how long a run's late lines are waited for once it has ended (unless the
/// engine's last line, `Finished in state …`, arrives): clients send what they buffered while
/// the server was away in batches, and a loaded server takes its time to store them.
pub const LATE_WINDOW_AFTER_OUTAGE: Duration = Duration::from_secs(30);
/// After a reconnection, how long the pollers keep looking back to the point of the outage.
pub const OUTAGE_HOLD: Duration = Duration::from_secs(60);

/// What a watched run waits for (`pf-wait --for`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Target {
    /// Any terminal state; only COMPLETED counts as success (the default).
    #[default]
    Terminal,
    /// COMPLETED; a run that ends otherwise never will.
    Completed,
    /// RUNNING (a run that has started counts, even when it ended since).
    Running,
    /// A state type or name (`late`, `paused`, `FAILED`), compared case-insensitively.
    State(String),
}

impl Target {
    /// Parse `terminal`, `completed`, `running`, or any state type or name.
    pub fn parse(text: &str) -> Result<Target> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::usage(
                "--for needs a state: terminal, completed, running, or a state name",
            ));
        }
        Ok(match text.to_ascii_lowercase().as_str() {
            "terminal" | "finished" | "done" => Target::Terminal,
            "completed" => Target::Completed,
            "running" => Target::Running,
            _ => Target::State(text.to_string()),
        })
    }

    /// Whether `run` (a flow run object) reached the target: Some(true) yes, Some(false) never
    /// will (it ended otherwise), None not yet.
    pub fn judge(&self, run: &Value) -> Option<bool> {
        let state_type = str_field(run, "state_type");
        let state_name = str_field(run, "state_name");
        let terminal = crate::model::is_terminal(run);
        match self {
            Target::Terminal | Target::Completed => terminal.then_some(state_type == "COMPLETED"),
            Target::Running if state_type == "RUNNING" => Some(true),
            Target::Running => {
                terminal.then(|| run.get("start_time").is_some_and(|t| !t.is_null()))
            }
            Target::State(wanted) => {
                if wanted.eq_ignore_ascii_case(state_type)
                    || wanted.eq_ignore_ascii_case(state_name)
                {
                    Some(true)
                } else {
                    terminal.then_some(false)
                }
            }
        }
    }
}

/// What to follow and how.
#[derive(Debug, Clone, Default)]
pub struct FollowOptions {
    /// Follow the runs' logs (pf-logs); without, only states are watched (pf-wait).
    pub logs: bool,
    /// What each run waits for.
    pub target: Target,
    /// Stop when the first run reaches the target (`pf-wait --any`).
    pub any: bool,
    /// Stop waiting after this long (the outcome then says `timed_out`).
    pub timeout: Option<Duration>,
    /// The filter for every run (level, task run, text, since); its `flow_run_ids` are ignored.
    pub query: LogQuery,
    /// Start with only the last N existing records of each run.
    pub tail: Option<usize>,
    /// Use the `/logs/out` websocket when the server streams.
    pub stream: bool,
    /// The tool name for stderr lines (`pf-logs`).
    pub tool: &'static str,
}

/// A flow run being followed.
#[derive(Debug)]
pub struct FollowedRun {
    /// The run's id.
    pub id: String,
    /// The run's name.
    pub name: String,
    /// The run's latest state type (`RUNNING`, `COMPLETED`, …).
    pub state_type: String,
    /// The run's latest state name (`Running`, `Completed`, …).
    pub state_name: String,
    /// The run's latest API object.
    pub object: Value,
    /// Whether it reached the target (None: not yet).
    pub reached: Option<bool>,
    poller: LogPoller,
    ended_at: Option<Instant>,
    /// How long after `ended_at` late lines are waited for.
    late_window: Duration,
    /// The engine's last line (`Finished in state …`) has been printed.
    final_line: bool,
    done: bool,
}

impl FollowedRun {
    /// Whether the run ended and its late lines are in (or waited for long enough).
    fn late_lines_in(&self) -> bool {
        self.ended_at.is_some_and(|t| {
            let waited = t.elapsed();
            waited >= self.late_window || (self.final_line && waited >= LATE_WINDOW)
        })
    }
}

/// What the follower hands to the printer.
#[derive(Debug)]
pub enum FollowEvent<'a> {
    /// A new run is followed (its records follow).
    Started(&'a FollowedRun),
    /// A new log record of a run.
    Record(&'a FollowedRun, Value),
    /// A run ended and its late lines are in.
    Ended(&'a FollowedRun),
    /// The states of the runs were checked (about once a second): a live view can refresh.
    Checked(&'a [FollowedRun]),
}

enum Event {
    Ref(Result<String>),
    RefsDone,
    Stream(StreamEvent),
}

/// The outcome of following: the final states, and how the REFs fared.
#[derive(Debug, Default)]
pub struct FollowOutcome {
    /// Per REF outcome (unknown REFs are failures).
    pub batch: Batch,
    /// Final state type of each run followed.
    pub final_states: Vec<String>,
    /// Every watched run's latest object and whether it reached the target, in REF order.
    pub runs: Vec<(Value, Option<bool>)>,
    /// `timeout` ran out first.
    pub timed_out: bool,
    /// Stopped at the first run that reached the target (`any`).
    pub any_reached: bool,
    /// Runs deleted while they were followed.
    pub vanished: usize,
}

impl FollowOutcome {
    /// 0 when every run reached the target (with `any`: one did) and every REF resolved; 1
    /// when a run ended otherwise; the batch's code when REFs failed.
    pub fn exit_code(&self) -> i32 {
        let batch = self.batch.exit_code();
        if batch != 0 {
            return batch;
        }
        if self.vanished > 0 {
            // A run that vanished is "not found" (4); with others that ended, a partial batch.
            return if self.final_states.is_empty() {
                crate::error::EXIT_NOT_FOUND
            } else {
                crate::error::EXIT_FAILED
            };
        }
        if self.any_reached || self.runs.iter().all(|(_, reached)| *reached == Some(true)) {
            0
        } else {
            crate::error::EXIT_FAILED
        }
    }

    /// The runs that have not reached the target yet (for a timeout message).
    pub fn waiting(&self) -> impl Iterator<Item = &Value> {
        self.runs
            .iter()
            .filter(|(_, r)| r.is_none())
            .map(|(run, _)| run)
    }
}

/// Follow the flow runs named by `refs` (REFs are read on a thread, so a REF from a slow
/// pipe is followed as soon as it arrives), handing each event to `emit`, until no more REFs
/// can come and every run has ended (plus [`LATE_WINDOW`]).
pub fn follow(
    client: &Client,
    options: &FollowOptions,
    refs: impl FnOnce() -> Result<Box<dyn Iterator<Item = Result<String>>>> + Send + 'static,
    mut emit: impl FnMut(FollowEvent<'_>) -> Result<()>,
) -> Result<FollowOutcome> {
    let (tx, rx) = mpsc::channel::<Event>();
    spawn_ref_reader(tx.clone(), refs);
    let live = (options.stream && options.logs).then(|| {
        let tx = tx.clone();
        LiveLogs::start(client.settings().clone(), move |event| {
            tx.send(Event::Stream(event)).is_ok()
        })
    });
    drop(tx);

    let mut state = Follower {
        client,
        options,
        runs: Vec::new(),
        outcome: FollowOutcome::default(),
        refs_done: false,
        streaming: false,
        next_poll: Instant::now(),
        next_state: Instant::now(),
        outage: Outage::new(options.tool),
    };
    let deadline = options.timeout.map(|t| Instant::now() + t);
    loop {
        if state.refs_done && state.runs.iter().all(|r| r.done) {
            break;
        }
        if options.any && state.runs.iter().any(|r| r.done && r.reached == Some(true)) {
            state.outcome.any_reached = true;
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            state.outcome.timed_out = true;
            break;
        }
        let mut wake = state.next_poll.min(state.next_state);
        if let Some(deadline) = deadline {
            wake = wake.min(deadline);
        }
        let timeout = wake.saturating_duration_since(Instant::now());
        match rx.recv_timeout(timeout) {
            Ok(Event::Ref(Ok(reference))) => {
                let resolved = refs::resolve(client, &refs::FLOW_RUN, &reference);
                if let Some(run) = state.outcome.batch.record(options.tool, resolved)
                    && state.add_run(&run, &mut emit)?
                    && let Some(live) = &live
                {
                    live.set_filter(state.stream_filter());
                }
            }
            Ok(Event::Ref(Err(e))) => {
                state.outcome.batch.record::<()>(options.tool, Err(e));
            }
            Ok(Event::RefsDone) => state.refs_done = true,
            Ok(Event::Stream(event)) => state.on_stream(event, &mut emit)?,
            Err(RecvTimeoutError::Timeout) => state.tick(&mut emit)?,
            Err(RecvTimeoutError::Disconnected) => {
                // No REF reader and no stream left: only ticks remain.
                state.refs_done = true;
                std::thread::sleep(timeout);
                state.tick(&mut emit)?;
            }
        }
    }
    let mut outcome = state.outcome;
    outcome.runs = state
        .runs
        .into_iter()
        .map(|r| (r.object, r.reached))
        .collect();
    Ok(outcome)
}

fn spawn_ref_reader(
    tx: Sender<Event>,
    refs: impl FnOnce() -> Result<Box<dyn Iterator<Item = Result<String>>>> + Send + 'static,
) {
    std::thread::spawn(move || {
        match refs() {
            Ok(iter) => {
                for reference in iter {
                    if tx.send(Event::Ref(reference)).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                let _ = tx.send(Event::Ref(Err(e)));
            }
        }
        let _ = tx.send(Event::RefsDone);
    });
}

struct Follower<'c, 'o> {
    client: &'c Client,
    options: &'o FollowOptions,
    runs: Vec<FollowedRun>,
    outcome: FollowOutcome,
    refs_done: bool,
    /// The websocket delivers records, so polling can slow down.
    streaming: bool,
    next_poll: Instant,
    next_state: Instant,
    /// Whether the server is reachable (the shared outage rules).
    outage: Outage,
}

impl Follower<'_, '_> {
    /// Start following a resolved run: print what exists. False when it was followed already.
    fn add_run(
        &mut self,
        run: &Value,
        emit: &mut impl FnMut(FollowEvent<'_>) -> Result<()>,
    ) -> Result<bool> {
        let id = str_field(run, "id").to_string();
        if self.runs.iter().any(|r| r.id == id) {
            return Ok(false);
        }
        let mut query = self.options.query.clone();
        query.flow_run_ids = vec![id.clone()];
        if let Some(n) = self.options.tail.filter(|_| self.options.logs) {
            // Start at the oldest of the last N records; the first poll then prints only N.
            let mut newest = Vec::new();
            crate::logs::read_logs(
                self.client,
                &query,
                crate::logs::LogWindow {
                    tail: Some(n),
                    ..Default::default()
                },
                |page| {
                    newest = page;
                    Ok(())
                },
            )?;
            let oldest = newest
                .first()
                .and_then(|r| r.get("timestamp"))
                .and_then(Value::as_str);
            if let Some(ts) = oldest.and_then(crate::time::parse_api_time) {
                query.since = Some(query.since.map_or(ts, |s| s.max(ts)));
            }
        }
        let mut followed = FollowedRun {
            id,
            name: str_field(run, "name").to_string(),
            state_type: run
                .pointer("/state/type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            state_name: run
                .pointer("/state/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            object: run.clone(),
            reached: self.options.target.judge(run),
            poller: LogPoller::new(query),
            ended_at: None,
            late_window: LATE_WINDOW,
            final_line: false,
            done: false,
        };
        emit(FollowEvent::Started(&followed))?;
        if !self.options.logs {
            if followed.reached.is_some() {
                followed.done = true;
                self.outcome.final_states.push(followed.state_type.clone());
                emit(FollowEvent::Ended(&followed))?;
            }
            self.runs.push(followed);
            return Ok(true);
        }
        let mut first = followed.poller.poll(self.client)?;
        if let Some(n) = self.options.tail {
            first.drain(..first.len().saturating_sub(n));
        }
        for record in first {
            emit(FollowEvent::Record(&followed, record))?;
        }
        if followed.reached.is_some() {
            // Late lines are waited for only until LATE_WINDOW after the run's end.
            let ended_ago = run
                .get("end_time")
                .and_then(Value::as_str)
                .and_then(crate::time::parse_api_time)
                .and_then(|end| Duration::try_from(jiff::Timestamp::now().duration_since(end)).ok())
                .unwrap_or(Duration::ZERO)
                .min(LATE_WINDOW);
            let now = Instant::now();
            followed.ended_at = Some(now.checked_sub(ended_ago).unwrap_or(now));
            self.next_poll = self.next_poll.min(now + LATE_WINDOW - ended_ago);
        }
        self.runs.push(followed);
        Ok(true)
    }

    fn trace(&self, line: &str) {
        if self.client.verbose() {
            eprintln!("{line}");
        }
    }

    /// The websocket filter for every run still followed.
    fn stream_filter(&self) -> Value {
        let ids: Vec<&str> = self
            .runs
            .iter()
            .filter(|r| !r.done)
            .map(|r| r.id.as_str())
            .collect();
        let mut filter = json!({ "flow_run_id": { "any_": ids } });
        let query = &self.options.query;
        if let Some(level) = query.min_level {
            filter["level"] = json!({ "ge_": level });
        }
        if let Some(task_run) = &query.task_run_id {
            filter["task_run_id"] = json!({ "any_": [task_run] });
        }
        filter
    }

    fn on_stream(
        &mut self,
        event: StreamEvent,
        emit: &mut impl FnMut(FollowEvent<'_>) -> Result<()>,
    ) -> Result<()> {
        match event {
            StreamEvent::Record(record) => {
                let run_id = str_field(&record, "flow_run_id");
                if let Some(run) = self.runs.iter_mut().find(|r| r.id == run_id && !r.done)
                    && let Some(record) = run.poller.admit_streamed(record)
                {
                    self.streaming = true;
                    emit(FollowEvent::Record(run, record))?;
                }
            }
            StreamEvent::Connected => self.trace("pf: logs/out websocket subscribed"),
            StreamEvent::Unavailable(why) => {
                // Said once: the stream thread ends after reporting this.
                warn(self.options.tool, polling_notice(self.client, &why));
                self.streaming = false;
                self.next_poll = self.next_poll.min(Instant::now() + POLL_INTERVAL);
            }
            StreamEvent::Lost(why) => {
                self.trace(&format!("pf: logs/out websocket: {why}; polling"));
                self.streaming = false;
                self.next_poll = self.next_poll.min(Instant::now() + POLL_INTERVAL);
            }
        }
        Ok(())
    }

    fn tick(&mut self, emit: &mut impl FnMut(FollowEvent<'_>) -> Result<()>) -> Result<()> {
        let now = Instant::now();
        match self.poll_and_check(now, emit) {
            Ok(()) => {
                if self.outage.up().is_some() {
                    let now = Instant::now();
                    for run in &mut self.runs {
                        run.poller.hold_here(OUTAGE_HOLD);
                        // What the run's client buffered meanwhile is still to come.
                        run.late_window = LATE_WINDOW_AFTER_OUTAGE;
                        if let Some(ended) = run.ended_at.as_mut() {
                            *ended = now;
                        }
                    }
                }
                Ok(())
            }
            Err(e) => {
                let first = self.outage.is_up();
                let delay = self.outage.down(e)?;
                if first {
                    for run in &mut self.runs {
                        // Hold from before the outage: clients send what they buffered late.
                        run.poller.hold_here(GIVE_UP_AFTER + OUTAGE_HOLD);
                    }
                }
                self.next_poll = Instant::now() + delay;
                self.next_state = self.next_poll;
                Ok(())
            }
        }
    }

    fn poll_and_check(
        &mut self,
        now: Instant,
        emit: &mut impl FnMut(FollowEvent<'_>) -> Result<()>,
    ) -> Result<()> {
        if now >= self.next_state {
            self.check_states()?;
            self.next_state = now + STATE_INTERVAL;
            emit(FollowEvent::Checked(&self.runs))?;
        }
        if !self.options.logs {
            for run in self
                .runs
                .iter_mut()
                .filter(|r| !r.done && r.ended_at.is_some())
            {
                run.done = true;
                self.outcome.final_states.push(run.state_type.clone());
                emit(FollowEvent::Ended(run))?;
            }
            self.next_poll = self.next_state;
            return Ok(());
        }
        let final_due = self.runs.iter().any(|r| !r.done && r.late_lines_in());
        if now >= self.next_poll || final_due {
            for run in self.runs.iter_mut().filter(|r| !r.done) {
                let last = run.late_lines_in();
                for record in run.poller.poll(self.client)? {
                    if record
                        .get("message")
                        .and_then(Value::as_str)
                        .is_some_and(|m| m.starts_with("Finished in state"))
                    {
                        run.final_line = true;
                    }
                    emit(FollowEvent::Record(run, record))?;
                }
                if last {
                    run.done = true;
                    self.outcome.final_states.push(run.state_type.clone());
                    emit(FollowEvent::Ended(run))?;
                }
            }
            let interval = if self.streaming {
                STREAM_POLL_INTERVAL
            } else {
                POLL_INTERVAL
            };
            self.next_poll = Instant::now() + interval;
            // Wake for the end of a late window rather than a whole interval later.
            for run in self.runs.iter().filter(|r| !r.done) {
                if let Some(ended) = run.ended_at {
                    self.next_poll = self.next_poll.min(ended + run.late_window);
                }
            }
        }
        Ok(())
    }

    /// One batched request for the states of every run not yet ended.
    fn check_states(&mut self) -> Result<()> {
        let ids: Vec<String> = self
            .runs
            .iter()
            .filter(|r| r.ended_at.is_none() && r.reached.is_none())
            .map(|r| r.id.clone())
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        for chunk in ids.chunks(200) {
            let body = json!({ "flow_runs": { "id": { "any_": chunk } }, "limit": chunk.len() });
            let found = self.client.post("flow_runs/filter", body)?;
            let found = found.as_array().map(Vec::as_slice).unwrap_or_default();
            for id in chunk {
                let Some(run_json) = found.iter().find(|r| str_field(r, "id") == id) else {
                    self.deleted(id);
                    continue;
                };
                let Some(run) = self.runs.iter_mut().find(|r| &r.id == id) else {
                    continue;
                };
                run.state_type = str_field(run_json, "state_type").to_string();
                run.state_name = str_field(run_json, "state_name").to_string();
                run.object = run_json.clone();
                if run.reached.is_none() {
                    run.reached = self.options.target.judge(run_json);
                }
                if run.reached.is_some() && run.ended_at.is_none() {
                    run.ended_at = Some(Instant::now());
                    self.next_poll = self.next_poll.min(Instant::now() + LATE_WINDOW);
                }
            }
        }
        Ok(())
    }

    /// A watched run is gone (deleted while watched): it can never end, so it stops being
    /// followed and is reported as not found.
    fn deleted(&mut self, id: &str) {
        let Some(run) = self.runs.iter_mut().find(|r| r.id == id) else {
            return;
        };
        run.state_type = "DELETED".into();
        run.state_name = "Deleted".into();
        run.reached = Some(false);
        run.done = true;
        run.ended_at = Some(Instant::now());
        self.outcome.vanished += 1;
        crate::cli::report_item(
            self.options.tool,
            &Error::not_found(
                format!("flow run '{}' was deleted while it was followed", run.name),
                None,
            ),
        );
    }
}

/// The error for a wait whose `--timeout` ran out: which runs are still going, in which state.
pub fn timeout_error(outcome: &FollowOutcome, waited: Duration) -> Error {
    let waiting: Vec<String> = outcome
        .waiting()
        .map(|run| {
            format!(
                "'{}' ({})",
                str_field(run, "name"),
                str_field(run, "state_name")
            )
        })
        .collect();
    let what = match waiting.len() {
        1 => format!("flow run {}", waiting[0]),
        n => format!("{n} flow runs: {}", waiting.join(", ")),
    };
    Error::Timeout(format!(
        "timed out after {} waiting for {what}",
        crate::time::hms(waited.as_secs_f64())
    ))
}

pub use crate::outage::{GIVE_UP_AFTER, is_connection_loss};

/// What following does without the `/logs/out` stream, and why: older servers have none.
fn polling_notice(client: &Client, why: &str) -> String {
    let server = crate::server::info(client);
    if server.has(crate::server::LOG_STREAM) {
        format!("the server does not stream logs ({why}); polling for them instead")
    } else {
        format!(
            "{} has no log stream (/logs/out arrived in Prefect {}); polling for logs instead",
            server.describe(),
            crate::server::LOG_STREAM
        )
    }
}
