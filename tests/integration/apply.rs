//! pf-apply on each kind against the real server: created, updated (one field), unchanged,
//! refused (bad field, unknown reference); and bad inputs refused before any request.

use serde_json::{Value, json};

use crate::harness::{Pf, Run, pf, temp_dir, unique};

/// Apply `args` and return the single row.
fn apply(args: &[&str]) -> (Run, Value) {
    let run = pf("pf-apply").args(args).run();
    let row = run.json_lines().first().cloned().unwrap_or(Value::Null);
    (run, row)
}

/// created → unchanged → updated (one field) → unchanged, with the same id each time.
#[track_caller]
fn lifecycle(kind: &str, name: &str, create: &[&str], update: &[&str], changed: &str) -> String {
    let args = |extra: &[&str]| {
        let mut all = vec![kind, name];
        all.extend_from_slice(extra);
        all.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        apply(&a)
    };
    let (out, row) = run(args(create));
    out.ok();
    assert_eq!(
        (row["kind"].as_str(), row["result"].as_str()),
        (Some(kind), Some("created")),
        "{out:?}"
    );
    let id = row["id"].as_str().unwrap().to_string();
    let (out, row) = run(args(create));
    out.ok();
    assert_eq!(row["result"], "unchanged", "{kind}: {out:?}");
    let (out, row) = run(args(update));
    out.ok();
    assert_eq!(
        row["result"],
        format!("updated: {changed}"),
        "{kind}: {out:?}"
    );
    assert_eq!(row["changed"], json!([changed]));
    assert_eq!(row["id"], id.as_str());
    let (out, row) = run(args(update));
    out.ok();
    assert_eq!(row["result"], "unchanged", "{kind}: {out:?}");
    id
}

#[test]
fn apply_each_kind_created_updated_unchanged() {
    let pool = unique("pf-apply-pool");
    lifecycle(
        "variable",
        &unique("v").replace('-', "_"),
        &["value=1"],
        &["value=2"],
        "value",
    );
    let tag = unique("tag");
    lifecycle(
        "concurrency-limit",
        &format!("tag:{tag}"),
        &["limit=2"],
        &["limit=3"],
        "limit",
    );
    // A tag limit as pf-limit and the old API print it is the same object.
    let out = pf("pf-apply")
        .stdin(format!(
            "{{\"tag\": \"{tag}\", \"concurrency_limit\": 3, \"active_slots\": []}}\n"
        ))
        .run();
    out.ok();
    assert_eq!(out.json_lines()[0]["name"], format!("tag:{tag}"));
    assert_eq!(out.json_lines()[0]["result"], "unchanged");
    lifecycle(
        "concurrency-limit",
        &unique("gcl"),
        &["limit=2"],
        &["limit=4"],
        "limit",
    );
    lifecycle(
        "work-pool",
        &pool,
        &["type=process"],
        &["type=process", "concurrency_limit=5"],
        "concurrency_limit",
    );
    lifecycle(
        "work-queue",
        &format!("{pool}/high"),
        &["priority=5"],
        &["priority=7"],
        "priority",
    );
    lifecycle(
        "flow",
        &unique("pf-apply-flow"),
        &[],
        &["tags=[\"a\"]"],
        "tags",
    );
    let flow = unique("pf-apply-flow");
    let deployment = format!("{flow}/nightly");
    let pool_arg = format!("work_pool_name={pool}");
    let schedule = r#"schedules=[{"schedule": {"cron": "0 3 * * *"}}]"#;
    let dep_id = lifecycle(
        "deployment",
        &deployment,
        &[&pool_arg, schedule],
        &[&pool_arg, schedule, "tags=[\"prod\"]"],
        "tags",
    );
    let secret = format!("secret/{}", unique("pw"));
    lifecycle(
        "block",
        &secret,
        &[r#"data={"value": "one"}"#],
        &[r#"data={"value": "two"}"#],
        "data",
    );
    let trigger = r#"trigger={"type": "event", "expect": ["prefect.flow-run.Failed"], "posture": "Reactive", "threshold": 1, "within": 0}"#;
    let run_it = format!(
        r#"actions=[{{"type": "run-deployment", "source": "selected", "deployment": "{deployment}"}}]"#
    );
    let automation = unique("pf-apply-auto");
    lifecycle(
        "automation",
        &automation,
        &[trigger, &run_it],
        &[trigger, &run_it, "description=\"again\""],
        "description",
    );
    let stored = pf("pf-describe")
        .args(["automation", &automation])
        .run()
        .json_lines()[0]
        .clone();
    assert_eq!(stored["actions"][0]["deployment_id"], dep_id.as_str());

    // The block's secret never shows in a diff.
    let out = pf("pf-apply")
        .args([
            "block",
            &secret,
            r#"data={"value": "three"}"#,
            "--dry-run",
            "-v",
        ])
        .run();
    out.ok();
    assert!(
        out.stderr.contains("~ block ") && out.stderr.contains("(hidden)"),
        "{out:?}"
    );
    assert!(
        !out.stderr.contains("three") && !out.stderr.contains("two"),
        "{out:?}"
    );
}

#[test]
fn apply_refuses_bad_fields_and_unknown_references() {
    // A bad field is caught before any request (exit 2), naming the object.
    let out = pf("pf-apply")
        .args(["work-pool", "p", "concurrency_limit=\"x\""])
        .run();
    out.expect_code(2);
    assert_eq!(
        out.stderr.lines().next().unwrap(),
        "pf-apply: error: arguments: work-pool 'p': concurrency_limit: must be an integer or null, not a string \"x\""
    );
    let out = pf("pf-apply")
        .args(["variable", "v", "value=1", "colour=2"])
        .run();
    out.expect_code(2);
    assert!(out.stderr.contains("unknown field 'colour'"), "{out:?}");

    // A name that does not resolve refuses that object (exit 4), the row says why.
    let flow = unique("pf-apply-flow");
    let out = pf("pf-apply")
        .args([
            "deployment",
            &format!("{flow}/d"),
            "work_pool_name=no-such-pool",
        ])
        .run();
    out.expect_code(4);
    assert!(
        out.json_lines()[0]["result"]
            .as_str()
            .unwrap()
            .starts_with("refused: "),
        "{out:?}"
    );
    let missing = format!("{flow}/missing");
    let out = pf("pf-apply")
        .args([
            "automation",
            &unique("a"),
            r#"trigger={"type": "event", "posture": "Reactive", "threshold": 1, "within": 0}"#,
            &format!(r#"actions=[{{"type": "run-deployment", "source": "selected", "deployment": "{missing}"}}]"#),
        ])
        .run();
    out.expect_code(4);
    assert_eq!(
        out.json_lines()[0]["result"],
        format!("refused: deployment '{missing}' not found")
    );
    let out = pf("pf-apply")
        .args(["work-pool", &unique("p"), "type=no-such-worker"])
        .run();
    out.expect_code(4);
    assert_eq!(
        out.json_lines()[0]["result"],
        "refused: the server knows no worker of type 'no-such-worker'"
    );
    let out = pf("pf-apply")
        .args(["block", &format!("no-such-type/{}", unique("b")), "data={}"])
        .run();
    out.expect_code(4);
    assert!(
        out.stderr.contains("block type 'no-such-type' not found"),
        "{out:?}"
    );

    // A batch with one refusal: the rest is applied, exit 1.
    let good = unique("v").replace('-', "_");
    let input = format!(
        "{{\"kind\": \"variable\", \"name\": \"{good}\", \"value\": 1}}\n{{\"kind\": \"work-queue\", \"work_pool_name\": \"no-such-pool-{good}\", \"name\": \"q\"}}\n"
    );
    let out = pf("pf-apply").stdin(input).run();
    out.expect_code(1);
    let rows = out.json_lines();
    assert_eq!(rows[0]["result"], "created");
    assert!(
        rows[1]["result"].as_str().unwrap().starts_with("refused: "),
        "{out:?}"
    );
}

#[test]
fn apply_dry_run_writes_nothing_and_shows_the_diff() {
    let name = unique("pf-apply-pool");
    pf("pf-apply")
        .args(["work-pool", &name, "type=process"])
        .run()
        .ok();
    let out = pf("pf-apply")
        .args(["work-pool", &name, "concurrency_limit=9", "--dry-run"])
        .tty(200)
        .run();
    out.ok();
    assert!(out.stdout.contains("updated: concurrency_limit"), "{out:?}");
    assert_eq!(
        out.stderr,
        format!("~ work-pool {name}\n    + concurrency_limit: 9\n")
    );
    let pool = pf("pf-describe")
        .args(["work-pool", &name])
        .run()
        .json_lines()[0]
        .clone();
    assert_eq!(pool["concurrency_limit"], Value::Null);

    let fresh = unique("pf-apply-pool");
    let out = pf("pf-apply")
        .args(["work-pool", &fresh, "type=process", "--dry-run", "-v"])
        .run();
    out.ok();
    assert_eq!(out.json_lines()[0]["result"], "created");
    assert!(out.stderr.contains("0 write requests (dry run)"), "{out:?}");
    pf("pf-describe")
        .args(["work-pool", &fresh])
        .run()
        .expect_code(4);
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Bad inputs exit 2 before any request: no server is configured at all.
#[test]
fn apply_bad_inputs_are_refused_before_any_request() {
    let dir = temp_dir("apply-input");
    let offline = |args: &[&str]| {
        Pf::new("pf-apply")
            .env("PREFECT_API_URL", "http://127.0.0.1:9/api")
            .args(args)
            .run()
    };
    let first_line = |run: &Run| run.stderr.lines().next().unwrap_or_default().to_string();

    let bad = write(
        &dir,
        "bad.yaml",
        "kind: variable\nname: a\nvalue: 1\n---\nkind: variable\nname: [b\nvalue: 2\n",
    );
    let out = offline(&["-f", &bad]);
    out.expect_code(2);
    let line = first_line(&out);
    assert!(
        line.starts_with(&format!("pf-apply: error: {bad}:")) && line.contains("not valid YAML"),
        "{out:?}"
    );
    let at: usize = line[format!("pf-apply: error: {bad}:").len()..]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((6..=8).contains(&at), "line {at}: {out:?}");

    let nokind = write(
        &dir,
        "nokind.yaml",
        "kind: flow\nname: f\n---\n# no kind\nname: x\ndescription: y\n",
    );
    let out = offline(&["-f", &nokind]);
    out.expect_code(2);
    assert_eq!(
        first_line(&out),
        format!("pf-apply: error: {nokind}:5: cannot tell which kind of object this is")
    );
    assert_eq!(
        out.stderr.lines().nth(1),
        Some("hint: add a 'kind' field (e.g. kind: work-pool) or pass --kind")
    );

    let conflict = write(&dir, "conflict.json", r#"[{"kind": "flow", "name": "f"}]"#);
    let out = offline(&["-f", &conflict, "--kind", "variable"]);
    out.expect_code(2);
    assert_eq!(
        first_line(&out),
        format!(
            "pf-apply: error: {conflict}:1: the object says kind 'flow' but --kind is 'variable'"
        )
    );

    let twice = write(
        &dir,
        "twice.ndjson",
        "{\"kind\":\"flow\",\"name\":\"f\"}\n\n{\"kind\":\"flows\",\"name\":\"f\",\"tags\":[]}\n",
    );
    let out = offline(&["-f", &twice]);
    out.expect_code(2);
    assert_eq!(
        first_line(&out),
        format!("pf-apply: error: {twice}:3: flow 'f' is given twice (first at {twice}:1)")
    );

    let unknown = write(&dir, "unknown.yaml", "kind: widget\nname: w\n");
    let out = offline(&["-f", &unknown]);
    out.expect_code(2);
    assert_eq!(
        first_line(&out),
        format!("pf-apply: error: {unknown}:1: unknown kind 'widget'")
    );

    let out = offline(&["-f", dir.to_str().unwrap()]);
    out.expect_code(2);
    assert_eq!(out.stdout, "");
    let out = offline(&["nope", "x"]);
    out.expect_code(2);
    assert_eq!(first_line(&out), "pf-apply: error: unknown kind 'nope'");
    let out = offline(&["deployment", "no-slash"]);
    out.expect_code(2);
    assert_eq!(
        first_line(&out),
        "pf-apply: error: a deployment is named FLOW/DEPLOYMENT"
    );
}

#[test]
fn apply_deployment_schedules_by_slug_and_by_spec() {
    let api = crate::harness::Server::shared().api();
    let flow = api.flow("pf-apply-sched", &[]);
    let flow_name = flow["name"].as_str().unwrap();
    let deployment = api.deployment(flow["id"].as_str().unwrap(), "nightly", json!({}));
    let deployment_id = deployment["id"].as_str().unwrap();
    let on_server = || {
        api.get(&format!("deployments/{deployment_id}/schedules"))
            .as_array()
            .unwrap()
            .clone()
    };
    let name = format!("{flow_name}/nightly");

    // By slug: created, unchanged, updated (one field), unchanged; one schedule on the server.
    let hourly = [r#"slug="hourly""#, r#"schedule={"interval": 3600}"#];
    let paused = [hourly[0], hourly[1], "active=false"];
    let id = lifecycle("schedule", &name, &hourly, &paused, "active");
    let (_, row) = apply(&["schedule", &name, paused[0], paused[1], paused[2]]);
    assert_eq!(row["name"], format!("{name}/hourly"));
    let schedules = on_server();
    assert_eq!(schedules.len(), 1, "{schedules:?}");
    assert_eq!(schedules[0]["id"], id.as_str());
    assert_eq!(schedules[0]["active"], false);
    assert_eq!(schedules[0]["schedule"]["interval"], 3600.0);
    // The schedule itself is a field like the others.
    let (out, row) = apply(&[
        "schedule",
        &name,
        hourly[0],
        r#"schedule={"interval": 7200}"#,
    ]);
    out.ok();
    assert_eq!(row["result"], "updated: schedule", "{out:?}");
    assert_eq!(on_server()[0]["schedule"]["interval"], 7200.0);

    // Without a slug, an identical schedule is the same object (the server's defaults, such as
    // anchor_date, do not count); a different one is another schedule.
    let cron = r#"schedule={"cron": "0 3 * * *", "timezone": "Europe/Paris"}"#;
    let (out, row) = apply(&["schedule", &name, cron]);
    out.ok();
    assert_eq!(row["result"], "created", "{out:?}");
    assert_eq!(row["name"], format!("{name}/cron 0 3 * * *"));
    let (out, row) = apply(&["schedule", &name, cron, "active=true"]);
    out.ok();
    assert_eq!(row["result"], "unchanged", "{out:?}");
    let (out, row) = apply(&["schedule", &name, cron, "active=false"]);
    out.ok();
    assert_eq!(row["result"], "updated: active", "{out:?}");
    assert_eq!(on_server().len(), 2);
    // In a file, with the kind named, and a dry run writes nothing.
    let input = format!(
        "{{\"kind\": \"schedule\", \"deployment\": \"{name}\", \"schedule\": {{\"rrule\": \"FREQ=DAILY\"}}}}\n"
    );
    let out = pf("pf-apply").arg("--dry-run").stdin(input.clone()).run();
    out.ok();
    assert_eq!(out.json_lines()[0]["result"], "created");
    assert_eq!(on_server().len(), 2);
    let out = pf("pf-apply").stdin(input).run();
    out.ok();
    assert_eq!(on_server().len(), 3);

    // An unknown deployment refuses the object, naming it (exit 4); nothing is written.
    let missing = format!("{flow_name}/no-such-deployment");
    let (out, row) = apply(&["schedule", &missing, hourly[0], hourly[1]]);
    out.expect_code(4);
    assert_eq!(
        row["result"],
        format!("refused: deployment '{missing}' not found"),
        "{out:?}"
    );
    // A schedule without one is refused before any request.
    let out = pf("pf-apply")
        .args(["schedule", &name, r#"slug="x""#, "schedule=1"])
        .run();
    out.expect_code(2);
}
