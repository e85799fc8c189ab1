//! Following events as they happen (`pf-get events --follow`, `pf-get KIND --watch`).
//!
//! Where the server streams `/events/out` (subprotocol `prefect`: auth, then an `EventFilter`
//! with a backfill of the filter's recent past) events arrive through it within milliseconds;
//! `/events/filter` is polled in any case, oldest first, following `next_page` tokens, as the
//! source of truth (the socket drops events for a slow subscriber, and sees nothing while it
//! reconnects). Both feed one de-duplication by event id, so nothing is printed twice; after a
//! lost connection the poller looks back to before the outage and the socket backfills from
//! the last event seen, so nothing is lost.

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::Result;
use crate::logstream::{LiveStream, StreamEvent, Topic};
use crate::outage::Outage;
use crate::paging::EventPages;
use crate::time::{parse_api_time, to_api_time};

/// Poll interval while the websocket does not deliver events.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Poll interval while the websocket delivers events (a safety net for what it drops).
pub const STREAM_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// How far behind the newest event a poll looks: the server persists events in batches
/// (every few seconds), and an event's `occurred` is its emitter's clock.
pub const LOOKBACK: SignedDuration = SignedDuration::from_secs(30);
/// After a reconnection, how long polls keep looking back to before the outage.
pub const OUTAGE_HOLD: Duration = Duration::from_secs(60);

/// What to follow.
#[derive(Debug, Clone)]
pub struct EventFollowOptions {
    /// The `EventFilter` without `occurred` (names, resources, …).
    pub filter: Value,
    /// Replay events since then first (None: only new events).
    pub since: Option<Timestamp>,
    /// Use the `/events/out` websocket when the server has it.
    pub stream: bool,
    /// Stop after this long.
    pub timeout: Option<Duration>,
    /// The tool name for stderr lines.
    pub tool: &'static str,
}

/// Why following stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// `timeout` ran out.
    TimedOut,
    /// `emit` asked to stop (returned false).
    Done,
}

/// Events already handed out, by id (kept while they can still come again).
#[derive(Debug, Default)]
pub struct SeenEvents {
    ids: HashMap<String, Timestamp>,
    newest: Option<Timestamp>,
}

impl SeenEvents {
    /// True the first time an event is offered.
    pub fn admit(&mut self, event: &Value) -> bool {
        let Some(id) = event.get("id").and_then(Value::as_str) else {
            return true;
        };
        let occurred = event
            .get("occurred")
            .and_then(Value::as_str)
            .and_then(parse_api_time)
            .unwrap_or_else(Timestamp::now);
        if self.ids.contains_key(id) {
            return false;
        }
        self.ids.insert(id.to_string(), occurred);
        self.newest = Some(self.newest.map_or(occurred, |n| n.max(occurred)));
        true
    }

    /// The newest `occurred` handed out.
    pub fn newest(&self) -> Option<Timestamp> {
        self.newest
    }

    /// Forget ids older than `before` (they can no longer come again).
    pub fn forget_before(&mut self, before: Timestamp) {
        if self.ids.len() > 10_000 {
            self.ids.retain(|_, occurred| *occurred >= before);
        }
    }
}

/// The filter with `occurred` from `since` to far ahead (the server's default `until` is "now",
/// which would exclude every live event).
pub fn filter_since(filter: &Value, since: Timestamp) -> Value {
    let mut filter = if filter.is_object() {
        filter.clone()
    } else {
        json!({})
    };
    let until = Timestamp::now() + SignedDuration::from_hours(24 * 366);
    filter["occurred"] = json!({ "since": to_api_time(since), "until": to_api_time(until) });
    filter["order"] = json!("ASC");
    filter
}

/// Follow events matching `options`, handing each new one to `emit` (false: stop), until
/// `emit` says stop or `timeout` runs out. A lost server is ridden out (see [`crate::outage`]).
pub fn follow_events(
    client: &Client,
    options: &EventFollowOptions,
    mut emit: impl FnMut(Value) -> Result<bool>,
) -> Result<Stopped> {
    let from = options.since.unwrap_or_else(Timestamp::now);
    let mut seen = SeenEvents::default();
    let deadline = options.timeout.map(|t| Instant::now() + t);
    let mut outage = Outage::new(options.tool);
    // The replay comes first, from the poller, so it prints in order; the socket then
    // backfills only from the newest event replayed.
    if options.since.is_some() && !poll(client, &options.filter, from, &mut seen, &mut emit)? {
        return Ok(Stopped::Done);
    }
    let (tx, rx) = mpsc::channel::<StreamEvent>();
    let live = options.stream.then(|| {
        let live = LiveStream::start_topic(client.settings().clone(), Topic::Events, move |e| {
            tx.send(e).is_ok()
        });
        live.set_filter(filter_since(&options.filter, seen.newest().unwrap_or(from)));
        live
    });
    // Polls look back to `.0` at least until `.1` (set while the server is gone and for a
    // while after: emitters send what they buffered late).
    let mut hold: Option<(Timestamp, Instant)> = None;
    let mut streaming = false;
    let mut next_poll = Instant::now();
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Stopped::TimedOut);
        }
        let mut wake = next_poll;
        if let Some(d) = deadline {
            wake = wake.min(d);
        }
        match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(StreamEvent::Record(event)) => {
                streaming = true;
                if seen.admit(&event) {
                    if let (Some(live), Some(newest)) = (&live, seen.newest()) {
                        live.update_filter(filter_since(&options.filter, newest));
                    }
                    if !emit(event)? {
                        return Ok(Stopped::Done);
                    }
                }
                continue;
            }
            Ok(StreamEvent::Connected) => {
                if client.verbose() {
                    eprintln!("pf: events/out websocket subscribed");
                }
                continue;
            }
            Ok(StreamEvent::Lost(why) | StreamEvent::Unavailable(why)) => {
                if client.verbose() {
                    eprintln!("pf: events/out websocket: {why}; polling");
                }
                streaming = false;
                next_poll = next_poll.min(Instant::now() + POLL_INTERVAL);
                continue;
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
        if Instant::now() < next_poll {
            continue;
        }
        let newest = seen.newest().unwrap_or(from);
        let mut since = newest.checked_sub(LOOKBACK).unwrap_or(newest).max(from);
        if let Some((held, _)) = hold {
            since = since.min(held);
        }
        match poll(client, &options.filter, since, &mut seen, &mut emit) {
            Ok(false) => return Ok(Stopped::Done),
            Ok(true) => {
                if outage.up().is_some() {
                    let held = hold.map_or(since, |(h, _)| h);
                    hold = Some((held, Instant::now() + OUTAGE_HOLD));
                } else if hold.is_some_and(|(_, until)| Instant::now() >= until) {
                    hold = None;
                }
                seen.forget_before(since.checked_sub(LOOKBACK).unwrap_or(since));
                next_poll = Instant::now()
                    + if streaming {
                        STREAM_POLL_INTERVAL
                    } else {
                        POLL_INTERVAL
                    };
            }
            Err(e) => {
                if outage.is_up() {
                    let far = Instant::now() + crate::outage::GIVE_UP_AFTER + OUTAGE_HOLD;
                    hold = Some((since, far));
                }
                next_poll = Instant::now() + outage.down(e)?;
            }
        }
    }
}

/// One walk of `/events/filter` pages since `since`, oldest first; false when `emit` said stop.
fn poll(
    client: &Client,
    filter: &Value,
    since: Timestamp,
    seen: &mut SeenEvents,
    emit: &mut impl FnMut(Value) -> Result<bool>,
) -> Result<bool> {
    let body = json!({ "filter": filter_since(filter, since) });
    for page in EventPages::new(client, body, None) {
        for event in page? {
            if seen.admit(&event) && !emit(event)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
