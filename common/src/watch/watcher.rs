//! The one watch loop of pf. Following runs (`pf-logs --follow`, `pf-wait`, `pf-run --watch`:
//! [`crate::follow`]), events (`pf-get events --follow`: [`crate::events`]) and lists
//! (`pf-get KIND --watch`: [`crate::watchlist`]) are each a [`Source`] plugged into a
//! [`Watcher`], which owns everything they have in common:
//!
//! - the websocket subscription ([`crate::logstream`]: a topic, and a filter the source sets
//!   and changes), whose items go to [`Source::on_record`];
//! - the switch between polling fast (nothing streams) and slowly, as a safety net (the socket
//!   delivers, but drops items for a slow subscriber and sees nothing while it reconnects);
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

/// What wakes the loop: an item of the websocket, or a message of the source's own threads
/// (e.g. REFs read from a slow pipe).
#[derive(Debug)]
pub enum Wake<M> {
    /// From the websocket thread.
    Stream(StreamEvent),
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
    /// The websocket to subscribe to (the source sets its filter), if any.
    pub stream: Option<(Settings, Topic)>,
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
            stream,
            poll_interval: POLL_INTERVAL,
            stream_poll_interval: STREAM_POLL_INTERVAL,
            timeout: None,
            interrupted: None,
            tool,
            verbose: false,
        }
    }
}

/// What a source may ask of the loop from its callbacks.
#[derive(Debug)]
pub struct Control {
    live: Option<LiveStream>,
    intervals: (Duration, Duration),
    streaming: bool,
    next_poll: Instant,
    /// When the current tick began (the time its schedules compare with).
    now: Instant,
    finished: bool,
}

impl Control {
    /// Subscribe with this filter (reconnecting if subscribed with another one).
    pub fn set_filter(&self, filter: Value) {
        if let Some(live) = &self.live {
            live.set_filter(filter);
        }
    }

    /// Use this filter from the next reconnection on (a cursor to backfill from).
    pub fn update_filter(&self, filter: Value) {
        if let Some(live) = &self.live {
            live.update_filter(filter);
        }
    }

    /// The websocket delivers: polls slow down to the safety net.
    pub fn streaming(&mut self) {
        self.streaming = true;
    }

    /// Poll no later than `at`.
    pub fn poll_by(&mut self, at: Instant) {
        self.next_poll = self.next_poll.min(at);
    }

    /// The source just polled: the next poll is one interval away (fast, or the safety net
    /// while the websocket delivers).
    pub fn polled(&mut self) {
        let (fast, safety_net) = self.intervals;
        self.next_poll = Instant::now() + if self.streaming { safety_net } else { fast };
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

    /// A record from the websocket (call [`Control::streaming`] when it counts as delivered).
    fn on_record(&mut self, record: Value, control: &mut Control) -> Result<()>;

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

    /// The websocket will not stream (said once): true when the source told the user itself,
    /// else the loop traces it with `-v` (the stream is only ever a shortcut).
    fn stream_unavailable(&mut self, why: &str) -> bool {
        let _ = why;
        false
    }
}

/// The loop (see the module docs).
#[derive(Debug)]
pub struct Watcher<M> {
    settings: WatchSettings,
    rx: Receiver<Wake<M>>,
    control: Control,
    outage: Outage,
    label: &'static str,
}

impl<M: Send + 'static> Watcher<M> {
    /// A watcher, and the sender for the source's own threads (drop it when there are none:
    /// the loop notices when every sender is gone). The websocket thread starts now, but
    /// connects only once the source sets a filter.
    pub fn new(settings: WatchSettings) -> (Self, Sender<Wake<M>>) {
        let (tx, rx) = mpsc::channel();
        let live = settings.stream.as_ref().map(|(server, topic)| {
            let tx = tx.clone();
            LiveStream::start_topic(server.clone(), *topic, move |event| {
                tx.send(Wake::Stream(event)).is_ok()
            })
        });
        let label = settings
            .stream
            .as_ref()
            .map_or("", |(_, topic)| topic.path());
        let now = Instant::now();
        let control = Control {
            live,
            intervals: (settings.poll_interval, settings.stream_poll_interval),
            streaming: false,
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
            label,
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
                Ok(Wake::Stream(event)) => self.on_stream(event, source)?,
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
        event: StreamEvent,
        source: &mut S,
    ) -> Result<()> {
        match event {
            StreamEvent::Record(record) => return source.on_record(record, &mut self.control),
            StreamEvent::Connected => {
                self.trace(format!("pf: {} websocket subscribed", self.label))
            }
            StreamEvent::Unavailable(why) => {
                // Said once: the stream thread ends after reporting this.
                if !source.stream_unavailable(&why) {
                    self.trace(format!("pf: {} websocket: {why}; polling", self.label));
                }
                self.stream_stopped();
            }
            StreamEvent::Lost(why) => {
                self.trace(format!("pf: {} websocket: {why}; polling", self.label));
                self.stream_stopped();
            }
        }
        Ok(())
    }

    /// Nothing streams (for now): poll fast again, starting within one fast interval.
    fn stream_stopped(&mut self) {
        self.control.streaming = false;
        let fast = self.control.intervals.0;
        self.control.poll_by(Instant::now() + fast);
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
mod tests {
    use super::*;
    use crate::error::Error;

    /// A source whose polls fail `failures` times, then succeed `successes` times and finish;
    /// it records the holds it is asked for.
    struct Flaky {
        failures: u32,
        successes: u32,
        ticks: u32,
        holds: Vec<(Duration, bool)>,
        messages: Vec<u32>,
        error: fn() -> Error,
    }

    impl Flaky {
        fn new(failures: u32, successes: u32) -> Self {
            Flaky {
                failures,
                successes,
                ticks: 0,
                holds: Vec::new(),
                messages: Vec::new(),
                error: || Error::Network {
                    message: "connection refused".into(),
                    hint: None,
                },
            }
        }
    }

    impl Source for Flaky {
        type Message = u32;

        fn on_record(&mut self, _record: Value, _control: &mut Control) -> Result<()> {
            Ok(())
        }

        fn tick(&mut self, control: &mut Control) -> Result<()> {
            self.ticks += 1;
            if self.failures > 0 {
                self.failures -= 1;
                return Err((self.error)());
            }
            self.successes -= 1;
            if self.successes == 0 {
                control.finish();
            }
            control.polled();
            // Poll again at once: the test needs no waiting but the backoff's.
            control.poll_by(Instant::now());
            Ok(())
        }

        fn hold(&mut self, how_long: Duration, reconnected: bool) {
            self.holds.push((how_long, reconnected));
        }

        fn on_message(&mut self, message: u32, _control: &mut Control) -> Result<()> {
            self.messages.push(message);
            Ok(())
        }
    }

    fn settings() -> WatchSettings {
        WatchSettings::new("pf-test", None)
    }

    #[test]
    fn an_outage_holds_from_its_start_and_again_on_reconnection() {
        let (watcher, _) = Watcher::new(settings());
        let mut source = Flaky::new(2, 2);
        assert_eq!(watcher.run(&mut source).unwrap(), Stop::Finished);
        // Two failures and two successes: each failure retried, nothing skipped.
        assert_eq!(source.ticks, 4);
        // Held once when the outage began (not again on the second failure), once on return.
        assert_eq!(
            source.holds,
            vec![(GIVE_UP_AFTER + OUTAGE_HOLD, false), (OUTAGE_HOLD, true)]
        );
    }

    #[test]
    fn an_error_that_is_no_outage_ends_the_loop() {
        let (watcher, _) = Watcher::new(settings());
        let mut source = Flaky::new(1, 1);
        source.error = || Error::Usage {
            message: "bad filter".into(),
            hint: None,
        };
        assert!(matches!(watcher.run(&mut source), Err(Error::Usage { .. })));
        assert!(source.holds.is_empty());
    }

    #[test]
    fn messages_reach_the_source_and_the_deadline_stops_it() {
        let (watcher, tx) = Watcher::new(WatchSettings {
            timeout: Some(Duration::from_millis(50)),
            ..settings()
        });
        tx.send(Wake::Message(7)).unwrap();
        drop(tx);
        // Never finishes by itself: a success at once, then only the schedule.
        let mut source = Flaky::new(0, u32::MAX);
        assert_eq!(watcher.run(&mut source).unwrap(), Stop::TimedOut);
        assert_eq!(source.messages, vec![7]);
        assert!(source.ticks >= 1);
    }

    #[test]
    fn polls_slow_down_while_the_socket_delivers_and_speed_up_when_it_is_lost() {
        let (mut watcher, _) = Watcher::new(settings());
        let mut source = Flaky::new(0, 1);
        let before = Instant::now();
        watcher.control.polled();
        assert!(watcher.control.next_poll < before + STREAM_POLL_INTERVAL);
        watcher.control.streaming();
        watcher.control.polled();
        assert!(watcher.control.next_poll >= before + STREAM_POLL_INTERVAL);
        watcher
            .on_stream(StreamEvent::Lost("closed".into()), &mut source)
            .unwrap();
        assert!(!watcher.control.streaming);
        assert!(watcher.control.next_poll <= Instant::now() + POLL_INTERVAL);
    }

    #[test]
    fn a_hold_looks_back_until_it_runs_out() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let mut hold = Hold::default();
        assert_eq!(
            hold.apply(Some(t("2024-05-01T12:00:00Z"))),
            Some(t("2024-05-01T12:00:00Z"))
        );
        hold.hold(t("2024-05-01T11:00:00Z"), Duration::from_secs(60));
        // A later hold never moves the point forward.
        hold.hold(t("2024-05-01T11:30:00Z"), Duration::from_secs(60));
        assert_eq!(
            hold.apply(Some(t("2024-05-01T12:00:00Z"))),
            Some(t("2024-05-01T11:00:00Z"))
        );
        assert_eq!(hold.apply(None), Some(t("2024-05-01T11:00:00Z")));
        hold.hold(t("2024-05-01T11:00:00Z"), Duration::ZERO);
        assert_eq!(
            hold.apply(Some(t("2024-05-01T12:00:00Z"))),
            Some(t("2024-05-01T12:00:00Z"))
        );
        assert_eq!(hold.from(), None);
    }
}
