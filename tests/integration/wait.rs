//! pf-wait against the real server and the real process worker: fan-in of several runs, one
//! failing; `--any`; `--timeout`.

use std::time::Instant;

use serde_json::Value;

use crate::harness::pf;
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
