//! pf-get / pf-describe for every kind beyond runs, and pf-limit, pf-var, pf-secret round trips,
//! against the real server (objects made through the API).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Server, pf, unique};

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

fn field_set(values: &[Value], key: &str) -> HashSet<String> {
    values
        .iter()
        .map(|v| v[key].as_str().unwrap_or_default().to_string())
        .collect()
}

fn set_of(items: &[&str]) -> HashSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Poll `check` every 500 ms until it holds (at most `secs` seconds).
fn wait_until(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    false
}

#[test]
fn work_pools_queues_and_workers() {
    let api = Server::shared().api();
    let pool = unique("pool");
    let created = api.post("work_pools/", json!({"name": pool, "type": "process"}));
    let queue = unique("queue");
    api.post(
        &format!("work_pools/{pool}/queues"),
        json!({"name": queue, "priority": 5}),
    );
    let worker = unique("worker");
    api.post(
        &format!("work_pools/{pool}/workers/heartbeat"),
        json!({"name": worker}),
    );

    let run = pf("pf-get").args(["work-pools", "--name", &pool]).run();
    run.ok();
    assert_eq!(run.json_lines().len(), 1);
    assert_eq!(run.json_lines()[0]["id"], created["id"]);

    let run = pf("pf-get")
        .args(["work-pools", "--name", &pool])
        .tty(200)
        .env("NO_COLOR", "1")
        .run();
    run.ok();
    let header: Vec<&str> = run.lines()[0]
        .split("  ")
        .filter(|c| !c.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        header,
        ["NAME", "TYPE", "STATUS", "CONCURRENCY", "ID", "AGE"]
    );
    let row: Vec<&str> = run.lines()[1].split_whitespace().collect();
    assert_eq!(
        &row[..3],
        [pool.as_str(), "process", "READY"],
        "a pool with a live worker: {run:?}"
    );

    let run = pf("pf-get").args(["work-queues", "--pool", &pool]).run();
    run.ok();
    assert_eq!(
        field_set(&run.json_lines(), "name"),
        set_of(&["default", &queue])
    );

    // Workers of one pool, and of every pool with the pool's name joined into the table.
    let run = pf("pf-get").args(["workers", "--pool", &pool]).run();
    run.ok();
    assert_eq!(field_set(&run.json_lines(), "name"), set_of(&[&worker]));
    let run = pf("pf-get").args(["workers", "-o", "tsv"]).run();
    run.ok();
    let line = run
        .lines()
        .into_iter()
        .find(|l| l.starts_with(&format!("{worker}\t")))
        .expect("worker listed");
    let cells: Vec<&str> = line.split('\t').collect();
    assert_eq!(
        &cells[..3],
        [worker.as_str(), pool.as_str(), "ONLINE"],
        "{line}"
    );

    let run = pf("pf-get")
        .args(["workers", "--pool", "no-such-pool"])
        .run();
    run.expect_code(4);
    assert_eq!(
        run.stderr.lines().next().unwrap(),
        "pf-get: error: work pool 'no-such-pool' not found"
    );

    // Describe: by name and by id, with queues and workers.
    for reference in [pool.as_str(), id(&created)] {
        let run = pf("pf-describe").args(["work-pool", reference]).run();
        run.ok();
        let described = &run.json_lines()[0];
        assert_eq!(described["name"], json!(pool));
        assert_eq!(
            field_set(described["work_queues"].as_array().unwrap(), "name"),
            set_of(&["default", &queue])
        );
        assert_eq!(
            field_set(described["workers"].as_array().unwrap(), "name"),
            set_of(&[&worker])
        );
    }
    let run = pf("pf-describe")
        .args(["work-queue", &format!("{pool}/{queue}")])
        .run();
    run.ok();
    let described = run.json_lines()[0].clone();
    assert_eq!(
        (described["name"].as_str(), described["priority"].as_i64()),
        (Some(queue.as_str()), Some(5))
    );
    for reference in [queue.as_str(), id(&described)] {
        let run = pf("pf-describe").args(["work-queue", reference]).run();
        run.ok();
        assert_eq!(run.json_lines()[0]["id"], described["id"]);
    }
    // Every pool has a "default" queue: with two pools, the name alone is ambiguous.
    api.post(
        "work_pools/",
        json!({"name": unique("pool"), "type": "process"}),
    );
    let run = pf("pf-describe").args(["work-queue", "default"]).run();
    run.expect_code(4);
    assert!(
        run.stderr
            .starts_with("pf-describe: error: work queue name 'default' matches "),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("hint: use the id, or POOL/QUEUE"),
        "{run:?}"
    );
}

#[test]
fn artifacts_by_key_and_flow_run() {
    let api = Server::shared().api();
    let flow = api.flow("artifacts", &[]);
    let run = api.flow_run(id(&flow), "COMPLETED", &[]);
    let key = unique("report");
    let first = api.post(
        "artifacts/",
        json!({"key": key, "type": "markdown", "data": "# v1", "flow_run_id": id(&run)}),
    );
    let second = api.post("artifacts/", json!({"key": key, "type": "markdown", "data": "# v2", "description": "second", "flow_run_id": id(&run)}));

    let out = pf("pf-get")
        .args(["artifacts", "--key", &key, "--all-versions"])
        .run();
    out.ok();
    let listed: Vec<Value> = out.json_lines().iter().map(|a| a["id"].clone()).collect();
    assert_eq!(
        listed,
        vec![second["id"].clone(), first["id"].clone()],
        "newest first"
    );

    let out = pf("pf-get")
        .args([
            "artifacts",
            "--flow-run",
            run["name"].as_str().unwrap(),
            "-o",
            "tsv",
            "--header",
        ])
        .run();
    out.ok();
    assert_eq!(
        out.lines()[0],
        "KEY\tTYPE\tDESCRIPTION\tFLOW RUN ID\tAGE\tID"
    );
    let cells: Vec<&str> = out.lines()[1].split('\t').collect();
    assert_eq!(&cells[..4], [key.as_str(), "markdown", "second", id(&run)]);
    assert_eq!(cells[5], id(&second));

    // A key describes its latest version; an id, that version.
    let out = pf("pf-describe").args(["artifact", &key]).run();
    out.ok();
    assert_eq!(out.json_lines()[0]["data"], json!("# v2"));
    let out = pf("pf-describe").args(["artifact", id(&first)]).run();
    out.ok();
    assert_eq!(out.json_lines()[0]["data"], json!("# v1"));
}

#[test]
fn blocks_and_automations() {
    let api = Server::shared().api();
    let name = unique("auto");
    let automation = api.post(
        "automations/",
        json!({"name": name, "trigger": {"type": "event", "posture": "Reactive", "expect": ["pf.never"], "threshold": 1, "within": 0},
               "actions": [{"type": "do-nothing"}]}),
    );
    let out = pf("pf-get")
        .args(["automations", "--name", &name, "-o", "tsv"])
        .run();
    out.ok();
    assert_eq!(
        out.stdout,
        format!("{name}\ttrue\tevent\tdo-nothing\t{}\n", id(&automation))
    );
    for reference in [name.as_str(), id(&automation)] {
        let out = pf("pf-describe").args(["automation", reference]).run();
        out.ok();
        assert_eq!(
            out.json_lines()[0]["trigger"]["expect"],
            json!(["pf.never"])
        );
    }

    let secret = unique("blk");
    pf("pf-secret").args(["set", &secret]).stdin("x").run().ok();
    let out = pf("pf-get")
        .args(["blocks", "--type", "secret", "--name", &secret, "-o", "tsv"])
        .run();
    out.ok();
    let cells: Vec<&str> = out.stdout.trim_end().split('\t').collect();
    assert_eq!(&cells[..2], [format!("secret/{secret}").as_str(), "Secret"]);
    let out = pf("pf-describe").args(["block", cells[0]]).run();
    out.ok();
    assert_eq!(out.json_lines()[0]["id"], json!(cells[2]));
}

#[test]
fn events_walk_next_page_tokens_and_filter() {
    let api = Server::shared().api();
    let prefix = format!("pf.test.{}", unique("ev"));
    let now = jiff::Timestamp::now();
    let events: Vec<Value> = (0..120)
        .map(|i| {
            let at = if i < 60 { now - jiff::SignedDuration::from_hours(3) } else { now };
            json!({"occurred": (at + jiff::SignedDuration::from_millis(i)).to_string(), "event": format!("{prefix}.happened"),
                   "resource": {"prefect.resource.id": format!("{prefix}.r{i}")}, "id": uuid::Uuid::new_v4().to_string()})
        })
        .collect();
    let (status, _) = api.request("POST", "events", Some(Value::Array(events.clone())));
    assert_eq!(status, 204);

    // Events are stored asynchronously: wait (bounded) until all 120 are there; 3 pages of 50.
    let mut listed = Vec::new();
    assert!(
        wait_until(60, || {
            listed = pf("pf-get")
                .args(["events", "--event", &format!("{prefix}.*"), "--all"])
                .run()
                .json_lines();
            listed.len() == 120
        }),
        "got {} events",
        listed.len()
    );
    assert_eq!(field_set(&listed, "id"), field_set(&events, "id"));
    assert_eq!(listed[0]["id"], events[119]["id"], "newest first");

    let run = pf("pf-get")
        .args([
            "events",
            "--event",
            &format!("{prefix}.*"),
            "--limit",
            "55",
            "--reverse",
        ])
        .run();
    assert_eq!(run.json_lines().len(), 55);
    assert_eq!(
        run.json_lines()[0]["id"],
        events[0]["id"],
        "--reverse: oldest first"
    );
    let all_of = format!("{prefix}.*");
    assert_eq!(
        pf("pf-get")
            .args(["events", "--event", &all_of, "--since", "1h", "--all"])
            .run()
            .json_lines()
            .len(),
        60
    );
    assert_eq!(
        pf("pf-get")
            .args(["events", "--event", &all_of, "--until", "2h", "--all"])
            .run()
            .json_lines()
            .len(),
        60
    );
    // Exact names and ids, or prefixes with `*`.
    assert_eq!(
        pf("pf-get")
            .args(["events", "--event", &format!("{prefix}.*"), "--all"])
            .run()
            .json_lines()
            .len(),
        120
    );
    assert_eq!(
        pf("pf-get")
            .args(["events", "--event", &format!("{prefix}.happened"), "--all"])
            .run()
            .json_lines()
            .len(),
        120
    );
    assert_eq!(
        pf("pf-get")
            .args(["events", "--resource", &format!("{prefix}.r11*"), "--all"])
            .run()
            .json_lines()
            .len(),
        11
    );
    let run = pf("pf-get")
        .args(["events", "--resource", &format!("{prefix}.r7")])
        .run();
    assert_eq!(
        field_set(&run.json_lines(), "id"),
        set_of(&[events[7]["id"].as_str().unwrap()])
    );

    let run = pf("pf-get")
        .args(["events", "--resource", &format!("{prefix}.r7"), "-o", "tsv"])
        .run();
    let cells: Vec<&str> = run.stdout.trim_end().split('\t').collect();
    assert_eq!(
        &cells[1..],
        [
            format!("{prefix}.happened").as_str(),
            &format!("{prefix}.r7"),
            events[7]["id"].as_str().unwrap()
        ]
    );
    pf("pf-get")
        .args(["events", "--since", "yesterday-ish"])
        .run()
        .expect_code(2);
}

#[test]
fn logs_of_a_run_oldest_first_by_level() {
    let api = Server::shared().api();
    let flow = api.flow("logs", &[]);
    let run = api.flow_run(id(&flow), "COMPLETED", &[]);
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(5);
    let logs: Vec<Value> = [(10, "debugging"), (20, "started"), (30, "careful"), (40, "broke")]
        .iter()
        .enumerate()
        .map(|(i, (level, message))| {
            json!({"name": "prefect.flow_runs", "level": level, "message": message, "flow_run_id": id(&run),
                   "timestamp": (start + jiff::SignedDuration::from_secs(i as i64)).to_string()})
        })
        .collect();
    api.post("logs/", Value::Array(logs));

    let name = run["name"].as_str().unwrap();
    let messages = |args: &[&str]| -> Vec<String> {
        let out = pf("pf-get").args(args).run();
        out.ok();
        out.json_lines()
            .iter()
            .map(|l| l["message"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        messages(&["logs", "--flow-run", name]),
        ["debugging", "started", "careful", "broke"]
    );
    // --info: the full records as NDJSON even on a terminal (the seed's `get logs --info`).
    let out = pf("pf-get")
        .args(["logs", "--name", name, "--info"])
        .tty(120)
        .run();
    out.ok();
    let records = out.json_lines();
    assert_eq!(records.len(), 4);
    assert!(
        records
            .iter()
            .all(|r| r["flow_run_name"] == run["name"] && r["level"].is_u64())
    );
    assert_eq!(
        messages(&["logs", "--flow-run", id(&run), "--level", "warning"]),
        ["careful", "broke"]
    );

    let out = pf("pf-get")
        .args(["logs", "--flow-run", name, "--level", "error"])
        .tty(120)
        .env("NO_COLOR", "1")
        .run();
    out.ok();
    assert_eq!(
        out.lines()[0].split_whitespace().collect::<Vec<_>>(),
        ["TIMESTAMP", "LEVEL", "MESSAGE"]
    );
    assert!(out.lines()[1].ends_with("  ERROR     broke"), "{out:?}");
    // The same output as pf-logs without --follow, on a terminal and in a pipe.
    for tty in [true, false] {
        let with = |pf: crate::harness::Pf| {
            if tty {
                pf.tty(120).env("NO_COLOR", "1")
            } else {
                pf
            }
        };
        let got = with(pf("pf-get").args(["logs", "--flow-run", name, "--level", "info"])).run();
        let want = with(pf("pf-logs").args([name, "--level", "info"])).run();
        assert_eq!(got.stdout, want.stdout);
    }

    pf("pf-get")
        .args(["logs", "--flow-run", name, "--level", "loud"])
        .run()
        .expect_code(2);
    let out = pf("pf-get").arg("logs").run();
    out.expect_code(2);
    assert_eq!(
        out.stderr.lines().next().unwrap(),
        "pf-get: error: pf-get logs needs a run"
    );
}

#[test]
fn projects_explains_what_replaced_them() {
    let out = pf("pf-get").arg("projects").run();
    out.expect_code(2);
    assert_eq!(out.stdout, "");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines[0],
        "pf-get: error: Prefect 2 and later have no projects"
    );
    assert!(
        lines[1].starts_with("hint: group flows with tags")
            && lines[1].contains("work pools")
            && lines[1].contains("workspaces")
    );
}

#[test]
fn describe_tasks_shows_every_task_run_with_state_and_timing() {
    let api = Server::shared().api();
    let flow = api.flow("tasks", &[]);
    // Runs created Running have started; the latest one is the flow's most recent run.
    let older = api.flow_run(id(&flow), "RUNNING", &[]);
    api.post(
        &format!("flow_runs/{}/set_state", id(&older)),
        json!({"state": {"type": "COMPLETED"}}),
    );
    let latest = api.flow_run(id(&flow), "RUNNING", &[]);
    let task = |run: &Value, name: &str, end: &str| {
        let task = api.post(
            "task_runs/",
            json!({"flow_run_id": id(run), "task_key": name, "dynamic_key": "0", "name": name, "state": {"type": "RUNNING"}}),
        );
        api.post(
            &format!("task_runs/{}/set_state", id(&task)),
            json!({"state": {"type": end}, "force": true}),
        );
        task
    };
    let extract = task(&latest, "extract", "COMPLETED");
    let load = task(&latest, "load", "FAILED");
    task(&older, "other", "COMPLETED");

    let ids = |args: &[&str]| -> Vec<Value> {
        let out = pf("pf-describe").args(args).run();
        out.ok();
        out.json_lines().iter().map(|t| t["id"].clone()).collect()
    };
    let expected = vec![extract["id"].clone(), load["id"].clone()];
    assert_eq!(
        ids(&["tasks", "--flow-run", latest["name"].as_str().unwrap()]),
        expected
    );
    assert_eq!(
        ids(&["tasks", "--flow", flow["name"].as_str().unwrap()]),
        expected,
        "--flow: its most recent run"
    );
    assert_eq!(ids(&["tasks", id(&latest)]), expected);
    let out = pf("pf-describe")
        .arg("tasks")
        .stdin(format!("{{\"id\":\"{}\"}}\n", id(&older)))
        .run();
    assert_eq!(out.json_lines().len(), 1);

    let out = pf("pf-describe")
        .args(["tasks", "--flow-run", id(&latest)])
        .tty(200)
        .env("NO_COLOR", "1")
        .run();
    out.ok();
    let header = out.lines()[0];
    assert_eq!(
        header
            .split("  ")
            .filter(|c| !c.is_empty())
            .map(str::trim)
            .collect::<Vec<_>>(),
        ["NAME", "STATE", "START TIME", "END TIME", "DURATION", "ID"]
    );
    let row: Vec<&str> = out.lines()[1].split_whitespace().collect();
    assert_eq!(
        (row[0], row[1], row[7]),
        ("extract", "Completed", id(&extract)),
        "{out:?}"
    );
    assert!(row[6].starts_with("00:00:"), "a duration: {out:?}");
    assert_eq!(out.lines()[2].split_whitespace().nth(1), Some("Failed"));

    pf("pf-describe")
        .args(["tasks", "--flow", "no-such-flow-anywhere"])
        .run()
        .expect_code(4);
    pf("pf-describe")
        .args(["flow-run", "x", "--flow", "y"])
        .run()
        .expect_code(2);
}
