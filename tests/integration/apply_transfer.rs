//! Moving a server: `pf-export` from a fresh server A, `pf-apply` to server B (the shared one,
//! which has a process worker), every object compared field by field, a no-op re-apply, a
//! moved deployment run on B, and a moved automation pointing at B's deployment.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::harness::{Pf, Server, pf, unique};
use crate::worker::{self, HELLO, POOL};

/// Objects of an export keyed by `kind` and natural key (a deployment's schedules sorted: the
/// server lists them newest first).
fn by_key(lines: &[Value]) -> BTreeMap<String, Value> {
    lines
        .iter()
        .map(|o| {
            let mut o = o.clone();
            if let Some(Value::Array(schedules)) = o.get_mut("schedules") {
                schedules.sort_by_key(|s| s.to_string());
            }
            let key = [
                "work_pool_name",
                "flow_name",
                "block_type_slug",
                "name",
                "tag",
            ]
            .iter()
            .filter_map(|k| o.get(*k).and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("/");
            (format!("{} {key}", o["kind"].as_str().unwrap()), o.clone())
        })
        .collect()
}

/// Make one object of each kind on A, references between them included.
fn populate(a: &Server, suffix: &str) -> (String, String) {
    let api = a.api();
    // B's worker serves POOL: A's pool gets the same template, so applying it changes nothing.
    let b_pool = Server::shared().api().get(&format!("work_pools/{POOL}"));
    api.post(
        "work_pools/",
        json!({"name": POOL, "type": "process", "base_job_template": b_pool["base_job_template"]}),
    );
    api.post(
        &format!("work_pools/{POOL}/queues"),
        json!({"name": format!("q-{suffix}"), "priority": 20}),
    );
    api.post("variables/", json!({"name": format!("v_{}", suffix.replace('-', "_")), "value": {"a": [1, 2]}, "tags": ["x"]}));
    api.post(
        "concurrency_limits/",
        json!({"tag": format!("t-{suffix}"), "concurrency_limit": 3}),
    );
    api.post(
        "v2/concurrency_limits/",
        json!({"name": format!("g-{suffix}"), "limit": 2}),
    );
    let secret_type = api.get("block_types/slug/secret");
    let schema = api.post(
        "block_schemas/filter",
        json!({"block_schemas": {"block_type_id": {"any_": [secret_type["id"]]}}, "limit": 1}),
    );
    api.post(
        "block_documents/",
        json!({"name": format!("s-{suffix}"), "data": {"value": "hunter2"},
        "block_type_id": secret_type["id"], "block_schema_id": schema[0]["id"]}),
    );
    let flow_name = format!("pf-moved-{suffix}");
    let flow = api.post("flows/", json!({"name": flow_name, "tags": ["moved"]}));
    let deployment = api.post("deployments/", json!({
        "name": "hello",
        "flow_id": flow["id"],
        "entrypoint": format!("flows.py:{}", HELLO.function),
        "work_pool_name": POOL,
        "work_queue_name": format!("q-{suffix}"),
        "pull_steps": [{"prefect.deployments.steps.set_working_directory": {"directory": worker::flows_dir().display().to_string()}}],
        "parameter_openapi_schema": worker::parameter_schema(&HELLO),
        "parameters": {"name": "moved", "lines": 2},
        "job_variables": {"env": {"PF_MOVED": "1"}},
        "tags": ["moved"],
        "schedules": [
            {"schedule": {"cron": "0 3 * * *", "timezone": "Europe/Paris"}, "active": false},
            {"schedule": {"interval": 86400}, "active": false, "slug": "daily"}
        ],
    }));
    let automation = format!("a-{suffix}");
    api.post("automations/", json!({
        "name": automation,
        "trigger": {"type": "event", "expect": ["prefect.flow-run.Failed"], "posture": "Reactive", "threshold": 1, "within": 0,
            "match_related": {"prefect.resource.id": format!("prefect.deployment.{}", deployment["id"].as_str().unwrap()), "prefect.resource.role": "deployment"}},
        "actions": [{"type": "run-deployment", "source": "selected", "deployment_id": deployment["id"], "parameters": {"name": "again"}}],
    }));
    (format!("{flow_name}/hello"), automation)
}

#[test]
fn export_from_a_apply_to_b_reproduces_every_object() {
    let b = Server::shared();
    worker::worker();
    let a = Server::start(&[]);
    let suffix = unique("x");
    let (deployment, automation) = populate(&a, &suffix);
    let on = |server: &Server, tool: &str| Pf::new(tool).server(server);

    // Without --include-secrets the secret stays obfuscated, and is not applied.
    let plain = on(&a, "pf-export").args(["blocks"]).run();
    plain.ok();
    assert!(
        plain.stdout.contains(r#""data":{"value":"********"}"#),
        "{plain:?}"
    );

    let export = on(&a, "pf-export").arg("--include-secrets").run();
    export.ok();
    let exported = export.json_lines();
    let kinds: Vec<&str> = exported
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    let mut sorted = kinds.clone();
    sorted.sort_by_key(|k| {
        [
            "block",
            "variable",
            "concurrency-limit",
            "work-pool",
            "work-queue",
            "flow",
            "deployment",
            "automation",
        ]
        .iter()
        .position(|x| x == k)
    });
    assert_eq!(kinds, sorted, "dependency order");
    for object in &exported {
        for owned in ["id", "created", "updated", "flow_id", "deployment_id"] {
            assert!(object.get(owned).is_none(), "{owned} exported: {object}");
        }
    }

    let applied = on(b, "pf-apply").stdin(export.stdout.clone()).run();
    applied.ok();
    for row in applied.json_lines() {
        let result = row["result"].as_str().unwrap();
        assert!(result == "created" || result == "unchanged", "{row}");
    }

    // B now has every object of A, field by field (ids and timestamps are not exported).
    let on_b = by_key(
        &on(b, "pf-export")
            .arg("--include-secrets")
            .run()
            .json_lines(),
    );
    for (key, object) in by_key(&exported) {
        assert_eq!(on_b.get(&key), Some(&object), "{key} differs on B");
    }

    // Again: all unchanged, and not one write request.
    let again = on(b, "pf-apply")
        .arg("-v")
        .stdin(export.stdout.clone())
        .run();
    again.ok();
    assert!(
        again
            .json_lines()
            .iter()
            .all(|r| r["result"] == "unchanged"),
        "{again:?}"
    );
    let writes: Vec<&str> = again
        .stderr
        .lines()
        .filter(|l| l.starts_with("pf: ") && !l.starts_with("pf: GET ") && !l.contains("/filter "))
        .collect();
    assert_eq!(writes, Vec::<&str>::new());
    assert!(
        again.stderr.contains(&format!(
            "pf-apply: {} objects, 0 write requests",
            exported.len()
        )),
        "{again:?}"
    );

    // The automation on B names B's deployment, in its action and its trigger.
    let b_deployment = on(b, "pf-describe")
        .args(["deployment", &deployment])
        .run()
        .json_lines()[0]
        .clone();
    let b_id = b_deployment["id"].as_str().unwrap();
    let b_automation = on(b, "pf-describe")
        .args(["automation", &automation])
        .run()
        .json_lines()[0]
        .clone();
    assert_eq!(b_automation["actions"][0]["deployment_id"], b_id);
    assert_eq!(
        b_automation["trigger"]["match_related"]["prefect.resource.id"],
        format!("prefect.deployment.{b_id}")
    );
    assert_eq!(b_deployment["schedules"].as_array().unwrap().len(), 2);

    // The moved deployment runs on B through B's worker, with its parameters and pull steps.
    let run = pf("pf-run")
        .args(["-n", &deployment, "--watch", "--timeout", "180"])
        .run();
    run.ok();
    let logs = run.json_lines();
    assert!(
        logs.iter()
            .any(|l| l["event"] == "log" && l["message"] == "hello moved line 2"),
        "{run:?}"
    );
    drop(a);
}
