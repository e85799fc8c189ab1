//! Following flow runs' logs until the runs end (`pf-logs --follow`).
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
/// After a reconnection, how long the pollers keep looking back to the point of the outage.
pub const OUTAGE_HOLD: Duration = Duration::from_secs(60);
/// A server gone for this long ends the follow with a network error.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(600);

/// What to follow and how.
#[derive(Debug, Clone, Default)]
pub struct FollowOptions {
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
    poller: LogPoller,
    ended_at: Option<Instant>,
    done: bool,
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
}

impl FollowOutcome {
    /// 0 when every run ended COMPLETED and every REF resolved; 1 when a run ended otherwise;
    /// the batch's code when REFs failed.
    pub fn exit_code(&self) -> i32 {
        let batch = self.batch.exit_code();
        if batch != 0 {
            return batch;
        }
        if self.final_states.iter().all(|s| s == "COMPLETED") {
            0
        } else {
            crate::error::EXIT_FAILED
        }
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
    let live = options.stream.then(|| {
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
        outage: None,
    };
    loop {
        if state.refs_done && state.runs.iter().all(|r| r.done) {
            break;
        }
        let wake = state.next_poll.min(state.next_state);
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
    Ok(state.outcome)
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
    /// Since when the server has been unreachable, and how many retries so far.
    outage: Option<(Instant, u32)>,
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
        if let Some(n) = self.options.tail {
            // Start at the oldest of the last N records; the first poll then prints only N.
            let mut newest = Vec::new();
            crate::logs::read_logs(self.client, &query, None, Some(n), |page| {
                newest = page;
                Ok(())
            })?;
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
            poller: LogPoller::new(query),
            ended_at: None,
            done: false,
        };
        emit(FollowEvent::Started(&followed))?;
        let mut first = followed.poller.poll(self.client)?;
        if let Some(n) = self.options.tail {
            first.drain(..first.len().saturating_sub(n));
        }
        for record in first {
            emit(FollowEvent::Record(&followed, record))?;
        }
        if crate::model::is_terminal(run) {
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
            StreamEvent::Lost(why) | StreamEvent::Unavailable(why) => {
                self.trace(&format!("pf: logs/out websocket: {why}; polling"));
                self.streaming = false;
                self.next_poll = self.next_poll.min(Instant::now() + POLL_INTERVAL);
            }
        }
        Ok(())
    }

    fn tick(&mut self, emit: &mut impl FnMut(FollowEvent<'_>) -> Result<()>) -> Result<()> {
        let now = Instant::now();
        let result = self.poll_and_check(now, emit);
        match result {
            Ok(()) => {
                if let Some((since, _)) = self.outage.take() {
                    warn(
                        self.options.tool,
                        format!(
                            "reconnected after {} s; resuming",
                            since.elapsed().as_secs()
                        ),
                    );
                    for run in &mut self.runs {
                        run.poller.hold_here(OUTAGE_HOLD);
                    }
                }
                Ok(())
            }
            Err(e) if is_connection_loss(&e) => {
                let (since, attempt) = match self.outage {
                    None => {
                        warn(
                            self.options.tool,
                            format!("lost connection to the server ({e}); retrying"),
                        );
                        for run in &mut self.runs {
                            // Hold from before the outage: clients send what they buffered late.
                            run.poller.hold_here(GIVE_UP_AFTER + OUTAGE_HOLD);
                        }
                        (now, 0)
                    }
                    Some(outage) => outage,
                };
                if since.elapsed() >= GIVE_UP_AFTER {
                    return Err(e);
                }
                let delay = crate::client::backoff_delay(attempt, Duration::from_secs(8));
                self.outage = Some((since, attempt + 1));
                self.next_poll = Instant::now() + delay;
                self.next_state = self.next_poll;
                Ok(())
            }
            Err(e) => Err(e),
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
        }
        let final_due = self
            .runs
            .iter()
            .any(|r| !r.done && r.ended_at.is_some_and(|t| t.elapsed() >= LATE_WINDOW));
        if now >= self.next_poll || final_due {
            for run in self.runs.iter_mut().filter(|r| !r.done) {
                let last = run.ended_at.is_some_and(|t| t.elapsed() >= LATE_WINDOW);
                for record in run.poller.poll(self.client)? {
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
                    self.next_poll = self.next_poll.min(ended + LATE_WINDOW);
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
            .filter(|r| r.ended_at.is_none())
            .map(|r| r.id.clone())
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        for chunk in ids.chunks(200) {
            let body = json!({ "flow_runs": { "id": { "any_": chunk } }, "limit": chunk.len() });
            let found = self.client.post("flow_runs/filter", body)?;
            for run_json in found.as_array().into_iter().flatten() {
                let id = str_field(run_json, "id");
                let Some(run) = self.runs.iter_mut().find(|r| r.id == id) else {
                    continue;
                };
                run.state_type = str_field(run_json, "state_type").to_string();
                run.state_name = str_field(run_json, "state_name").to_string();
                if crate::model::is_terminal(run_json) && run.ended_at.is_none() {
                    run.ended_at = Some(Instant::now());
                    self.next_poll = self.next_poll.min(Instant::now() + LATE_WINDOW);
                }
            }
        }
        Ok(())
    }
}

/// Errors a follow or a watch rides out: the server is unreachable, or answers 5xx (restarting).
pub fn is_connection_loss(e: &Error) -> bool {
    matches!(e, Error::Network { .. } | Error::Server { .. })
}
