//! pf-state over many runs: `bulk_set_state` 50 at a time, re-runs that succeed ("ALREADY"),
//! a bulk call failing midway (fault fixture), and older servers without bulk endpoints.

use serde_json::{Value, json};

use crate::fixture::{Fixture, Reply};
use crate::harness::{Pf, Server, pf};

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

fn count(flow_id: &str, state_type: &str) -> u64 {
    Server::shared()
        .api()
        .post(
            "flow_runs/count",
            json!({"flows": {"id": {"any_": [flow_id]}}, "flow_runs": {"state": {"type": {"any_": [state_type]}}}}),
        )
        .as_u64()
        .unwrap()
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
        out.stderr.matches("POST /flow_runs/bulk_set_state").count(),
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
