//! pf-state over many runs: `bulk_set_state` 50 at a time, re-runs that succeed ("ALREADY"),
//! a bulk call failing midway (fault fixture), older servers without bulk endpoints, and 1 000
//! runs piped from pf-get.

use serde_json::{Value, json};

use crate::fixture::{Fixture, Reply};
use crate::harness::{Pf, Run, Server, pf};

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

fn count(flow_id: &str, state_type: &str) -> u64 {
    count_on(Server::shared(), flow_id, Some(state_type))
}

/// How many runs of the flow `server` has (in `state_type`, when given).
pub(crate) fn count_on(server: &Server, flow_id: &str, state_type: Option<&str>) -> u64 {
    let mut filter = json!({"flows": {"id": {"any_": [flow_id]}}});
    if let Some(state_type) = state_type {
        filter["flow_runs"] = json!({"state": {"type": {"any_": [state_type]}}});
    }
    server
        .api()
        .post("flow_runs/count", filter)
        .as_u64()
        .unwrap()
}

/// The server of the 1 000-run tests: their own, so that a thousand orchestrated writes do
/// not keep the shared SQLite server busy (503) for the tests running beside them.
pub(crate) fn bulk_server() -> &'static Server {
    static BULK: std::sync::OnceLock<Server> = std::sync::OnceLock::new();
    BULK.get_or_init(|| Server::start(&[]))
}

/// A flow with `n` Scheduled runs on the 1 000-run tests' server (see
/// [`crate::harness::Api::flow_with_scheduled_runs`]).
pub(crate) fn flow_with_scheduled_runs(prefix: &str, n: usize) -> Value {
    bulk_server().api().flow_with_scheduled_runs(prefix, n)
}

/// The 1 000-run tests take turns on their server: together they only make it answer 503.
pub(crate) static ONE_THOUSAND_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Run `tool` with `input` on stdin, bounded by `limit` (killed after it) instead of the
/// harness's 2 minutes: 1 000 runs on a test server that other tests load at the same time
/// can take longer than that, though not forever.
pub(crate) fn run_bounded(tool: Pf, input: String, limit: std::time::Duration) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = tool
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if finished.recv_timeout(limit).is_err() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    });
    let output = child.wait_with_output().unwrap();
    let _ = done.send(());
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn statuses(out: &crate::harness::Run) -> Vec<String> {
    out.json_lines()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect()
}

/// A proxy to the shared server that answers `bulk(path, call index)` for bulk calls when it
/// returns Some (after forwarding the call when `forward` says so).
fn proxy(bulk: impl Fn(usize) -> (bool, Option<Reply>) + Send + Sync + 'static) -> Fixture {
    let api = Server::shared().api();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    Fixture::start(move |request, _| {
        let path = request.path.trim_start_matches("/api/");
        let body = (!request.body.is_empty()).then(|| request.json());
        if path.contains("/bulk_") {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (forward, reply) = bulk(n);
            if forward {
                api.request(&request.method, path, body.clone());
            }
            if let Some(reply) = reply {
                return reply;
            }
        }
        let (status, value) = api.request(&request.method, path, body);
        Reply::json(status, value)
    })
}

#[test]
fn cancel_in_bulk_and_again_is_success() {
    let api = Server::shared().api();
    let flow = api.flow("bulk-cancel", &[]);
    let runs: Vec<Value> = (0..60)
        .map(|_| api.flow_run(id(&flow), "RUNNING", &[]))
        .collect();
    let refs: String = runs.iter().map(|r| format!("{}\n", id(r))).collect();
    let out = pf("pf-state")
        .args(["cancel", "-v"])
        .stdin(refs.clone())
        .run();
    out.ok();
    assert_eq!(statuses(&out), vec!["ACCEPT"; 60]);
    assert_eq!(
        // Answered calls: a busy server may make pf retry one.
        out.stderr
            .matches("POST /flow_runs/bulk_set_state 200")
            .count(),
        2,
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("/set_state 200"), "{}", out.stderr);
    assert_eq!(count(id(&flow), "CANCELLING"), 60);
    // Again: every run is already Cancelling; that is success, and nothing is sent.
    let out = pf("pf-state").args(["cancel", "-v"]).stdin(refs).run();
    out.ok();
    assert_eq!(statuses(&out), vec!["ALREADY"; 60]);
    assert!(!out.stderr.contains("set_state"), "{}", out.stderr);
    // set: a run already in the state is success too; --per-item sends one call per run.
    let one = api.flow_run(id(&flow), "RUNNING", &[]);
    for expected in ["ACCEPT", "ALREADY"] {
        let out = pf("pf-state")
            .args(["set", "failed", "--per-item", "-v", id(&one)])
            .run();
        out.ok();
        assert_eq!(statuses(&out), [expected]);
    }
}

#[test]
fn a_bulk_set_state_failing_midway_is_read_back_and_finished_per_run() {
    let api = Server::shared().api();
    let flow = api.flow("bulk-fault", &[]);
    let runs: Vec<Value> = (0..70)
        .map(|_| api.flow_run(id(&flow), "RUNNING", &[]))
        .collect();
    // The first call goes through; the second is applied but its answer lost; later ones fail.
    let fixture = proxy(|n| match n {
        0 => (false, None),
        1 => (true, Some(Reply::json(500, json!({"detail": "lost"})))),
        _ => (false, Some(Reply::json(500, json!({"detail": "down"})))),
    });
    let refs: String = runs.iter().map(|r| format!("{}\n", id(r))).collect();
    let out = Pf::new("pf-state")
        .arg("cancel")
        .env("PREFECT_API_URL", &fixture.url)
        .env("PREFECT_CLIENT_MAX_RETRIES", "1")
        .stdin(refs)
        .run();
    out.ok();
    assert_eq!(statuses(&out), vec!["ACCEPT"; 70], "{out:?}");
    assert!(
        out.stderr.contains("checking its 20 runs one by one"),
        "{}",
        out.stderr
    );
    assert_eq!(count(id(&flow), "CANCELLING"), 70);
}

#[test]
fn a_server_without_bulk_endpoints_gets_one_call_per_object() {
    let api = Server::shared().api();
    let flow = api.flow("no-bulk", &[]);
    let runs: Vec<Value> = (0..55)
        .map(|_| api.flow_run(id(&flow), "RUNNING", &[]))
        .collect();
    let fixture = proxy(|_| {
        (
            false,
            Some(Reply::json(404, json!({"detail": "Not Found"}))),
        )
    });
    let refs: String = runs.iter().map(|r| format!("{}\n", id(r))).collect();
    let out = Pf::new("pf-state")
        .arg("cancel")
        .env("PREFECT_API_URL", &fixture.url)
        .stdin(refs.clone())
        .run();
    out.ok();
    assert_eq!(statuses(&out), vec!["ACCEPT"; 55]);
    let out = Pf::new("pf-rm")
        .args(["flow-runs"])
        .env("PREFECT_API_URL", &fixture.url)
        .stdin(refs)
        .run();
    out.ok();
    assert_eq!(out.json_lines().len(), 55);
    let requests = fixture.requests();
    // Detected once per tool: one bulk call each, then one request per object.
    let bulk = requests
        .iter()
        .filter(|r| r.path.contains("/bulk_"))
        .count();
    assert_eq!(bulk, 2);
    let single = |suffix: &str| requests.iter().filter(|r| r.path.ends_with(suffix)).count();
    assert_eq!(single("/set_state"), 55);
    assert_eq!(requests.iter().filter(|r| r.method == "DELETE").count(), 55);
    let left = api.post(
        "flow_runs/count",
        json!({"flows": {"id": {"any_": [id(&flow)]}}}),
    );
    assert_eq!(left, json!(0));
}

#[test]
fn a_thousand_runs_piped_from_pf_get_are_cancelled() {
    let _turn = ONE_THOUSAND_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let flow = flow_with_scheduled_runs("bulk-cancel-1000", 1000);
    assert_eq!(count_on(bulk_server(), id(&flow), Some("SCHEDULED")), 1000);
    let listed = Pf::new("pf-get")
        .server(bulk_server())
        .args([
            "flow-runs",
            "--flow",
            flow["name"].as_str().unwrap(),
            "--all",
        ])
        .run();
    listed.ok();
    assert_eq!(listed.json_lines().len(), 1000);
    let out = run_bounded(
        Pf::new("pf-state")
            .server(bulk_server())
            .args(["cancel", "--yes", "-v"]),
        listed.stdout.clone(),
        std::time::Duration::from_secs(600),
    );
    out.ok();
    // One row per run, each run once, each now Cancelled: a run that never started is
    // cancelled outright (the server answers REJECT to Cancelling and sets Cancelled).
    let rows = out.json_lines();
    let ids: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1000);
    for row in &rows {
        assert_eq!(
            (&row["ok"], &row["state"]["type"]),
            (&json!(true), &json!("CANCELLED")),
            "{row}"
        );
    }
    // 50 per bulk call (a loaded server's 503s are retried: count the answered calls).
    assert_eq!(
        out.stderr
            .matches("POST /flow_runs/bulk_set_state 200")
            .count(),
        20,
        "{}",
        out.stderr
    );
    // The server's count agrees.
    assert_eq!(count_on(bulk_server(), id(&flow), Some("CANCELLED")), 1000);
    assert_eq!(count_on(bulk_server(), id(&flow), Some("SCHEDULED")), 0);
}
