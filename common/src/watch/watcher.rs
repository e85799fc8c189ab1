//! The one watch loop of pf. Following runs (`pf-logs --follow`, `pf-wait`, `pf-run --watch`:
//! [`crate::follow`]), events (`pf-get events --follow`: [`crate::events`]) and lists
//! (`pf-get KIND --watch`: [`crate::watchlist`]) are each a [`Source`] plugged into a
//! [`Watcher`], which owns everything they have in common:
//!
//! - the websocket subscriptions ([`crate::logstream`]: one per topic, each with a filter the
//!   source sets and changes), whose items go to [`Source::on_record`];
//! - the switch between polling fast (nothing streams) and slowly, as a safety net (the socket
//!   delivers, but drops items for a slow subscriber and sees nothing while it reconnects):
//!   each subscription says whether it delivers; one of them may pace the poll
//!   ([`WatchSettings::pace`], [`Control::polled`]), and a source with schedules of its own reads the others'
//!   ([`Control::delivers`]; runs: `/logs/out` paces the log polls, `/events/out` the state
//!   checks);
//! - the deadline (`--timeout`), the interrupt check and the source's own supervision;
//! - the one set of outage rules ([`crate::outage`]): a failed poll is reported, retried with
//!   backoff, and resumed from the source's cursor, which looks back to before the outage for
//!   [`OUTAGE_HOLD`] after the server returns ([`Source::hold`], [`Hold`]), since clients send
//!   what they buffered late, with old timestamps. Nothing is lost, and the sources de-duplicate
//!   by id, so nothing is repeated.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::Value;

use crate::config::Settings;
use crate::error::Result;
use crate::logstream::{LiveStream, StreamEvent, Topic};
use crate::outage::{GIVE_UP_AFTER, Outage};

/// Poll interval while the websocket does not deliver.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Poll interval while the websocket delivers (a safety net for what it drops).
pub const STREAM_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// After a reconnection, how long polls keep looking back to the point of the outage.
pub const OUTAGE_HOLD: Duration = Duration::from_secs(60);
/// How often an interrupt and the source's supervision are checked.
const SUPERVISE_INTERVAL: Duration = Duration::from_millis(100);

/// What wakes the loop: an item of a websocket, or a message of the source's own threads
/// (e.g. REFs read from a slow pipe).
#[derive(Debug)]
pub enum Wake<M> {
    /// From the websocket thread of a topic.
    Stream(Topic, StreamEvent),
    /// From the source's threads (see [`Watcher::new`]).
    Message(M),
}

/// Why the loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The source said it is done ([`Control::finish`]).
    Finished,
    /// The deadline passed.
    TimedOut,
    /// The interrupt check said stop.
    Interrupted,
}

/// How a [`Watcher`] runs.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// The websockets to subscribe to, one per topic (the source sets each one's filter).
    pub streams: Vec<(Settings, Topic)>,
    /// The topic whose delivery slows the poll to the safety net ([`Control::polled`]); None:
    /// the poll keeps the fast pace (what streams only backs schedules of the source's own).
    pub pace: Option<Topic>,
    /// Poll interval while nothing streams.
    pub poll_interval: Duration,
    /// Poll interval while the websocket delivers.
    pub stream_poll_interval: Duration,
    /// Stop after this long.
    pub timeout: Option<Duration>,
    /// Checked every 100 ms: true stops the loop.
    pub interrupted: Option<fn() -> bool>,
    /// The tool name for stderr lines.
    pub tool: &'static str,
    /// Trace the websocket's connections on stderr (`-v`).
    pub verbose: bool,
}

impl WatchSettings {
    /// Polling at [`POLL_INTERVAL`], and [`STREAM_POLL_INTERVAL`] while `stream` delivers.
    pub fn new(tool: &'static str, stream: Option<(Settings, Topic)>) -> Self {
        WatchSettings {
            pace: stream.as_ref().map(|(_, topic)| *topic),
            streams: stream.into_iter().collect(),
            poll_interval: POLL_INTERVAL,
            stream_poll_interval: STREAM_POLL_INTERVAL,
            timeout: None,
            interrupted: None,
            tool,
            verbose: false,
        }
    }
}

/// One websocket subscription of the loop.
#[derive(Debug)]
struct Subscription {
    topic: Topic,
    live: LiveStream,
    /// It delivers (an item came since it last connected): polls it backs can slow down.
    delivers: bool,
}

/// What a source may ask of the loop from its callbacks.
#[derive(Debug)]
pub struct Control {
    subscriptions: Vec<Subscription>,
    /// The topic that paces the poll ([`WatchSettings::pace`]).
    pace: Option<Topic>,
    intervals: (Duration, Duration),
    next_poll: Instant,
    /// When the current tick began (the time its schedules compare with).
    now: Instant,
    finished: bool,
}

impl Control {
    fn subscription(&self, topic: Topic) -> Option<&Subscription> {
        self.subscriptions.iter().find(|s| s.topic == topic)
    }

    fn subscription_mut(&mut self, topic: Topic) -> Option<&mut Subscription> {
        self.subscriptions.iter_mut().find(|s| s.topic == topic)
    }

    /// Subscribe to `topic` with this filter (reconnecting if subscribed with another one);
    /// nothing happens without a subscription to it.
    pub fn set_filter(&self, topic: Topic, filter: Value) {
        if let Some(s) = self.subscription(topic) {
            s.live.set_filter(filter);
        }
    }

    /// Use this filter for `topic` from the next reconnection on (a cursor to backfill from).
    pub fn update_filter(&self, topic: Topic, filter: Value) {
        if let Some(s) = self.subscription(topic) {
            s.live.update_filter(filter);
        }
    }

    /// Whether the loop subscribes to `topic` (it may not be connected, or ever deliver).
    pub fn subscribes(&self, topic: Topic) -> bool {
        self.subscription(topic).is_some()
    }

    /// The websocket of `topic` delivers: polls it backs slow down to the safety net.
    pub fn streaming(&mut self, topic: Topic) {
        if let Some(s) = self.subscription_mut(topic) {
            s.delivers = true;
        }
    }

    /// Whether the websocket of `topic` delivers (until it is lost or refused).
    pub fn delivers(&self, topic: Topic) -> bool {
        self.subscription(topic).is_some_and(|s| s.delivers)
    }

    /// The interval of a poll backed by `topic`: fast, or the safety net while it delivers.
    pub fn interval(&self, topic: Topic) -> Duration {
        let (fast, safety_net) = self.intervals;
        if self.delivers(topic) {
            safety_net
        } else {
            fast
        }
    }

    /// Poll no later than `at`.
    pub fn poll_by(&mut self, at: Instant) {
        self.next_poll = self.next_poll.min(at);
    }

    /// The source just polled: the next poll is one interval away (fast, or the safety net
    /// while the websocket that paces it delivers).
    pub fn polled(&mut self) {
        let interval = match self.pace {
            Some(topic) => self.interval(topic),
            None => self.intervals.0,
        };
        self.next_poll = Instant::now() + interval;
    }

    /// Whether the poll schedule is due in this tick.
    pub fn poll_due(&self) -> bool {
        self.now >= self.next_poll
    }

    /// When this tick began.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Stop the loop ([`Stop::Finished`]).
    pub fn finish(&mut self) {
        self.finished = true;
    }
}

/// Something watched: the loop calls it back as records, messages and ticks come.
pub trait Source {
    /// What the source's own threads send (see [`Watcher::new`]).
    type Message;

    /// A record from the websocket of `topic` (call [`Control::streaming`] when it counts as
    /// delivered).
    fn on_record(&mut self, topic: Topic, record: Value, control: &mut Control) -> Result<()>;

    /// Poll the server (when [`Control::poll_due`], [`Source::due`] or [`Source::urgent`]).
    /// A connection loss returned here is an outage: the loop retries with backoff.
    fn tick(&mut self, control: &mut Control) -> Result<()>;

    /// Look back from where the next poll starts, for `how_long` (outage rules, see
    /// [`Hold`]): at the start of an outage until well after it, and again on reconnection.
    fn hold(&mut self, how_long: Duration, reconnected: bool) {
        let _ = (how_long, reconnected);
    }

    /// A message from the source's threads.
    fn on_message(&mut self, message: Self::Message, control: &mut Control) -> Result<()> {
        let _ = (message, control);
        Ok(())
    }

    /// Every sender of messages and the websocket thread are gone.
    fn messages_ended(&mut self) {}

    /// Checked on every turn of the loop (every 100 ms when [`Source::supervised`]): call
    /// [`Control::finish`] to stop.
    fn check(&mut self, control: &mut Control) -> Result<()> {
        let _ = control;
        Ok(())
    }

    /// Whether [`Source::check`] must run at least every 100 ms (it watches a process).
    fn supervised(&self) -> bool {
        false
    }

    /// A schedule of the source's own besides the poll's (e.g. state checks).
    fn due(&self) -> Option<Instant> {
        None
    }

    /// A tick is wanted at once (honoured while the server is reachable).
    fn urgent(&self) -> bool {
        false
    }

    /// The websocket of `topic` will not stream (said once): true when the source told the
    /// user itself, else the loop traces it with `-v` (the stream is only ever a shortcut).
    fn stream_unavailable(&mut self, topic: Topic, why: &str) -> bool {
        let _ = (topic, why);
        false
    }

    /// The websocket of `topic` stopped delivering (lost, or refused): schedules of the
    /// source's own that it backed speed up again.
    fn stream_stopped(&mut self, topic: Topic, control: &mut Control) {
        let _ = (topic, control);
    }
}

/// The loop (see the module docs).
#[derive(Debug)]
pub struct Watcher<M> {
    settings: WatchSettings,
    rx: Receiver<Wake<M>>,
    control: Control,
    outage: Outage,
}

impl<M: Send + 'static> Watcher<M> {
    /// A watcher, and the sender for the source's own threads (drop it when there are none:
    /// the loop notices when every sender is gone). The websocket threads start now, but each
    /// connects only once the source sets its filter.
    pub fn new(settings: WatchSettings) -> (Self, Sender<Wake<M>>) {
        let (tx, rx) = mpsc::channel();
        let mut subscriptions: Vec<Subscription> = Vec::new();
        for (server, topic) in &settings.streams {
            if subscriptions.iter().any(|s| s.topic == *topic) {
                continue;
            }
            let (tx, topic) = (tx.clone(), *topic);
            let live = LiveStream::start_topic(server.clone(), topic, move |event| {
                tx.send(Wake::Stream(topic, event)).is_ok()
            });
            subscriptions.push(Subscription {
                topic,
                live,
                delivers: false,
            });
        }
        let now = Instant::now();
        let control = Control {
            subscriptions,
            pace: settings.pace,
            intervals: (settings.poll_interval, settings.stream_poll_interval),
            next_poll: now,
            now,
            finished: false,
        };
        let outage = Outage::new(settings.tool);
        let watcher = Watcher {
            settings,
            rx,
            control,
            outage,
        };
        (watcher, tx)
    }

    /// The control, to set a source up before [`Watcher::run`] (its first filter).
    pub fn control(&mut self) -> &mut Control {
        &mut self.control
    }

    /// Run until the source finishes, the deadline passes or the interrupt check says stop.
    pub fn run<S: Source<Message = M>>(mut self, source: &mut S) -> Result<Stop> {
        let deadline = self.settings.timeout.map(|t| Instant::now() + t);
        loop {
            if self.settings.interrupted.is_some_and(|stop| stop()) {
                return Ok(Stop::Interrupted);
            }
            source.check(&mut self.control)?;
            if self.control.finished {
                return Ok(Stop::Finished);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Stop::TimedOut);
            }
            let mut wake = self.next_tick(source);
            if let Some(deadline) = deadline {
                wake = wake.min(deadline);
            }
            if source.supervised() || self.settings.interrupted.is_some() {
                wake = wake.min(Instant::now() + SUPERVISE_INTERVAL);
            }
            let timeout = wake.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(timeout) {
                Ok(Wake::Stream(topic, event)) => self.on_stream(topic, event, source)?,
                Ok(Wake::Message(message)) => source.on_message(message, &mut self.control)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // No thread left to wake the loop: only ticks remain (sleep, not spin).
                    source.messages_ended();
                    std::thread::sleep(timeout);
                }
            }
            if self.control.finished {
                return Ok(Stop::Finished);
            }
            // Also between records, so a busy stream never starves the polls.
            let urgent = self.outage.is_up() && source.urgent();
            if Instant::now() >= self.next_tick(source) || urgent {
                self.tick(source)?;
                if self.control.finished {
                    return Ok(Stop::Finished);
                }
            }
        }
    }

    /// When the next tick is due: the poll's schedule or the source's, unless the server is
    /// away (then the backoff alone decides).
    fn next_tick<S: Source>(&self, source: &S) -> Instant {
        match source.due() {
            Some(due) if self.outage.is_up() => self.control.next_poll.min(due),
            _ => self.control.next_poll,
        }
    }

    fn on_stream<S: Source<Message = M>>(
        &mut self,
        topic: Topic,
        event: StreamEvent,
        source: &mut S,
    ) -> Result<()> {
        let label = topic.path();
        match event {
            StreamEvent::Record(record) => {
                return source.on_record(topic, record, &mut self.control);
            }
            StreamEvent::Connected => self.trace(format!("pf: {label} websocket subscribed")),
            StreamEvent::Unavailable(why) => {
                // Said once: the stream thread ends after reporting this.
                if !source.stream_unavailable(topic, &why) {
                    self.trace(format!("pf: {label} websocket: {why}; polling"));
                }
                self.stream_stopped(topic, source);
            }
            StreamEvent::Lost(why) => {
                self.trace(format!("pf: {label} websocket: {why}; polling"));
                self.stream_stopped(topic, source);
            }
        }
        Ok(())
    }

    /// The socket of `topic` does not deliver (for now): what it backed is polled fast again,
    /// starting within one fast interval.
    fn stream_stopped<S: Source<Message = M>>(&mut self, topic: Topic, source: &mut S) {
        let Some(subscription) = self.control.subscription_mut(topic) else {
            return;
        };
        subscription.delivers = false;
        if self.control.pace == Some(topic) {
            let fast = self.control.intervals.0;
            self.control.poll_by(Instant::now() + fast);
        }
        source.stream_stopped(topic, &mut self.control);
    }

    fn trace(&self, line: String) {
        if self.settings.verbose {
            eprintln!("{line}");
        }
    }

    /// One tick of the source under the outage rules: a lost server is reported and waited
    /// out with backoff; the source holds its cursor from before the outage until well after
    /// it, and again from the reconnection on.
    fn tick<S: Source<Message = M>>(&mut self, source: &mut S) -> Result<()> {
        self.control.now = Instant::now();
        match source.tick(&mut self.control) {
            Ok(()) => {
                if self.outage.up().is_some() {
                    source.hold(OUTAGE_HOLD, true);
                }
                Ok(())
            }
            Err(e) => {
                let first = self.outage.is_up();
                let delay = self.outage.down(e)?;
                if first {
                    // Clients send what they buffered while the server was away, late.
                    source.hold(GIVE_UP_AFTER + OUTAGE_HOLD, false);
                }
                self.control.next_poll = Instant::now() + delay;
                Ok(())
            }
        }
    }
}

/// A look-back hold of a timestamp cursor: while in force, polls start no later than the
/// point held (clients send what they buffered during an outage late, with old timestamps,
/// possibly after newer records have moved the cursor on).
#[derive(Debug, Clone, Copy, Default)]
pub struct Hold(Option<(Timestamp, Instant)>);

impl Hold {
    /// Look back to `from` (or to where already held, if earlier) for `how_long` from now.
    pub fn hold(&mut self, from: Timestamp, how_long: Duration) {
        let until = Instant::now() + how_long;
        let from = self.0.map_or(from, |(held, _)| held.min(from));
        self.0 = Some((from, until));
    }

    /// Where a poll that would start at `start` starts: no later than the point held while
    /// the hold is in force (it ends once it has run out).
    pub fn apply(&mut self, start: Option<Timestamp>) -> Option<Timestamp> {
        match self.0 {
            Some((_, until)) if Instant::now() >= until => {
                self.0 = None;
                start
            }
            Some((from, _)) => Some(start.map_or(from, |s| s.min(from))),
            None => start,
        }
    }

    /// The point held to, while a hold is set.
    pub fn from(&self) -> Option<Timestamp> {
        self.0.map(|(from, _)| from)
    }
}

#[cfg(test)]
#[path = "watcher_tests.rs"]
mod tests;
