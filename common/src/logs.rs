//! Run logs: the filter for `/logs/filter`, and a poller that hands out each new log record
//! exactly once (timestamp cursor with a look-back window, de-duplicated by log id).

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::filters::FilterBody;
use crate::paging::Pages;
use crate::time::{parse_api_time, to_api_time};

/// Logs reach the server up to a few seconds after their timestamp (clients send them in
/// batches), so each poll looks back this far and drops what it has already handed out.
pub const LOOK_BACK: SignedDuration = SignedDuration::from_secs(10);

/// Python logging level numbers by name.
pub const LEVELS: &[(&str, u64)] = &[
    ("DEBUG", 10),
    ("INFO", 20),
    ("WARNING", 30),
    ("ERROR", 40),
    ("CRITICAL", 50),
];

/// Parse a level name (case-insensitive; `WARN` is accepted) or number.
///
/// ```
/// assert_eq!(pf_common::logs::parse_level("warn").unwrap(), 30);
/// assert_eq!(pf_common::logs::parse_level("15").unwrap(), 15);
/// assert!(pf_common::logs::parse_level("loud").is_err());
/// ```
pub fn parse_level(text: &str) -> Result<u64> {
    let upper = text.trim().to_ascii_uppercase();
    let upper = if upper == "WARN" {
        "WARNING".to_string()
    } else {
        upper
    };
    if let Some((_, n)) = LEVELS.iter().find(|(name, _)| *name == upper) {
        return Ok(*n);
    }
    upper.parse::<u64>().map_err(|_| {
        Error::usage_hint(
            format!("unknown log level '{text}'"),
            "use debug, info, warning, error, critical, or a number",
        )
    })
}

/// The name of a level number (`INFO`), or the number itself.
pub fn level_name(level: u64) -> String {
    LEVELS
        .iter()
        .find(|(_, n)| *n == level)
        .map(|(name, _)| name.to_string())
        .unwrap_or_else(|| level.to_string())
}

/// Which logs to read.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Logs of these flow runs (ids).
    pub flow_run_ids: Vec<String>,
    /// Only logs of this task run (id).
    pub task_run_id: Option<String>,
    /// Minimum level (server-side `ge_`).
    pub min_level: Option<u64>,
    /// Only logs at or after this time.
    pub since: Option<Timestamp>,
    /// Server-side text search.
    pub text: Option<String>,
}

impl LogQuery {
    /// The `/logs/filter` body for this query, starting at `after` when given.
    pub fn body(&self, after: Option<Timestamp>, sort: &str) -> Value {
        let after = match (after, self.since) {
            (Some(a), Some(s)) => Some(a.max(s)),
            (a, s) => a.or(s),
        };
        FilterBody::new()
            .set(&["sort"], json!(sort))
            .set_opt(
                &["logs", "flow_run_id", "any_"],
                (!self.flow_run_ids.is_empty()).then(|| json!(self.flow_run_ids)),
            )
            .set_opt(
                &["logs", "task_run_id", "any_"],
                self.task_run_id.as_ref().map(|t| json!([t])),
            )
            .set_opt(&["logs", "level", "ge_"], self.min_level.map(|l| json!(l)))
            .set_opt(
                &["logs", "timestamp", "after_"],
                after.map(|t| json!(to_api_time(t))),
            )
            .set_opt(
                &["logs", "text", "query"],
                self.text.as_ref().map(|t| json!(t)),
            )
            .into_value()
    }
}

/// Hands out each log record of a query once, oldest first, however often it is polled.
#[derive(Debug)]
pub struct LogPoller {
    query: LogQuery,
    /// The newest timestamp handed out so far.
    cursor: Option<Timestamp>,
    /// Ids handed out within the look-back window, with their timestamps.
    seen: HashMap<String, Timestamp>,
}

impl LogPoller {
    /// A poller for `query`, starting at its `since` (or the beginning).
    pub fn new(query: LogQuery) -> Self {
        LogPoller {
            query,
            cursor: None,
            seen: HashMap::new(),
        }
    }

    /// Fetch the records not handed out yet (all pages), oldest first.
    pub fn poll(&mut self, client: &Client) -> Result<Vec<Value>> {
        let after = self.cursor.map(|c| c - LOOK_BACK);
        let mut fresh = Vec::new();
        for page in Pages::new(
            client,
            "logs/filter",
            self.query.body(after, "TIMESTAMP_ASC"),
            None,
        ) {
            for record in page? {
                if let Some(new) = self.admit(record) {
                    fresh.push(new);
                }
            }
        }
        self.forget_old();
        Ok(fresh)
    }

    /// Accept a record from any source (polling or a websocket): returns it when it is new.
    pub fn admit(&mut self, record: Value) -> Option<Value> {
        let id = record.get("id").and_then(Value::as_str)?.to_string();
        let ts = record
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_api_time)?;
        if self.seen.contains_key(&id) {
            return None;
        }
        if let Some(cursor) = self.cursor
            && ts < cursor - LOOK_BACK
        {
            // Older than the window: it was handed out before the window moved on.
            return None;
        }
        self.seen.insert(id, ts);
        self.cursor = Some(self.cursor.map_or(ts, |c| c.max(ts)));
        Some(record)
    }

    fn forget_old(&mut self) {
        if let Some(cursor) = self.cursor {
            let horizon = cursor - LOOK_BACK - LOOK_BACK;
            self.seen.retain(|_, ts| *ts >= horizon);
        }
    }

    /// The query this poller reads.
    pub fn query(&self) -> &LogQuery {
        &self.query
    }
}
