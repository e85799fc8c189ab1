//! pf-state against the real server: each verb on runs in states that accept and refuse it,
//! batches from stdin, dry runs, history, task runs, and the confirmation prompt on a terminal.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::harness::{Server, bin, pf, temp_dir, unique};

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

/// The run's current state type, straight from the API.
fn state_of(path: &str, run: &Value) -> String {
    let now = Server::shared().api().get(&format!("{path}/{}", id(run)));
    now["state"]["type"].as_str().unwrap().to_string()
}

/// The outcome rows pf-state printed, by run id: (status, ok).
fn outcomes(stdout: &str) -> Vec<(String, String, bool)> {
    stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
                v["ok"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn cancel_a_batch_from_stdin_where_one_run_is_refused() {
    let api = Server::shared().api();
    let flow = api.flow("cancel", &[]);
    let running = api.flow_run(id(&flow), "RUNNING", &[]);
    let completed = api.flow_run(id(&flow), "COMPLETED", &[]);
    let scheduled = api.flow_run(id(&flow), "SCHEDULED", &[]);

    let listed = pf("pf-get")
        .args([
            "flow-runs",
            "--flow",
            flow["name"].as_str().unwrap(),
            "--sort",
            "name-asc",
        ])
        .run();
    assert_eq!(listed.json_lines().len(), 3);
    let out = pf("pf-state")
        .arg("cancel")
        .stdin(listed.stdout.clone())
        .run();
    out.expect_code(1);
    let mut got = outcomes(&out.stdout);
    got.sort();
    let mut expected = vec![
        (id(&running).to_string(), "ACCEPT".to_string(), true),
        (id(&completed).to_string(), "ABORT".to_string(), false),
        // Not started: the server cancels it outright instead of Cancelling (REJECT + Cancelled).
        (id(&scheduled).to_string(), "REJECT".to_string(), true),
    ];
    expected.sort();
    assert_eq!(got, expected, "{out:?}");
    assert_eq!(
        out.stderr,
        format!(
            "pf-state: error: flow run '{}': cancel refused (ABORT): Run is already in terminal state COMPLETED.\n",
            completed["name"].as_str().unwrap()
        )
    );
    assert_eq!(state_of("flow_runs", &running), "CANCELLING");
    assert_eq!(state_of("flow_runs", &scheduled), "CANCELLED");
    assert_eq!(state_of("flow_runs", &completed), "COMPLETED");

    // One REF, by name, accepted: exit 0; a table on a terminal.
    let other = api.flow_run(id(&flow), "PENDING", &[]);
    let out = pf("pf-state")
        .args(["cancel", other["name"].as_str().unwrap()])
        .tty(200)
        .env("NO_COLOR", "1")
        .run();
    out.ok();
    assert_eq!(
        out.lines()[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "FROM", "TO", "STATUS", "REASON", "ID"]
    );
    assert_eq!(
        out.lines()[1].split_whitespace().collect::<Vec<_>>(),
        [
            other["name"].as_str().unwrap(),
            "Pending",
            "Cancelling",
            "ACCEPT",
            id(&other)
        ]
    );
    pf("pf-state")
        .args(["cancel", "no-such-run-anywhere"])
        .run()
        .expect_code(4);
}

#[test]
fn retry_puts_finished_runs_of_a_deployment_back_to_scheduled() {
    let api = Server::shared().api();
    let flow = api.flow("retry", &[]);
    let deployment = api.deployment(id(&flow), &unique("dep"), json!({}));
    let run_of = |state: &str| {
        api.post(
            &format!("deployments/{}/create_flow_run", id(&deployment)),
            json!({"state": {"type": state}}),
        )
    };
    let failed = run_of("FAILED");
    let crashed = run_of("CRASHED");
    let running = run_of("RUNNING");
    let orphan = api.flow_run(id(&flow), "FAILED", &[]);

    // Dry run: nothing changes, pf's own refusals show.
    let out = pf("pf-state")
        .args(["retry", "--dry-run", id(&failed), id(&running)])
        .run();
    out.expect_code(1);
    assert_eq!(
        outcomes(&out.stdout),
        [
            (id(&failed).into(), "DRY-RUN".into(), true),
            (id(&running).into(), "WOULD REFUSE".into(), false)
        ]
    );
    assert_eq!(state_of("flow_runs", &failed), "FAILED");
    // A dry cancel predicts the server's refusal of a finished run.
    let out = pf("pf-state")
        .args(["cancel", "--dry-run", id(&failed)])
        .run();
    out.expect_code(1);
    assert_eq!(
        outcomes(&out.stdout),
        [(id(&failed).into(), "WOULD REFUSE".into(), false)]
    );

    let out = pf("pf-state")
        .args([
            "retry",
            "--yes",
            id(&failed),
            id(&crashed),
            id(&running),
            id(&orphan),
        ])
        .run();
    out.expect_code(1);
    let got = outcomes(&out.stdout);
    assert_eq!(
        got,
        [
            (id(&failed).into(), "ACCEPT".into(), true),
            (id(&crashed).into(), "ACCEPT".into(), true),
            (id(&running).into(), "REFUSED".into(), false),
            (id(&orphan).into(), "REFUSED".into(), false),
        ],
        "{out:?}"
    );
    let errors: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(errors.len(), 2, "{}", out.stderr);
    assert!(errors[0].ends_with("not retried: it is Running: only runs in a terminal state (COMPLETED, FAILED, CANCELLED, CRASHED) can be retried"), "{}", errors[0]);
    assert!(errors[1].contains("it has no deployment"), "{}", errors[1]);
    let retried = api.get(&format!("flow_runs/{}", id(&failed)));
    assert_eq!(
        (
            retried["state"]["type"].as_str(),
            retried["state"]["message"].as_str()
        ),
        (Some("SCHEDULED"), Some("Retried by pf-state"))
    );
    assert_eq!(state_of("flow_runs", &crashed), "SCHEDULED");
    assert_eq!(state_of("flow_runs", &running), "RUNNING");
    assert_eq!(state_of("flow_runs", &orphan), "FAILED");

    pf("pf-state")
        .args(["retry", "--task-run", id(&failed)])
        .run()
        .expect_code(2);
}

#[test]
fn set_any_state_with_message_and_force() {
    let api = Server::shared().api();
    let flow = api.flow("set", &[]);
    let running = api.flow_run(id(&flow), "RUNNING", &[]);

    let out = pf("pf-state")
        .args([
            "set",
            "failed",
            id(&running),
            "--message",
            "stuck since Friday",
        ])
        .run();
    out.ok();
    let now = api.get(&format!("flow_runs/{}", id(&running)));
    assert_eq!(
        (
            now["state"]["type"].as_str(),
            now["state"]["message"].as_str()
        ),
        (Some("FAILED"), Some("stuck since Friday"))
    );
    assert_eq!(out.json_lines()[0]["state"]["id"], now["state"]["id"]);

    // The orchestration rules refuse Running → Pending (ABORT with a reason): exit 1.
    let other = api.flow_run(id(&flow), "RUNNING", &[]);
    let out = pf("pf-state").args(["set", "pending", id(&other)]).run();
    out.expect_code(1);
    let row = &out.json_lines()[0];
    assert_eq!(
        (row["status"].as_str(), row["ok"].as_bool()),
        (Some("ABORT"), Some(false))
    );
    assert_eq!(
        row["reason"],
        json!("This run is in a RUNNING state and cannot transition to a PENDING state.")
    );
    assert_eq!(state_of("flow_runs", &other), "RUNNING");
    // --force skips them; a state name sets its type and name.
    pf("pf-state")
        .args(["set", "late", id(&other), "--force"])
        .run()
        .ok();
    let now = api.get(&format!("flow_runs/{}", id(&other)));
    assert_eq!(
        (now["state"]["type"].as_str(), now["state"]["name"].as_str()),
        (Some("SCHEDULED"), Some("Late"))
    );

    let out = pf("pf-state").args(["set", "finished", id(&other)]).run();
    out.expect_code(2);
    assert!(
        out.stderr
            .starts_with("pf-state: error: unknown state 'finished'"),
        "{out:?}"
    );
}

#[test]
fn history_lists_every_state_oldest_first() {
    let api = Server::shared().api();
    let flow = api.flow("history", &[]);
    let run = api.flow_run(id(&flow), "PENDING", &[]);
    pf("pf-state").args(["set", "running", id(&run)]).run().ok();
    pf("pf-state")
        .args(["set", "completed", id(&run), "-m", "done"])
        .run()
        .ok();

    let out = pf("pf-state")
        .args(["history", run["name"].as_str().unwrap()])
        .run();
    out.ok();
    let states: Vec<(String, Value)> = out
        .json_lines()
        .iter()
        .map(|s| {
            (
                s["type"].as_str().unwrap().to_string(),
                s["message"].clone(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("PENDING".into(), Value::Null),
            ("RUNNING".into(), Value::Null),
            ("COMPLETED".into(), json!("done"))
        ]
    );
    let out = pf("pf-state")
        .args(["history", id(&run)])
        .tty(200)
        .env("NO_COLOR", "1")
        .run();
    out.ok();
    assert_eq!(
        out.lines()[0].split_whitespace().collect::<Vec<_>>(),
        ["RUN", "TIMESTAMP", "STATE", "MESSAGE", "ID"]
    );
    let last: Vec<&str> = out.lines()[3].split_whitespace().collect();
    assert_eq!(
        (last[0], last[3]),
        (run["name"].as_str().unwrap(), "Completed")
    );
}

#[test]
fn task_runs_with_task_run() {
    let api = Server::shared().api();
    let flow = api.flow("taskstate", &[]);
    let run = api.flow_run(id(&flow), "RUNNING", &[]);
    let task = |name: &str| {
        api.post(
            "task_runs/",
            json!({"flow_run_id": id(&run), "task_key": name, "dynamic_key": "0", "name": unique(name), "state": {"type": "RUNNING"}}),
        )
    };
    let a = task("a");
    let b = task("b");
    let out = pf("pf-state").args(["cancel", "--task-run", id(&a)]).run();
    out.ok();
    assert_eq!(state_of("task_runs", &a), "CANCELLED");
    pf("pf-state")
        .args([
            "set",
            "completed",
            "--task-run",
            b["name"].as_str().unwrap(),
        ])
        .run()
        .ok();
    assert_eq!(state_of("task_runs", &b), "COMPLETED");
    let out = pf("pf-state").args(["history", "--task-run", id(&b)]).run();
    let types: Vec<String> = out
        .json_lines()
        .iter()
        .map(|s| s["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["RUNNING", "COMPLETED"]);
}

/// Run pf-state under a pseudo-terminal (`script`), typing `answer` at the prompt.
fn on_a_terminal(args: &[&str], piped: Option<&str>, answer: &str) -> (i32, String) {
    let tool = bin("pf-state").display().to_string();
    let mut line = format!("{tool} {}", args.join(" "));
    if let Some(refs) = piped {
        line = format!("printf '{refs}' | {line}");
    }
    let home = temp_dir("tty");
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("PREFECT_API_URL", &Server::shared().url)
        .env("PREFECT_HOME", &home)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) runs a command on a pseudo-terminal");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn more_than_one_ref_asks_first_on_a_terminal() {
    let api = Server::shared().api();
    let flow = api.flow("confirm", &[]);
    let a = api.flow_run(id(&flow), "RUNNING", &[]);
    let b = api.flow_run(id(&flow), "RUNNING", &[]);

    let (code, screen) = on_a_terminal(&["cancel", id(&a), id(&b)], None, "n\n");
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains("Cancel 2 flow runs? [y/N]"), "{screen}");
    assert!(
        screen.contains("pf-state: error: nothing changed"),
        "{screen}"
    );
    assert_eq!(
        (state_of("flow_runs", &a), state_of("flow_runs", &b)),
        ("RUNNING".into(), "RUNNING".into())
    );

    // REFs piped in: the question goes to the terminal all the same.
    let (code, screen) = on_a_terminal(
        &["cancel"],
        Some(&format!("{}\\n{}\\n", id(&a), id(&b))),
        "y\n",
    );
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Cancel 2 flow runs? [y/N]"), "{screen}");
    assert_eq!(
        (state_of("flow_runs", &a), state_of("flow_runs", &b)),
        ("CANCELLING".into(), "CANCELLING".into())
    );

    // One REF, or --yes: no question.
    let c = api.flow_run(id(&flow), "RUNNING", &[]);
    let (code, screen) = on_a_terminal(&["cancel", id(&c)], None, "");
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("[y/N]"), "{screen}");
}
