//! pf-wait against the real server and the real process worker: fan-in of several runs, one
//! failing; `--any`; `--timeout`; a state change seen over the `/events/out` socket, and
//! polled where a proxy refuses it.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixture::Fixture;
use crate::harness::{Api, Server, Supervised, pf, temp_dir};
use crate::logs::finish;
use crate::watch::tool_in_pipe_at;
use crate::worker::{Deployed, deployments};

/// Start a run of `deployment` now; its id.
fn start(deployment: &Deployed, params: &[&str]) -> String {
    let mut args = vec!["-n", deployment.full_name.as_str(), "--quiet"];
    args.extend_from_slice(params);
    let out = pf("pf-run").args(args).run();
    out.ok().stdout.trim().to_string()
}

fn row_of<'a>(rows: &'a [Value], id: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no row for {id}: {rows:?}"))
}

#[test]
fn waits_for_three_runs_from_stdin_and_exits_1_when_one_fails() {
    let d = deployments();
    let ok1 = start(&d.hello, &[]);
    let bad = start(&d.fails, &[]);
    let ok2 = start(&d.hello, &["--param", "lines=1"]);
    let out = pf("pf-wait")
        .args(["--timeout", "100s"])
        .stdin(format!("{ok1}\n{bad}\n{ok2}\n"))
        .run();
    out.expect_code(1);
    let rows = out.json_lines();
    assert_eq!(rows.len(), 3, "{}", out.stdout);
    assert_eq!(row_of(&rows, &ok1)["state_type"], "COMPLETED");
    assert_eq!(row_of(&rows, &ok2)["state_type"], "COMPLETED");
    let failed = row_of(&rows, &bad);
    assert_eq!(failed["state_type"], "FAILED");
    assert!(
        !failed["state"]["message"].as_str().unwrap_or("").is_empty(),
        "a failed run's row carries its message: {failed}"
    );

    // The same runs, ended now: a table of three rows on a terminal, the failure's message in it.
    let table = pf("pf-wait").args([&ok1, &bad, &ok2]).tty(200).run();
    table.expect_code(1);
    let lines = table.lines();
    assert_eq!(lines.len(), 4, "{}", table.stdout);
    assert!(lines[0].starts_with("NAME"), "{}", lines[0]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Failed") && l.contains(&bad)),
        "{}",
        table.stdout
    );

    // Only the completed ones: exit 0.
    pf("pf-wait").args([&ok1, &ok2]).run().ok();
}

#[test]
fn any_returns_at_the_first_run_and_timeout_exits_6() {
    let d = deployments();
    let slow = start(&d.sleeps, &["--param", "seconds=60"]);
    let quick = start(&d.hello, &[]);
    let began = Instant::now();
    let out = pf("pf-wait")
        .args(["--any", "--timeout", "100s", &slow, &quick])
        .run();
    out.ok();
    assert!(
        began.elapsed().as_secs() < 60,
        "--any waited for the slow run"
    );
    let rows = out.json_lines();
    assert_eq!(rows.len(), 2, "{}", out.stdout);
    assert_eq!(row_of(&rows, &quick)["state_type"], "COMPLETED");
    assert_ne!(row_of(&rows, &slow)["state_type"], "COMPLETED");

    let out = pf("pf-wait").args(["--timeout", "2s", &slow]).run();
    out.expect_code(6);
    assert_eq!(out.json_lines().len(), 1, "the row of the run still going");
    assert!(
        out.stderr
            .starts_with("pf-wait: error: timed out after 00:00:02 waiting for flow run '"),
        "{}",
        out.stderr
    );

    // pf-logs --follow --timeout gives up as pf-run does: exit 6.
    let out = pf("pf-logs")
        .args(["--follow", "--timeout", "2s", &slow])
        .run();
    out.expect_code(6);
    assert!(
        out.stderr
            .starts_with("pf-logs: error: timed out after 00:00:02 waiting for flow run '"),
        "{}",
        out.stderr
    );

    // --for running: the slow run has started (or soon will).
    pf("pf-wait")
        .args(["--for", "running", "--timeout", "60s", &slow])
        .run()
        .ok();
    pf("pf-state").args(["cancel", &slow]).run();
}

#[test]
fn usage_errors_exit_2() {
    pf("pf-wait")
        .args(["--timeout", "soon", "x"])
        .run()
        .expect_code(2);
    pf("pf-wait").args(["--for", "", "x"]).run().expect_code(2);
    // Nothing to wait for is no failure (an empty pipe).
    pf("pf-wait").run().ok();
}

/// `pf-wait -v --timeout 120s ID` against the API at `url` with `env` (`K=V ...`), supervised,
/// with stdout, stderr and the exit code in files under `dir`.
fn wait_in_background(url: &str, dir: &Path, env: &str, id: &str) -> Supervised {
    tool_in_pipe_at("pf-wait", url, dir, env, &format!("-v --timeout 120s {id}"))
}

/// A finished pf-wait that exited 0 with one row, its run COMPLETED; its stderr.
fn completed_row(waiting: Supervised, dir: &Path) -> String {
    let (code, stdout, stderr) = finish(waiting, dir, Duration::from_secs(90));
    assert_eq!(code, 0, "stderr:\n{stderr}");
    let row: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(row["state_type"], "COMPLETED", "{stdout}");
    stderr
}

/// Wait (bounded) until pf-wait's stderr has a line for which `what` holds.
fn wait_for_stderr(dir: &Path, what: impl Fn(&str) -> bool, label: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let err = std::fs::read_to_string(dir.join("err")).unwrap_or_default();
        if err.lines().any(&what) {
            return;
        }
        assert!(Instant::now() < deadline, "{label}; stderr:\n{err}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn running_run(api: &Api) -> String {
    let flow = api.flow("wait-events", &[]);
    let run = api.flow_run(flow["id"].as_str().unwrap(), "RUNNING", &[]);
    run["id"].as_str().unwrap().to_string()
}

fn complete(api: &Api, id: &str) {
    let answer = api.post(
        &format!("flow_runs/{id}/set_state"),
        json!({ "state": { "type": "COMPLETED" }, "force": true }),
    );
    assert_eq!(answer["status"], "ACCEPT", "{answer}");
}

#[test]
fn a_state_change_arrives_over_the_events_socket() {
    let server = Server::shared();
    let api = server.api();
    let id = running_run(&api);
    let dir = temp_dir("wait-events");
    // States are polled every 10 minutes here: only the socket can end the wait sooner.
    let waiting = wait_in_background(&server.url, &dir, "PF_TEST_STATE_INTERVAL_MS=600000", &id);
    wait_for_stderr(
        &dir,
        |l| l == "pf: events/out websocket subscribed",
        "the events socket never subscribed",
    );
    // The server subscribes when it reads the filter, just after the line above.
    std::thread::sleep(Duration::from_secs(1));
    complete(&api, &id);
    completed_row(waiting, &dir);
}

#[test]
fn states_are_polled_where_the_events_socket_is_refused() {
    // The real server behind a proxy that answers the websocket upgrade with 403.
    let proxy = Fixture::refusing_events_socket(&Server::shared().url);
    let api = Server::shared().api();
    let id = running_run(&api);
    let dir = temp_dir("wait-poll");
    let waiting = wait_in_background(&proxy.url, &dir, "", &id);
    wait_for_stderr(
        &dir,
        |l| l.starts_with("pf: events/out websocket: ") && l.ends_with("; polling"),
        "the refused socket was not traced",
    );
    // pf-wait has seen the run Running: its end is for a later check to find.
    let state_checks = || {
        proxy
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/api/flow_runs/filter"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while state_checks() == 0 {
        assert!(Instant::now() < deadline, "pf-wait never checked the state");
        std::thread::sleep(Duration::from_millis(100));
    }
    complete(&api, &id);
    let stderr = completed_row(waiting, &dir);
    // Nothing to warn about: states are polled as they always were.
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(state_checks() >= 2, "{} state checks", state_checks());
}
