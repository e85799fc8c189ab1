//! pf-run against the real server and a real process worker: creating runs of deployments and
//! of local flow files, parameters and their schema checks, run options, idempotency, --watch,
//! --timeout, --execute, local runs and interrupts.
//!
//! Runs that need not execute are scheduled a day ahead (`--start-in 1d`), so the shared worker
//! only executes what a test waits for.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixture::{Fixture, Reply};
use crate::harness::{Pf, Server, pf, temp_dir, unique, venv_bin};
use crate::worker::{
    self, FAILS, HELLO, SLEEPS, TYPED, deploy, deployments, flows_file, wait_terminal,
};

fn pf_run() -> Pf {
    pf("pf-run").env("PF_PYTHON", venv_bin("python"))
}

fn get_run(id: &str) -> Value {
    Server::shared().api().get(&format!("flow_runs/{id}"))
}

fn runs_of(deployment_id: &str) -> usize {
    let body = json!({ "deployments": { "id": { "any_": [deployment_id] } } });
    Server::shared()
        .api()
        .post("flow_runs/count", body)
        .as_u64()
        .unwrap() as usize
}

fn uuid_line(stdout: &str) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "expected exactly one line: {stdout:?}");
    assert!(
        uuid::Uuid::parse_str(lines[0]).is_ok() && lines[0].len() == 36,
        "not a UUID: {stdout:?}"
    );
    lines[0].to_string()
}

#[test]
fn runs_a_deployment_by_name_and_by_id() {
    let hello = &deployments().hello;
    let quiet = pf_run()
        .args(["-n", &hello.full_name, "--quiet", "--start-in", "1d"])
        .run();
    let id = uuid_line(&quiet.ok().stdout);
    assert_eq!(get_run(&id)["deployment_id"], json!(hello.id));

    let by_id = pf_run().args(["-i", &hello.id, "--start-in", "1d"]).run();
    let objects = by_id.ok().json_lines();
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["deployment_id"], json!(hello.id));
    assert_eq!(objects[0]["state_type"], json!("SCHEDULED"));
    assert_eq!(objects[0]["deployment_name"], json!(hello.full_name));
    assert_eq!(objects[0]["outcome"], json!("created"));
}

#[test]
fn a_bare_flow_name_needs_exactly_one_deployment() {
    let flow_name = unique("pf-solo");
    let first = deploy(&HELLO, &flow_name, "one", worker::POOL, json!({}));
    let run = pf_run()
        .args(["-n", &flow_name, "--quiet", "--start-in", "1d"])
        .run();
    let id = uuid_line(&run.ok().stdout);
    assert_eq!(get_run(&id)["deployment_id"], json!(first.id));

    deploy(&HELLO, &flow_name, "two", worker::POOL, json!({}));
    let ambiguous = pf_run().args(["-n", &flow_name, "--start-in", "1d"]).run();
    ambiguous.expect_code(4);
    let first_line = ambiguous.stderr.lines().next().unwrap();
    assert!(
        first_line
            == format!(
                "pf-run: error: flow '{flow_name}' has 2 deployments: {flow_name}/one, {flow_name}/two"
            )
            || first_line
                == format!(
                    "pf-run: error: flow '{flow_name}' has 2 deployments: {flow_name}/two, {flow_name}/one"
                ),
        "{ambiguous:?}"
    );
}

#[test]
fn params_from_file_stdin_and_flags_with_precedence() {
    let typed = &deployments().typed;
    let file = temp_dir("params").join("params.json");
    std::fs::write(&file, r#"{"count": 1, "ratio": 0.5, "names": ["file"]}"#).unwrap();
    let from_file = pf_run()
        .args([
            "-n",
            &typed.full_name,
            "--start-in",
            "1d",
            "--quiet",
            "--param-file",
        ])
        .arg(&file)
        .args(["--param", "count=7", "--param", "verbose=true"])
        .run();
    let id = uuid_line(&from_file.ok().stdout);
    assert_eq!(
        get_run(&id)["parameters"],
        json!({"count": 7, "ratio": 0.5, "names": ["file"], "verbose": true})
    );

    let from_stdin = pf_run()
        .args([
            "-n",
            &typed.full_name,
            "--start-in",
            "1d",
            "--quiet",
            "--param-file",
            "-",
            "--param",
            "names=[\"flag\"]",
        ])
        .stdin(r#"{"count": 3, "names": ["stdin"]}"#)
        .run();
    let id = uuid_line(&from_stdin.ok().stdout);
    assert_eq!(
        get_run(&id)["parameters"],
        json!({"count": 3, "names": ["flag"]})
    );
}

#[test]
fn parameters_are_checked_against_the_schema_before_a_run_is_made() {
    // A deployment of its own, so that no other test's runs are counted.
    let typed = &deploy(
        &TYPED,
        &unique("pf-typed"),
        "checked",
        worker::POOL,
        json!({}),
    );
    let unknown = pf_run()
        .args([
            "-n",
            &typed.full_name,
            "--param",
            "count=1",
            "--param",
            "cuont=2",
        ])
        .run();
    unknown.expect_code(2);
    assert_eq!(
        unknown.stderr.lines().collect::<Vec<_>>(),
        [
            format!(
                "pf-run: error: unknown parameter 'cuont' (deployment {})",
                typed.full_name
            )
            .as_str(),
            "hint: known: count, ratio, names, verbose"
        ]
    );
    let wrong = pf_run()
        .args(["-n", &typed.full_name, "--param", "count=many"])
        .run();
    wrong.expect_code(2);
    assert_eq!(
        wrong.stderr.trim_end(),
        format!(
            "pf-run: error: parameter 'count' must be an integer, not a string \"many\" (deployment {})",
            typed.full_name
        )
    );
    let missing = pf_run()
        .args(["-n", &typed.full_name, "--param", "ratio=2"])
        .run();
    missing.expect_code(2);
    assert_eq!(runs_of(&typed.id), 0, "a refused run must not be created");
}

#[test]
fn tags_labels_name_context_and_job_variables_reach_the_run() {
    let typed = &deployments().typed;
    let run = pf_run()
        .args([
            "-n",
            &typed.full_name,
            "--start-in",
            "1d",
            "--quiet",
            "--param",
            "count=5",
        ])
        .args([
            "--tag",
            "nightly",
            "--label",
            "team=data",
            "--label",
            "legacy",
            "--run-name",
            "count-{count}",
        ])
        .args([
            "--context",
            "origin=\"cron\"",
            "--context",
            "attempt=2",
            "--log-level",
            "debug",
        ])
        .args(["--job-variable", "working_dir=\"/tmp\""])
        .run();
    let id = uuid_line(&run.ok().stdout);
    let run = get_run(&id);
    assert_eq!(run["name"], json!("count-5"));
    // The server merges the deployment's tags with the run's as a set: order is not kept.
    let mut tags: Vec<&str> = run["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort();
    assert_eq!(tags, ["legacy", "nightly"]);
    assert_eq!(run["labels"]["team"], json!("data"));
    assert_eq!(run["context"], json!({"origin": "cron", "attempt": 2}));
    assert_eq!(
        run["job_variables"],
        json!({"working_dir": "/tmp", "env": {"PREFECT_LOGGING_LEVEL": "DEBUG"}})
    );
}

#[test]
fn start_in_schedules_the_run_at_that_time() {
    let hello = &deployments().hello;
    let before = jiff::Timestamp::now();
    let run = pf_run()
        .args(["-n", &hello.full_name, "--start-in", "10m", "--quiet"])
        .run();
    let run = get_run(&uuid_line(&run.ok().stdout));
    assert_eq!(run["state_type"], json!("SCHEDULED"));
    let at: jiff::Timestamp = run["expected_start_time"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let offset = at.duration_since(before).as_secs();
    assert!(
        (598..=610).contains(&offset),
        "scheduled {offset}s ahead, not 10m: {run}"
    );
}

#[test]
fn the_same_idempotency_key_gives_the_same_run() {
    let hello = &deployments().hello;
    let key = unique("key");
    let args = [
        "-n",
        &hello.full_name,
        "--start-in",
        "1d",
        "--idempotency-key",
        &key,
    ];
    let first = pf_run().args(args).run().ok().json_lines();
    let second = pf_run().args(args).run().ok().json_lines();
    assert_eq!(first[0]["id"], second[0]["id"]);
    assert_eq!(
        (first[0]["outcome"].as_str(), second[0]["outcome"].as_str()),
        (Some("created"), Some("existing"))
    );
    let table = pf_run().args(args).tty(200).env("NO_COLOR", "1").run();
    let rows: Vec<Vec<&str>> = table
        .ok()
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "ID", "STATE", "DEPLOYMENT", "RUN"]);
    assert_eq!(
        rows[1][1..],
        [
            first[0]["id"].as_str().unwrap(),
            "Scheduled",
            &hello.full_name,
            "existing"
        ]
    );

    // --execute does not run an existing run again.
    let again = pf_run()
        .args([
            "-n",
            &hello.full_name,
            "--execute",
            "--idempotency-key",
            &key,
        ])
        .run();
    again.expect_code(4);
    assert!(again.stdout.is_empty(), "{again:?}");
    assert!(
        again.stderr.starts_with(&format!(
            "pf-run: error: flow run '{}'",
            first[0]["name"].as_str().unwrap()
        )),
        "{again:?}"
    );
}

#[test]
fn watch_on_a_terminal_shows_states_and_logs_and_exits_0() {
    let hello = &deployments().hello;
    let name = unique("tty");
    let run = pf_run()
        .args([
            "-n",
            &hello.full_name,
            "--watch",
            "--param",
            &format!("name={name}"),
        ])
        .tty(200)
        .env("NO_COLOR", "1")
        .run();
    run.ok();
    // The live line is redrawn in place (\r, erase line); what a user sees is each line's last draw.
    let seen: Vec<String> = run
        .stdout
        .split('\n')
        .map(|l| l.rsplit('\r').next().unwrap().replace("\x1b[K", ""))
        .collect();
    for i in 1..=3 {
        assert_eq!(
            seen.iter()
                .filter(|l| l.ends_with(&format!("  INFO      hello {name} line {i}")))
                .count(),
            1,
            "{run:?}"
        );
    }
    let run_name = run
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let last = seen.iter().rev().find(|l| !l.is_empty()).unwrap();
    assert!(
        last.starts_with(&format!("{run_name}: Scheduled -> Pending")),
        "{last}"
    );
    assert!(last.ends_with(" -> Running -> Completed"), "{last}");
}

#[test]
fn watch_in_a_pipe_prints_events_and_a_failed_run_exits_1() {
    let fails = &deployments().fails;
    let run = pf_run().args(["-n", &fails.full_name, "--watch"]).run();
    run.expect_code(1);
    let events = run.json_lines();
    assert_eq!(events[0]["deployment_name"], json!(fails.full_name));
    let states: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "state")
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        (states.first(), states.last()),
        (Some(&"SCHEDULED"), Some(&"FAILED")),
        "{states:?}"
    );
    let logs: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "log")
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(logs.contains(&"about to fail"), "{logs:?}");
    let name = events[0]["name"].as_str().unwrap();
    assert!(
        run.stderr
            .starts_with(&format!("pf-run: error: flow run '{name}' ended Failed: ")),
        "{run:?}"
    );
}

#[test]
fn watch_timeout_has_its_own_exit_code() {
    let hello = &deployments().hello;
    let run = pf_run()
        .args([
            "-n",
            &hello.full_name,
            "--start-in",
            "1d",
            "--watch",
            "--timeout",
            "2s",
            "--quiet",
        ])
        .run();
    run.expect_code(6);
    let id = uuid_line(&run.stdout);
    let name = get_run(&id)["name"].as_str().unwrap().to_string();
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "pf-run: error: timed out after 00:00:02 waiting for flow run '{name}' (still Scheduled)"
        )
    );
}

#[test]
fn execute_completes_a_run_without_a_worker() {
    let flow_name = unique("pf-exec");
    let deployed = deploy(
        &HELLO,
        &flow_name,
        "idle",
        worker::pool_without_worker(),
        json!({}),
    );
    let run = pf_run()
        .args([
            "-n",
            &deployed.full_name,
            "--execute",
            "--quiet",
            "--param",
            "lines=1",
        ])
        .run();
    let id = uuid_line(&run.ok().stdout);
    assert_eq!(get_run(&id)["state_type"], json!("COMPLETED"));
}

#[test]
fn a_local_flow_file_runs_and_its_id_comes_first() {
    let mut command = pf_run()
        .args(["-p"])
        .arg(flows_file())
        .args(["-n", SLEEPS.function, "--param", "seconds=2", "--quiet"])
        .command();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let id = uuid_line(&first);
    let early = get_run(&id);
    assert!(
        matches!(early["state_type"].as_str(), Some("PENDING" | "RUNNING")),
        "{early}"
    );
    assert_eq!(early["parameters"], json!({"seconds": 2}));
    let status = wait_child(&mut child, Duration::from_secs(120));
    assert_eq!(status, Some(0));
    assert_eq!(get_run(&id)["state_type"], json!("COMPLETED"));
    let failing = pf_run()
        .args(["-p"])
        .arg(flows_file())
        .args(["-n", FAILS.function, "--quiet"])
        .run();
    failing.expect_code(1);
    assert_eq!(
        get_run(&uuid_line(&failing.stdout))["state_type"],
        json!("FAILED")
    );
}

#[test]
fn an_interrupted_local_run_is_cancelled_not_left_running() {
    let mut child = pf_run()
        .args(["-p"])
        .arg(flows_file())
        .args(["-n", SLEEPS.function, "--param", "seconds=120", "--quiet"])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let id = uuid_line(&first);
    let deadline = Instant::now() + Duration::from_secs(90);
    while get_run(&id)["state_type"] != "RUNNING" {
        assert!(
            Instant::now() < deadline,
            "the local run never started: {}",
            get_run(&id)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(wait_child(&mut child, Duration::from_secs(60)), Some(130));
    let run = wait_terminal(&id, Duration::from_secs(10));
    assert_eq!(
        (run["state_type"].as_str(), run["state"]["message"].as_str()),
        (Some("CANCELLED"), Some("pf-run was interrupted"))
    );
}

#[test]
fn misuse_is_a_usage_error() {
    let cases: [&[&str]; 5] = [
        &["--project", "etl", "-n", "flow/dep"],
        &["-n", "flow/dep", "--schedule", "--interval", "1m"],
        &["-n", "flow/dep", "--param", "novalue"],
        &["-i", "not-a-uuid"],
        &["-n", "flow/dep", "--start-in", "soon"],
    ];
    for args in cases {
        Pf::new("pf-run").args(args).run().expect_code(2);
    }
    let project = Pf::new("pf-run").args(["--project", "etl"]).run();
    assert_eq!(
        project.stderr.lines().next().unwrap(),
        "pf-run: error: --project has no meaning in Prefect 2+: there are no projects, flows run through deployments"
    );
    let no_python = Pf::new("pf-run")
        .env("PF_PYTHON", "/nonexistent/python3")
        .args(["-p"])
        .arg(flows_file())
        .args(["-n", "hello"])
        .run();
    no_python.expect_code(2);
    assert!(
        no_python
            .stderr
            .starts_with("pf-run: error: cannot run Python '/nonexistent/python3'"),
        "{no_python:?}"
    );
}

#[test]
fn typed_parameters_reach_the_flow() {
    let typed = &deployments().typed;
    let run = pf_run()
        .args([
            "-n",
            &typed.full_name,
            "--watch",
            "--jq",
            "select(.event == \"log\") | .message",
        ])
        .args(["--param", "count=2", "--param", "names=[\"a\",\"b\"]"])
        .run();
    run.ok();
    assert!(
        run.lines().contains(
            &r#"params {"count": 2, "names": ["a", "b"], "ratio": 1.0, "verbose": false}"#
        ),
        "{run:?}"
    );
}

fn wait_child(child: &mut std::process::Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_dropped_create_is_retried_with_the_same_idempotency_key() {
    let deployment_id = "6f1c2a52-1b7e-4f36-9c55-0a6a3f1d2e10";
    let fixture = Fixture::start(move |request, index| {
        let create = request.method == "POST" && request.path.ends_with("/create_flow_run");
        match request.path.as_str() {
            "/api/deployments/name/etl/nightly" => Reply::json(
                200,
                json!({"id": deployment_id, "name": "nightly", "flow_id": deployment_id, "parameters": {}}),
            ),
            // The first create (request 1, after the lookup) is lost on the way back.
            _ if create && index == 1 => Reply::Drop,
            _ if create => Reply::json(
                201,
                json!({"id": "r1", "name": "lost-answer", "state_type": "SCHEDULED"}),
            ),
            _ => Reply::json(404, json!({"detail": "Not Found"})),
        }
    });
    let run = Pf::new("pf-run")
        .env("PREFECT_API_URL", &fixture.url)
        .args(["-n", "etl/nightly"])
        .run();
    let objects = run.ok().json_lines();
    assert_eq!(
        (objects[0]["id"].as_str(), objects[0]["outcome"].as_str()),
        (Some("r1"), Some("created"))
    );
    let keys: Vec<Value> = fixture
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/create_flow_run"))
        .map(|r| r.json()["idempotency_key"].clone())
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], keys[1]);
    assert!(
        keys[0].as_str().is_some_and(|k| k.starts_with("pf-")),
        "{keys:?}"
    );
}
