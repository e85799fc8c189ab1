//! pf-rm, pf-pause and pf-resume against the real server: every kind by its REF forms, bulk
//! deletes from stdin, re-runs that succeed, dry runs, the prompt on a terminal, a bulk call
//! failing midway (fault fixture), and resuming a run that waits for input (real worker).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bulk_state::{bulk_server, count_on};
use crate::fixture::{Fixture, Reply};
use crate::harness::{Pf, Server, bin, pf, temp_dir, unique};

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

/// (ref, result, ok) of each row.
fn rows(out: &crate::harness::Run) -> Vec<(String, String, bool)> {
    out.json_lines()
        .iter()
        .map(|r| {
            (
                r["ref"].as_str().unwrap().to_string(),
                r["result"].as_str().unwrap().to_string(),
                r["ok"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn results(out: &crate::harness::Run) -> Vec<String> {
    rows(out).into_iter().map(|r| r.1).collect()
}

fn count_runs(flow_id: &str) -> u64 {
    count_on(Server::shared(), flow_id, None)
}

fn status(path: &str) -> u16 {
    Server::shared().api().request("GET", path, None).0
}

#[test]
fn flow_runs_go_in_bulk_from_stdin_and_a_rerun_succeeds() {
    let api = Server::shared().api();
    let flow = api.flow("rm-bulk", &[]);
    for _ in 0..120 {
        api.flow_run(id(&flow), "FAILED", &[]);
    }
    let listed = pf("pf-get")
        .args([
            "flow-runs",
            "--flow",
            flow["name"].as_str().unwrap(),
            "--all",
        ])
        .run();
    assert_eq!(listed.json_lines().len(), 120);

    // Dry run: every REF listed, nothing deleted.
    let out = pf("pf-rm")
        .args(["flow-runs", "--dry-run"])
        .stdin(listed.stdout.clone())
        .run();
    out.ok();
    assert_eq!(results(&out), vec!["would delete"; 120]);
    assert_eq!(count_runs(id(&flow)), 120);

    let out = pf("pf-rm")
        .args(["flow-runs", "-v"])
        .stdin(listed.stdout.clone())
        .run();
    out.ok();
    assert_eq!(results(&out), vec!["deleted"; 120]);
    assert_eq!(count_runs(id(&flow)), 0);
    // 50 per bulk call; ids resolved 200 at a time.
    // (A loaded SQLite server answers some with 503 and they are retried: count the answered.)
    let bulk_calls = out
        .stderr
        .matches("POST /flow_runs/bulk_delete 200")
        .count();
    assert_eq!(bulk_calls, 3, "{}", out.stderr);
    assert!(!out.stderr.contains("DELETE"), "{}", out.stderr);

    // The same command again: every id is already gone, and that is success.
    let out = pf("pf-rm")
        .arg("flow-runs")
        .stdin(listed.stdout.clone())
        .run();
    out.ok();
    assert_eq!(results(&out), vec!["already deleted"; 120]);

    // A name that names nothing: "not found", exit 4; with another REF that works: exit 1.
    let out = pf("pf-rm").args(["flow-run", "no-such-run-anywhere"]).run();
    out.expect_code(4);
    assert_eq!(
        rows(&out),
        [("no-such-run-anywhere".into(), "not found".into(), false)]
    );
    assert!(
        out.stderr
            .contains("pf-rm: error: flow run 'no-such-run-anywhere' not found")
    );
    let run = api.flow_run(id(&flow), "COMPLETED", &[]);
    let name = run["name"].as_str().unwrap();
    let out = pf("pf-rm")
        .args(["flow-run", "no-such-run-anywhere", name])
        .run();
    out.expect_code(1);
    assert_eq!(
        rows(&out),
        [
            ("no-such-run-anywhere".into(), "not found".into(), false),
            (name.into(), "deleted".into(), true)
        ]
    );
    assert_eq!(count_runs(id(&flow)), 0);
}

#[test]
fn a_thousand_runs_piped_from_pf_get_are_deleted() {
    let _turn = crate::bulk_state::ONE_THOUSAND_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let flow = crate::bulk_state::flow_with_scheduled_runs("rm-1000", 1000);
    assert_eq!(count_on(bulk_server(), id(&flow), None), 1000);
    let listed = Pf::new("pf-get")
        .server(bulk_server())
        .args(["flow-runs", "--flow", flow["name"].as_str().unwrap()])
        .args(["--state", "scheduled", "--all"])
        .run();
    listed.ok();
    assert_eq!(listed.json_lines().len(), 1000);
    let out = crate::bulk_state::run_bounded(
        Pf::new("pf-rm")
            .server(bulk_server())
            .args(["flow-runs", "--yes", "-v"]),
        listed.stdout.clone(),
        Duration::from_secs(600),
    );
    out.ok();
    assert_eq!(results(&out), vec!["deleted"; 1000]);
    // One row per run, each run once.
    let ids: std::collections::BTreeSet<String> = out
        .json_lines()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1000);
    assert_eq!(
        out.stderr
            .matches("POST /flow_runs/bulk_delete 200")
            .count(),
        20,
        "{}",
        out.stderr
    );
    assert_eq!(count_on(bulk_server(), id(&flow), None), 0);
}

#[test]
fn the_per_item_path_deletes_one_request_per_object() {
    let api = Server::shared().api();
    let flow = api.flow("rm-items", &[]);
    let runs: Vec<Value> = (0..3)
        .map(|_| api.flow_run(id(&flow), "COMPLETED", &[]))
        .collect();
    let out = pf("pf-rm")
        .args(["flow-run", "--per-item", "-v", id(&runs[0]), id(&runs[1])])
        .arg(runs[2]["name"].as_str().unwrap())
        .run();
    out.ok();
    assert_eq!(results(&out), ["deleted", "deleted", "deleted"]);
    // One object per request: three runs, three paths. A busy CI server may answer one
    // attempt with a retryable status, so count the runs asked for, not the attempts.
    let deleted: std::collections::BTreeSet<&str> = out
        .stderr
        .lines()
        .filter_map(|line| line.strip_prefix("pf: DELETE /flow_runs/"))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    assert_eq!(deleted.len(), 3, "{}", out.stderr);
    let attempts = out.stderr.matches("pf: DELETE /flow_runs/").count();
    let retries = out.stderr.matches("pf: retrying in").count();
    assert_eq!(attempts, 3 + retries, "{}", out.stderr);
    assert!(!out.stderr.contains("bulk_delete"), "{}", out.stderr);
    assert_eq!(count_runs(id(&flow)), 0);
}

#[test]
fn every_kind_goes_by_its_ref_forms() {
    let api = Server::shared().api();
    // Flow by name (its runs and deployments go with it).
    let flow = api.flow("rm-kinds", &[]);
    let flow_name = flow["name"].as_str().unwrap().to_string();
    // Deployment as FLOW/DEPLOYMENT, schedule as FLOW/DEPLOYMENT/SLUG.
    let dep_name = unique("dep");
    let deployment = api.deployment(
        id(&flow),
        &dep_name,
        json!({"schedules": [{"schedule": {"interval": 3600}, "slug": "hourly", "active": true},
                             {"schedule": {"cron": "0 3 * * *"}, "slug": "nightly", "active": true}]}),
    );
    let full = format!("{flow_name}/{dep_name}");
    pf("pf-rm")
        .args(["schedule", &format!("{full}/hourly")])
        .run()
        .ok();
    let schedules = api.get(&format!("deployments/{}/schedules", id(&deployment)));
    let slugs: Vec<&str> = schedules
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["nightly"]);
    let out = pf("pf-rm").args(["deployment", &full]).run();
    out.ok();
    // NAME: the deployment's own name (the API object has only the flow's id).
    assert_eq!(out.json_lines()[0]["name"], json!(dep_name));
    assert_eq!(status(&format!("deployments/{}", id(&deployment))), 404);

    // Task run by id.
    let run = api.flow_run(id(&flow), "COMPLETED", &[]);
    let task = api.post(
        "task_runs/",
        json!({"flow_run_id": id(&run), "task_key": "t", "dynamic_key": "0", "name": unique("task")}),
    );
    pf("pf-rm").args(["task-runs", id(&task)]).run().ok();
    assert_eq!(status(&format!("task_runs/{}", id(&task))), 404);
    pf("pf-rm").args(["flow", &flow_name]).run().ok();
    assert_eq!(status(&format!("flows/{}", id(&flow))), 404);

    // Work pool by name, its queue as POOL/QUEUE, a worker as POOL/WORKER.
    let pool = unique("rm-pool");
    api.post("work_pools/", json!({"name": pool, "type": "process"}));
    api.post(&format!("work_pools/{pool}/queues"), json!({"name": "low"}));
    api.post(
        &format!("work_pools/{pool}/workers/heartbeat"),
        json!({"name": "w1"}),
    );
    let out = pf("pf-rm")
        .args(["work-queue", &format!("{pool}/low")])
        .run();
    out.ok();
    assert_eq!(out.json_lines()[0]["name"], json!(format!("{pool}/low")));
    assert_eq!(status(&format!("work_pools/{pool}/queues/low")), 404);
    pf("pf-rm")
        .args(["worker", &format!("{pool}/w1")])
        .run()
        .ok();
    let workers = api.post(&format!("work_pools/{pool}/workers/filter"), json!({}));
    assert_eq!(workers, json!([]));
    pf("pf-rm").args(["work-pool", &pool]).run().ok();
    assert_eq!(status(&format!("work_pools/{pool}")), 404);

    // Variable by name, block as TYPE/NAME, automation by name.
    let var = unique("rm_var");
    api.post("variables/", json!({"name": var, "value": 1}));
    pf("pf-rm").args(["variable", &var]).run().ok();
    assert_eq!(status(&format!("variables/name/{var}")), 404);
    let secret = unique("rm-blk");
    pf("pf-secret").args(["set", &secret]).stdin("x").run().ok();
    pf("pf-rm")
        .args(["block", &format!("secret/{secret}")])
        .run()
        .ok();
    assert_eq!(
        status(&format!(
            "block_types/slug/secret/block_documents/name/{secret}"
        )),
        404
    );
    let automation = api.post(
        "automations/",
        json!({"name": unique("rm-auto"), "trigger": {"type": "event", "posture": "Reactive", "expect": ["pf.never"], "threshold": 1, "within": 0},
               "actions": [{"type": "do-nothing"}]}),
    );
    pf("pf-rm")
        .args(["automation", automation["name"].as_str().unwrap()])
        .run()
        .ok();
    assert_eq!(status(&format!("automations/{}", id(&automation))), 404);

    // Artifact KEY: every version; concurrency limits by tag and by global name.
    let key = unique("rm-art");
    for v in ["v1", "v2"] {
        api.post(
            "artifacts/",
            json!({"key": key, "type": "markdown", "data": v}),
        );
    }
    let out = pf("pf-rm").args(["artifact", &key]).run();
    out.ok();
    assert_eq!(results(&out), ["deleted", "deleted"]);
    let left = api.post(
        "artifacts/filter",
        json!({"artifacts": {"key": {"any_": [key]}}}),
    );
    assert_eq!(left, json!([]));
    let tag = unique("rm-tag");
    pf("pf-limit").args(["set", &tag, "2"]).run().ok();
    let global = unique("rm-gcl");
    pf("pf-limit")
        .args(["set", "--global", &global, "2"])
        .run()
        .ok();
    let out = pf("pf-rm")
        .args(["concurrency-limits", &tag, &global])
        .run();
    out.ok();
    assert_eq!(results(&out), ["deleted", "deleted"]);
    pf("pf-limit").args(["get", &tag]).run().expect_code(4);
    pf("pf-limit")
        .args(["get", "--global", &global])
        .run()
        .expect_code(4);

    // A kind that cannot be deleted is a usage error.
    let out = pf("pf-rm").args(["events", "x"]).run();
    out.expect_code(2);
}

/// Whether the object of a case is paused, read from the API.
type IsPaused<'a> = Box<dyn Fn() -> bool + 'a>;

#[test]
fn pausing_and_resuming_each_kind_is_safe_to_repeat() {
    let api = Server::shared().api();
    let flow = api.flow("pause", &[]);
    let dep_name = unique("dep");
    let deployment = api.deployment(
        id(&flow),
        &dep_name,
        json!({"schedules": [{"schedule": {"interval": 3600}, "slug": "hourly", "active": true}]}),
    );
    let full = format!("{}/{dep_name}", flow["name"].as_str().unwrap());
    let pool = unique("pause-pool");
    api.post("work_pools/", json!({"name": pool, "type": "process"}));
    api.post(&format!("work_pools/{pool}/queues"), json!({"name": "q"}));
    let automation = api.post(
        "automations/",
        json!({"name": unique("pause-auto"), "trigger": {"type": "event", "posture": "Reactive", "expect": ["pf.never"], "threshold": 1, "within": 0},
               "actions": [{"type": "do-nothing"}]}),
    );
    let global = unique("pause-gcl");
    pf("pf-limit")
        .args(["set", "--global", &global, "2"])
        .run()
        .ok();
    let schedule_ref = format!("{full}/hourly");
    let queue_ref = format!("{pool}/q");
    let cases: [(&str, &str, IsPaused); 6] = [
        (
            "deployment",
            &full,
            Box::new(|| {
                api.get(&format!("deployments/{}", id(&deployment)))["paused"] == json!(true)
            }),
        ),
        (
            "schedule",
            &schedule_ref,
            Box::new(|| {
                api.get(&format!("deployments/{}/schedules", id(&deployment)))[0]["active"]
                    == json!(false)
            }),
        ),
        (
            "work-pool",
            &pool,
            Box::new(|| api.get(&format!("work_pools/{pool}"))["is_paused"] == json!(true)),
        ),
        (
            "work-queue",
            &queue_ref,
            Box::new(|| {
                api.get(&format!("work_pools/{pool}/queues/q"))["is_paused"] == json!(true)
            }),
        ),
        (
            "automation",
            automation["name"].as_str().unwrap(),
            Box::new(|| {
                api.get(&format!("automations/{}", id(&automation)))["enabled"] == json!(false)
            }),
        ),
        (
            "concurrency-limit",
            &global,
            Box::new(|| {
                api.get(&format!("v2/concurrency_limits/{global}"))["active"] == json!(false)
            }),
        ),
    ];
    for (kind, reference, paused) in &cases {
        let out = pf("pf-pause").args([*kind, *reference]).run();
        out.ok();
        assert_eq!(results(&out), ["paused"], "{kind}: {out:?}");
        assert!(paused(), "{kind} is paused");
        let out = pf("pf-pause").args([*kind, *reference]).run();
        out.ok();
        assert_eq!(results(&out), ["already paused"], "{kind}");
        let out = pf("pf-resume").args([*kind, *reference, "--dry-run"]).run();
        out.ok();
        assert_eq!(results(&out), ["would resume"], "{kind}");
        assert!(paused(), "{kind}: a dry run changes nothing");
        let out = pf("pf-resume").args([*kind, *reference]).run();
        out.ok();
        assert_eq!(results(&out), ["resumed"], "{kind}");
        assert!(!paused(), "{kind} is resumed");
        let out = pf("pf-resume").args([*kind, *reference]).run();
        out.ok();
        assert_eq!(results(&out), ["already resumed"], "{kind}");
    }
    // Unknown REF: exit 4, the others still done; a kind that cannot pause: exit 2.
    let out = pf("pf-pause")
        .args(["work-pool", "no-such-pool-anywhere", &pool])
        .run();
    out.expect_code(1);
    assert_eq!(results(&out), ["not found", "paused"]);
    pf("pf-pause")
        .args(["work-pool", "no-such-pool-anywhere"])
        .run()
        .expect_code(4);
    pf("pf-pause").args(["flow-run", "x"]).run().expect_code(2);
    // REFs from stdin, as lines and as NDJSON.
    let listed = pf("pf-get").args(["work-queues", "--pool", &pool]).run();
    let out = pf("pf-pause")
        .arg("work-queues")
        .stdin(listed.stdout.clone())
        .run();
    out.ok();
    assert_eq!(results(&out).len(), 2, "{out:?}");
    let out = pf("pf-resume")
        .arg("work-queue")
        .stdin(format!("{pool}/q\n"))
        .run();
    out.ok();
    assert_eq!(results(&out), ["resumed"]);
}

/// Run a tool under a pseudo-terminal (`script`), typing `answer` at the prompt.
fn on_a_terminal(tool: &str, args: &[&str], answer: &str) -> (i32, String) {
    let line = format!("{} {}", bin(tool).display(), args.join(" "));
    let home = temp_dir("tty");
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("PREFECT_API_URL", &Server::shared().url)
        .env("PREFECT_HOME", &home)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) runs a command on a pseudo-terminal");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn more_than_one_ref_asks_first_on_a_terminal() {
    let api = Server::shared().api();
    let flow = api.flow("rm-confirm", &[]);
    let a = api.flow_run(id(&flow), "COMPLETED", &[]);
    let b = api.flow_run(id(&flow), "COMPLETED", &[]);
    let (code, screen) = on_a_terminal("pf-rm", &["flow-runs", id(&a), id(&b)], "n\n");
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains("Delete 2 flow runs? [y/N]"), "{screen}");
    assert_eq!(count_runs(id(&flow)), 2);
    let (code, screen) = on_a_terminal("pf-rm", &["flow-runs", id(&a), id(&b)], "y\n");
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("REF"), "a table on a terminal: {screen}");
    assert_eq!(count_runs(id(&flow)), 0);
    // One REF, or --yes: no question.
    let c = api.flow_run(id(&flow), "COMPLETED", &[]);
    let (code, screen) = on_a_terminal("pf-rm", &["flow-run", id(&c)], "");
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("[y/N]"), "{screen}");
}

#[test]
fn a_bulk_delete_failing_midway_is_checked_ref_by_ref() {
    let server = Server::shared();
    let api = server.api();
    let flow = api.flow("rm-fault", &[]);
    let runs: Vec<Value> = (0..60)
        .map(|_| api.flow_run(id(&flow), "COMPLETED", &[]))
        .collect();
    // A proxy to the real server whose second bulk call is applied but its answer lost (500),
    // and every later bulk call fails outright.
    let bulk_calls = std::sync::atomic::AtomicUsize::new(0);
    let proxy_api = server.api();
    let fixture = Fixture::start(move |request, _| {
        let path = request.path.trim_start_matches("/api/");
        let body = (!request.body.is_empty()).then(|| request.json());
        if path.starts_with("flow_runs/bulk_delete") {
            let n = bulk_calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n == 1 {
                proxy_api.request(&request.method, path, body.clone());
            }
            if n >= 1 {
                return Reply::json(500, json!({"detail": "lost"}));
            }
        }
        let (status, value) = proxy_api.request(&request.method, path, body);
        Reply::json(status, value)
    });
    let refs: String = runs.iter().map(|r| format!("{}\n", id(r))).collect();
    let out = Pf::new("pf-rm")
        .arg("flow-runs")
        .env("PREFECT_API_URL", &fixture.url)
        .env("PREFECT_CLIENT_MAX_RETRIES", "1")
        .stdin(refs)
        .run();
    out.ok();
    assert_eq!(results(&out), vec!["deleted"; 60], "{out:?}");
    assert!(
        out.stderr.contains("checking its 10 objects one by one"),
        "{}",
        out.stderr
    );
    assert_eq!(count_runs(id(&flow)), 0);
    let deletes = fixture
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert_eq!(deletes, 10, "the failed chunk's objects, one by one");
}

#[test]
fn resume_a_run_waiting_for_input_with_checked_input() {
    use crate::worker::{ASKS, POOL, deploy};
    let deployed = deploy(&ASKS, ASKS.flow_name, &unique("asks"), POOL, json!({}));
    let api = Server::shared().api();
    let run = api.post(
        &format!("deployments/{}/create_flow_run", deployed.id),
        json!({}),
    );
    let run_id = id(&run).to_string();
    // Wait (bounded) for the worker to run it until it pauses.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let now = api.get(&format!("flow_runs/{run_id}"));
        if now["state_type"] == json!("PAUSED") {
            break;
        }
        assert!(Instant::now() < deadline, "run never paused: {now}");
        std::thread::sleep(Duration::from_millis(500));
    }
    // Input that does not fit the published schema is refused before any resume.
    let out = pf("pf-resume")
        .args(["flow-run", &run_id, "--input", r#"{"approved": "yes"}"#])
        .run();
    out.expect_code(2);
    assert_eq!(results(&out), ["refused"]);
    assert!(out.stderr.contains("'approved'"), "{}", out.stderr);
    let out = pf("pf-resume")
        .args(["flow-run", &run_id, "--input", r#"{"note": "no approval"}"#])
        .run();
    out.expect_code(2);
    assert!(out.stderr.contains("approved"), "{}", out.stderr);
    assert_eq!(
        api.get(&format!("flow_runs/{run_id}"))["state_type"],
        json!("PAUSED")
    );

    let input = temp_dir("input").join("input.json");
    std::fs::write(&input, r#"{"approved": true, "note": "ship it"}"#).unwrap();
    let out = pf("pf-resume")
        .args(["flow-runs", &run_id, "--input"])
        .arg(format!("@{}", input.display()))
        .run();
    out.ok();
    assert_eq!(results(&out), ["resumed"]);
    let done = crate::worker::wait_terminal(&run_id, Duration::from_secs(120));
    assert_eq!(done["state_type"], json!("COMPLETED"), "{done}");
    // Logs reach the API a few seconds after the state (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = api.post(
            "logs/filter",
            json!({"logs": {"flow_run_id": {"any_": [run_id]}}}),
        );
        if logs.to_string().contains("approved=True note=ship it") {
            break;
        }
        assert!(Instant::now() < deadline, "{logs}");
        std::thread::sleep(Duration::from_millis(500));
    }
    // Again: the run is not paused any more, and that is success.
    let out = pf("pf-resume").args(["flow-run", &run_id]).run();
    out.ok();
    assert_eq!(results(&out), ["already resumed (Completed)"]);
}
