//! Flow runs as a [`Source`] of the one watch loop ([`crate::watcher`]): what
//! [`crate::follow`] plugs in. The loop owns the `/logs/out` and `/events/out` subscriptions,
//! the poll schedule, the timeout and interrupt, and the outage rules; this owns the runs:
//! REFs as they arrive, one batched state check per [`STATE_INTERVAL`], each run's log
//! poller, its late lines after it ends, and the process executing it (`pf-run --watch`).
//!
//! The events socket is subscribed to the runs' state changes (`prefect.flow-run.*` of the
//! runs followed; with the tree also `prefect.task-run.*` related to them). An event is only
//! a signal: it brings the next state check forward (at most one per [`EVENT_GAP`]), and the
//! batched read stays the source of truth, so the states handed out are the same, each once.
//! The server may send the event before its transaction is visible to a read: a check that
//! does not yet show the state an event announced is repeated every [`EVENT_GAP`] for up to
//! [`ANNOUNCED_FOR`]. While the socket delivers, the checks slow down to a safety net (except
//! for the live tree, whose durations tick every second).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::cli::warn;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::follow::{
    FollowEvent, FollowOptions, FollowedRun, LATE_WINDOW, LATE_WINDOW_AFTER_OUTAGE, ProcessCheck,
    STATE_INTERVAL,
};
use crate::logs::LogPoller;
use crate::logstream::Topic;
use crate::refs::{self, str_field};
use crate::runs::{FollowOutcome, is_final_log};
use crate::runtree;
use crate::states::{self, RunKind, TargetState};
use crate::watcher::{Control, STREAM_POLL_INTERVAL, Source, Stop};

/// Two state checks brought forward by events are at least this far apart (a state change
/// comes in bursts: Pending, Running, and a backfill of the recent past on each connection).
pub const EVENT_GAP: Duration = Duration::from_millis(100);
/// How long a state announced by an event, but not yet shown by a check, is checked again.
pub const ANNOUNCED_FOR: Duration = Duration::from_secs(3);
/// How far back the events socket backfills on each (re)connection: a state change between
/// the first check and the subscription is not missed (`occurred` is the server's clock).
const EVENTS_BACKFILL: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// Only for tests: the state check interval in ms while the events socket does not deliver
/// (a long one proves that states arrive over the socket).
const STATE_INTERVAL_ENV: &str = "PF_TEST_STATE_INTERVAL_MS";

/// What the REF reader thread sends.
#[derive(Debug)]
pub(crate) enum RefMessage {
    /// A REF (or why one could not be read).
    Ref(Result<String>),
    /// No more REFs will come.
    Done,
}

/// The runs followed, and where the follow stands.
pub(crate) struct Follower<'a, 'p, E> {
    client: &'a Client,
    options: &'a FollowOptions,
    runs: Vec<FollowedRun>,
    outcome: FollowOutcome,
    /// No more REFs can come (so when every run is done, so is the follow).
    pub(crate) refs_done: bool,
    next_state: Instant,
    /// When the last state check began.
    last_check: Option<Instant>,
    /// The state check interval while the events socket does not deliver.
    state_interval: Duration,
    /// States announced by events and not yet shown by a check: (run id, when the state
    /// began, until when to look for it).
    announced: Vec<(String, Timestamp, Instant)>,
    /// Asked every 100 ms whether the process executing the run is over.
    process: Option<ProcessCheck<'p>>,
    emit: E,
}

impl<'a, 'p, E: FnMut(FollowEvent<'_>) -> Result<()>> Follower<'a, 'p, E> {
    /// A follower of no runs yet.
    pub(crate) fn new(
        client: &'a Client,
        options: &'a FollowOptions,
        process: Option<ProcessCheck<'p>>,
        emit: E,
    ) -> Self {
        Follower {
            client,
            options,
            runs: Vec::new(),
            outcome: FollowOutcome::default(),
            refs_done: false,
            next_state: Instant::now(),
            last_check: None,
            state_interval: std::env::var(STATE_INTERVAL_ENV)
                .ok()
                .and_then(|ms| ms.parse().ok())
                .map_or(STATE_INTERVAL, Duration::from_millis),
            announced: Vec::new(),
            process,
            emit,
        }
    }

    /// The outcome, once the watcher stopped for `stop`.
    pub(crate) fn outcome(self, stop: Stop) -> FollowOutcome {
        let mut outcome = self.outcome;
        match stop {
            Stop::TimedOut => outcome.timed_out = true,
            Stop::Interrupted => outcome.interrupted = true,
            Stop::Finished => {}
        }
        outcome.runs = self
            .runs
            .into_iter()
            .map(|r| (r.object, r.reached))
            .collect();
        outcome
    }

    /// Start following a resolved run: hand out what exists.
    pub(crate) fn add_run(&mut self, run: &Value, control: &mut Control) -> Result<()> {
        let id = str_field(run, "id").to_string();
        if self.runs.iter().any(|r| r.id == id) {
            return Ok(());
        }
        let mut query = self.options.query.clone();
        query.flow_run_ids = vec![id.clone()];
        if let Some(n) = self.options.tail.filter(|_| self.options.logs) {
            query.since = crate::logs::tail_start(self.client, &query, n)?.or(query.since);
        }
        let text = |pointer| {
            run.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let mut followed = FollowedRun {
            id,
            name: str_field(run, "name").to_string(),
            state_type: text("/state/type"),
            state_name: text("/state/name"),
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
        let emit = &mut self.emit;
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
            control.set_filter(Topic::Events, self.events_filter());
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
            control.poll_by(now + LATE_WINDOW - ended_ago);
        }
        self.runs.push(followed);
        control.set_filter(Topic::Logs, self.stream_filter());
        control.set_filter(Topic::Events, self.events_filter());
        Ok(())
    }

    /// The events socket's filter: the state changes of every run still followed (with the
    /// tree also those of their task runs, which name the flow run as a related resource).
    fn events_filter(&self) -> Value {
        let ids: Vec<String> = self
            .runs
            .iter()
            .filter(|r| !r.done)
            .map(|r| format!("prefect.flow-run.{}", r.id))
            .collect();
        let since = Timestamp::now()
            .checked_sub(EVENTS_BACKFILL)
            .unwrap_or_else(|_| Timestamp::now());
        let mut filter = crate::events::filter_since(&json!({}), since);
        if self.options.tree {
            filter["event"] = json!({ "prefix": ["prefect.flow-run.", "prefect.task-run."] });
            filter["any_resource"] = json!({ "id": ids });
        } else {
            filter["event"] = json!({ "prefix": ["prefect.flow-run."] });
            filter["resource"] = json!({ "id": ids });
        }
        filter
    }

    /// An event from the events socket: a state change of a followed run (or of one of its
    /// task runs) brings the next state check forward.
    fn on_event(&mut self, event: &Value) {
        let name = str_field(event, "event");
        let resource = event
            .pointer("/resource/prefect.resource.id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name.starts_with("prefect.flow-run.") {
            let id = resource
                .strip_prefix("prefect.flow-run.")
                .unwrap_or_default();
            if !self.runs.iter().any(|r| r.id == id && r.ended_at.is_none()) {
                return;
            }
            let occurred = str_field(event, "occurred");
            if let Some(occurred) = crate::time::parse_api_time(occurred) {
                let until = Instant::now() + ANNOUNCED_FOR;
                self.announced.push((id.to_string(), occurred, until));
            }
        } else if !(self.options.tree && name.starts_with("prefect.task-run.")) {
            return;
        }
        let soonest = self.last_check.map_or(Instant::now(), |at| at + EVENT_GAP);
        self.next_state = self.next_state.min(soonest.max(Instant::now()));
    }

    /// The state checks' interval: the safety net while the events socket delivers, unless a
    /// live tree is kept (it is redrawn from each check).
    fn state_interval(&self, control: &Control) -> Duration {
        if control.delivers(Topic::Events) && !self.options.tree {
            self.state_interval.max(STREAM_POLL_INTERVAL)
        } else {
            self.state_interval
        }
    }

    /// Forget the announced states a check has shown (or that no longer matter); while one is
    /// still to show, check again soon.
    fn settle_announced(&mut self) {
        let now = Instant::now();
        let runs = &self.runs;
        self.announced.retain(|(id, occurred, until)| {
            let Some(run) = runs.iter().find(|r| &r.id == id) else {
                return false;
            };
            let shown = run
                .object
                .pointer("/state/timestamp")
                .and_then(Value::as_str)
                .and_then(crate::time::parse_api_time)
                .is_some_and(|at| at >= *occurred);
            now < *until && !shown && run.ended_at.is_none() && run.reached.is_none()
        });
        if !self.announced.is_empty() {
            self.next_state = self.next_state.min(now + EVENT_GAP);
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

    /// One batched request for the states of every run not yet ended (then, as asked, their
    /// state histories and trees); a run whose process ended without a final state is failed.
    fn check_states(&mut self, control: &mut Control) -> Result<()> {
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
                    control.poll_by(Instant::now() + LATE_WINDOW);
                }
            }
        }
        let client = self.client;
        let checked: HashSet<&String> = ids.iter().collect();
        for run in self.runs.iter_mut().filter(|r| !r.done) {
            // A state already handed out is the newest: its history has nothing new.
            let state_is_new = !run
                .object
                .pointer("/state/id")
                .and_then(Value::as_str)
                .is_some_and(|id| run.seen_states.contains(id));
            if self.options.states && checked.contains(&run.id) && state_is_new {
                new_states(client, run, &mut self.emit)?;
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

impl<E: FnMut(FollowEvent<'_>) -> Result<()>> Source for Follower<'_, '_, E> {
    type Message = RefMessage;

    fn on_record(&mut self, topic: Topic, record: Value, control: &mut Control) -> Result<()> {
        if topic == Topic::Events {
            control.streaming(topic);
            self.on_event(&record);
            return Ok(());
        }
        let run_id = str_field(&record, "flow_run_id");
        if let Some(run) = self.runs.iter_mut().find(|r| r.id == run_id && !r.done)
            && let Some(record) = run.poller.admit_streamed(record)
        {
            control.streaming(topic);
            run.final_line |= is_final_log(&record);
            (self.emit)(FollowEvent::Record(run, record))?;
        }
        Ok(())
    }

    fn on_message(&mut self, message: RefMessage, control: &mut Control) -> Result<()> {
        match message {
            RefMessage::Ref(Ok(reference)) => {
                let resolved = refs::resolve(self.client, &refs::FLOW_RUN, &reference);
                if let Some(run) = self.outcome.batch.record(self.options.tool, resolved) {
                    self.add_run(&run, control)?;
                }
            }
            RefMessage::Ref(Err(e)) => {
                self.outcome.batch.record::<()>(self.options.tool, Err(e));
            }
            RefMessage::Done => self.refs_done = true,
        }
        Ok(())
    }

    fn messages_ended(&mut self) {
        // No REF reader and no stream left: only ticks remain.
        self.refs_done = true;
    }

    /// The process executing the run, then whether the follow is over: every run done (and
    /// no REF can come), or with `any` the first run that reached the target.
    fn check(&mut self, control: &mut Control) -> Result<()> {
        if self.outcome.process_ended.is_none()
            && let Some(check) = self.process.as_mut()
            && let Some(how) = check()?
        {
            self.outcome.process_ended = Some(how);
            for run in &mut self.runs {
                run.process_ended = true;
            }
            // Its lines are flushed and its final state is set, or never will be: look now.
            self.next_state = Instant::now();
            control.poll_by(Instant::now());
        }
        if self.refs_done && self.runs.iter().all(|r| r.done) {
            control.finish();
        } else if self.options.any && self.runs.iter().any(|r| r.done && r.reached == Some(true)) {
            self.outcome.any_reached = true;
            control.finish();
        }
        Ok(())
    }

    fn supervised(&self) -> bool {
        self.process.is_some()
    }

    fn due(&self) -> Option<Instant> {
        Some(self.next_state)
    }

    /// A run's last poll is at once (unless the server is away: then its backoff holds).
    fn urgent(&self) -> bool {
        self.runs.iter().any(|r| !r.done && r.late_lines_in())
    }

    /// Said as a warning for logs: without the stream, lines arrive up to a second later
    /// (without the events socket, states are checked every second as ever: traced with `-v`).
    fn stream_unavailable(&mut self, topic: Topic, why: &str) -> bool {
        if topic != Topic::Logs {
            return false;
        }
        warn(
            self.options.tool,
            crate::logstream::polling_notice(self.client, why),
        );
        true
    }

    /// Without the events socket, states are checked at the fast pace again.
    fn stream_stopped(&mut self, topic: Topic, _control: &mut Control) {
        if topic == Topic::Events {
            let fast = Instant::now() + self.state_interval;
            self.next_state = self.next_state.min(fast);
        }
    }

    /// Check states and poll logs where due.
    fn tick(&mut self, control: &mut Control) -> Result<()> {
        let now = control.now();
        if now >= self.next_state {
            // Before the check, which may ask for another at once (a run it just failed).
            self.next_state = now + self.state_interval(control);
            self.last_check = Some(now);
            self.check_states(control)?;
            self.settle_announced();
            (self.emit)(FollowEvent::Checked(&self.runs))?;
        }
        let (client, options) = (self.client, self.options);
        if !options.logs {
            for run in self
                .runs
                .iter_mut()
                .filter(|r| !r.done && r.ended_at.is_some())
            {
                end(client, options, &mut self.outcome, run, &mut self.emit)?;
            }
            // Nothing to poll but states: the poll's schedule is theirs.
            control.polled();
            return Ok(());
        }
        if control.poll_due() || self.urgent() {
            for run in self.runs.iter_mut().filter(|r| !r.done) {
                let last = run.late_lines_in();
                for record in run.poller.poll(client)? {
                    run.final_line |= is_final_log(&record);
                    (self.emit)(FollowEvent::Record(run, record))?;
                }
                if last {
                    end(client, options, &mut self.outcome, run, &mut self.emit)?;
                }
            }
            control.polled();
            // Wake for the end of a late window rather than a whole interval later.
            for run in self.runs.iter().filter(|r| !r.done) {
                if let Some(ended) = run.ended_at {
                    control.poll_by(ended + run.late_window);
                }
            }
        }
        Ok(())
    }

    /// Hold each run's log cursor; on reconnection also wait longer for late lines (what the
    /// run's client buffered meanwhile is still to come).
    fn hold(&mut self, how_long: Duration, reconnected: bool) {
        let now = Instant::now();
        for run in &mut self.runs {
            run.poller.hold_here(how_long);
            if reconnected {
                run.late_window = LATE_WINDOW_AFTER_OUTAGE;
                if let Some(ended) = run.ended_at.as_mut() {
                    *ended = now;
                }
            }
        }
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
