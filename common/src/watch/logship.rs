//! A bounded, retrying log shipper: lines in, `POST /logs/` batches out, through server outages,
//! with nothing stored twice and every line that could not be stored counted.
//!
//! Used by `pf-logs --write` and `pf-exec` (one shipper for both). The producers call
//! [`LogShipper::push`] (or [`LogLines::push`] from other threads), which never blocks and never
//! fails, so a pipe feeding pf is never stalled or killed by an outage; a worker thread sends
//! batches of at most [`ShipOptions::batch_lines`] records, at most [`ShipOptions::batch_wait`]
//! after the oldest was pushed, in order. A shipper may start before its run exists
//! ([`LogShipper::start_unbound`], pf-exec while the server is away): lines wait until
//! [`LogShipper::bind`] names the run.
//!
//! Why no record is stored twice: Prefect's `LogCreate` takes no client-chosen id, so each record
//! gets a timestamp strictly later than the one before (microsecond resolution, the server's).
//! After any failure whose outcome is unknown (a 5xx, a dropped or timed-out answer), the worker
//! asks `/logs/filter` which of the batch's `(timestamp, logger, message)` triples the server
//! already has, and resends only the rest.
//!
//! Why memory is bounded: queued messages are capped at [`ShipOptions::max_buffered_bytes`] (and
//! each message at [`ShipOptions::max_line_bytes`]); while the buffer is full, new lines are
//! counted as lost instead of growing memory or blocking the producer, and once there is room
//! again a WARNING record saying how many lines were dropped takes their place in the run's logs.
//!
//! Bytes become lines in one place too: [`LineSplitter`] cuts a stream of output (pf-exec's
//! command) at newlines, lossily as UTF-8, long lines in pieces.
//!
//! ```no_run
//! use pf_common::logship::{LogShipper, ShipOptions, ShipTarget};
//! # fn demo(client: pf_common::Client) -> pf_common::Result<()> {
//! let shipper = LogShipper::start(
//!     client,
//!     ShipTarget { flow_run_id: "…".into(), task_run_id: None, logger: "pf.exec".into() },
//!     ShipOptions::default(),
//! );
//! shipper.push(20, "hello");
//! shipper.finish().into_result()
//! # }
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

use crate::client::Client;
use crate::error::{Error, Result};

mod splitter;
mod worker;

pub use splitter::{LINE_PIECE_BYTES, LineSplitter};
use worker::Worker;

/// Which run (and task run) the records go to, and their logger name.
#[derive(Debug, Clone)]
pub struct ShipTarget {
    /// The flow run's id.
    pub flow_run_id: String,
    /// A task run of that flow run, if the records belong to one.
    pub task_run_id: Option<String>,
    /// The logger name of every record (`pf.logs`, `pf.exec`).
    pub logger: String,
}

/// Limits of a [`LogShipper`].
#[derive(Debug, Clone)]
pub struct ShipOptions {
    /// Most records in one `POST /logs/`.
    pub batch_lines: usize,
    /// Longest a pushed record waits before its batch is sent.
    pub batch_wait: Duration,
    /// Most message bytes held in memory while the server is away; beyond it lines are lost.
    pub max_buffered_bytes: usize,
    /// Longer messages are cut to this many bytes (at a character boundary) and end in `…`.
    pub max_line_bytes: usize,
    /// After [`LogShipper::finish`], how long to keep retrying before the rest counts as lost.
    pub give_up_after: Duration,
    /// Longest wait between two attempts during an outage.
    pub max_backoff: Duration,
    /// The tool name for warnings on stderr (`pf-logs: warning: …`) and the dropped-lines note.
    pub tool: String,
    /// Say on stderr when the server goes away and when it is back. Off for a tool that says
    /// it in its own words (pf-exec, from [`LogShipper::outage`]).
    pub outage_notices: bool,
}

impl Default for ShipOptions {
    fn default() -> Self {
        ShipOptions {
            batch_lines: 100,
            batch_wait: Duration::from_secs(1),
            max_buffered_bytes: 64 << 20,
            max_line_bytes: 1 << 20,
            give_up_after: Duration::from_secs(300),
            max_backoff: Duration::from_secs(30),
            tool: "pf".into(),
            outage_notices: true,
        }
    }
}

/// What a shipper did, once finished.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipReport {
    /// Records pushed.
    pub pushed: u64,
    /// Records the server has (each once), dropped-lines notes included.
    pub stored: u64,
    /// Records finally not stored (buffer full, rejected, or the server never came back).
    pub lost: u64,
    /// The last error seen while shipping, if any.
    pub last_error: Option<String>,
}

impl ShipReport {
    /// `Ok` when nothing was lost; else a [`Error::Failed`] (exit 1) saying how many lines.
    pub fn into_result(self) -> Result<()> {
        if self.lost == 0 {
            return Ok(());
        }
        let why = self
            .last_error
            .map(|e| format!(" (last error: {e})"))
            .unwrap_or_default();
        Err(Error::Failed(format!(
            "{} of {} log lines were not stored{why}",
            self.lost, self.pushed
        )))
    }
}

#[derive(Debug, Clone)]
struct Record {
    timestamp: Timestamp,
    /// `None`: the target's logger.
    logger: Option<&'static str>,
    level: u64,
    message: String,
    pushed_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Record>,
    /// Message bytes queued or in the batch being sent.
    queued_bytes: usize,
    /// Records in the batch being sent.
    in_flight: usize,
    last_timestamp: Option<Timestamp>,
    /// The run the records go to; `None` until bound.
    flow_run_id: Option<String>,
    closed: bool,
    /// After close: when the rest counts as lost.
    give_up_at: Option<Instant>,
    /// Lines dropped (buffer full) since the last dropped-lines note.
    dropped: u64,
    /// The error that keeps lines waiting now (cleared when a batch gets through).
    outage: Option<String>,
    /// Pushes go nowhere (a detached [`LogLines`]): counted as lost.
    discard: bool,
    report: ShipReport,
    full_warned: bool,
}

impl State {
    /// Everything still queued counts as lost.
    fn lose_queue(&mut self) {
        self.report.lost += self.queue.len() as u64;
        self.queue.clear();
        self.queued_bytes = 0;
    }
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic on the worker cannot leave the queue half-edited; keep going with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A cheap, clonable handle that pushes lines into a [`LogShipper`] from any thread.
#[derive(Debug, Clone)]
pub struct LogLines {
    shared: Arc<Shared>,
    options: Arc<ShipOptions>,
}

impl LogLines {
    /// A handle that belongs to no shipper: its lines go nowhere (counted as lost). For a tool
    /// that has no server to send to but the same code path to feed.
    pub fn detached() -> LogLines {
        let shared = Shared::default();
        shared.lock().discard = true;
        LogLines {
            shared: Arc::new(shared),
            options: Arc::new(ShipOptions::default()),
        }
    }

    /// Queue one record at `level` with the target's logger; see [`LogShipper::push`].
    pub fn push(&self, level: u64, message: &str) {
        self.push_record(None, level, message);
    }

    /// Queue one record with another logger name (pf-exec's `prefect.flow_runs` "Finished in
    /// state …" line, which pf-run and pf-logs wait for).
    pub fn push_as(&self, logger: &'static str, level: u64, message: &str) {
        self.push_record(Some(logger), level, message);
    }

    fn push_record(&self, logger: Option<&'static str>, level: u64, message: &str) {
        let message = cut_to(message, self.options.max_line_bytes);
        let mut state = self.shared.lock();
        state.report.pushed += 1;
        if state.discard {
            state.report.lost += 1;
            return;
        }
        if state.queued_bytes + message.len() > self.options.max_buffered_bytes {
            state.report.lost += 1;
            state.dropped += 1;
            if !state.full_warned {
                state.full_warned = true;
                crate::cli::warn(
                    &self.options.tool,
                    "log buffer full while the server is away; further lines are dropped until it returns",
                );
            }
            return;
        }
        state.full_warned = false;
        self.note_dropped(&mut state);
        enqueue(&mut state, logger, level, message);
        self.shared.wake.notify_all();
    }

    /// Put a WARNING record where lines were dropped, once there is room for it again.
    fn note_dropped(&self, state: &mut State) {
        if state.dropped == 0 {
            return;
        }
        let note = format!(
            "{}: {} log lines were dropped here: the log buffer was full while the server could \
             not be reached",
            self.options.tool, state.dropped
        );
        state.dropped = 0;
        enqueue(state, None, 30, note);
    }
}

/// Append a record timestamped now, and after every record before it.
fn enqueue(state: &mut State, logger: Option<&'static str>, level: u64, message: String) {
    // Microseconds are what the server keeps, so each record's timestamp stays unique there.
    let now = Timestamp::now()
        .round(jiff::Unit::Microsecond)
        .unwrap_or_else(|_| Timestamp::now());
    let timestamp = match state.last_timestamp {
        Some(last) if now <= last => last + SignedDuration::from_micros(1),
        _ => now,
    };
    state.last_timestamp = Some(timestamp);
    state.queued_bytes += message.len();
    state.queue.push_back(Record {
        timestamp,
        logger,
        level,
        message,
        pushed_at: Instant::now(),
    });
}

/// Ships log records into a run from any thread; see the module docs.
#[derive(Debug)]
pub struct LogShipper {
    lines: LogLines,
    worker: Option<JoinHandle<()>>,
}

/// What the worker needs besides the shared state.
struct Destination {
    task_run_id: Option<String>,
    logger: String,
}

impl LogShipper {
    /// Start the worker thread that sends with `client` (the shipper owns it: one per shipper).
    pub fn start(client: Client, target: ShipTarget, options: ShipOptions) -> LogShipper {
        let shipper = Self::start_for(client, target.task_run_id, target.logger, options);
        shipper.bind(&target.flow_run_id);
        shipper
    }

    /// Start a shipper whose run is not known yet: lines are queued (within the same bounds)
    /// and sent once [`LogShipper::bind`] names the run.
    pub fn start_unbound(client: Client, logger: &str, options: ShipOptions) -> LogShipper {
        Self::start_for(client, None, logger.to_string(), options)
    }

    fn start_for(
        client: Client,
        task_run_id: Option<String>,
        logger: String,
        options: ShipOptions,
    ) -> LogShipper {
        let lines = LogLines {
            shared: Arc::new(Shared::default()),
            options: Arc::new(options),
        };
        let worker = {
            let shared = lines.shared.clone();
            let options = lines.options.clone();
            let destination = Destination {
                task_run_id,
                logger,
            };
            std::thread::spawn(move || Worker::new(client, destination, options, shared).run())
        };
        LogShipper {
            lines,
            worker: Some(worker),
        }
    }

    /// Send the queued and coming records into this flow run (the first call counts).
    pub fn bind(&self, flow_run_id: &str) {
        let mut state = self.lines.shared.lock();
        if state.flow_run_id.is_none() {
            state.flow_run_id = Some(flow_run_id.to_string());
            self.lines.shared.wake.notify_all();
        }
    }

    /// A handle for other threads to push with.
    pub fn lines(&self) -> LogLines {
        self.lines.clone()
    }

    /// Queue one record at `level`, timestamped now (and after every record before it). Never
    /// blocks on the network; when the buffer is full the line is counted as lost.
    pub fn push(&self, level: u64, message: &str) {
        self.lines.push(level, message);
    }

    /// [`LogLines::push_as`].
    pub fn push_as(&self, logger: &'static str, level: u64, message: &str) {
        self.lines.push_as(logger, level, message);
    }

    /// How many records were pushed so far.
    pub fn pushed(&self) -> u64 {
        self.lines.shared.lock().report.pushed
    }

    /// Records not yet stored (queued, or in the batch being sent).
    pub fn pending(&self) -> usize {
        let state = self.lines.shared.lock();
        state.queue.len() + state.in_flight
    }

    /// Why lines are waiting now: the last error, while the server does not take them.
    pub fn outage(&self) -> Option<String> {
        self.lines.shared.lock().outage.clone()
    }

    /// Send what is queued, retrying for at most [`ShipOptions::give_up_after`], and report.
    pub fn finish(self) -> ShipReport {
        let deadline = Instant::now() + self.lines.options.give_up_after;
        self.finish_by(deadline)
    }

    /// Send what is queued, retrying until `deadline` at the latest (an unbound shipper's lines
    /// are lost at once), and report.
    pub fn finish_by(mut self, deadline: Instant) -> ShipReport {
        self.close(deadline);
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        std::mem::take(&mut self.lines.shared.lock().report)
    }

    fn close(&self, deadline: Instant) {
        let mut state = self.lines.shared.lock();
        if !state.closed {
            state.closed = true;
            state.give_up_at = Some(deadline);
            // Room or not: the count of dropped lines is worth its one record.
            self.lines.note_dropped(&mut state);
        }
        self.lines.shared.wake.notify_all();
    }
}

impl Drop for LogShipper {
    fn drop(&mut self) {
        // Dropped without finish (an error path): let the worker end after its grace period.
        self.close(Instant::now() + self.lines.options.give_up_after);
    }
}

/// `text` cut to at most `max` bytes at a character boundary, ending in `…` when cut.
pub fn cut_to(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests;
