//! Unit tests of the one watch loop ([`super`]): outage rules, messages, the deadline, the
//! streaming/polling switch of each subscription, and [`super::Hold`].

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
    stopped: Vec<Topic>,
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
            stopped: Vec::new(),
            error: || Error::Network {
                message: "connection refused".into(),
                hint: None,
            },
        }
    }
}

impl Source for Flaky {
    type Message = u32;

    fn on_record(&mut self, _: Topic, _: Value, _: &mut Control) -> Result<()> {
        Ok(())
    }

    fn stream_stopped(&mut self, topic: Topic, _control: &mut Control) {
        self.stopped.push(topic);
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

/// Settings of a server nobody connects to (no filter is ever set).
fn server() -> Settings {
    Settings {
        api_url: "http://127.0.0.1:9/api".into(),
        api_url_source: crate::config::Source::Default,
        api_key: None,
        auth_string: None,
        custom_headers: Vec::new(),
        tls_insecure: false,
        ssl_cert_file: None,
        request_timeout: Duration::from_secs(1),
        max_retries: 0,
        retry_extra_codes: Vec::new(),
        profile: None,
        profiles_path: std::path::PathBuf::new(),
    }
}

#[test]
fn polls_slow_down_while_their_socket_delivers_and_speed_up_when_it_is_lost() {
    let (mut watcher, _) = Watcher::new(WatchSettings {
        streams: vec![(server(), Topic::Events), (server(), Topic::Logs)],
        pace: Some(Topic::Logs),
        ..settings()
    });
    let mut source = Flaky::new(0, 1);
    let before = Instant::now();
    watcher.control.polled();
    assert!(watcher.control.next_poll < before + STREAM_POLL_INTERVAL);
    // Another socket delivering says nothing about the poll, only about its own.
    watcher.control.streaming(Topic::Events);
    watcher.control.polled();
    assert!(watcher.control.next_poll < before + STREAM_POLL_INTERVAL);
    assert_eq!(
        watcher.control.interval(Topic::Events),
        STREAM_POLL_INTERVAL
    );
    assert_eq!(watcher.control.interval(Topic::Logs), POLL_INTERVAL);
    watcher.control.streaming(Topic::Logs);
    watcher.control.polled();
    assert!(watcher.control.next_poll >= before + STREAM_POLL_INTERVAL);
    watcher
        .on_stream(Topic::Logs, StreamEvent::Lost("closed".into()), &mut source)
        .unwrap();
    assert!(!watcher.control.delivers(Topic::Logs));
    assert!(watcher.control.delivers(Topic::Events));
    assert!(watcher.control.next_poll <= Instant::now() + POLL_INTERVAL);
    let unavailable = StreamEvent::Unavailable("403".into());
    watcher
        .on_stream(Topic::Events, unavailable, &mut source)
        .unwrap();
    assert!(!watcher.control.delivers(Topic::Events));
    assert_eq!(source.stopped, vec![Topic::Logs, Topic::Events]);
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
