//! `pf-get events --follow` against a real server: a run's state changes arrive in order, each
//! once, also across a server restart; and where the `/events/out` websocket is refused (a proxy
//! in front of the real server), polling `/events/filter` and its `next_page` tokens brings
//! every new event, in order, once.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixture::Fixture;
use crate::harness::{Api, Server, Supervised, temp_dir, unique};
use crate::watch::{interrupt, pf_get_in_pipe_at};

/// `pf-get events --follow ARGS` in a pipe against `server`, supervised, with stdout, stderr
/// and the exit code in files under `dir`.
pub(crate) fn follow_events(server: &Server, dir: &Path, args: &str) -> Supervised {
    follow_events_at(&server.url, dir, args)
}

/// `pf-get events --follow ARGS` against the API at `url` (see [`follow_events`]).
fn follow_events_at(url: &str, dir: &Path, args: &str) -> Supervised {
    pf_get_in_pipe_at(url, dir, &format!("events --follow {args}"))
}

fn set_state(api: &Api, run_id: &str, state_type: &str) {
    let answer = api.post(
        &format!("flow_runs/{run_id}/set_state"),
        json!({ "state": { "type": state_type }, "force": true }),
    );
    assert_eq!(answer["status"], "ACCEPT", "{answer}");
}

fn printed_lines(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("out"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Wait (bounded) until `dir/out` has `n` events.
fn wait_for_lines(dir: &Path, n: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while printed_lines(dir).len() < n {
        assert!(
            Instant::now() < deadline,
            "{what}: {} events printed; stderr:\n{}",
            printed_lines(dir).len(),
            std::fs::read_to_string(dir.join("err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn follow_prints_a_runs_state_changes_in_order_across_a_server_restart() {
    let mut server = Server::start(&[]);
    let api = server.api();
    let since = jiff::Timestamp::now().to_string();
    let flow = api.flow("events", &[]);
    let run = api.flow_run(flow["id"].as_str().unwrap(), "SCHEDULED", &[]);
    let run_id = run["id"].as_str().unwrap().to_string();
    let dir = temp_dir("events-follow");
    let follower = follow_events(
        &server,
        &dir,
        // The timeout only bounds a broken follower: the test interrupts it.
        &format!("--resource prefect.flow-run.{run_id} --since {since} --timeout 300s"),
    );
    // The replay (--since) brings the Scheduled event of the run's creation.
    wait_for_lines(&dir, 1, "replay");
    set_state(&api, &run_id, "PENDING");
    set_state(&api, &run_id, "RUNNING");
    wait_for_lines(&dir, 3, "live events");

    server.stop();
    std::thread::sleep(Duration::from_secs(2));
    server.start_again();
    // Right away, before pf-get has reconnected: these must not be lost.
    set_state(&api, &run_id, "PAUSED");
    set_state(&api, &run_id, "RUNNING");
    set_state(&api, &run_id, "COMPLETED");
    wait_for_lines(&dir, 6, "events after the restart");

    let (code, stdout, stderr) = interrupt(follower, &dir);
    assert_eq!(code, 0, "stderr:\n{stderr}");
    let printed = printed_lines(&dir);
    assert_eq!(
        names(&printed),
        [
            "prefect.flow-run.Scheduled",
            "prefect.flow-run.Pending",
            "prefect.flow-run.Running",
            "prefect.flow-run.Paused",
            "prefect.flow-run.Running",
            "prefect.flow-run.Completed",
        ],
        "{stdout}\n{stderr}"
    );
    let mut ids: Vec<&str> = printed.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), printed.len(), "an event was printed twice");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("pf-get: warning: lost connection to the server (")),
        "{stderr}"
    );
}

#[test]
fn follow_polls_every_new_event_in_order_where_the_websocket_is_refused() {
    // The real server behind a proxy that answers the websocket upgrade with 403.
    let proxy = Fixture::refusing_events_socket(&Server::shared().url);
    let requested = |prefix: &str| proxy.requests().iter().any(|r| r.path.starts_with(prefix));
    let prefix = format!("pf.test.{}", unique("poll"));
    let dir = temp_dir("events-poll");
    let follower = follow_events_at(
        &proxy.url,
        &dir,
        &format!("--event '{prefix}.*' --timeout 300s"),
    );
    // The follower has polled once: what is emitted from here on is new to it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !requested("/api/events/filter") {
        assert!(Instant::now() < deadline, "pf-get never polled");
        std::thread::sleep(Duration::from_millis(100));
    }

    // 120 events in three posts: more than a page (50) is new between two polls.
    let api = Server::shared().api();
    let base = jiff::Timestamp::now();
    let mut emitted = Vec::new();
    for batch in 0..3 {
        let events: Vec<Value> = (batch * 40..batch * 40 + 40)
            .map(|i| {
                json!({
                    "id": uuid::Uuid::new_v4().to_string(),
                    "occurred": (base + jiff::SignedDuration::from_millis(i)).to_string(),
                    "event": format!("{prefix}.happened"),
                    "resource": { "prefect.resource.id": format!("{prefix}.r{i}") },
                })
            })
            .collect();
        let (status, _) = api.request("POST", "events", Some(Value::Array(events.clone())));
        assert_eq!(status, 204);
        emitted.extend(events);
        std::thread::sleep(Duration::from_millis(700));
    }
    wait_for_lines(&dir, emitted.len(), "polled events");

    let (code, stdout, stderr) = interrupt(follower, &dir);
    assert_eq!(code, 0, "stderr:\n{stderr}");
    let ids = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        ids(&printed_lines(&dir)),
        ids(&emitted),
        "every event once, in order\n{stdout}\n{stderr}"
    );
    assert!(requested("/api/events/out"), "the websocket was not tried");
    assert!(
        requested("/api/events/filter/next"),
        "no next_page was followed"
    );
}
