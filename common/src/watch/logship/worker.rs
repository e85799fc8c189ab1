//! The thread that sends a shipper's batches, through outages, each record once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{Destination, Record, Shared, ShipOptions, ShipReport};
use crate::client::{Client, Method, Request, backoff_delay};
use crate::error::{Error, Result};
use crate::time::{parse_api_time, to_api_time};

pub(super) struct Worker {
    client: Client,
    destination: Destination,
    options: Arc<ShipOptions>,
    shared: Arc<Shared>,
    outage_reported: bool,
}

impl Worker {
    pub(super) fn new(
        client: Client,
        destination: Destination,
        options: Arc<ShipOptions>,
        shared: Arc<Shared>,
    ) -> Self {
        Worker {
            client,
            destination,
            options,
            shared,
            outage_reported: false,
        }
    }

    pub(super) fn run(mut self) {
        while let Some((flow_run_id, batch)) = self.next_batch() {
            self.deliver(&flow_run_id, batch);
        }
    }

    /// Wait until a batch is due (full, old enough, or input ended) and its run is known;
    /// `None` when all is done.
    fn next_batch(&self) -> Option<(String, Vec<Record>)> {
        let mut state = self.shared.lock();
        loop {
            let unbound = state.flow_run_id.is_none();
            if state.closed && (state.queue.is_empty() || unbound) {
                let past = state.give_up_at.is_none_or(|at| Instant::now() >= at);
                if state.queue.is_empty() || past {
                    state.lose_queue();
                    return None;
                }
            }
            let wait = match state.queue.front() {
                _ if unbound => state
                    .give_up_at
                    .map(|at| at.saturating_duration_since(Instant::now())),
                None => None,
                Some(oldest) => {
                    let age = oldest.pushed_at.elapsed();
                    if state.queue.len() >= self.options.batch_lines
                        || state.closed
                        || age >= self.options.batch_wait
                    {
                        let take = state.queue.len().min(self.options.batch_lines);
                        state.in_flight = take;
                        let batch = state.queue.drain(..take).collect();
                        let flow_run_id = state.flow_run_id.clone().unwrap_or_default();
                        return Some((flow_run_id, batch));
                    }
                    Some(self.options.batch_wait - age)
                }
            };
            state = match wait {
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
    fn deliver(&mut self, flow_run_id: &str, mut batch: Vec<Record>) {
        let bytes: usize = batch.iter().map(|r| r.message.len()).sum();
        let mut in_doubt = false;
        let mut attempt = 0u32;
        loop {
            if in_doubt {
                match self.already_stored(flow_run_id, &batch) {
                    Ok(stored) => {
                        let before = batch.len();
                        batch.retain(|r| !stored.contains(&self.key(r)));
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
            match self.post(flow_run_id, &batch) {
                Ok(()) => {
                    self.count(|report| report.stored += batch.len() as u64);
                    batch.clear();
                    break;
                }
                Err(e) if is_permanent(&e) => {
                    let message = e.to_string();
                    crate::cli::warn(
                        &self.options.tool,
                        format!("{} log lines refused by the server: {e}", batch.len()),
                    );
                    self.count(|report| {
                        report.lost += batch.len() as u64;
                        report.last_error = Some(message);
                    });
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
        let mut state = self.shared.lock();
        if batch.is_empty() {
            state.outage = None;
            if self.outage_reported {
                self.outage_reported = false;
                if self.options.outage_notices {
                    crate::cli::warn(
                        &self.options.tool,
                        "server reachable again; sending buffered log lines",
                    );
                }
            }
        }
        state.in_flight = 0;
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
            if self.options.outage_notices {
                crate::cli::warn(
                    &self.options.tool,
                    format!("{message}; keeping log lines and retrying"),
                );
            }
        }
        let wait = backoff_delay(*attempt, self.options.max_backoff);
        *attempt = attempt.saturating_add(1);
        let mut state = self.shared.lock();
        state.report.last_error = Some(message.clone());
        state.outage = Some(message);
        if state.give_up_at.is_some_and(|d| Instant::now() + wait > d) {
            state.report.lost += batch.len() as u64;
            batch.clear();
            state.lose_queue();
            return false;
        }
        // Woken early by finish(): the deadline it sets is looked at after this wait.
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

    fn logger<'a>(&'a self, record: &Record) -> &'a str {
        record.logger.unwrap_or(self.destination.logger.as_str())
    }

    fn key(&self, record: &Record) -> (Timestamp, String, String) {
        (
            record.timestamp,
            self.logger(record).to_string(),
            record.message.clone(),
        )
    }

    fn post(&self, flow_run_id: &str, batch: &[Record]) -> Result<()> {
        let body: Vec<Value> = batch
            .iter()
            .map(|r| {
                json!({
                    "name": self.logger(r),
                    "level": r.level,
                    "message": r.message,
                    "timestamp": to_api_time(r.timestamp),
                    "flow_run_id": flow_run_id,
                    "task_run_id": self.destination.task_run_id,
                })
            })
            .collect();
        // Not idempotent: the client never resends it; this shipper checks first, then resends.
        let request = Request::new(Method::Post, "logs/")
            .json(Value::Array(body))
            .idempotent(false);
        self.client.call(request).map(|_| ())
    }

    /// The `(timestamp, logger, message)` triples of `batch` that the server already has.
    fn already_stored(
        &self,
        flow_run_id: &str,
        batch: &[Record],
    ) -> Result<HashSet<(Timestamp, String, String)>> {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return Ok(HashSet::new());
        };
        let mut logs = json!({
            "flow_run_id": {"any_": [flow_run_id]},
            "timestamp": {"after_": to_api_time(first.timestamp), "before_": to_api_time(last.timestamp)},
        });
        if let Some(task_run_id) = &self.destination.task_run_id {
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
                let field = |name: &str| item.get(name).and_then(Value::as_str);
                let timestamp = field("timestamp").and_then(parse_api_time);
                if let (Some(t), Some(name), Some(m)) = (timestamp, field("name"), field("message"))
                {
                    found.insert((t, name.to_string(), m.to_string()));
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
