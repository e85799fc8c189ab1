//! Run logs: the filter for `/logs/filter`, a poller that hands out each new log record
//! exactly once (timestamp cursor with a look-back window, de-duplicated by log id), how a
//! record looks on a terminal (sending records into a run is [`crate::logship`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::filters::FilterBody;
use crate::output::Style;
use crate::paging::Pages;
use crate::server;
use crate::text_search::TextQuery;
use crate::time::{parse_api_time, to_api_time};
use crate::watcher::Hold;

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
        self.body_searching(after, sort, true)
    }

    /// [`LogQuery::body`], with the text search left out unless `text_on_server`.
    fn body_searching(&self, after: Option<Timestamp>, sort: &str, text_on_server: bool) -> Value {
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
                self.text
                    .as_ref()
                    .filter(|_| text_on_server)
                    .map(|t| json!(t)),
            )
            .into_value()
    }

    /// The text search pf applies itself, when the server cannot (see [`text_on_server`]).
    fn client_text(&self, client: &Client) -> Option<TextQuery> {
        match &self.text {
            Some(text) if !text_on_server(client) => Some(TextQuery::parse(text)),
            _ => None,
        }
    }
}

/// Set once a server failed a text search (Prefect 3.4.20–3.4.x on SQLite before 3.44 answers
/// 500: `no such function: concat`); pf then searches on its side for the rest of the process.
static SERVER_TEXT_SEARCH_FAILED: AtomicBool = AtomicBool::new(false);

/// Whether the server searches log text itself: it is new enough
/// ([`server::LOG_TEXT_SEARCH`]) and has not failed a search in this process.
fn text_on_server(client: &Client) -> bool {
    !SERVER_TEXT_SEARCH_FAILED.load(Ordering::Relaxed)
        && server::info(client).has(server::LOG_TEXT_SEARCH)
}

/// Walk `/logs/filter` pages of `query` (sorted by `sort`, from `after`), each page with only
/// the matching records, `limit` matching records at most. The text search runs on the server
/// when it can, else here, with the same results.
fn matching_pages(
    client: &Client,
    query: &LogQuery,
    after: Option<Timestamp>,
    sort: &str,
    limit: Option<usize>,
    each: &mut dyn FnMut(Vec<Value>) -> Result<()>,
) -> Result<()> {
    let local = query.client_text(client);
    let body = query.body_searching(after, sort, local.is_none());
    let mut remaining = limit;
    let server_limit = if local.is_some() { None } else { limit };
    for (n, page) in Pages::new(client, "logs/filter", body, server_limit).enumerate() {
        let mut page = match page {
            Err(Error::Server { status: 500, .. })
                if n == 0 && query.text.is_some() && local.is_none() =>
            {
                SERVER_TEXT_SEARCH_FAILED.store(true, Ordering::Relaxed);
                return matching_pages(client, query, after, sort, limit, each);
            }
            page => page?,
        };
        if let Some(text) = &local {
            page.retain(|record| text.matches_record(record));
        }
        if let Some(left) = &mut remaining {
            page.truncate(*left);
            *left -= page.len();
        }
        each(page)?;
        if remaining == Some(0) {
            break;
        }
    }
    Ok(())
}

/// Hands out each log record of a query once, oldest first, however often it is polled.
#[derive(Debug)]
pub struct LogPoller {
    query: LogQuery,
    /// The newest timestamp handed out so far.
    cursor: Option<Timestamp>,
    /// Ids handed out within the look-back window, with their timestamps.
    seen: HashMap<String, Timestamp>,
    /// After a lost connection: keep looking back to before it for a while.
    hold: Hold,
}

impl LogPoller {
    /// A poller for `query`, starting at its `since` (or the beginning).
    pub fn new(query: LogQuery) -> Self {
        LogPoller {
            query,
            cursor: None,
            seen: HashMap::new(),
            hold: Hold::default(),
        }
    }

    /// Where the next poll starts: the cursor less the look-back window, or further back while
    /// a hold is in force.
    fn poll_start(&mut self) -> Option<Timestamp> {
        self.hold.apply(self.cursor.map(|c| c - LOOK_BACK))
    }

    /// Fetch the records not handed out yet (all pages), oldest first.
    pub fn poll(&mut self, client: &Client) -> Result<Vec<Value>> {
        let after = self.poll_start();
        // When pf searches the text, every record moves the cursor; the search applies after.
        let local = self.query.client_text(client);
        let body = self
            .query
            .body_searching(after, "TIMESTAMP_ASC", local.is_none());
        let mut fresh = Vec::new();
        for page in Pages::new(client, "logs/filter", body, None) {
            let page = match page {
                Err(Error::Server { status: 500, .. })
                    if self.query.text.is_some() && local.is_none() =>
                {
                    SERVER_TEXT_SEARCH_FAILED.store(true, Ordering::Relaxed);
                    return self.poll(client);
                }
                page => page?,
            };
            for record in page {
                // The page starts at `after`, so the window check is already done.
                if let Some(new) = self.accept(record, false)
                    && local.as_ref().is_none_or(|text| text.matches_record(&new))
                {
                    fresh.push(new);
                }
            }
        }
        self.forget_old(after);
        Ok(fresh)
    }

    /// Accept a record that arrived live (the `/logs/out` websocket): returns it unless it was
    /// handed out already. Unlike [`LogPoller::admit`] it does not move the cursor, so polling
    /// still finds every record the stream missed (the stream drops records when a subscriber
    /// falls behind, and says nothing while the server does not publish).
    pub fn admit_streamed(&mut self, record: Value) -> Option<Value> {
        let id = record.get("id").and_then(Value::as_str)?.to_string();
        let ts = record
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_api_time)?;
        if self.seen.contains_key(&id) {
            return None;
        }
        self.seen.insert(id, ts);
        Some(record)
    }

    /// After a lost connection, keep polling from the current point for `how_long`: clients
    /// buffer logs while the server is away and send them late, with their old timestamps,
    /// possibly after newer ones have moved the cursor on.
    pub fn hold_here(&mut self, how_long: Duration) {
        if let Some(from) = self.poll_start() {
            self.hold.hold(from, how_long);
        }
    }

    /// The timestamp of the newest record polled so far.
    pub fn cursor(&self) -> Option<Timestamp> {
        self.cursor
    }

    /// Accept a record from any source (polling or a websocket): returns it when it is new.
    pub fn admit(&mut self, record: Value) -> Option<Value> {
        self.accept(record, true)
    }

    fn accept(&mut self, record: Value, check_window: bool) -> Option<Value> {
        let id = record.get("id").and_then(Value::as_str)?.to_string();
        let ts = record
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_api_time)?;
        if self.seen.contains_key(&id) {
            return None;
        }
        let held = self.hold.from();
        if check_window
            && let Some(cursor) = self.cursor
            && ts < held.map_or(cursor - LOOK_BACK, |h| h.min(cursor - LOOK_BACK))
        {
            // Older than the window: it was handed out before the window moved on.
            return None;
        }
        self.seen.insert(id, ts);
        self.cursor = Some(self.cursor.map_or(ts, |c| c.max(ts)));
        Some(record)
    }

    /// Forget ids no later poll can return: polls never start before this one did.
    fn forget_old(&mut self, started: Option<Timestamp>) {
        if let Some(horizon) = started {
            let horizon = horizon - LOOK_BACK;
            self.seen.retain(|_, ts| *ts >= horizon);
        }
    }

    /// The query this poller reads.
    pub fn query(&self) -> &LogQuery {
        &self.query
    }
}

/// The column headers of the terminal form of logs ([`render_line`]).
pub const HEADERS: [&str; 3] = ["TIMESTAMP", "LEVEL", "MESSAGE"];

/// Width of the TIMESTAMP column (`2024-05-01 14:03:07.123`).
const TIMESTAMP_WIDTH: usize = 23;
/// Width of the LEVEL column (`CRITICAL`).
const LEVEL_WIDTH: usize = 8;

/// The header line of the terminal form, with a FLOW RUN column `run_width` wide when lines
/// carry a run name.
pub fn render_header(run_width: Option<usize>) -> String {
    let run = run_width
        .map(|w| format!("{:w$}  ", "FLOW RUN"))
        .unwrap_or_default();
    format!(
        "{run}{:TIMESTAMP_WIDTH$}  {:LEVEL_WIDTH$}  {}",
        HEADERS[0], HEADERS[1], HEADERS[2]
    )
}

/// One record as terminal lines: local time with milliseconds, the level (coloured when
/// `color`), the message; lines of a multi-line message (tracebacks) are indented under it.
/// `run` is the flow run's name and the width of its column, when lines carry one.
///
/// ```
/// use serde_json::json;
/// let record = json!({"level": 40, "message": "boom\nline 2", "timestamp": "2024-05-01T12:00:00Z"});
/// let text = pf_common::logs::render_line(&record, None, false);
/// let lines: Vec<&str> = text.lines().collect();
/// assert!(lines[0].ends_with("  ERROR     boom"));
/// assert_eq!(lines[1].trim_start(), "line 2");
/// assert_eq!(lines[1].len() - "line 2".len(), lines[0].len() - "boom".len());
/// ```
pub fn render_line(record: &Value, run: Option<(&str, usize)>, color: bool) -> String {
    let time = record
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(parse_api_time)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M:%S%.3f")
                .to_string()
        })
        .unwrap_or_default();
    let level = record
        .get("level")
        .and_then(Value::as_u64)
        .map(level_name)
        .unwrap_or_default();
    let styled_level = Style::for_log_level(&level).paint(&format!("{level:LEVEL_WIDTH$}"), color);
    let prefix = run
        .map(|(name, w)| format!("{name:w$}  "))
        .unwrap_or_default();
    let indent = " ".repeat(prefix.chars().count() + TIMESTAMP_WIDTH + 2 + LEVEL_WIDTH + 2);
    let message = record
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut out = String::new();
    for (i, line) in message
        .trim_end_matches(['\n', '\r'])
        .split('\n')
        .enumerate()
    {
        let line = line.trim_end_matches('\r');
        if i == 0 {
            out.push_str(&format!(
                "{prefix}{time:TIMESTAMP_WIDTH$}  {styled_level}  {line}"
            ));
        } else {
            out.push('\n');
            out.push_str(&indent);
            out.push_str(line);
        }
    }
    out.trim_end().to_string()
}

/// Which records of a run to read: the first `head` or the last `tail` (else all), oldest
/// first unless `reverse` (as `prefect flow-run logs --reverse`: newest first).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWindow {
    /// Only the first N records.
    pub head: Option<usize>,
    /// Only the last N records.
    pub tail: Option<usize>,
    /// Newest first.
    pub reverse: bool,
}

/// Read logs once, in the window's order and size (paged, each page handed to `page` as it
/// arrives).
pub fn read_logs(
    client: &Client,
    query: &LogQuery,
    window: LogWindow,
    mut page: impl FnMut(Vec<Value>) -> Result<()>,
) -> Result<()> {
    if let Some(n) = window.tail {
        let mut newest = Vec::new();
        matching_pages(
            client,
            query,
            None,
            "TIMESTAMP_DESC",
            Some(n),
            &mut |chunk| {
                newest.extend(chunk);
                Ok(())
            },
        )?;
        if !window.reverse {
            newest.reverse();
        }
        return page(newest);
    }
    let sort = if window.reverse {
        "TIMESTAMP_DESC"
    } else {
        "TIMESTAMP_ASC"
    };
    matching_pages(client, query, None, sort, window.head, &mut page)
}

/// Where following with `--tail N` starts: the oldest of the last N records of `query`, no
/// earlier than its `since` (None: there are none).
pub fn tail_start(client: &Client, query: &LogQuery, n: usize) -> Result<Option<Timestamp>> {
    let mut newest = Vec::new();
    read_logs(
        client,
        query,
        LogWindow {
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
        .and_then(Value::as_str)
        .and_then(crate::time::parse_api_time);
    Ok(oldest.map(|ts| query.since.map_or(ts, |s| s.max(ts))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, ts: &str) -> Value {
        json!({"id": id, "timestamp": ts, "level": 20, "message": id})
    }

    #[test]
    fn admit_hands_out_each_id_once() {
        let mut poller = LogPoller::new(LogQuery::default());
        assert!(poller.admit(record("a", "2024-05-01T12:00:00Z")).is_some());
        assert!(poller.admit(record("a", "2024-05-01T12:00:00Z")).is_none());
        assert!(poller.admit(record("b", "2024-05-01T12:00:01Z")).is_some());
        // Far behind the window: handed out before the window moved on.
        assert!(poller.admit(record("c", "2024-05-01T11:00:00Z")).is_none());
    }

    #[test]
    fn streamed_records_do_not_move_the_cursor() {
        let mut poller = LogPoller::new(LogQuery::default());
        assert!(poller.admit(record("a", "2024-05-01T12:00:00Z")).is_some());
        assert!(
            poller
                .admit_streamed(record("b", "2024-05-01T12:05:00Z"))
                .is_some()
        );
        assert_eq!(
            poller.cursor(),
            Some("2024-05-01T12:00:00Z".parse().unwrap())
        );
        // A poll later returns b again: it is not handed out twice.
        assert!(poller.admit(record("b", "2024-05-01T12:05:00Z")).is_none());
        // A late record the stream missed, older than b but in the poll window, still comes.
        assert!(poller.admit(record("c", "2024-05-01T12:00:05Z")).is_some());
    }

    #[test]
    fn a_hold_keeps_old_records_admissible() {
        let mut poller = LogPoller::new(LogQuery::default());
        assert!(poller.admit(record("a", "2024-05-01T12:00:00Z")).is_some());
        poller.hold_here(Duration::from_secs(60));
        assert!(poller.admit(record("b", "2024-05-01T12:01:00Z")).is_some());
        // Sent late after an outage, with its old timestamp: still handed out.
        assert!(poller.admit(record("c", "2024-05-01T11:59:55Z")).is_some());
    }

    #[test]
    fn header_lines_up_with_records() {
        let record = json!({"level": 20, "message": "hi", "timestamp": "2024-05-01T12:00:00Z"});
        let line = render_line(&record, Some(("run-a", 8)), false);
        let header = render_header(Some(8));
        assert_eq!(header.find("MESSAGE"), line.find("hi"));
        assert_eq!(header.find("LEVEL"), line.find("INFO"));
    }
}
