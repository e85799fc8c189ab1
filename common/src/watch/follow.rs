//! The one watcher of flow runs: their states, their logs and their task runs, until they end
//! (or reach a state). `pf-logs --follow`, `pf-wait` ([`follow`]: REFs as they arrive) and
//! `pf-run --watch` ([`watch_run`]: the run it made, and the process executing it) all run
//! this; each only prints the [`FollowEvent`]s differently. The runs are a source
//! (`follower.rs`) of the one watch loop of pf ([`crate::watcher`]), which also follows
//! events and watched lists.
//!
//! Every watched run's state is checked in one batched request per tick (with [`FollowOptions::states`]
//! also its full state history, so a Pending of 200 ms between two ticks is still handed out):
//! every [`STATE_INTERVAL`], and at once when the `/events/out` socket announces a state
//! change of a followed run (then the regular checks slow down to a safety net).
//! Polling `/logs/filter` with a timestamp cursor (de-duplicated by log id, see
//! [`crate::logs::LogPoller`]) works on any server and is the source of truth; where the server
//! streams `/logs/out` ([`crate::logstream`]), records arrive through it first, with lower
//! latency, and polling slows down to a safety net. A lost connection follows the watcher's
//! one set of outage rules: reported on stderr, retried with backoff, and resumed from the
//! cursors, which then look back far enough that no line is lost; none is printed twice.

use std::collections::HashSet;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::Client;
use crate::error::Result;
use crate::logs::{LogPoller, LogQuery};
use crate::logstream::Topic;
use crate::runtree::Node;
use crate::watch::follower::{Follower, RefMessage};
use crate::watcher::{Wake, WatchSettings, Watcher};

pub use crate::runs::{FollowOutcome, Target, timeout_error};

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
    /// Its log records, each once.
    pub(crate) poller: LogPoller,
    /// Ids of the states handed out (with [`FollowOptions::states`]).
    pub(crate) seen_states: HashSet<String>,
    /// When it ended (or reached the target), as far as pf knows.
    pub(crate) ended_at: Option<Instant>,
    /// How long after `ended_at` late lines are waited for.
    pub(crate) late_window: Duration,
    /// The engine's last line (`Finished in state …`) has been handed out.
    pub(crate) final_line: bool,
    /// The process that executed the run has exited: its lines are flushed.
    pub(crate) process_ended: bool,
    /// The run was marked FAILED because its process ended without a final state.
    pub(crate) forced: bool,
    /// Ended and handed out (or deleted): no longer followed.
    pub(crate) done: bool,
}

impl FollowedRun {
    /// Whether the run ended and its late lines are in (or waited for long enough): after the
    /// engine's last line or its process's exit one more poll is enough.
    pub(crate) fn late_lines_in(&self) -> bool {
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

/// Follow the flow runs named by `refs` (REFs are read on a thread, so a REF from a slow
/// pipe is followed as soon as it arrives), handing each event to `emit`, until no more REFs
/// can come and every run has ended (plus its late lines).
pub fn follow(
    client: &Client,
    options: &FollowOptions,
    refs: impl FnOnce() -> Result<Box<dyn Iterator<Item = Result<String>>>> + Send + 'static,
    emit: impl FnMut(FollowEvent<'_>) -> Result<()>,
) -> Result<FollowOutcome> {
    let (watcher, tx) = Watcher::new(watch_settings(client, options));
    spawn_ref_reader(tx, refs);
    let mut follower = Follower::new(client, options, None, emit);
    let stop = watcher.run(&mut follower)?;
    Ok(follower.outcome(stop))
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
    emit: impl FnMut(FollowEvent<'_>) -> Result<()>,
) -> Result<FollowOutcome> {
    let (mut watcher, _) = Watcher::new(watch_settings(client, options));
    let mut follower = Follower::new(client, options, process, emit);
    follower.refs_done = true;
    follower.add_run(run, watcher.control())?;
    let stop = watcher.run(&mut follower)?;
    Ok(follower.outcome(stop))
}

/// The watcher's settings for `options`: `/logs/out` when following logs from a server that
/// can stream them (it paces the log polls), and `/events/out` for the runs' state changes
/// (it paces the state checks, see `follower.rs`; where the server has no such socket, the
/// states are polled as ever).
fn watch_settings(client: &Client, options: &FollowOptions) -> WatchSettings {
    let server = client.settings();
    let mut streams = Vec::new();
    let pace = (options.stream && options.logs).then_some(Topic::Logs);
    if pace.is_some() {
        streams.push((server.clone(), Topic::Logs));
    }
    if crate::logstream::supported(server) {
        streams.push((server.clone(), Topic::Events));
    }
    WatchSettings {
        streams,
        pace,
        timeout: options.timeout,
        interrupted: options.interrupted,
        verbose: client.verbose(),
        ..WatchSettings::new(options.tool, None)
    }
}

fn spawn_ref_reader(
    tx: Sender<Wake<RefMessage>>,
    refs: impl FnOnce() -> Result<Box<dyn Iterator<Item = Result<String>>>> + Send + 'static,
) {
    let send = move |message| tx.send(Wake::Message(message)).is_ok();
    std::thread::spawn(move || {
        match refs() {
            Ok(iter) => {
                for reference in iter {
                    if !send(RefMessage::Ref(reference)) {
                        return;
                    }
                }
            }
            Err(e) => {
                send(RefMessage::Ref(Err(e)));
            }
        }
        send(RefMessage::Done);
    });
}

pub use crate::outage::{GIVE_UP_AFTER, is_connection_loss};
