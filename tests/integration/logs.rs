//! pf-logs against a real server: reading logs written through the API, --write, and following
//! real Python flows (run directly by the venv's python) through a shell pipe, including across
//! a server restart.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Api, Server, Supervised, bin, pf, repo, temp_dir, unique, venv_bin};

/// A flow run with log records written through `POST /logs/`: (run, records in order).
fn run_with_logs(api: &Api, lines: &[(u64, &str)]) -> (Value, Vec<Value>) {
    let flow = api.flow("logs", &[]);
    let run = api.flow_run(flow["id"].as_str().unwrap(), "COMPLETED", &[]);
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60);
    let records: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (level, message))| {
            json!({
                "name": "test", "level": level, "message": message, "flow_run_id": run["id"],
                "timestamp": (start + jiff::SignedDuration::from_millis(i as i64 * 10)).to_string(),
            })
        })
        .collect();
    api.post("logs/", Value::Array(records.clone()));
    (run, records)
}

/// `/logs/filter` for one run, oldest first (all pages).
pub(crate) fn server_logs(api: &Api, run_id: &str) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let page = api.post(
            "logs/filter",
            json!({"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC", "limit": 200, "offset": all.len()}),
        );
        let page = page.as_array().unwrap().clone();
        let done = page.len() < 200;
        all.extend(page);
        if done {
            return all;
        }
    }
}

pub(crate) fn messages(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn logs_print_as_ndjson_in_a_pipe_with_the_run_name() {
    let api = Server::shared().api();
    let (run, _) = run_with_logs(&api, &[(20, "first"), (30, "second"), (40, "third")]);
    let out = pf("pf-logs").arg(run["id"].as_str().unwrap()).run();
    out.ok();
    let lines = out.json_lines();
    assert_eq!(messages(&lines), ["first", "second", "third"]);
    let levels: Vec<u64> = lines.iter().map(|l| l["level"].as_u64().unwrap()).collect();
    assert_eq!(levels, [20, 30, 40]);
    for line in &lines {
        assert_eq!(line["flow_run_name"], run["name"]);
        assert_eq!(line["flow_run_id"], run["id"]);
        let keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.first(), Some(&"id"), "API fields first: {keys:?}");
        assert_eq!(keys.last(), Some(&"flow_run_name"));
    }
}

#[test]
fn logs_print_a_table_on_a_terminal() {
    let api = Server::shared().api();
    let (run, records) = run_with_logs(&api, &[(20, "hello"), (40, "boom\n  at line 2")]);
    let out = pf("pf-logs")
        .arg(run["name"].as_str().unwrap())
        .tty(120)
        .env("TZ", "UTC")
        .run();
    out.ok();
    let time = |r: &Value| {
        let ts: jiff::Timestamp = r["timestamp"].as_str().unwrap().parse().unwrap();
        ts.strftime("%Y-%m-%d %H:%M:%S%.3f").to_string()
    };
    let expected = [
        "TIMESTAMP                LEVEL     MESSAGE".to_string(),
        format!("{}  INFO      hello", time(&records[0])),
        format!("{}  \x1b[31mERROR   \x1b[0m  boom", time(&records[1])),
        format!("{}  at line 2", " ".repeat(23 + 2 + 8 + 2)),
    ];
    assert_eq!(out.lines(), expected);
}

#[test]
fn several_runs_from_stdin_carry_their_names() {
    let api = Server::shared().api();
    let (a, _) = run_with_logs(&api, &[(20, "a1"), (20, "a2")]);
    let (b, _) = run_with_logs(&api, &[(20, "b1")]);
    let stdin = format!(
        "{}\n{{\"id\":\"{}\",\"name\":\"x\"}}\n",
        a["id"].as_str().unwrap(),
        b["id"].as_str().unwrap()
    );
    let out = pf("pf-logs").stdin(stdin.clone()).run();
    out.ok();
    let names: Vec<(String, String)> = out
        .json_lines()
        .iter()
        .map(|l| {
            (
                l["flow_run_name"].as_str().unwrap().into(),
                l["message"].as_str().unwrap().into(),
            )
        })
        .collect();
    let (an, bn) = (
        a["name"].as_str().unwrap().to_string(),
        b["name"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        names,
        [
            (an.clone(), "a1".into()),
            (an.clone(), "a2".into()),
            (bn.clone(), "b1".into())
        ]
    );

    let table = pf("pf-logs")
        .stdin(stdin)
        .tty(200)
        .env("NO_COLOR", "1")
        .run();
    table.ok();
    let lines = table.lines();
    let width = an.len().max(bn.len()).max("FLOW RUN".len());
    assert_eq!(
        lines[0],
        format!(
            "{:width$}  TIMESTAMP                LEVEL     MESSAGE",
            "FLOW RUN"
        )
    );
    assert!(
        lines[1].starts_with(&format!("{an:width$}  ")) && lines[1].ends_with("  INFO      a1"),
        "{lines:?}"
    );
    assert!(
        lines[3].starts_with(&format!("{bn:width$}  ")) && lines[3].ends_with("  INFO      b1"),
        "{lines:?}"
    );
}

#[test]
fn level_grep_head_tail_and_jq_select_lines() {
    let api = Server::shared().api();
    let lines: Vec<(u64, &str)> = vec![
        (10, "debug one"),
        (20, "info two"),
        (30, "warning three"),
        (40, "error four"),
        (20, "info five"),
    ];
    let (run, _) = run_with_logs(&api, &lines);
    let id = run["id"].as_str().unwrap();
    let msgs = |args: &[&str]| {
        let out = pf("pf-logs").arg(id).args(args).run();
        out.ok();
        messages(&out.json_lines())
    };
    assert_eq!(
        msgs(&["--level", "warning"]),
        ["warning three", "error four"]
    );
    assert_eq!(msgs(&["--level", "WARN"]), ["warning three", "error four"]);
    assert_eq!(msgs(&["--grep", "info"]), ["info two", "info five"]);
    assert_eq!(msgs(&["--head", "2"]), ["debug one", "info two"]);
    assert_eq!(msgs(&["--tail", "2"]), ["error four", "info five"]);
    assert_eq!(msgs(&["--since", "5m", "--tail", "1"]), ["info five"]);
    assert!(msgs(&["--since", "2030-01-01T00:00:00Z"]).is_empty());
    let jq = pf("pf-logs")
        .arg(id)
        .args(["--jq", "select(.level >= 30) | .message"])
        .run();
    jq.ok();
    assert_eq!(jq.lines(), ["warning three", "error four"]);
    let info = pf("pf-logs")
        .arg(id)
        .args(["--info", "--head", "1"])
        .tty(100)
        .run();
    info.ok();
    assert_eq!(messages(&info.json_lines()), ["debug one"]);
    let tsv = pf("pf-logs")
        .arg(id)
        .args(["-o", "tsv", "--head", "1"])
        .run();
    tsv.ok();
    let fields: Vec<&str> = tsv.stdout.trim_end().split('\t').collect();
    assert_eq!(
        fields[1..],
        ["DEBUG", run["name"].as_str().unwrap(), "debug one"]
    );
}

#[test]
fn task_run_selects_its_lines_and_its_flow_run() {
    let api = Server::shared().api();
    let (run, _) = run_with_logs(&api, &[(20, "flow line")]);
    let task = api.post(
        "task_runs/",
        json!({"flow_run_id": run["id"], "task_key": "t", "dynamic_key": "0", "name": unique("task")}),
    );
    api.post(
        "logs/",
        json!([{"name": "t", "level": 20, "message": "task line", "flow_run_id": run["id"],
                "task_run_id": task["id"], "timestamp": jiff::Timestamp::now().to_string()}]),
    );
    let out = pf("pf-logs")
        .args(["--task-run", task["id"].as_str().unwrap()])
        .run();
    out.ok();
    assert_eq!(messages(&out.json_lines()), ["task line"]);
    let both = pf("pf-logs").arg(run["id"].as_str().unwrap()).run();
    assert_eq!(messages(&both.json_lines()), ["flow line", "task line"]);
}

#[test]
fn bad_input_exits_with_the_contract_codes() {
    pf("pf-logs")
        .arg("no-such-run-name-xyz")
        .run()
        .expect_code(4);
    pf("pf-logs")
        .args(["x", "--level", "loud"])
        .run()
        .expect_code(2);
    pf("pf-logs")
        .args(["x", "--since", "yesterday-ish"])
        .run()
        .expect_code(2);
    pf("pf-logs")
        .args(["x", "--head", "1", "--follow"])
        .run()
        .expect_code(2);
    pf("pf-logs")
        .args(["--write", "hello"])
        .run()
        .expect_code(2);
    let down = crate::harness::Pf::new("pf-logs")
        .env("PREFECT_API_URL", "http://127.0.0.1:9/api")
        .arg("x")
        .run();
    down.expect_code(7);
    let api = Server::shared().api();
    let (run, _) = run_with_logs(&api, &[(20, "only")]);
    // One good and one unknown REF: the good one prints, the batch exits 1.
    let mixed = pf("pf-logs")
        .args([run["id"].as_str().unwrap(), "no-such-run-name-xyz"])
        .run();
    mixed.expect_code(1);
    assert_eq!(messages(&mixed.json_lines()), ["only"]);
    assert_eq!(
        mixed.stderr.lines().next(),
        Some("pf-logs: error: flow run 'no-such-run-name-xyz' not found")
    );
}

#[test]
fn write_sends_lines_in_order_with_their_levels() {
    let api = Server::shared().api();
    let flow = api.flow("write", &[]);
    let run = api.flow_run(flow["id"].as_str().unwrap(), "RUNNING", &[]);
    let id = run["id"].as_str().unwrap();
    pf("pf-logs")
        .args(["--write", "--flow-run", id, "one", "two"])
        .run()
        .ok();
    pf("pf-logs")
        .args([
            "--write",
            "--flow-run",
            run["name"].as_str().unwrap(),
            "--level",
            "error",
            "three",
        ])
        .run()
        .ok();
    // Stdin: one record per line, in batches (450 lines: more than two batches of 200).
    let many: String = (1..=450).map(|i| format!("stdin {i}\n")).collect();
    pf("pf-logs")
        .args(["--write", "--flow-run", id, "--level", "warning"])
        .stdin(many)
        .run()
        .ok();
    let logs = server_logs(&api, id);
    let mut expected: Vec<(u64, String)> =
        vec![(20, "one".into()), (20, "two".into()), (40, "three".into())];
    expected.extend((1..=450).map(|i| (30, format!("stdin {i}"))));
    let got: Vec<(u64, String)> = logs
        .iter()
        .map(|l| {
            (
                l["level"].as_u64().unwrap(),
                l["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    // And pf-logs reads them back the same way.
    let out = pf("pf-logs").arg(id).args(["--tail", "2"]).run();
    assert_eq!(messages(&out.json_lines()), ["stdin 449", "stdin 450"]);
}

#[test]
fn follow_of_an_ended_run_prints_and_exits_with_its_state() {
    let api = Server::shared().api();
    let (done, _) = run_with_logs(&api, &[(20, "done line")]);
    let out = pf("pf-logs")
        .args(["--follow", done["id"].as_str().unwrap()])
        .run();
    out.ok();
    assert_eq!(messages(&out.json_lines()), ["done line"]);
    let flow = api.flow("failed", &[]);
    let failed = api.flow_run(flow["id"].as_str().unwrap(), "FAILED", &[]);
    let out = pf("pf-logs")
        .args(["-f", failed["id"].as_str().unwrap()])
        .run();
    out.expect_code(1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr.trim_end(),
        format!(
            "pf-logs: warning: flow run '{}' ended Failed",
            failed["name"].as_str().unwrap()
        )
    );
}

/// A shell pipeline `log_flow.py NAME COUNT INTERVAL [fail] | pf-logs --follow ARGS` against
/// `server`, supervised (its process group dies with the test), with pf-logs' stdout, stderr
/// and exit code in files under `dir`.
fn follow_pipeline(server: &Server, dir: &Path, flow_args: &str, pf_args: &str) -> Supervised {
    let script = format!(
        "{python} {flow} {flow_args} 2>{dir}/flow.err | env -i PATH=\"$PATH\" HOME={dir} PREFECT_HOME={dir} \
         PREFECT_API_URL={url} {pf_logs} --follow {pf_args} >{dir}/out 2>{dir}/err; echo $? >{dir}/code",
        python = venv_bin("python").display(),
        flow = repo().join("tests/support/log_flow.py").display(),
        dir = dir.display(),
        url = server.url,
        pf_logs = bin("pf-logs").display(),
    );
    let mut env = server.client_env();
    // The harness quiets servers; flows must log INFO to the API.
    env.push(("PREFECT_LOGGING_LEVEL".into(), "INFO".into()));
    Supervised::start(
        &["bash", "-c", &script],
        &env,
        dir,
        dir.join("pipeline.log"),
        1,
    )
}

/// Wait (bounded) for a pipeline to finish; returns (exit code, stdout, stderr).
pub(crate) fn finish(
    mut pipeline: Supervised,
    dir: &Path,
    timeout: Duration,
) -> (i32, String, String) {
    let deadline = Instant::now() + timeout;
    while pipeline.is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    assert!(
        !pipeline.is_running(),
        "pipeline still running after {timeout:?}\nstdout:\n{}\nstderr:\n{}\nflow:\n{}",
        read("out"),
        read("err"),
        read("flow.err")
    );
    let code = read("code")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no exit code; {}", pipeline.log_text()));
    (code, read("out"), read("err"))
}

/// Every record the server has for the run printed exactly once, in order.
pub(crate) fn assert_every_line_once(api: &Api, stdout: &str, stderr: &str) -> Vec<Value> {
    let printed: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!printed.is_empty(), "nothing printed; stderr:\n{stderr}");
    let run_id = printed[0]["flow_run_id"].as_str().unwrap().to_string();
    let stored = server_logs(api, &run_id);
    let mut printed_ids: Vec<&str> = printed.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut stored_ids: Vec<&str> = stored.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let printed_count = printed_ids.len();
    printed_ids.sort_unstable();
    printed_ids.dedup();
    assert_eq!(
        printed_ids.len(),
        printed_count,
        "a line was printed twice:\n{stdout}"
    );
    stored_ids.sort_unstable();
    assert_eq!(
        printed_ids, stored_ids,
        "printed lines differ from /logs/filter\nstderr:\n{stderr}"
    );
    stored
}

#[test]
fn follow_through_a_pipe_prints_every_line_and_exits_with_the_state() {
    let server = Server::shared();
    let api = server.api();
    let ok_dir = temp_dir("follow-ok");
    let fail_dir = temp_dir("follow-fail");
    let poll_dir = temp_dir("follow-poll");
    // Three pipelines at once: a completing flow (websocket + polling, -v shows the stream),
    // a failing one, and one that only polls (--grep cannot be streamed).
    let ok = follow_pipeline(server, &ok_dir, &format!("{} 6 0.3", unique("ok")), "-v");
    let failing = follow_pipeline(
        server,
        &fail_dir,
        &format!("{} 4 0.3 fail", unique("bad")),
        "",
    );
    let polled = follow_pipeline(
        server,
        &poll_dir,
        &format!("{} 6 0.3", unique("poll")),
        "--grep line",
    );

    let (code, stdout, stderr) = finish(ok, &ok_dir, Duration::from_secs(90));
    assert_eq!(code, 0, "stderr:\n{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l == "pf: logs/out websocket subscribed"),
        "{stderr}"
    );
    let stored = assert_every_line_once(&api, &stdout, &stderr);
    let lines: Vec<String> = messages(&stored)
        .into_iter()
        .filter(|m| m.starts_with("line "))
        .collect();
    assert_eq!(
        lines,
        (1..=6).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );

    let (code, stdout, stderr) = finish(failing, &fail_dir, Duration::from_secs(90));
    assert_eq!(code, 1, "stderr:\n{stderr}");
    assert_every_line_once(&api, &stdout, &stderr);
    assert!(stdout.contains("failing on purpose"));
    assert!(stderr.lines().any(|l| l.starts_with("pf-logs: warning: flow run '") && l.ends_with("' ended Failed")));

    let (code, stdout, stderr) = finish(polled, &poll_dir, Duration::from_secs(90));
    assert_eq!(code, 0, "stderr:\n{stderr}");
    let printed: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got = messages(&printed);
    assert_eq!(
        got,
        (1..=6).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );
}

#[test]
fn follow_survives_a_server_restart() {
    let mut server = Server::start(&[]);
    let api = server.api();
    let dir = temp_dir("follow-restart");
    // ~30 s of lines; the server is away for part of it.
    let pipeline = follow_pipeline(&server, &dir, &format!("{} 40 0.75", unique("slow")), "");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(dir.join("out"))
        .unwrap_or_default()
        .lines()
        .count()
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "no lines before the restart: {}",
            pipeline.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    server.stop();
    std::thread::sleep(Duration::from_secs(3));
    server.start_again();
    let (code, stdout, stderr) = finish(pipeline, &dir, Duration::from_secs(180));
    assert_eq!(code, 0, "stderr:\n{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("pf-logs: warning: "))
        .collect();
    assert!(
        warnings
            .first()
            .is_some_and(|w| w.starts_with("pf-logs: warning: lost connection to the server (")),
        "{stderr}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("pf-logs: warning: reconnected after ")),
        "{stderr}"
    );
    let stored = assert_every_line_once(&api, &stdout, &stderr);
    // Lines from before and after the outage (what the flow could not send meanwhile, the
    // server does not have, and pf-logs cannot print).
    let got = messages(&stored);
    assert!(
        got.iter().any(|m| m == "line 1") && got.iter().any(|m| m == "line 40"),
        "{got:?}"
    );
}
