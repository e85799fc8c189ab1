//! The command's output lines on their way into the run's logs: a bounded in-memory buffer that
//! the output readers fill and the run's thread empties in batches (`POST /logs/`).
//!
//! This is the small interface pf-exec needs from a log shipper (push a line, is a batch due,
//! send a batch); it is kept apart so that a shared shipper in common/ can take its place.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use pf_common::time::to_api_time;
use pf_common::{Client, Result};
use serde_json::{Value, json};

/// A batch is sent when this many lines wait…
pub const BATCH_LINES: usize = 100;
/// …or when the oldest waiting line is this old.
pub const BATCH_AGE: Duration = Duration::from_secs(1);
/// Most records in one `POST /logs/` (a backlog after an outage goes out in big batches).
const POST_MAX: usize = 500;
/// The buffer keeps at most this many bytes of messages; beyond, the oldest lines are dropped
/// (and counted), so a long outage cannot take the machine's memory.
const BUFFER_BYTES: usize = 8 << 20;
/// A line longer than this becomes several records (the server stores a record as one row).
pub const RECORD_BYTES: usize = 64 << 10;
/// Logger name of the records (what `pf-logs` shows in its logger column).
const LOGGER: &str = "pf-exec";

#[derive(Debug)]
struct Line {
    logger: &'static str,
    level: u64,
    message: String,
    timestamp: Timestamp,
}

#[derive(Debug, Default)]
struct Buffer {
    lines: VecDeque<Line>,
    bytes: usize,
    dropped: usize,
    last: Option<Timestamp>,
    oldest_since: Option<Instant>,
}

/// The lines of one run waiting to be sent; cheap to clone and share with reader threads.
#[derive(Debug, Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Buffer>>);

impl LogBuffer {
    fn lock(&self) -> MutexGuard<'_, Buffer> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queue one line at `level`, timestamped now (later than the line before, so the run's
    /// logs sort in the order the lines were read).
    pub fn push(&self, level: u64, message: String) {
        self.push_as(LOGGER, level, message);
    }

    /// Queue one line with another logger name (`prefect.flow_runs` for the engine's own
    /// "Finished in state …" line, which pf-run and pf-logs wait for).
    pub fn push_as(&self, logger: &'static str, level: u64, message: String) {
        let mut buffer = self.lock();
        let now = Timestamp::now();
        let timestamp = match buffer.last {
            Some(last) if now <= last => last + SignedDuration::from_micros(1),
            _ => now,
        };
        buffer.last = Some(timestamp);
        buffer.bytes += message.len();
        buffer.oldest_since.get_or_insert_with(Instant::now);
        buffer.lines.push_back(Line {
            logger,
            level,
            message,
            timestamp,
        });
        while buffer.bytes > BUFFER_BYTES {
            let Some(old) = buffer.lines.pop_front() else {
                break;
            };
            buffer.bytes -= old.message.len();
            buffer.dropped += 1;
        }
    }

    /// How many lines wait.
    pub fn pending(&self) -> usize {
        self.lock().lines.len()
    }

    /// Whether a batch should go out now (enough lines, or the oldest has waited long enough).
    pub fn batch_due(&self) -> bool {
        let buffer = self.lock();
        buffer.lines.len() >= BATCH_LINES
            || buffer
                .oldest_since
                .is_some_and(|since| since.elapsed() >= BATCH_AGE)
    }

    /// Send what waits into `flow_run_id`, in batches; lines stay queued when a request fails
    /// (the error is returned), so nothing is lost while the server is away.
    pub fn ship(&self, client: &Client, flow_run_id: &str) -> Result<usize> {
        let mut sent = 0;
        loop {
            let (batch, count) = {
                let mut buffer = self.lock();
                if buffer.dropped > 0 {
                    let note = format!(
                        "pf-exec: {} earlier lines were dropped: the log buffer was full while \
                         the server could not be reached",
                        buffer.dropped
                    );
                    let timestamp = buffer.lines.front().map_or_else(Timestamp::now, |l| {
                        l.timestamp - SignedDuration::from_micros(1)
                    });
                    buffer.dropped = 0;
                    buffer.lines.push_front(Line {
                        logger: LOGGER,
                        level: 30,
                        message: note,
                        timestamp,
                    });
                }
                let count = buffer.lines.len().min(POST_MAX);
                let batch: Vec<Value> = buffer
                    .lines
                    .iter()
                    .take(count)
                    .map(|line| record(line, flow_run_id))
                    .collect();
                (batch, count)
            };
            if count == 0 {
                self.lock().oldest_since = None;
                return Ok(sent);
            }
            client.post("logs/", Value::Array(batch))?;
            let mut buffer = self.lock();
            let freed: usize = buffer.lines.drain(..count).map(|l| l.message.len()).sum();
            buffer.bytes -= freed;
            buffer.oldest_since = (!buffer.lines.is_empty()).then(Instant::now);
            sent += count;
        }
    }
}

fn record(line: &Line, flow_run_id: &str) -> Value {
    json!({
        "name": line.logger,
        "level": line.level,
        "message": line.message,
        "timestamp": to_api_time(line.timestamp),
        "flow_run_id": flow_run_id,
        "task_run_id": null,
    })
}

/// Turns a stream of output bytes into log lines: split at `\n` (a trailing `\r` dropped),
/// invalid UTF-8 and NUL bytes replaced, lines longer than [`RECORD_BYTES`] cut into pieces.
#[derive(Debug)]
pub struct LineSplitter {
    partial: Vec<u8>,
    level: u64,
    buffer: LogBuffer,
    tail: Option<Arc<Mutex<VecDeque<String>>>>,
}

/// How many of the last stderr lines a Failed state's message quotes.
pub const TAIL_LINES: usize = 5;

impl LineSplitter {
    /// A splitter that queues lines at `level` into `buffer`; with `tail`, the last
    /// [`TAIL_LINES`] lines are also kept there (for a Failed state's message).
    pub fn new(level: u64, buffer: LogBuffer, tail: Option<Arc<Mutex<VecDeque<String>>>>) -> Self {
        LineSplitter {
            partial: Vec::new(),
            level,
            buffer,
            tail,
        }
    }

    /// Feed bytes as they were read.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while let Some(pos) = bytes.iter().position(|b| *b == b'\n') {
            self.partial.extend_from_slice(&bytes[..pos]);
            self.emit();
            bytes = &bytes[pos + 1..];
        }
        self.partial.extend_from_slice(bytes);
        while self.partial.len() >= RECORD_BYTES {
            let rest = self.partial.split_off(RECORD_BYTES);
            self.emit_piece();
            self.partial = rest;
        }
    }

    /// The stream ended: an unterminated last line is queued too.
    pub fn finish(&mut self) {
        if !self.partial.is_empty() {
            self.emit();
        }
    }

    fn emit(&mut self) {
        if self.partial.last() == Some(&b'\r') {
            self.partial.pop();
        }
        self.emit_piece();
    }

    fn emit_piece(&mut self) {
        let text = String::from_utf8_lossy(&self.partial).replace('\0', "\u{FFFD}");
        self.partial.clear();
        if let Some(tail) = &self.tail {
            let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(text.chars().take(500).collect());
        }
        self.buffer.push(self.level, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(buffer: &LogBuffer) -> Vec<String> {
        buffer
            .lock()
            .lines
            .iter()
            .map(|l| l.message.clone())
            .collect()
    }

    #[test]
    fn splits_lines_across_reads() {
        let buffer = LogBuffer::default();
        let mut splitter = LineSplitter::new(20, buffer.clone(), None);
        splitter.feed(b"one\r\ntw");
        splitter.feed(b"o\n\nthree");
        splitter.finish();
        assert_eq!(messages(&buffer), ["one", "two", "", "three"]);
    }

    #[test]
    fn invalid_utf8_and_long_lines_are_safe() {
        let buffer = LogBuffer::default();
        let mut splitter = LineSplitter::new(20, buffer.clone(), None);
        splitter.feed(b"a\xff\x00b\n");
        splitter.feed(&vec![b'x'; RECORD_BYTES * 2 + 3]);
        splitter.finish();
        let got = messages(&buffer);
        assert_eq!(got[0], "a\u{FFFD}\u{FFFD}b");
        assert_eq!(
            got[1..].iter().map(String::len).collect::<Vec<_>>(),
            [RECORD_BYTES, RECORD_BYTES, 3]
        );
    }

    #[test]
    fn timestamps_increase() {
        let buffer = LogBuffer::default();
        for i in 0..50 {
            buffer.push(20, i.to_string());
        }
        let stamps: Vec<Timestamp> = buffer.lock().lines.iter().map(|l| l.timestamp).collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]));
    }
}
