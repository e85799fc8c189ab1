//! Limits on pools, queues and deployments (pf-limit), slot use in pf-describe work-pool, and
//! flow runs by work pool and queue (pf-get), against the real server.

use serde_json::{Value, json};

use crate::harness::{Server, pf, unique};

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

#[test]
fn pools_queues_and_deployments_get_their_own_limits() {
    let api = Server::shared().api();
    let pool = unique("lim-pool");
    api.post("work_pools/", json!({"name": pool, "type": "process"}));
    api.post(&format!("work_pools/{pool}/queues"), json!({"name": "q"}));
    let flow = api.flow("lim", &[]);
    let dep = unique("dep");
    let deployment = api.deployment(
        id(&flow),
        &dep,
        json!({"work_pool_name": pool, "work_queue_name": "q"}),
    );
    let full = format!("{}/{dep}", flow["name"].as_str().unwrap());

    for _ in 0..2 {
        // Setting what is set is the same PATCH: success both times.
        let out = pf("pf-limit").args(["set", "--pool", &pool, "5"]).run();
        out.ok();
        assert_eq!(out.json_lines()[0]["concurrency_limit"], json!(5));
    }
    assert_eq!(
        api.get(&format!("work_pools/{pool}"))["concurrency_limit"],
        json!(5)
    );
    pf("pf-limit")
        .args(["set", "--queue", &format!("{pool}/q"), "2"])
        .run()
        .ok();
    assert_eq!(
        api.get(&format!("work_pools/{pool}/queues/q"))["concurrency_limit"],
        json!(2)
    );
    pf("pf-limit")
        .args(["set", "--deployment", &full, "1"])
        .run()
        .ok();
    let got = api.get(&format!("deployments/{}", id(&deployment)));
    // Prefect 3 keeps a deployment's limit as a global limit of its own.
    assert_eq!(got["global_concurrency_limit"]["limit"], json!(1), "{got}");
    let out = pf("pf-limit")
        .args(["get", "--pool", &pool, "-o", "tsv"])
        .run();
    out.ok();
    assert!(
        out.stdout.starts_with(&format!("{pool}\tprocess\t")),
        "{}",
        out.stdout
    );
    pf("pf-limit").args(["rm", "--pool", &pool]).run().ok();
    assert_eq!(
        api.get(&format!("work_pools/{pool}"))["concurrency_limit"],
        Value::Null
    );
    // Usage errors stop before any request.
    pf("pf-limit")
        .args(["set", "--pool", &pool])
        .run()
        .expect_code(2);
    pf("pf-limit")
        .args(["set", "--pool", &pool, "x"])
        .run()
        .expect_code(2);
    pf("pf-limit")
        .args(["set", "--pool", &pool, "--queue", "a/b", "1"])
        .run()
        .expect_code(2);

    // pf-describe work-pool shows slot use.
    let out = pf("pf-describe").args(["work-pool", &pool]).run();
    out.ok();
    let described = &out.json_lines()[0];
    assert_eq!(described["slots"]["active_slots"], json!(0), "{described}");

    // Flow runs by work pool and by work queue.
    let run = api.post(
        &format!("deployments/{}/create_flow_run", id(&deployment)),
        json!({"state": {"type": "SCHEDULED"}}),
    );
    let other = api.flow_run(id(&flow), "SCHEDULED", &[]);
    for args in [
        vec!["--work-pool", pool.as_str()],
        vec!["--work-queue", &format!("{pool}/q")],
    ] {
        let out = pf("pf-get")
            .args([
                "flow-runs",
                "--flow",
                flow["name"].as_str().unwrap(),
                "--state",
                "scheduled",
            ])
            .args(&args)
            .run();
        out.ok();
        let ids: Vec<Value> = out.json_lines().iter().map(|r| r["id"].clone()).collect();
        assert_eq!(ids, [run["id"].clone()], "{args:?}: not {}", id(&other));
    }
}

#[test]
fn global_limits_take_active_slots_and_a_decay_rate() {
    let name = unique("gcl");
    let out = pf("pf-limit")
        .args([
            "set",
            "--global",
            &name,
            "10",
            "--slot-decay-per-second",
            "0.5",
        ])
        .run();
    out.ok();
    let api = Server::shared().api();
    let limit = api.get(&format!("v2/concurrency_limits/{name}"));
    assert_eq!(limit["slot_decay_per_second"], json!(0.5));
    pf("pf-limit")
        .args(["set", "--global", &name, "10", "--active-slots", "3"])
        .run()
        .ok();
    let limit = api.get(&format!("v2/concurrency_limits/{name}"));
    assert_eq!(
        (limit["active_slots"].clone(), limit["limit"].clone()),
        (json!(3), json!(10))
    );
    pf("pf-limit")
        .args(["set", "t", "1", "--active-slots", "3"])
        .run()
        .expect_code(2);
}
