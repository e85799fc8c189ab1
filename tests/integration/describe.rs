//! pf-describe: REFs by name, id and stdin (lines and NDJSON), related objects, errors.

use serde_json::{Value, json};

use crate::harness::{Server, pf, unique};

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

#[test]
fn a_flow_run_by_name_and_by_id_with_its_flow_deployment_and_history() {
    let api = Server::shared().api();
    let flow = api.flow("describe", &[]);
    let dep = api.deployment(id(&flow), &unique("dep"), json!({}));
    let run = api.post(
        &format!("deployments/{}/create_flow_run", id(&dep)),
        json!({"name": unique("described")}),
    );
    api.post(
        &format!("flow_runs/{}/set_state", id(&run)),
        json!({"state": {"type": "RUNNING"}, "force": true}),
    );
    api.post(
        &format!("flow_runs/{}/set_state", id(&run)),
        json!({"state": {"type": "COMPLETED"}, "force": true}),
    );

    for reference in [run["name"].as_str().unwrap(), id(&run)] {
        let out = pf("pf-describe").args(["flow-run", reference]).run();
        out.ok();
        let objects = out.json_lines();
        assert_eq!(objects.len(), 1);
        let o = &objects[0];
        assert_eq!(o["id"], run["id"]);
        assert_eq!(o["flow_name"], flow["name"]);
        assert_eq!(o["deployment_name"], dep["name"]);
        let history: Vec<&str> = o["state_history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["type"].as_str().unwrap())
            .collect();
        assert_eq!(history, ["SCHEDULED", "RUNNING", "COMPLETED"], "{o}");
    }

    // A summary on a terminal; the full object with -o json.
    let out = pf("pf-describe")
        .args(["flow-run", id(&run)])
        .tty(100)
        .run();
    out.ok();
    assert!(
        out.stdout.starts_with(&format!(
            "Name:         {}\n",
            run["name"].as_str().unwrap()
        )),
        "{}",
        out.stdout
    );
    let out = pf("pf-describe")
        .args(["flow-run", id(&run), "-o", "json"])
        .tty(100)
        .run();
    out.ok();
    let parsed: Value = serde_json::from_str(&out.stdout).unwrap();
    // One object alone, or in an array.
    let object = if parsed.is_array() {
        &parsed[0]
    } else {
        &parsed
    };
    assert_eq!(object["id"], run["id"], "{}", out.stdout);
}

#[test]
fn refs_come_from_stdin_as_lines_or_ndjson() {
    let api = Server::shared().api();
    let flow = api.flow("stdin", &[]);
    let a = api.flow_run(id(&flow), "COMPLETED", &[]);
    let b = api.flow_run(id(&flow), "FAILED", &[]);
    let lines = format!("{}\n\n  {}  \n", id(&a), b["name"].as_str().unwrap());
    let out = pf("pf-describe").arg("flow-run").stdin(lines).run();
    out.ok();
    let got: Vec<Value> = out.json_lines().iter().map(|o| o["id"].clone()).collect();
    assert_eq!(got, vec![a["id"].clone(), b["id"].clone()]);

    // Any pf tool's NDJSON feeds any other.
    let listed = pf("pf-get")
        .args(["flow-runs", "--flow", flow["name"].as_str().unwrap()])
        .run();
    let out = pf("pf-describe")
        .args(["flow-run", "-"])
        .stdin(listed.stdout.clone())
        .run();
    out.ok();
    assert_eq!(out.json_lines().len(), 2);
    assert!(
        out.json_lines()
            .iter()
            .all(|o| o["flow_name"] == flow["name"])
    );

    let out = pf("pf-describe")
        .arg("flow-run")
        .stdin(format!("{}\n{{\"name\": \"no id\"}}\n", id(&a)))
        .run();
    out.expect_code(1);
    assert!(out.stderr.contains("stdin line 2"), "{out:?}");
    assert_eq!(
        out.json_lines().len(),
        1,
        "the good line still went through"
    );
}

#[test]
fn flows_come_with_their_deployments_and_deployments_by_flow_slash_name() {
    let api = Server::shared().api();
    let flow = api.flow("withdeps", &[]);
    let d1 = api.deployment(id(&flow), "alpha", json!({}));
    let d2 = api.deployment(id(&flow), "beta", json!({}));
    let out = pf("pf-describe")
        .args(["flow", flow["name"].as_str().unwrap()])
        .run();
    out.ok();
    let o = &out.json_lines()[0];
    let names: Vec<&str> = o["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);

    let reference = format!("{}/beta", flow["name"].as_str().unwrap());
    let out = pf("pf-describe")
        .args(["deployment", &reference, "--jq", ".id"])
        .run();
    out.ok();
    assert_eq!(out.stdout.trim(), id(&d2));
    let out = pf("pf-describe")
        .args(["deployment", id(&d1), "--jq", ".flow_name"])
        .run();
    assert_eq!(out.stdout.trim(), flow["name"].as_str().unwrap());
}

#[test]
fn deployments_pools_queues_and_flows_have_their_own_summaries_on_a_terminal() {
    let api = Server::shared().api();
    let pool = unique("sumpool");
    api.post("work_pools/", json!({"name": pool, "type": "process"}));
    api.post(
        &format!("work_pools/{pool}/queues"),
        json!({"name": "fast", "priority": 2, "concurrency_limit": 3}),
    );
    let flow = api.flow("sumflow", &["nightly"]);
    let flow_name = flow["name"].as_str().unwrap();
    let dep = unique("dep");
    api.deployment(
        id(&flow),
        &dep,
        json!({"work_pool_name": pool, "tags": ["etl"],
               "schedules": [{"schedule": {"cron": "0 3 * * *"}, "active": true}]}),
    );
    let summary = |kind: &str, reference: &str| {
        let out = pf("pf-describe").args([kind, reference]).tty(120).run();
        out.ok();
        assert!(!out.stdout.trim_start().starts_with('{'), "{}", out.stdout);
        out.stdout.clone()
    };
    let text = summary("deployment", &format!("{flow_name}/{dep}"));
    for part in [
        &format!("Name:         {flow_name}/{dep}\n"),
        &format!("Work Pool:    {pool}\n"),
        "Tags:         etl\n",
        "Schedules:\n  cron \"0 3 * * *\"\n",
        "URL:          http",
        "Parameters:\n",
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
    let text = summary("work-pool", &pool);
    for part in [
        &format!("Name:         {pool}\n"),
        "Type:         process\n",
        "Concurrency:  unlimited\n",
        "Work Queues:\n  NAME",
        "fast",
        "Workers:\n  (none)\n",
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
    let text = summary("work-queue", &format!("{pool}/fast"));
    for part in [
        &format!("Name:         {pool}/fast\n"),
        "Priority:     2\n",
        "Concurrency:  3\n",
        "URL:          http",
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
    let text = summary("flow", flow_name);
    for part in [
        &format!("Name:         {flow_name}\n"),
        "Tags:         nightly\n",
        "Deployments:\n  NAME",
        dep.as_str(),
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
}

#[test]
fn unknown_refs_exit_4_and_a_partly_failed_batch_exits_1() {
    let out = pf("pf-describe")
        .args(["flow-run", "no-such-run-name"])
        .run();
    out.expect_code(4);
    assert_eq!(
        out.stderr.lines().next().unwrap(),
        "pf-describe: error: flow run 'no-such-run-name' not found"
    );
    assert!(
        out.stderr
            .contains("hint: list them with: pf-get flow-runs")
    );

    let missing = uuid::Uuid::new_v4().to_string();
    let out = pf("pf-describe").args(["flow-run", &missing]).run();
    out.expect_code(4);
    assert!(
        out.stderr
            .contains(&format!("flow run '{missing}' not found"))
    );

    let out = pf("pf-describe").args(["deployment", "nope/nada"]).run();
    out.expect_code(4);

    let api = Server::shared().api();
    let flow = api.flow("batch", &[]);
    let good = api.flow_run(id(&flow), "COMPLETED", &[]);
    let out = pf("pf-describe")
        .args(["flow-run", id(&good), "no-such-run-name"])
        .run();
    out.expect_code(1);
    assert_eq!(out.json_lines().len(), 1);
}

#[test]
fn an_ambiguous_name_lists_the_candidates() {
    let api = Server::shared().api();
    let flow = api.flow("ambiguous", &[]);
    let name = unique("twin");
    let a = api.post(
        "flow_runs/",
        json!({"flow_id": id(&flow), "name": name, "state": {"type": "COMPLETED"}}),
    );
    let b = api.post(
        "flow_runs/",
        json!({"flow_id": id(&flow), "name": name, "state": {"type": "COMPLETED"}}),
    );
    let out = pf("pf-describe").args(["flow-run", &name]).run();
    out.expect_code(4);
    assert!(out.stderr.contains("matches 2 objects"), "{out:?}");
    assert!(out.stderr.contains(id(&a)) && out.stderr.contains(id(&b)));
}
