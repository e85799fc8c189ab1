//! A bounded, retrying log shipper: lines in, `POST /logs/` batches out, through server outages,
//! with nothing stored twice and every line that could not be stored counted.
//!
//! Used by `pf-logs --write` and `pf-exec`. The producer calls [`LogShipper::push`], which never
//! blocks and never fails, so a pipe feeding pf is never stalled or killed by an outage; a worker
//! thread sends batches of at most [`ShipOptions::batch_lines`] records, at most
//! [`ShipOptions::batch_wait`] after the oldest was pushed, in order.
//!
//! Why no record is stored twice: Prefect's `LogCreate` takes no client-chosen id, so each record
//! gets a timestamp strictly later than the one before (microsecond resolution, the server's).
//! After any failure whose outcome is unknown (a 5xx, a dropped or timed-out answer), the worker
//! asks `/logs/filter` which of the batch's `(timestamp, message)` pairs the server already has,
//! and resends only the rest.
//!
//! Why memory is bounded: queued messages are capped at [`ShipOptions::max_buffered_bytes`] (and
//! each message at [`ShipOptions::max_line_bytes`]); while the buffer is full, new lines are
//! counted as lost instead of growing memory or blocking the producer.
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

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::client::{Client, Method, Request, backoff_delay};
use crate::error::{Error, Result};
use crate::time::{parse_api_time, to_api_time};

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
    /// The tool name for warnings on stderr (`pf-logs: warning: …`).
    pub tool: String,
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
        }
    }
}

/// What a shipper did, once finished.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipReport {
    /// Records pushed.
    pub pushed: u64,
    /// Records the server has (each once).
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
    level: u64,
    message: String,
    pushed_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Record>,
    queued_bytes: usize,
    last_timestamp: Option<Timestamp>,
    closed_at: Option<Instant>,
    report: ShipReport,
    full_warned: bool,
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

/// Ships log records into a run from any thread; see the module docs.
#[derive(Debug)]
pub struct LogShipper {
    shared: Arc<Shared>,
    options: ShipOptions,
    worker: Option<JoinHandle<()>>,
}

impl LogShipper {
    /// Start the worker thread that sends with `client` (the shipper owns it: one per shipper).
    pub fn start(client: Client, target: ShipTarget, options: ShipOptions) -> LogShipper {
        let shared = Arc::new(Shared::default());
        let worker = {
            let shared = shared.clone();
            let options = options.clone();
            std::thread::spawn(move || Worker::new(client, target, options, shared).run())
        };
        LogShipper {
            shared,
            options,
            worker: Some(worker),
        }
    }

    /// Queue one record at `level`, timestamped now (and after every record before it). Never
    /// blocks on the network; when the buffer is full the line is counted as lost.
    pub fn push(&self, level: u64, message: &str) {
        let message = cut_to(message, self.options.max_line_bytes);
        let mut state = self.shared.lock();
        state.report.pushed += 1;
        if state.queued_bytes + message.len() > self.options.max_buffered_bytes {
            state.report.lost += 1;
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
            level,
            message,
            pushed_at: Instant::now(),
        });
        self.shared.wake.notify_all();
    }

    /// How many records were pushed so far.
    pub fn pushed(&self) -> u64 {
        self.shared.lock().report.pushed
    }

    /// Send what is queued, retrying for at most [`ShipOptions::give_up_after`], and report.
    pub fn finish(mut self) -> ShipReport {
        self.close();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        std::mem::take(&mut self.shared.lock().report)
    }

    fn close(&self) {
        let mut state = self.shared.lock();
        if state.closed_at.is_none() {
            state.closed_at = Some(Instant::now());
        }
        self.shared.wake.notify_all();
    }
}

impl Drop for LogShipper {
    fn drop(&mut self) {
        // Dropped without finish (an error path): let the worker end after its grace period.
        self.close();
    }
}

struct Worker {
    client: Client,
    target: ShipTarget,
    options: ShipOptions,
    shared: Arc<Shared>,
    outage_reported: bool,
}

impl Worker {
    fn new(client: Client, target: ShipTarget, options: ShipOptions, shared: Arc<Shared>) -> Self {
        Worker {
            client,
            target,
            options,
            shared,
            outage_reported: false,
        }
    }

    fn run(mut self) {
        while let Some(batch) = self.next_batch() {
            self.deliver(batch);
        }
    }

    /// Wait until a batch is due (full, old enough, or input ended); `None` when all is done.
    fn next_batch(&self) -> Option<Vec<Record>> {
        let mut state = self.shared.lock();
        loop {
            let due = match state.queue.front() {
                None if state.closed_at.is_some() => return None,
                None => None,
                Some(oldest) => {
                    let age = oldest.pushed_at.elapsed();
                    if state.queue.len() >= self.options.batch_lines
                        || state.closed_at.is_some()
                        || age >= self.options.batch_wait
                    {
                        let take = state.queue.len().min(self.options.batch_lines);
                        return Some(state.queue.drain(..take).collect());
                    }
                    Some(self.options.batch_wait - age)
                }
            };
            state = match due {
                Some(wait) => {
                    self.shared
                        .wake
                        .wait_timeout(state, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self
                    .shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner()),
            };
        }
    }

    /// Send one batch until the server has every record of it, or give up on it.
    fn deliver(&mut self, mut batch: Vec<Record>) {
        let bytes: usize = batch.iter().map(|r| r.message.len()).sum();
        let mut in_doubt = false;
        let mut attempt = 0u32;
        loop {
            if in_doubt {
                match self.already_stored(&batch) {
                    Ok(stored) => {
                        let before = batch.len();
                        batch.retain(|r| !stored.contains(&(r.timestamp, r.message.clone())));
                        self.count(|report| report.stored += (before - batch.len()) as u64);
                    }
                    Err(e) => {
                        if !self.wait_or_give_up(&mut batch, &e, &mut attempt) {
                            break;
                        }
                        continue;
                    }
                }
            }
            if batch.is_empty() {
                break;
            }
            match self.post(&batch) {
                Ok(()) => {
                    self.count(|report| report.stored += batch.len() as u64);
                    break;
                }
                Err(e) if is_permanent(&e) => {
                    let message = e.to_string();
                    self.count(|report| {
                        report.lost += batch.len() as u64;
                        report.last_error = Some(message);
                    });
                    crate::cli::warn(
                        &self.options.tool,
                        format!("{} log lines refused by the server: {e}", batch.len()),
                    );
                    break;
                }
                Err(e) => {
                    // The server may have stored the batch before the answer was lost.
                    in_doubt = true;
                    if !self.wait_or_give_up(&mut batch, &e, &mut attempt) {
                        break;
                    }
                }
            }
        }
        if self.outage_reported && batch.is_empty() {
            self.outage_reported = false;
            crate::cli::warn(
                &self.options.tool,
                "server reachable again; sending buffered log lines",
            );
        }
        let mut state = self.shared.lock();
        state.queued_bytes = state.queued_bytes.saturating_sub(bytes);
    }

    /// Wait out a transient failure; `false` (and the rest counted as lost) once input has
    /// ended and the grace period is over.
    fn wait_or_give_up(
        &mut self,
        batch: &mut Vec<Record>,
        error: &Error,
        attempt: &mut u32,
    ) -> bool {
        let message = error.to_string();
        if !self.outage_reported {
            self.outage_reported = true;
            crate::cli::warn(
                &self.options.tool,
                format!("{message}; keeping log lines and retrying"),
            );
        }
        let wait = backoff_delay(*attempt, self.options.max_backoff);
        *attempt = attempt.saturating_add(1);
        let mut state = self.shared.lock();
        state.report.last_error = Some(message);
        let deadline = state
            .closed_at
            .map(|closed| closed + self.options.give_up_after);
        if deadline.is_some_and(|d| Instant::now() + wait > d) {
            let lost = batch.len() + state.queue.len();
            state.report.lost += lost as u64;
            state.queue.clear();
            state.queued_bytes = 0;
            batch.clear();
            return false;
        }
        // Woken early only by finish(), which changes nothing about the wait: sleep it out.
        let until = Instant::now() + wait;
        while Instant::now() < until {
            state = self
                .shared
                .wake
                .wait_timeout(state, until.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    fn count(&self, change: impl FnOnce(&mut ShipReport)) {
        change(&mut self.shared.lock().report);
    }

    fn post(&self, batch: &[Record]) -> Result<()> {
        let body: Vec<Value> = batch
            .iter()
            .map(|r| {
                json!({
                    "name": self.target.logger,
                    "level": r.level,
                    "message": r.message,
                    "timestamp": to_api_time(r.timestamp),
                    "flow_run_id": self.target.flow_run_id,
                    "task_run_id": self.target.task_run_id,
                })
            })
            .collect();
        // Not idempotent: the client never resends it; this shipper checks first, then resends.
        let request = Request::new(Method::Post, "logs/")
            .json(Value::Array(body))
            .idempotent(false);
        self.client.call(request).map(|_| ())
    }

    /// The `(timestamp, message)` pairs of `batch` that the server already has.
    fn already_stored(&self, batch: &[Record]) -> Result<HashSet<(Timestamp, String)>> {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return Ok(HashSet::new());
        };
        let mut logs = json!({
            "flow_run_id": {"any_": [self.target.flow_run_id]},
            "timestamp": {"after_": to_api_time(first.timestamp), "before_": to_api_time(last.timestamp)},
        });
        if let Some(task_run_id) = &self.target.task_run_id {
            logs["task_run_id"] = json!({"any_": [task_run_id]});
        }
        let mut found = HashSet::new();
        // Other writers may log into the same window: page on, boundedly.
        for page in 0..50usize {
            let body =
                json!({"logs": logs, "sort": "TIMESTAMP_ASC", "limit": 200, "offset": page * 200});
            let answer = self.client.post("logs/filter", body)?;
            let items = answer.as_array().cloned().unwrap_or_default();
            for item in &items {
                if item.get("name").and_then(Value::as_str) != Some(self.target.logger.as_str()) {
                    continue;
                }
                let timestamp = item
                    .get("timestamp")
                    .and_then(Value::as_str)
                    .and_then(parse_api_time);
                let message = item.get("message").and_then(Value::as_str);
                if let (Some(t), Some(m)) = (timestamp, message) {
                    found.insert((t, m.to_string()));
                }
            }
            if items.len() < 200 {
                break;
            }
        }
        Ok(found)
    }
}

/// Errors retrying cannot fix: a refused record or credentials. Server and network errors pass.
fn is_permanent(error: &Error) -> bool {
    match error {
        Error::Server { .. } | Error::Network { .. } | Error::OutcomeUnknown { .. } => false,
        Error::Client { status, .. } => !matches!(status, 408 | 429),
        _ => true,
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
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut_to("héllo", 100), "héllo");
        let cut = cut_to("ééééé", 6);
        assert!(cut.len() <= 6 && cut.ends_with('…'), "{cut}");
        assert_eq!(cut_to("abcdef", 4), "a…");
    }

    #[test]
    fn a_report_with_losses_is_an_exit_1_error() {
        let report = ShipReport {
            pushed: 10,
            stored: 7,
            lost: 3,
            last_error: Some("boom".into()),
        };
        let error = report.into_result().unwrap_err();
        assert_eq!(error.exit_code(), 1);
        assert_eq!(
            error.to_string(),
            "3 of 10 log lines were not stored (last error: boom)"
        );
        assert!(ShipReport::default().into_result().is_ok());
    }
}
