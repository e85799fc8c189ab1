//! pf-run refusing what would go wrong later: a work queue that does not exist, an idempotency
//! key that names another deployment's run; and its TSV columns.

use serde_json::json;

use crate::harness::{Server, pf, unique};
use crate::worker::{HELLO, POOL, deploy, deployments};

#[test]
fn an_unknown_work_queue_is_refused_and_not_created() {
    let hello = &deployments().hello;
    let queue = unique("no-such-queue");
    let out = pf("pf-run")
        .args(["-n", &hello.full_name, "--work-queue", &queue])
        .run();
    out.expect_code(4);
    assert_eq!(
        out.stderr,
        format!(
            "pf-run: error: work queue '{queue}' not found in work pool '{POOL}'\n\
             hint: list them with: pf-get work-queues --pool {POOL}\n"
        )
    );
    let (status, _) =
        Server::shared()
            .api()
            .request("GET", &format!("work_pools/{POOL}/queues/{queue}"), None);
    assert_eq!(status, 404, "the queue was not created");
    // The pool's own queue is fine.
    let out = pf("pf-run")
        .args([
            "-n",
            &hello.full_name,
            "--work-queue",
            "default",
            "--start-in",
            "1d",
            "-q",
        ])
        .run();
    out.ok();
}

#[test]
fn a_key_of_another_deployment_of_the_flow_is_refused() {
    let one = deploy(&HELLO, HELLO.flow_name, &unique("one"), POOL, json!({}));
    let two = deploy(&HELLO, HELLO.flow_name, &unique("two"), POOL, json!({}));
    let key = unique("shared-key");
    let run = |name: &str| {
        pf("pf-run")
            .args(["-n", name, "--start-in", "1d", "--idempotency-key", &key])
            .run()
    };
    let first = run(&one.full_name);
    first.ok();
    let first_id = first.json_lines()[0]["id"].as_str().unwrap().to_string();
    let out = run(&two.full_name);
    out.expect_code(4);
    assert!(
        out.stderr.starts_with(&format!(
            "pf-run: error: idempotency key '{key}' already names flow run '"
        )) && out.stderr.contains(&first_id),
        "{out:?}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn tsv_has_the_table_columns() {
    let hello = &deployments().hello;
    let out = pf("pf-run")
        .args([
            "-n",
            &hello.full_name,
            "--start-in",
            "1d",
            "-o",
            "tsv",
            "--header",
        ])
        .run();
    out.ok();
    let lines = out.lines();
    assert_eq!(lines[0], "NAME\tID\tSTATE\tDEPLOYMENT\tRUN");
    let row: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(row[2..], ["Scheduled", hello.full_name.as_str(), "created"]);
    assert_eq!(row[1].len(), 36);
}
