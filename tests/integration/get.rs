//! pf-get against the real server: formats, --jq, paging, every filter flag.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::harness::{Server, pf, unique};

fn ids(values: &[Value]) -> HashSet<String> {
    values
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// A flow with three runs (COMPLETED tagged etl, FAILED tagged etl+nightly, SCHEDULED in the
/// future) and a deployment, made once.
struct Fixture {
    flow: Value,
    completed: Value,
    failed: Value,
    scheduled: Value,
    deployment: Value,
    deployed_run: Value,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let api = Server::shared().api();
        let flow = api.flow("get-flow", &["team-a"]);
        let fid = id(&flow);
        let completed = api.flow_run(&fid, "COMPLETED", &["etl"]);
        let failed = api.flow_run(&fid, "FAILED", &["etl", "nightly"]);
        let in_a_day = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
        let scheduled = api.post(
            "flow_runs/",
            json!({"flow_id": fid, "name": unique("sched"),
                   "state": {"type": "SCHEDULED", "state_details": {"scheduled_time": in_a_day.to_string()}}}),
        );
        let deployment = api.deployment(&fid, &unique("dep"), json!({"tags": ["prod"]}));
        let deployed_run = api.post(
            &format!("deployments/{}/create_flow_run", id(&deployment)),
            json!({"state": {"type": "CANCELLED"}, "name": unique("deprun")}),
        );
        Fixture { flow, completed, failed, scheduled, deployment, deployed_run }
    })
}

fn flow_name() -> String {
    fixture().flow["name"].as_str().unwrap().to_string()
}

#[test]
fn ndjson_in_a_pipe_is_the_api_objects() {
    let f = fixture();
    let run = pf("pf-get")
        .args(["flow-runs", "--flow", &flow_name(), "--all"])
        .run();
    run.ok();
    let lines = run.json_lines();
    assert_eq!(
        ids(&lines),
        ids(&[
            f.completed.clone(),
            f.failed.clone(),
            f.scheduled.clone(),
            f.deployed_run.clone()
        ])
    );
    // Fields as the API names them, in the API's order.
    let first = &lines[0];
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(keys[0], "id");
    assert!(first.get("state").is_some() && first.get("flow_id").is_some());
}

#[test]
fn json_is_one_array_and_tsv_has_the_table_columns() {
    let name = flow_name();
    let run = pf("pf-get")
        .args(["flows", "--name", &name, "-o", "json"])
        .run();
    run.ok();
    let parsed: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(parsed.as_array().unwrap().len(), 1);
    assert_eq!(parsed[0]["name"], json!(name));

    let run = pf("pf-get")
        .args(["flows", "--name", &name, "-o", "tsv"])
        .run();
    run.ok();
    let fields: Vec<&str> = run.stdout.trim_end().split('\t').collect();
    assert_eq!(fields.len(), 4, "{run:?}");
    assert_eq!(fields[0], name);
    assert_eq!(fields[1], fixture().flow["id"].as_str().unwrap());
    assert_eq!(fields[2], "team-a");
    assert!(
        fields[3].ends_with('Z'),
        "TSV times are RFC 3339: {}",
        fields[3]
    );

    let run = pf("pf-get")
        .args(["flows", "--name", &name, "-o", "tsv", "--header"])
        .run();
    assert_eq!(run.lines()[0], "NAME\tID\tTAGS\tAGE");
    assert_eq!(run.lines().len(), 2);
}

#[test]
fn a_terminal_gets_an_aligned_table_with_colour_unless_no_color() {
    let f = fixture();
    let run = pf("pf-get")
        .args(["flow-runs", "--flow", &flow_name(), "--state", "failed"])
        .tty(200)
        .run();
    run.ok();
    let lines = run.lines();
    assert_eq!(lines.len(), 2, "{run:?}");
    let header = lines[0];
    assert!(header.starts_with("NAME"), "{header}");
    for column in ["FLOW NAME", "STATE", "AGE", "START TIME", "DURATION", "ID"] {
        assert!(header.contains(column), "{header}");
    }
    let row = lines[1];
    assert!(row.starts_with(f.failed["name"].as_str().unwrap()));
    assert!(row.contains(&flow_name()));
    assert!(
        row.contains("\x1b[31mFailed\x1b[0m"),
        "failed is red: {row:?}"
    );
    assert!(row.contains("ago") || row.contains("just now"));
    assert!(row.ends_with(f.failed["id"].as_str().unwrap()));
    // Columns line up: the ID column starts at the same offset as its header.
    let plain = row.replace("\x1b[31m", "").replace("\x1b[0m", "");
    assert_eq!(
        header.find("ID").unwrap(),
        plain.rfind(f.failed["id"].as_str().unwrap()).unwrap()
    );

    let run = pf("pf-get")
        .args(["flow-runs", "--flow", &flow_name(), "--state", "failed"])
        .tty(200)
        .env("NO_COLOR", "1")
        .run();
    assert!(!run.stdout.contains('\x1b'), "NO_COLOR: {run:?}");

    let run = pf("pf-get")
        .args([
            "flow-runs",
            "--flow",
            &flow_name(),
            "--state",
            "failed",
            "-o",
            "table",
        ])
        .env("CLICOLOR_FORCE", "1")
        .run();
    assert!(
        run.stdout.contains("\x1b[31m"),
        "CLICOLOR_FORCE in a pipe: {run:?}"
    );

    let run = pf("pf-get")
        .args(["flow-runs", "--flow", &flow_name(), "-o", "table"])
        .run();
    assert!(!run.stdout.contains('\x1b'), "no colour in a pipe: {run:?}");
}

#[test]
fn tables_truncate_only_on_a_terminal() {
    let name = flow_name();
    let narrow = pf("pf-get").args(["flows", "--name", &name]).tty(70).run();
    narrow.ok();
    assert!(
        narrow.lines().iter().all(|l| l.chars().count() <= 70),
        "{narrow:?}"
    );
    // The name is cut, the id never is.
    let row = narrow.lines()[1];
    let shown = row.split_whitespace().next().unwrap();
    assert!(
        shown.ends_with('…') && name.starts_with(shown.trim_end_matches('…')),
        "{narrow:?}"
    );
    assert!(
        row.contains(fixture().flow["id"].as_str().unwrap()),
        "{narrow:?}"
    );
    let piped = pf("pf-get")
        .args(["flows", "--name", &name, "-o", "table"])
        .env("COLUMNS", "40")
        .run();
    assert!(
        piped
            .stdout
            .contains(fixture().flow["id"].as_str().unwrap()),
        "{piped:?}"
    );
}

#[test]
fn jq_prints_strings_raw_and_values_compact() {
    let name = flow_name();
    let run = pf("pf-get")
        .args(["flows", "--name", &name, "--jq", ".name"])
        .run();
    run.ok();
    assert_eq!(run.stdout, format!("{name}\n"));
    let run = pf("pf-get")
        .args(["flows", "--name", &name, "--jq", "{n: .name, t: .tags}"])
        .run();
    assert_eq!(
        run.stdout,
        format!("{{\"n\":\"{name}\",\"t\":[\"team-a\"]}}\n")
    );
    // --jq wins over the table on a terminal too.
    let run = pf("pf-get")
        .args(["flows", "--name", &name, "--jq", ".tags[0]"])
        .tty(100)
        .run();
    assert_eq!(run.stdout, "team-a\n");
}

#[test]
fn a_bad_jq_filter_is_a_usage_error_with_its_position() {
    let run = pf("pf-get").args(["flows", "--jq", ".name | map("]).run();
    run.expect_code(2);
    assert!(
        run.stderr.starts_with("pf-get: error: invalid --jq filter"),
        "{run:?}"
    );
    assert!(run.stderr.contains("column"), "{run:?}");
    assert!(run.stdout.is_empty());
}

#[test]
fn flow_run_filters_select_on_the_server() {
    let f = fixture();
    let name = flow_name();
    let select = |args: &[&str]| -> HashSet<String> {
        let mut all = vec!["flow-runs", "--flow", &name, "--all"];
        all.extend_from_slice(args);
        let run = pf("pf-get").args(all).run();
        run.ok();
        ids(&run.json_lines())
    };
    let set = |vs: &[&Value]| vs.iter().map(|v| id(v)).collect::<HashSet<_>>();
    assert_eq!(select(&["--state", "FAILED"]), set(&[&f.failed]));
    assert_eq!(
        select(&["--state", "completed", "--state", "Failed"]),
        set(&[&f.completed, &f.failed])
    );
    assert_eq!(select(&["--state", "scheduled"]), set(&[&f.scheduled]));
    assert_eq!(
        select(&["--state", "cancelled,completed"]),
        set(&[&f.deployed_run, &f.completed])
    );
    assert_eq!(select(&["--tag", "etl"]), set(&[&f.completed, &f.failed]));
    assert_eq!(
        select(&["--tag", "etl", "--tag", "nightly"]),
        set(&[&f.failed])
    );
    let started = select(&["--started"]);
    assert!(started.contains(&id(&f.completed)) && started.contains(&id(&f.failed)));
    assert!(
        !started.contains(&id(&f.scheduled)),
        "a scheduled run has not started"
    );
    assert_eq!(select(&["--since", "1h", "--until", "1h"]).len(), 0);
    assert_eq!(
        select(&["--since", "1h"]).len(),
        4,
        "the scheduled run starts in a day"
    );
    let in_an_hour = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string();
    assert_eq!(
        select(&["--until", &in_an_hour]),
        set(&[&f.completed, &f.failed, &f.deployed_run])
    );
    // Before the earliest of them (an absolute time: under load the fixture may be minutes old).
    let earliest = [&f.completed, &f.failed, &f.deployed_run, &f.scheduled]
        .iter()
        .filter_map(|r| r["expected_start_time"].as_str())
        .map(|t| t.parse::<jiff::Timestamp>().unwrap())
        .min()
        .expect("the fixture's runs have expected start times");
    let before_all = (earliest - jiff::SignedDuration::from_secs(1)).to_string();
    assert_eq!(
        select(&["--until", &before_all]).len(),
        0,
        "none was expected to start before {before_all}"
    );
    assert_eq!(
        select(&["--since", "2h", "--started", "--tag", "etl"]),
        set(&[&f.completed, &f.failed])
    );
    assert!(!select(&["--since", "2h", "--started"]).contains(&id(&f.scheduled)));
    assert_eq!(
        select(&["--name", f.completed["name"].as_str().unwrap()]),
        set(&[&f.completed])
    );
    let dep_ref = format!("{name}/{}", f.deployment["name"].as_str().unwrap());
    assert_eq!(select(&["--deployment", &dep_ref]), set(&[&f.deployed_run]));
    assert_eq!(
        select(&["--deployment", f.deployment["id"].as_str().unwrap()]),
        set(&[&f.deployed_run])
    );
    // Another flow's runs never leak in.
    let other = pf("pf-get")
        .args(["flow-runs", "--flow", "no-such-flow-xyz", "--all"])
        .run();
    assert_eq!(other.stdout, "");
}

#[test]
fn the_default_limit_is_ten_newest_first() {
    let api = Server::shared().api();
    let flow = api.flow("limit", &[]);
    for _ in 0..12 {
        api.flow_run(&id(&flow), "COMPLETED", &[]);
    }
    let name = flow["name"].as_str().unwrap();
    let run = pf("pf-get").args(["flow-runs", "--flow", name]).run();
    assert_eq!(run.json_lines().len(), 10);
    let run = pf("pf-get")
        .args(["flow-runs", "--flow", name, "--limit", "3"])
        .run();
    let lines = run.json_lines();
    assert_eq!(lines.len(), 3);
    let starts: Vec<&str> = lines
        .iter()
        .map(|l| l["expected_start_time"].as_str().unwrap())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(starts, sorted, "newest first");
    let run = pf("pf-get")
        .args([
            "flow-runs",
            "--flow",
            name,
            "--sort",
            "start-time-asc",
            "--limit",
            "12",
        ])
        .run();
    let lines = run.json_lines();
    let starts: Vec<&str> = lines
        .iter()
        .map(|l| l["start_time"].as_str().unwrap())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
    pf("pf-get")
        .args(["flow-runs", "--sort", "sideways"])
        .run()
        .expect_code(2);
}

#[test]
fn flows_deployments_and_task_runs_filter_too() {
    let f = fixture();
    let api = Server::shared().api();
    let name = flow_name();
    let run = pf("pf-get").args(["flows", "--name", &name]).run();
    assert_eq!(ids(&run.json_lines()), ids(std::slice::from_ref(&f.flow)));
    let run = pf("pf-get")
        .args(["flows", "--tag", "team-a", "--all"])
        .run();
    assert!(ids(&run.json_lines()).contains(&id(&f.flow)));
    let run = pf("pf-get")
        .args(["flows", "--tag", "no-such-tag-xyz"])
        .run();
    assert_eq!(run.stdout, "");
    let prefix = name.split('-').take(2).collect::<Vec<_>>().join("-");
    let run = pf("pf-get")
        .args(["flows", "--name", &format!("{prefix}*"), "--all"])
        .run();
    assert!(ids(&run.json_lines()).contains(&id(&f.flow)));

    let run = pf("pf-get").args(["deployments", "--flow", &name]).run();
    assert_eq!(
        ids(&run.json_lines()),
        ids(std::slice::from_ref(&f.deployment))
    );
    let run = pf("pf-get")
        .args(["deployments", "--flow", &name, "--tag", "prod"])
        .run();
    assert_eq!(run.json_lines().len(), 1);
    let run = pf("pf-get")
        .args(["deployments", "--flow", &name, "--tag", "dev"])
        .run();
    assert_eq!(run.json_lines().len(), 0);
    let run = pf("pf-get")
        .args([
            "deployments",
            "--name",
            f.deployment["name"].as_str().unwrap(),
        ])
        .run();
    assert_eq!(
        ids(&run.json_lines()),
        ids(std::slice::from_ref(&f.deployment))
    );
    let run = pf("pf-get")
        .args(["deployments", "--flow", &name, "-o", "tsv"])
        .run();
    assert!(
        run.stdout.starts_with(&format!(
            "{name}/{}\t",
            f.deployment["name"].as_str().unwrap()
        )),
        "{run:?}"
    );

    // Work pool filter: a deployment in a pool, one not.
    let pool = unique("pool");
    api.post("work_pools/", json!({"name": pool, "type": "process"}));
    let pooled = api.deployment(
        &id(&f.flow),
        &unique("pooled"),
        json!({"work_pool_name": pool}),
    );
    let run = pf("pf-get")
        .args(["deployments", "--work-pool", &pool])
        .run();
    assert_eq!(ids(&run.json_lines()), ids(&[pooled]));

    // Task runs of one flow run, by name and state.
    let parent = &f.completed;
    let mk = |name: &str, state: &str| {
        api.post(
            "task_runs/",
            json!({"flow_run_id": id(parent), "task_key": name, "dynamic_key": unique("k"), "name": name, "state": {"type": state}}),
        )
    };
    let t_ok = mk(&unique("extract"), "COMPLETED");
    let t_bad = mk(&unique("load"), "FAILED");
    let run_name = parent["name"].as_str().unwrap();
    let run = pf("pf-get")
        .args(["task-runs", "--flow-run", run_name])
        .run();
    assert_eq!(ids(&run.json_lines()), ids(&[t_ok.clone(), t_bad.clone()]));
    let run = pf("pf-get")
        .args(["tasks", "--flow-run", &id(parent), "--state", "failed"])
        .run();
    assert_eq!(ids(&run.json_lines()), ids(std::slice::from_ref(&t_bad)));
    let run = pf("pf-get")
        .args([
            "task-runs",
            "--flow",
            &name,
            "--name",
            t_ok["name"].as_str().unwrap(),
        ])
        .run();
    assert_eq!(ids(&run.json_lines()), ids(&[t_ok]));
    pf("pf-get")
        .args(["task-runs", "--flow-run", "no-such-run-xyz"])
        .run()
        .expect_code(4);
}

#[test]
fn all_walks_every_page_and_matches_the_count() {
    let api = Server::shared().api();
    let flow = api.flow_with_scheduled_runs("paging", 460);
    let fid = id(&flow);
    let count = api.post("flow_runs/count", json!({"flows": {"id": {"any_": [fid]}}}));
    assert_eq!(count, json!(460));
    let name = flow["name"].as_str().unwrap();
    let run = pf("pf-get")
        .args(["flow-runs", "--flow", name, "--all", "-v"])
        .run();
    run.ok();
    let lines = run.json_lines();
    assert_eq!(lines.len(), 460);
    assert_eq!(ids(&lines).len(), 460, "no run twice");
    // Pages of 200: three filter requests, no per-row requests.
    let requests = run
        .stderr
        .lines()
        .filter(|l| l.contains("POST /flow_runs/filter"))
        .count();
    assert_eq!(requests, 3, "{}", run.stderr);

    // The table joins flow names once per page, not once per row.
    let run = pf("pf-get")
        .args(["flow-runs", "--flow", name, "--all", "-o", "tsv", "-v"])
        .run();
    assert_eq!(run.lines().len(), 460);
    assert!(
        run.lines()
            .iter()
            .all(|l| l.split('\t').nth(1) == Some(name))
    );
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.contains("POST /flows/filter"))
            .count(),
        3,
        "{}",
        run.stderr
    );

    // A closed stdout ends quietly with 0.
    let bin = crate::harness::bin("pf-get");
    let script = format!(
        "set -o pipefail; PREFECT_API_URL={} {} flow-runs --flow {name} --all 2>err.txt | head -1 >/dev/null; echo $?",
        Server::shared().url,
        bin.display()
    );
    let dir = crate::harness::temp_dir("pipe");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    assert_eq!(std::fs::read_to_string(dir.join("err.txt")).unwrap(), "");
}

#[test]
fn bad_times_and_states_are_usage_errors_before_any_request() {
    let run = pf("pf-get")
        .args(["flow-runs", "--since", "yesterdayish"])
        .run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("invalid time 'yesterdayish'"),
        "{run:?}"
    );
    assert!(run.stderr.contains("hint:"));
    let run = pf("pf-get")
        .args(["flow-runs", "--state-type", "exploded"])
        .run();
    run.expect_code(2);
    assert!(run.stderr.contains("unknown state type 'exploded'"));
    pf("pf-get")
        .args(["flow-runs", "--limit", "x"])
        .run()
        .expect_code(2);
    // Usage errors from the flag parser keep the one-line shape too.
    let run = pf("pf-get").args(["flows", "--bogus"]).run();
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "pf-get: error: unexpected argument '--bogus' found\nhint: usage: pf-get flows [OPTIONS] (see --help)\n"
    );
    let run = pf("pf-get").args(["nonsense"]).run();
    run.expect_code(2);
    assert!(
        run.stderr
            .starts_with("pf-get: error: unrecognized subcommand 'nonsense'\nhint: "),
        "{run:?}"
    );
}

#[test]
fn an_empty_result_prints_nothing_in_a_pipe() {
    let run = pf("pf-get")
        .args(["flows", "--name", "no-such-flow-at-all"])
        .run();
    run.ok();
    assert_eq!(run.stdout, "");
    let run = pf("pf-get")
        .args(["flows", "--name", "no-such-flow-at-all", "-o", "json"])
        .run();
    assert_eq!(run.stdout.trim(), "[]");
}
