//! Unit tests of the log shipper (the server side is tested in tests/integration).
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

fn split(chunks: &[&[u8]]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut splitter = LineSplitter::default();
    for chunk in chunks {
        splitter.feed(chunk, |l| lines.push(l));
    }
    splitter.finish(|l| lines.push(l));
    lines
}

#[test]
fn splits_lines_across_reads() {
    assert_eq!(
        split(&[b"one\r\ntw", b"o\n\nthree"]),
        ["one", "two", "", "three"]
    );
}

#[test]
fn invalid_utf8_nul_and_long_lines_are_safe() {
    let long = vec![b'x'; LINE_PIECE_BYTES * 2 + 3];
    let got = split(&[b"a\xff\x00b\n", &long]);
    assert_eq!(got[0], "a\u{FFFD}\u{FFFD}b");
    assert_eq!(
        got[1..].iter().map(String::len).collect::<Vec<_>>(),
        [LINE_PIECE_BYTES, LINE_PIECE_BYTES, 3]
    );
}

fn lines_with(max_buffered_bytes: usize) -> LogLines {
    LogLines {
        shared: Arc::new(Shared::default()),
        options: Arc::new(ShipOptions {
            max_buffered_bytes,
            tool: "pf-test".into(),
            ..ShipOptions::default()
        }),
    }
}

fn queued(lines: &LogLines) -> Vec<(u64, String)> {
    let state = lines.shared.lock();
    state
        .queue
        .iter()
        .map(|r| (r.level, r.message.clone()))
        .collect()
}

#[test]
fn timestamps_increase_and_loggers_are_kept() {
    let lines = lines_with(1 << 20);
    for i in 0..50 {
        lines.push(20, &i.to_string());
    }
    lines.push_as("prefect.flow_runs", 20, "Finished");
    let state = lines.shared.lock();
    let stamps: Vec<Timestamp> = state.queue.iter().map(|r| r.timestamp).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        state.queue.back().unwrap().logger,
        Some("prefect.flow_runs")
    );
    assert_eq!(state.queue.front().unwrap().logger, None);
}

#[test]
fn dropped_lines_leave_a_note_where_they_were() {
    let lines = lines_with(10);
    lines.push(20, "12345");
    lines.push(20, "67890");
    lines.push(20, "dropped");
    lines.push(20, "too");
    {
        // The server took the first batch: room again.
        let mut state = lines.shared.lock();
        state.queue.clear();
        state.queued_bytes = 0;
    }
    lines.push(20, "after");
    let queue = queued(&lines);
    assert_eq!(queue.len(), 2, "{queue:?}");
    assert_eq!(queue[0].0, 30);
    assert!(
        queue[0]
            .1
            .starts_with("pf-test: 2 log lines were dropped here"),
        "{queue:?}"
    );
    assert_eq!(queue[1], (20, "after".to_string()));
    let report = &lines.shared.lock().report;
    assert_eq!((report.pushed, report.lost), (5, 2));
}

#[test]
fn a_detached_handle_keeps_nothing() {
    let lines = LogLines::detached();
    lines.push(20, "gone");
    assert!(queued(&lines).is_empty());
    assert_eq!(lines.shared.lock().report.lost, 1);
}
