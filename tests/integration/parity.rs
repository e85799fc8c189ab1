//! Behaviours taken from Prefect's own CLI tests (`tests/cli/` in PrefectHQ/prefect), checked
//! against pf on a real server (issue 9), and the range checks of user numbers (issue 15.9).

use serde_json::{Value, json};

use crate::harness::{Server, pf, unique};
use crate::logs::messages;

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

/// A deployment of a new flow (no work pool: runs stay Scheduled).
fn deployment(api: &crate::harness::Api, extra: Value) -> (Value, String) {
    let flow = api.flow("parity", &[]);
    let name = unique("dep");
    let dep = api.deployment(id(&flow), &name, extra);
    (dep, format!("{}/{}", flow["name"].as_str().unwrap(), name))
}

fn scheduled_time(run: &Value) -> jiff::Timestamp {
    run["state"]["state_details"]["scheduled_time"]
        .as_str()
        .or(run["expected_start_time"].as_str())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn start_at_and_start_in_read_prefects_phrases() {
    // test_deployment_run.py: test_start_at_option_with_tz_schedules_flow_run,
    // test_start_in_option_schedules_flow_run, test_start_*_option_invalid_input.
    let api = Server::shared().api();
    let (_, name) = deployment(&api, json!({}));
    let run = |args: &[&str]| pf("pf-run").args(["-n", &name]).args(args).run();
    for (phrase, expected) in [
        ("5-17-43 5:30pm UTC", "2043-05-17T17:30:00Z"),
        ("January 2nd 2043 UTC", "2043-01-02T00:00:00Z"),
        ("12-1-2042 5pm UTC", "2042-12-01T17:00:00Z"),
    ] {
        let out = run(&["--start-at", phrase]);
        out.ok();
        assert_eq!(
            scheduled_time(&out.json_lines()[0]).to_string(),
            expected,
            "{phrase}"
        );
    }
    let now = jiff::Timestamp::now();
    for (phrase, secs) in [
        ("20 minutes", 1200),
        ("5 days", 5 * 86400),
        ("2 weeks & 1 day", 15 * 86400),
        ("27 hours + 4 mins", 27 * 3600 + 240),
    ] {
        let out = run(&["--start-in", phrase]);
        out.ok();
        let offset = scheduled_time(&out.json_lines()[0]).as_second() - now.as_second();
        assert!(
            (secs - 60..=secs + 60).contains(&offset),
            "{phrase}: {offset}"
        );
    }
    // A bare number is neither seconds nor a Unix time (Prefect refuses it too).
    for flag in ["--start-at", "--start-in"] {
        for bad in ["1671483897", "foobar", "Jan 32nd 2023", "Octob 1st 2020"] {
            let out = run(&[flag, bad]);
            out.expect_code(2);
            assert!(out.stderr.starts_with("pf-run: error: "), "{}", out.stderr);
        }
    }
    let epoch = run(&["--start-at", "@2000000000"]);
    epoch.ok();
    assert_eq!(
        scheduled_time(&epoch.json_lines()[0]).as_second(),
        2000000000
    );
    pf("pf-run")
        .args(["-n", &name, "--start-in", "foo", "--start-at", "bar"])
        .run()
        .expect_code(2);
}

#[test]
fn huge_numbers_are_usage_errors_never_panics() {
    // Issue 15.9: each of these panicked (exit 101) or overflowed.
    for (tool, args) in [
        ("pf-get", vec!["flow-runs", "--since", "1e300"]),
        (
            "pf-get",
            vec!["flow-runs", "--since", "99999999999999999999d"],
        ),
        ("pf-logs", vec!["x", "--since", "99999999999999999999d"]),
        (
            "pf-run",
            vec!["-n", "a/b", "--start-in", "99999999999999999999w"],
        ),
        ("pf-run", vec!["-n", "a/b", "--watch", "--timeout", "1e300"]),
        ("pf-run", vec!["-n", "a/b", "--watch", "--timeout", "inf"]),
    ] {
        let out = pf(tool).args(&args).run();
        out.expect_code(2);
        let first = out.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("{tool}: error: ")),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn jq_formats_env_and_endless_recursion() {
    let api = Server::shared().api();
    let flow = api.flow("jq", &["a\tb"]);
    let get = |jq: &str| {
        pf("pf-get")
            .args([
                "flows",
                "--name",
                flow["name"].as_str().unwrap(),
                "--jq",
                jq,
            ])
            .env("PF_TEST_VALUE", "from-env")
            .run()
    };
    let out = get("[.name, .tags[0]] | @tsv");
    out.ok();
    assert_eq!(
        out.stdout,
        format!("{}\ta\\tb\n", flow["name"].as_str().unwrap())
    );
    let out = get("[.name, 1, null] | @csv");
    assert_eq!(
        out.stdout,
        format!("\"{}\",1,\n", flow["name"].as_str().unwrap())
    );
    assert_eq!(
        get("{n: .name} | @json").stdout,
        format!("{{\"n\":\"{}\"}}\n", flow["name"].as_str().unwrap())
    );
    assert_eq!(get("\"pf\" | @base64").stdout, "cGY=\n");
    assert_eq!(get("$ENV.PF_TEST_VALUE").stdout, "from-env\n");
    assert_eq!(get("env.PF_TEST_VALUE").stdout, "from-env\n");
    let out = get("def f: 1 + f; f");
    out.expect_code(2);
    assert!(
        out.stderr
            .starts_with("pf-get: error: jq: filter recursed too deep"),
        "{}",
        out.stderr
    );
}

#[test]
fn describe_json_prints_one_object_for_one_ref() {
    // `prefect flow-run inspect -o json` prints the object.
    let api = Server::shared().api();
    let flow = api.flow("describe", &[]);
    let a = api.flow_run(id(&flow), "COMPLETED", &[]);
    let b = api.flow_run(id(&flow), "COMPLETED", &[]);
    let one = pf("pf-describe")
        .args(["flow-run", id(&a), "-o", "json"])
        .run();
    one.ok();
    let value: Value = serde_json::from_str(&one.stdout).unwrap();
    assert_eq!(value["id"], a["id"]);
    let two = pf("pf-describe")
        .args(["flow-run", id(&a), id(&b), "-o", "json"])
        .run();
    two.ok();
    let value: Value = serde_json::from_str(&two.stdout).unwrap();
    assert_eq!(value.as_array().map(Vec::len), Some(2));
    // REFs from stdin are a stream: an array, however many.
    let piped = pf("pf-describe")
        .args(["flow-run", "-o", "json"])
        .stdin(format!("{}\n", id(&a)))
        .run();
    let value: Value = serde_json::from_str(&piped.stdout).unwrap();
    assert_eq!(value.as_array().map(Vec::len), Some(1));
}

#[test]
fn logs_head_tail_default_reverse_and_task_runs() {
    // test_flow_run.py / test_task_run.py: logs --head, --tail, --reverse, -n.
    let api = Server::shared().api();
    let flow = api.flow("logs", &[]);
    let run = api.flow_run(id(&flow), "COMPLETED", &[]);
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60);
    let records: Vec<Value> = (0..25)
        .map(|i| {
            json!({"name": "t", "level": 20, "message": format!("line {i:02}"), "flow_run_id": run["id"],
                   "timestamp": (start + jiff::SignedDuration::from_millis(i * 10)).to_string()})
        })
        .collect();
    api.post("logs/", Value::Array(records));
    let msgs = |args: &[&str]| {
        let out = pf("pf-logs").args(args).run();
        out.ok();
        messages(&out.json_lines())
    };
    let head = msgs(&[id(&run), "--head"]);
    assert_eq!(head.len(), 20);
    assert_eq!(
        (head[0].as_str(), head[19].as_str()),
        ("line 00", "line 19")
    );
    let tail = msgs(&["--tail", id(&run)]);
    assert_eq!(
        (tail.len(), tail[0].as_str(), tail[19].as_str()),
        (20, "line 05", "line 24")
    );
    let reverse = msgs(&[id(&run), "--reverse"]);
    assert_eq!((reverse.len(), reverse[0].as_str()), (25, "line 24"));
    assert_eq!(
        msgs(&[id(&run), "--reverse", "--head", "2"]),
        ["line 24", "line 23"]
    );
    assert_eq!(
        msgs(&[id(&run), "--reverse", "--tail", "2"]),
        ["line 24", "line 23"]
    );
    assert_eq!(msgs(&[id(&run), "--tail", "2"]), ["line 23", "line 24"]);
    assert_eq!(msgs(&[id(&run), "-n", "2"]), ["line 00", "line 01"]);
    assert_eq!(
        msgs(&[id(&run), "--tail", "-n", "2"]),
        ["line 23", "line 24"]
    );
    pf("pf-logs")
        .args([id(&run), "-n", "0"])
        .run()
        .expect_code(2);
    pf("pf-logs")
        .args([id(&run), "--head", "--tail"])
        .run()
        .expect_code(2);

    // A task run with no flow run, and records that carry only task_run_id.
    let task = api.post(
        "task_runs/",
        json!({"task_key": "t", "dynamic_key": "0", "name": unique("task")}),
    );
    let lone = api.post(
        "task_runs/",
        json!({"flow_run_id": run["id"], "task_key": "u", "dynamic_key": "0", "name": unique("task")}),
    );
    let now = jiff::Timestamp::now().to_string();
    api.post(
        "logs/",
        json!([{"name": "t", "level": 20, "message": "no flow run", "task_run_id": task["id"], "timestamp": now},
               {"name": "t", "level": 20, "message": "only task id", "task_run_id": lone["id"], "timestamp": now}]),
    );
    assert_eq!(msgs(&["--task-run", id(&task)]), ["no flow run"]);
    assert_eq!(
        msgs(&["--task-run", task["name"].as_str().unwrap()]),
        ["no flow run"]
    );
    assert_eq!(msgs(&["--task-run", id(&lone)]), ["only task id"]);
}

#[test]
fn api_post_without_body_sends_an_empty_object_and_head_options_work() {
    // test_api_command.py: POST with no data sends {}; HEAD and OPTIONS are methods.
    let api = Server::shared().api();
    let (dep, _) = deployment(&api, json!({}));
    let out = pf("pf-api")
        .args(["POST", &format!("deployments/{}/create_flow_run", id(&dep))])
        .run();
    out.ok();
    assert_eq!(out.json_lines()[0]["deployment_id"], dep["id"]);
    // The server routes neither method; what matters is that the request is sent.
    for method in ["HEAD", "OPTIONS"] {
        let out = pf("pf-api").args([method, "/health"]).run();
        out.expect_code(4);
        assert!(
            out.stderr
                .starts_with(&format!("pf-api: error: {method} health failed (405)")),
            "{out:?}"
        );
    }
    pf("pf-api").args(["TRACE", "/health"]).run().expect_code(2);
}

#[test]
fn every_tool_exits_4_for_a_client_error_and_5_for_a_server_error() {
    // The contract's table, for the error paths of every tool: a 422 or 500 on the request
    // that does the work (after REFs resolved fine) is 4 or 5, never 1.
    use crate::fixture::{Fixture, Reply};
    use crate::harness::Pf;
    let run_id = "7d3f4c1a-0000-4000-8000-000000000001";
    for status in [422u16, 500] {
        let fixture = Fixture::start(move |request, _| {
            if request.method == "GET" && request.path.contains("/flow_runs/") {
                return Reply::json(
                    200,
                    json!({"id": run_id, "name": "quiet-run", "flow_id": run_id,
                           "state_type": "RUNNING", "state_name": "Running",
                           "state": {"type": "RUNNING", "name": "Running"}}),
                );
            }
            Reply::json(status, json!({"detail": format!("injected {status}")}))
        });
        let expected = if status == 422 { 4 } else { 5 };
        for args in [
            vec!["pf-logs", run_id, "--grep", "x"],
            vec!["pf-logs", run_id],
            vec!["pf-state", "cancel", run_id, "--yes"],
            vec!["pf-get", "flows"],
            vec!["pf-get", "logs", "--flow-run", run_id],
            vec!["pf-describe", "flow", run_id],
            vec!["pf-var", "get", "x"],
            vec!["pf-var", "set", "x", "1"],
            vec!["pf-limit", "get", "x"],
            vec!["pf-secret", "get", "x"],
            vec!["pf-api", "GET", "flows/x"],
            vec!["pf-run", "-n", "a/b"],
        ] {
            let out = Pf::new(args[0])
                .args(&args[1..])
                .env("PREFECT_API_URL", &fixture.url)
                .env("PREFECT_CLIENT_MAX_RETRIES", "0")
                .run();
            assert_eq!(out.code, expected, "{args:?} → {out:?}");
            assert!(
                out.stderr.starts_with(&format!("{}: error: ", args[0])),
                "{args:?} → {out:?}"
            );
        }
    }
}

#[test]
fn state_filters_match_names_as_prefect_and_types_stay_reachable() {
    // test_flow_run.py: ls --state NAME (custom names too), --state-type TYPE.
    let api = Server::shared().api();
    let flow = api.flow("states", &[]);
    let make = |state: Value| {
        api.post(
            "flow_runs/",
            json!({"flow_id": flow["id"], "name": unique("run"), "state": state}),
        )
    };
    let scheduled = make(json!({"type": "SCHEDULED", "name": "Scheduled"}));
    let late = make(json!({"type": "SCHEDULED", "name": "Late"}));
    let submitting = make(json!({"type": "PENDING", "name": "Submitting"}));
    let custom = make(json!({"type": "COMPLETED", "name": "Shipped"}));
    let ids = |args: &[&str]| {
        let out = pf("pf-get")
            .args([
                "flow-runs",
                "--flow",
                flow["name"].as_str().unwrap(),
                "--all",
            ])
            .args(args)
            .run();
        out.ok();
        let mut ids: Vec<String> = out
            .json_lines()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        (ids, out.stderr)
    };
    let sorted = |runs: &[&Value]| {
        let mut ids: Vec<String> = runs.iter().map(|r| id(r).to_string()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&["--state", "Scheduled"]).0, sorted(&[&scheduled]));
    assert_eq!(ids(&["--state", "late"]).0, sorted(&[&late]));
    assert_eq!(
        ids(&["--state", "scheduled"]).0,
        sorted(&[&scheduled, &late])
    );
    assert_eq!(
        ids(&["--state-type", "Scheduled"]).0,
        sorted(&[&scheduled, &late])
    );
    let (found, stderr) = ids(&["--state", "Submitting"]);
    assert_eq!((found, stderr.as_str()), (sorted(&[&submitting]), ""));
    let (found, stderr) = ids(&["--state", "Shipped"]);
    assert_eq!(found, sorted(&[&custom]));
    assert!(
        stderr.starts_with("pf-get: warning: state name 'Shipped' is not one of Prefect's"),
        "{stderr}"
    );
    assert_eq!(
        ids(&["--state", "Shipped", "--state-type", "pending"]).0,
        sorted(&[&submitting, &custom])
    );
}

#[test]
fn run_parameters_are_checked_as_prefect_checks_them() {
    // test_deployment_run.py / test_deployment_cli.py: broken JSON in --param, --params -,
    // --flow-run-name templates, deployments without a parameter schema.
    let api = Server::shared().api();
    let schema = json!({"type": "object", "properties": {"x": {}, "who": {"type": "string"}}});
    let (_, name) = deployment(&api, json!({"parameter_openapi_schema": schema}));
    let run = |args: &[&str]| pf("pf-run").args(["-n", &name]).args(args).run();
    let out = run(&["--param", r#"x="foo"1"#]);
    out.expect_code(2);
    assert!(
        out.stderr
            .starts_with("pf-run: error: --param 'x': the value is not valid JSON"),
        "{out:?}"
    );
    run(&["--param", "x=[1,2"]).expect_code(2);
    let plain = run(&["--param", "who=Marvin the Robot"]);
    plain.ok();
    assert_eq!(
        plain.json_lines()[0]["parameters"],
        json!({"who": "Marvin the Robot"})
    );
    let piped = pf("pf-run")
        .args([
            "-n",
            &name,
            "--params",
            "-",
            "--flow-run-name",
            "hello-{who}-{x}-{{b}}",
        ])
        .stdin(r#"{"x": [1, 2], "who": "stdin"}"#)
        .run();
    piped.ok();
    let created = &piped.json_lines()[0];
    assert_eq!(created["parameters"], json!({"x": [1, 2], "who": "stdin"}));
    assert_eq!(created["name"], "hello-stdin-[1,2]-{b}");
    let out = run(&["--flow-run-name", "hello-{missing}"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("'missing' is not a parameter"),
        "{out:?}"
    );

    let (_, bare) = deployment(&api, json!({"parameter_openapi_schema": {}}));
    let out = pf("pf-run").args(["-n", &bare, "--param", "x=1"]).run();
    out.expect_code(2);
    assert!(out.stderr.contains("does not accept parameters"), "{out:?}");
    pf("pf-run").args(["-n", &bare]).run().ok();
}

#[test]
fn auth_profile_commands_as_prefect_profile() {
    // test_profile.py: create (--from), delete (not the active one), rename (active follows),
    // inspect (KEY='value'; -o json an object), use of a profile whose server is down.
    use crate::auth::{read, tool_in};
    let home = crate::harness::temp_dir("parity-profiles");
    std::fs::write(
        home.join("profiles.toml"),
        "active = \"foo\"\n\n[profiles.foo]\nPREFECT_API_KEY = \"pnu_abcdefghijklmnopqrstuvwxyz1234\"\nPREFECT_API_URL = \"http://127.0.0.1:9/api\"\n",
    )
    .unwrap();
    let auth = |args: &[&str]| tool_in("pf-auth", &home).args(args).run();
    auth(&["profile", "create", "bar", "--from", "foo"]).ok();
    auth(&["profile", "create", "empty"]).ok();
    let again = auth(&["profile", "create", "empty"]);
    again.ok();
    assert_eq!(again.stderr, "Profile 'empty' already exists; unchanged.\n");
    auth(&["profile", "create", "x", "--from", "nope"]).expect_code(4);
    let inspect = auth(&["profile", "inspect", "bar", "-o", "json"]);
    inspect.ok();
    let settings: Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(settings["PREFECT_API_URL"], "http://127.0.0.1:9/api");
    assert!(
        !inspect.stdout.contains("abcdefghijklmnop"),
        "key shown: {inspect:?}"
    );
    let lines = tool_in("pf-auth", &home)
        .args(["profile", "inspect", "bar"])
        .tty(100)
        .run();
    lines.ok();
    assert_eq!(lines.lines()[1], "PREFECT_API_URL='http://127.0.0.1:9/api'");
    assert!(
        lines.lines()[0].starts_with("PREFECT_API_KEY='pnu_"),
        "{lines:?}"
    );
    let empty = tool_in("pf-auth", &home)
        .args(["profile", "inspect", "empty"])
        .tty(100)
        .run();
    assert_eq!(
        (empty.code, empty.stderr.as_str()),
        (0, "Profile 'empty' is empty.\n")
    );
    auth(&["profile", "inspect", "nope"]).expect_code(4);

    let active = auth(&["profile", "delete", "foo"]);
    active.expect_code(1);
    assert!(
        active.stderr.contains("is the active profile"),
        "{active:?}"
    );
    auth(&["profile", "delete", "empty"]).ok();
    auth(&["profile", "delete", "empty"]).ok();
    auth(&["profile", "rename", "foo", "bar"]).expect_code(4);
    auth(&["profile", "rename", "nope", "baz"]).expect_code(4);
    auth(&["profile", "rename", "foo", "main"]).ok();
    let text = read(&home);
    assert!(text.starts_with("active = \"main\""), "{text}");
    assert!(
        text.contains("[profiles.main]") && !text.contains("[profiles.foo]"),
        "{text}"
    );

    // use: the switch stands, then a warning and exit 1 when the server does not answer.
    let down = auth(&["use", "bar"]);
    down.expect_code(1);
    assert!(down.stderr.starts_with("Switched to profile 'bar'.\npf-auth: warning: profile 'bar' is active, but its server does not answer"), "{down:?}");
    assert!(read(&home).starts_with("active = \"bar\""));
    let up = Server::shared();
    let text = format!(
        "{}\n[profiles.live]\nPREFECT_API_URL = \"{}\"\n",
        read(&home),
        up.url
    );
    std::fs::write(home.join("profiles.toml"), text).unwrap();
    let ok = auth(&["profile", "use", "live"]);
    ok.ok();
    assert!(ok.stderr.contains("Connected to "), "{ok:?}");
}

#[test]
fn ui_urls_in_output_and_web_opens_them() {
    // `prefect flow-run inspect --web`; the seed's "Flow Run: https://…" line; Cloud URLs.
    use std::os::unix::fs::PermissionsExt;
    let server = Server::shared();
    let api = server.api();
    let base = server
        .url
        .trim_end_matches('/')
        .trim_end_matches("/api")
        .to_string();
    let (dep, name) = deployment(&api, json!({}));
    let created = pf("pf-run").args(["-n", &name]).run();
    created.ok();
    let run = &created.json_lines()[0];
    assert_eq!(run["ui_url"], format!("{base}/runs/flow-run/{}", id(run)));
    let described = pf("pf-describe").args(["deployment", &name]).run();
    assert_eq!(
        described.json_lines()[0]["ui_url"],
        format!("{base}/deployments/deployment/{}", id(&dep))
    );
    let pool = unique("pool");
    api.post("work_pools/", json!({"name": pool, "type": "process"}));
    let described = pf("pf-describe").args(["work-pool", &pool]).run();
    assert_eq!(
        described.json_lines()[0]["ui_url"],
        format!("{base}/work-pools/work-pool/{pool}")
    );
    let ui = pf("pf-describe")
        .args(["flow-run", id(run)])
        .env("PREFECT_UI_URL", "https://prefect.example.com/")
        .run();
    assert_eq!(
        ui.json_lines()[0]["ui_url"],
        format!("https://prefect.example.com/runs/flow-run/{}", id(run))
    );

    // --web: $BROWSER gets the address; nothing on stdout.
    let dir = crate::harness::temp_dir("parity-web");
    let browser = dir.join("browser.sh");
    let opened = dir.join("opened.txt");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\necho \"$1\" >> '{}'\n", opened.display()),
    )
    .unwrap();
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    let web = pf("pf-describe")
        .args(["flow-run", id(run), "--web"])
        .env("BROWSER", &browser)
        .run();
    web.ok();
    assert_eq!(web.stdout, "");
    let made = pf("pf-run")
        .args(["-n", &name, "--web", "--quiet"])
        .env("BROWSER", &browser)
        .run();
    made.ok();
    let urls = std::fs::read_to_string(&opened).unwrap();
    assert_eq!(
        urls.lines().collect::<Vec<_>>(),
        [
            format!("{base}/runs/flow-run/{}", id(run)),
            format!("{base}/runs/flow-run/{}", made.stdout.trim())
        ]
    );
    pf("pf-describe")
        .args(["variable", "x", "--web"])
        .run()
        .expect_code(2);
}

#[test]
fn describe_work_queue_has_status_details() {
    // test_work_queues.py: inspect shows the queue and its status_details.
    let api = Server::shared().api();
    let pool = unique("pool");
    api.post("work_pools/", json!({"name": pool, "type": "process"}));
    let out = pf("pf-describe")
        .args(["work-queue", &format!("{pool}/default")])
        .run();
    out.ok();
    let queue = &out.json_lines()[0];
    assert_eq!(queue["name"], "default");
    assert!(queue["status_details"]["healthy"].is_boolean(), "{queue}");
}

#[test]
fn artifacts_latest_per_key_and_every_version() {
    // test_artifact.py: ls shows the latest per key (--all every version); inspect KEY shows
    // every version; the ids shown work with pf-describe.
    let api = Server::shared().api();
    let key = unique("art");
    let first = api.post(
        "artifacts/",
        json!({"key": key, "type": "markdown", "data": "v1"}),
    );
    let second = api.post(
        "artifacts/",
        json!({"key": key, "type": "markdown", "data": "v2"}),
    );
    let ndjson = |args: &[&str]| {
        let out = pf("pf-get")
            .args(["artifacts", "--key", &key])
            .args(args)
            .run();
        out.ok();
        out.json_lines()
    };
    // The key's collection names the latest version (`artifacts/{key}/latest` answers the
    // collection dressed as an artifact, with the collection's id).
    let collection = api.post(
        "artifacts/latest/filter",
        json!({"artifacts": {"key": {"any_": [key]}}}),
    )[0]
    .clone();
    assert_eq!(collection["latest_id"], second["id"]);
    let newest = second.clone();
    let latest = ndjson(&[]);
    assert_eq!(latest.len(), 1, "{latest:?}");
    assert_eq!(
        latest[0]["latest_id"], newest["id"],
        "first {}, second {}, collection {}",
        first["id"], second["id"], latest[0]
    );
    let all = ndjson(&["--all-versions"]);
    assert_eq!(all.len(), 2);
    let tsv = pf("pf-get")
        .args(["artifacts", "--key", &key, "-o", "tsv"])
        .run();
    assert!(tsv.stdout.trim_end().ends_with(id(&newest)), "{tsv:?}");
    let by_key = pf("pf-describe").args(["artifact", &key]).run();
    by_key.ok();
    let described = &by_key.json_lines()[0];
    assert_eq!(described["id"], newest["id"]);
    let mut versions: Vec<&str> = described["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    versions.sort();
    let mut expected = vec![id(&first), id(&second)];
    expected.sort();
    assert_eq!(versions, expected);
    // Every id pf showed works: the versions', and the collection's from the listing.
    for shown in [id(&first), latest[0]["id"].as_str().unwrap()] {
        pf("pf-describe").args(["artifact", shown]).run().ok();
    }
    let piped = pf("pf-get").args(["artifacts", "--key", &key]).run().stdout;
    let out = pf("pf-describe").args(["artifact"]).stdin(piped).run();
    out.ok();
    assert_eq!(out.json_lines()[0]["id"], newest["id"]);
}

#[test]
fn concurrency_limits_keep_the_apis_shape_per_kind() {
    // One shape per kind: tag limits as /concurrency_limits gives them (as pf-limit get).
    let tag = unique("tag");
    let global = unique("gcl");
    pf("pf-limit").args(["set", &tag, "3"]).run().ok();
    pf("pf-limit")
        .args(["set", "--global", &global, "2", "--overwrite"])
        .run()
        .ok();
    let from_limit = pf("pf-limit").args(["get", &tag]).run().json_lines()[0].clone();
    let listed = pf("pf-get")
        .args(["concurrency-limits", "--all"])
        .run()
        .json_lines();
    let tag_limit = listed.iter().find(|l| l["id"] == from_limit["id"]).unwrap();
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(tag_limit), keys(&from_limit));
    assert_eq!(tag_limit["tag"], tag);
    assert_eq!(tag_limit["concurrency_limit"], 3);
    assert_eq!(
        listed
            .iter()
            .filter(|l| l["id"] == from_limit["id"])
            .count(),
        1
    );
    let global_limit = listed.iter().find(|l| l["name"] == global).unwrap();
    assert_eq!(global_limit["limit"], 2);
    // --overwrite is accepted, and an existing name is updated either way.
    pf("pf-limit")
        .args(["set", "--global", &global, "5"])
        .run()
        .ok();
    let var = unique("var").replace('-', "_");
    pf("pf-var").args(["set", &var, "1"]).run().ok();
    pf("pf-var")
        .args(["set", &var, "2", "--overwrite"])
        .run()
        .ok();
    assert_eq!(pf("pf-var").args(["get", &var]).run().stdout, "2\n");
    pf("pf-limit").args(["rm", &tag]).run().ok();
    pf("pf-limit").args(["rm", "--global", &global]).run().ok();
}
