//! The one watcher of flow runs: their states, their logs and their task runs, until they end
//! (or reach a state). `pf-logs --follow`, `pf-wait` ([`follow`]: REFs as they arrive) and
//! `pf-run --watch` ([`watch_run`]: the run it made, and the process executing it) all run this
//! loop; each only prints the [`FollowEvent`]s differently.
//!
//! Every watched run's state is checked in one batched request per tick (with [`FollowOptions::states`]
//! also its full state history, so a Pending of 200 ms between two ticks is still handed out).
//! Polling `/logs/filter` with a timestamp cursor (de-duplicated by log id, see
//! [`crate::logs::LogPoller`]) works on any server and is the source of truth; where the server
//! streams `/logs/out` ([`crate::logstream`]), records arrive through it first, with lower
//! latency, and polling slows down to a safety net. A lost connection follows the one set of
//! outage rules ([`crate::outage`]): reported on stderr, retried with backoff, and resumed from
//! the cursors, which then look back far enough that no line is lost; none is printed twice.

use std::collections::HashSet;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::warn;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::logs::{LogPoller, LogQuery};
use crate::logstream::{LiveLogs, StreamEvent};
use crate::outage::Outage;
use crate::refs::{self, str_field};
use crate::runs::is_final_log;
use crate::runtree::{self, Node};
use crate::states::{self, RunKind, TargetState};

pub use crate::runs::{FollowOutcome, Target, timeout_error};

/// Poll interval while the websocket does not deliver records.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Poll interval while the websocket delivers records (a safety net for what it drops).
pub const STREAM_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// How often run states are checked.
pub const STATE_INTERVAL: Duration = Duration::from_secs(1);
/// How long after a run ends its late lines are still waited for, unless the engine's last
/// line (`Finished in state …`) arrives first (they lag the final state by up to ~3 s: clients
/// send logs in batches every 2 s).
pub const LATE_WINDOW: Duration = Duration::from_secs(5);
/// After an outage, how long a run's late lines are waited for once it has ended (unless the
/// engine's last line arrives): clients send what they buffered while the server was away in
/// batches, and a loaded server takes its time to store them.
pub const LATE_WINDOW_AFTER_OUTAGE: Duration = Duration::from_secs(30);
/// After a reconnection, how long the pollers keep looking back to the point of the outage.
pub const OUTAGE_HOLD: Duration = Duration::from_secs(60);
/// How often an interrupt and the executing process are checked.
const SUPERVISE_INTERVAL: Duration = Duration::from_millis(100);

/// What to follow and how.
#[derive(Debug, Clone, Default)]
pub struct FollowOptions {
    /// Follow the runs' logs (pf-logs); without, only states are watched (pf-wait).
    pub logs: bool,
    /// Hand out every state change ([`FollowEvent::State`]) from the runs' state histories.
    pub states: bool,
    /// Keep each run's task runs and subflow runs ([`FollowedRun::tree`]) up to date.
    pub tree: bool,
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
    /// How a deleted run is said to have been watched: `… was deleted while it was {verb}`
    /// (`followed` when empty).
    pub verb: &'static str,
    /// Checked every 100 ms: true stops the watch (the outcome then says `interrupted`).
    pub interrupted: Option<fn() -> bool>,
}

/// Asked every 100 ms whether the process executing a watched run is over: `Some(how it
/// ended)` once it is.
pub type ProcessCheck<'a> = &'a mut dyn FnMut() -> Result<Option<String>>;

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
    /// Its task runs and subflow runs (with [`FollowOptions::tree`]).
    pub tree: Vec<Node>,
    poller: LogPoller,
    /// Ids of the states handed out (with [`FollowOptions::states`]).
    seen_states: HashSet<String>,
    ended_at: Option<Instant>,
    /// How long after `ended_at` late lines are waited for.
    late_window: Duration,
    /// The engine's last line (`Finished in state …`) has been handed out.
    final_line: bool,
    /// The process that executed the run has exited: its lines are flushed.
    process_ended: bool,
    /// The run was marked FAILED because its process ended without a final state.
    forced: bool,
    done: bool,
}

impl FollowedRun {
    /// Whether the run ended and its late lines are in (or waited for long enough): after the
    /// engine's last line or its process's exit one more poll is enough.
    fn late_lines_in(&self) -> bool {
        self.ended_at.is_some_and(|t| {
            self.final_line || self.process_ended || t.elapsed() >= self.late_window
        })
    }
}

/// What the follower hands to the printer.
#[derive(Debug)]
pub enum FollowEvent<'a> {
    /// A new run is followed (its records follow).
    Started(&'a FollowedRun),
    /// A new state of a run (with [`FollowOptions::states`]), oldest first.
    State(&'a FollowedRun, Value),
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

/// Follow the flow runs named by `refs` (REFs are read on a thread, so a REF from a slow
/// pipe is followed as soon as it arrives), handing each event to `emit`, until no more REFs
/// can come and every run has ended (plus its late lines).
pub fn follow(
    client: &Client,
    options: &FollowOptions,
    refs: impl FnOnce() -> Result<Box<dyn Iterator<Item = Result<String>>>> + Send + 'static,
    emit: impl FnMut(FollowEvent<'_>) -> Result<()>,
) -> Result<FollowOutcome> {
    let (tx, rx) = mpsc::channel::<Event>();
    spawn_ref_reader(tx.clone(), refs);
    Follower::new(client, options, tx).run(rx, None, emit)
}

/// Watch one flow run (already resolved: the run object) until it ends and its late lines are
/// in. `process`, when pf runs the flow itself, is asked every 100 ms whether it is over: then
/// its lines are flushed (one last poll is enough), and a run it left without a final state is
/// marked FAILED.
pub fn watch_run(
    client: &Client,
    options: &FollowOptions,
    run: &Value,
    process: Option<ProcessCheck<'_>>,
    mut emit: impl FnMut(FollowEvent<'_>) -> Result<()>,
) -> Result<FollowOutcome> {
    let (tx, rx) = mpsc::channel::<Event>();
    let mut follower = Follower::new(client, options, tx);
    follower.refs_done = true;
    follower.add_run(run, &mut emit)?;
    follower.run(rx, process, emit)
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
    /// The `/logs/out` subscription (kept open while following).
    live: Option<LiveLogs>,
    /// The websocket delivers records, so polling can slow down.
    streaming: bool,
    next_poll: Instant,
    next_state: Instant,
    /// Whether the server is reachable (the shared outage rules).
    outage: Outage,
}

impl<'c, 'o> Follower<'c, 'o> {
    /// A follower whose stream events go to `tx` (dropped here: the loop ends when every sender
    /// is gone and no tick is due).
    fn new(client: &'c Client, options: &'o FollowOptions, tx: Sender<Event>) -> Self {
        let live = (options.stream && options.logs).then(|| {
            let tx = tx.clone();
            LiveLogs::start(client.settings().clone(), move |event| {
                tx.send(Event::Stream(event)).is_ok()
            })
        });
        Follower {
            client,
            options,
            runs: Vec::new(),
            outcome: FollowOutcome::default(),
            refs_done: false,
            live,
            streaming: false,
            next_poll: Instant::now(),
            next_state: Instant::now(),
            outage: Outage::new(options.tool),
        }
    }

    /// The loop: until every run is done (and no REF can come), the first reaches the target
    /// (`any`), the timeout runs out, or an interrupt.
    fn run(
        mut self,
        rx: Receiver<Event>,
        mut process: Option<ProcessCheck<'_>>,
        mut emit: impl FnMut(FollowEvent<'_>) -> Result<()>,
    ) -> Result<FollowOutcome> {
        let options = self.options;
        let deadline = options.timeout.map(|t| Instant::now() + t);
        let supervised = process.is_some() || options.interrupted.is_some();
        loop {
            if options.interrupted.is_some_and(|stop| stop()) {
                self.outcome.interrupted = true;
                break;
            }
            if self.outcome.process_ended.is_none()
                && let Some(check) = process.as_mut()
                && let Some(how) = check()?
            {
                self.outcome.process_ended = Some(how);
                for run in &mut self.runs {
                    run.process_ended = true;
                }
                // Its lines are flushed and its final state is set, or never will be: look now.
                self.next_state = Instant::now();
                self.next_poll = Instant::now();
            }
            if self.refs_done && self.runs.iter().all(|r| r.done) {
                break;
            }
            if options.any && self.runs.iter().any(|r| r.done && r.reached == Some(true)) {
                self.outcome.any_reached = true;
                break;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.outcome.timed_out = true;
                break;
            }
            let due = self.next_poll.min(self.next_state);
            let mut wake = due;
            if let Some(deadline) = deadline {
                wake = wake.min(deadline);
            }
            if supervised {
                wake = wake.min(Instant::now() + SUPERVISE_INTERVAL);
            }
            let timeout = wake.saturating_duration_since(Instant::now());
            match rx.recv_timeout(timeout) {
                Ok(Event::Ref(Ok(reference))) => {
                    let resolved = refs::resolve(self.client, &refs::FLOW_RUN, &reference);
                    if let Some(run) = self.outcome.batch.record(options.tool, resolved) {
                        self.add_run(&run, &mut emit)?;
                    }
                }
                Ok(Event::Ref(Err(e))) => {
                    self.outcome.batch.record::<()>(options.tool, Err(e));
                }
                Ok(Event::RefsDone) => self.refs_done = true,
                Ok(Event::Stream(event)) => self.on_stream(event, &mut emit)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // No REF reader and no stream left: only ticks remain.
                    self.refs_done = true;
                    std::thread::sleep(timeout);
                }
            }
            // Also between events, so a busy stream never starves the state checks.
            // A run's last poll is at once, unless the server is away (then its backoff holds).
            let final_due =
                self.outage.is_up() && self.runs.iter().any(|r| !r.done && r.late_lines_in());
            if Instant::now() >= self.next_poll.min(self.next_state) || final_due {
                self.tick(&mut emit)?;
            }
        }
        let mut outcome = self.outcome;
        outcome.runs = self
            .runs
            .into_iter()
            .map(|r| (r.object, r.reached))
            .collect();
        Ok(outcome)
    }

    /// Start following a resolved run: hand out what exists.
    fn add_run(
        &mut self,
        run: &Value,
        emit: &mut impl FnMut(FollowEvent<'_>) -> Result<()>,
    ) -> Result<()> {
        let id = str_field(run, "id").to_string();
        if self.runs.iter().any(|r| r.id == id) {
            return Ok(());
        }
        let mut query = self.options.query.clone();
        query.flow_run_ids = vec![id.clone()];
        if let Some(n) = self.options.tail.filter(|_| self.options.logs) {
            query.since = crate::logs::tail_start(self.client, &query, n)?.or(query.since);
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
            tree: Vec::new(),
            poller: LogPoller::new(query),
            seen_states: HashSet::new(),
            ended_at: None,
            late_window: LATE_WINDOW,
            final_line: false,
            process_ended: self.outcome.process_ended.is_some(),
            forced: false,
            done: false,
        };
        emit(FollowEvent::Started(&followed))?;
        if self.options.states {
            new_states(self.client, &mut followed, emit)?;
        }
        if !self.options.logs {
            if followed.reached.is_some() {
                end(
                    self.client,
                    self.options,
                    &mut self.outcome,
                    &mut followed,
                    emit,
                )?;
            }
            self.runs.push(followed);
            return Ok(());
        }
        let mut first = followed.poller.poll(self.client)?;
        if let Some(n) = self.options.tail {
            first.drain(..first.len().saturating_sub(n));
        }
        for record in first {
            followed.final_line |= is_final_log(&record);
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
        if let Some(live) = &self.live {
            live.set_filter(self.stream_filter());
        }
        Ok(())
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
                    run.final_line |= is_final_log(&record);
                    emit(FollowEvent::Record(run, record))?;
                }
            }
            StreamEvent::Connected => self.trace("pf: logs/out websocket subscribed"),
            StreamEvent::Unavailable(why) => {
                // Said once: the stream thread ends after reporting this.
                warn(
                    self.options.tool,
                    crate::logstream::polling_notice(self.client, &why),
                );
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

    /// Check states and poll logs where due, under the outage rules: a lost server is
    /// reported, waited out with backoff, and the cursors resume where they were.
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
            // Before the check, which may ask for another at once (a run it just failed).
            self.next_state = now + STATE_INTERVAL;
            self.check_states(emit)?;
            emit(FollowEvent::Checked(&self.runs))?;
        }
        let (client, options) = (self.client, self.options);
        if !options.logs {
            for run in self
                .runs
                .iter_mut()
                .filter(|r| !r.done && r.ended_at.is_some())
            {
                end(client, options, &mut self.outcome, run, emit)?;
            }
            self.next_poll = self.next_state;
            return Ok(());
        }
        let final_due = self.runs.iter().any(|r| !r.done && r.late_lines_in());
        if now >= self.next_poll || final_due {
            for run in self.runs.iter_mut().filter(|r| !r.done) {
                let last = run.late_lines_in();
                for record in run.poller.poll(client)? {
                    run.final_line |= is_final_log(&record);
                    emit(FollowEvent::Record(run, record))?;
                }
                if last {
                    end(client, options, &mut self.outcome, run, emit)?;
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

    /// One batched request for the states of every run not yet ended (then, as asked, their
    /// state histories and trees); a run whose process ended without a final state is failed.
    fn check_states(&mut self, emit: &mut impl FnMut(FollowEvent<'_>) -> Result<()>) -> Result<()> {
        let ids: Vec<String> = self
            .runs
            .iter()
            .filter(|r| r.ended_at.is_none() && r.reached.is_none())
            .map(|r| r.id.clone())
            .collect();
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
        let client = self.client;
        for run in self.runs.iter_mut().filter(|r| !r.done) {
            if self.options.states && ids.contains(&run.id) {
                new_states(client, run, emit)?;
            }
            if self.options.tree {
                run.tree = runtree::fetch(client, &run.id)?;
            }
            if run.process_ended && run.ended_at.is_none() && !run.forced {
                let how = self.outcome.process_ended.as_deref().unwrap_or("it ended");
                let message = format!("{how} before reporting a final state");
                states::set_state(
                    client,
                    RunKind::FlowRun,
                    &run.id,
                    &TargetState::of_type("FAILED"),
                    Some(&message),
                    true,
                )?;
                run.forced = true;
                self.next_state = Instant::now();
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
        let verb = match self.options.verb {
            "" => "followed",
            verb => verb,
        };
        crate::cli::report_item(
            self.options.tool,
            &Error::not_found(
                format!("flow run '{}' was deleted while it was {verb}", run.name),
                None,
            ),
        );
    }
}

/// Hand out the states of the run's history not handed out yet, oldest first.
fn new_states(
    client: &Client,
    run: &mut FollowedRun,
    emit: &mut impl FnMut(FollowEvent<'_>) -> Result<()>,
) -> Result<()> {
    for state in states::history(client, RunKind::FlowRun, &run.id)? {
        if run.seen_states.insert(str_field(&state, "id").to_string()) {
            emit(FollowEvent::State(run, state))?;
        }
    }
    Ok(())
}

/// The run is over and its late lines are in: its tree a last time, then [`FollowEvent::Ended`].
fn end(
    client: &Client,
    options: &FollowOptions,
    outcome: &mut FollowOutcome,
    run: &mut FollowedRun,
    emit: &mut impl FnMut(FollowEvent<'_>) -> Result<()>,
) -> Result<()> {
    if options.tree {
        run.tree = runtree::fetch(client, &run.id)?;
    }
    run.done = true;
    outcome.final_states.push(run.state_type.clone());
    emit(FollowEvent::Ended(run))
}

pub use crate::outage::{GIVE_UP_AFTER, is_connection_loss};
