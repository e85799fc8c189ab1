//! Following events as they happen (`pf-get events --follow`): a source of the one watch loop
//! ([`crate::watcher`]), which owns the websocket, the polling schedule and the outage rules.
//!
//! Where the server streams `/events/out` (subprotocol `prefect`: auth, then an `EventFilter`
//! with a backfill of the filter's recent past) events arrive through it within milliseconds;
//! `/events/filter` is polled in any case, oldest first, following `next_page` tokens, as the
//! source of truth (the socket drops events for a slow subscriber, and sees nothing while it
//! reconnects). Both feed one de-duplication by event id, so nothing is printed twice; after a
//! lost connection the poller looks back to before the outage (the watcher's hold) and the
//! socket backfills from the last event seen, so nothing is lost.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::Result;
use crate::logstream::Topic;
use crate::paging::EventPages;
use crate::time::{parse_api_time, to_api_time};
use crate::watcher::{Control, Hold, Source, Stop, WatchSettings, Watcher};

/// How far behind the newest event a poll looks: the server persists events in batches
/// (every few seconds), and an event's `occurred` is its emitter's clock.
pub const LOOKBACK: SignedDuration = SignedDuration::from_secs(30);

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
/// `emit` says stop or `timeout` runs out. A lost server is ridden out (see [`crate::watcher`]).
pub fn follow_events(
    client: &Client,
    options: &EventFollowOptions,
    mut emit: impl FnMut(Value) -> Result<bool>,
) -> Result<Stopped> {
    let from = options.since.unwrap_or_else(Timestamp::now);
    let mut seen = SeenEvents::default();
    // The replay comes first, from the poller, so it prints in order; the socket then
    // backfills only from the newest event replayed.
    if options.since.is_some() && !poll(client, &options.filter, from, &mut seen, &mut emit)? {
        return Ok(Stopped::Done);
    }
    let stream = options
        .stream
        .then(|| (client.settings().clone(), Topic::Events));
    let (mut watcher, _) = Watcher::new(WatchSettings {
        timeout: options.timeout,
        verbose: client.verbose(),
        ..WatchSettings::new(options.tool, stream)
    });
    watcher.control().set_filter(
        Topic::Events,
        filter_since(&options.filter, seen.newest().unwrap_or(from)),
    );
    let mut source = EventSource {
        client,
        filter: &options.filter,
        from,
        seen,
        hold: Hold::default(),
        emit,
    };
    match watcher.run(&mut source)? {
        Stop::TimedOut => Ok(Stopped::TimedOut),
        Stop::Finished | Stop::Interrupted => Ok(Stopped::Done),
    }
}

/// Events as a [`Source`] of the watcher: the socket's and the polls' events through one
/// de-duplication.
struct EventSource<'a, E> {
    client: &'a Client,
    filter: &'a Value,
    /// No event before this is wanted.
    from: Timestamp,
    seen: SeenEvents,
    /// After an outage, polls look back to before it (emitters send what they buffered late).
    hold: Hold,
    emit: E,
}

impl<E: FnMut(Value) -> Result<bool>> EventSource<'_, E> {
    /// Where the next poll starts: [`LOOKBACK`] behind the newest event, or further back
    /// while held.
    fn next_since(&mut self) -> Timestamp {
        let newest = self.seen.newest().unwrap_or(self.from);
        let since = newest
            .checked_sub(LOOKBACK)
            .unwrap_or(newest)
            .max(self.from);
        self.hold.apply(Some(since)).unwrap_or(since)
    }
}

impl<E: FnMut(Value) -> Result<bool>> Source for EventSource<'_, E> {
    type Message = Infallible;

    fn on_record(&mut self, topic: Topic, event: Value, control: &mut Control) -> Result<()> {
        control.streaming(topic);
        if self.seen.admit(&event) {
            if let Some(newest) = self.seen.newest() {
                // A reconnection backfills from here rather than from the start.
                control.update_filter(topic, filter_since(self.filter, newest));
            }
            if !(self.emit)(event)? {
                control.finish();
            }
        }
        Ok(())
    }

    fn tick(&mut self, control: &mut Control) -> Result<()> {
        let since = self.next_since();
        if !poll(
            self.client,
            self.filter,
            since,
            &mut self.seen,
            &mut self.emit,
        )? {
            control.finish();
            return Ok(());
        }
        self.seen
            .forget_before(since.checked_sub(LOOKBACK).unwrap_or(since));
        control.polled();
        Ok(())
    }

    fn hold(&mut self, how_long: Duration, _reconnected: bool) {
        let since = self.next_since();
        self.hold.hold(since, how_long);
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
