//! A flow with task runs and a subflow, run by the real worker: the human pf-describe on a
//! (fake) terminal shows each section, and `pf-run --watch` on a terminal shows the live tree.

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{pf, unique};
use crate::worker::{self, Deployed, TREE, deploy, wait_terminal};

fn tree_deployment() -> &'static Deployed {
    static DEPLOYED: OnceLock<Deployed> = OnceLock::new();
    DEPLOYED.get_or_init(|| deploy(&TREE, "pf-tree", &unique("tree"), worker::POOL, json!({})))
}

/// The task runs of a run and of its subflow runs, by name, from the API.
fn task_names(run_id: &str) -> Vec<String> {
    let api = crate::harness::Server::shared().api();
    let mut runs = vec![run_id.to_string()];
    let subflows = api.post(
        "flow_runs/filter",
        json!({ "flow_runs": { "parent_flow_run_id": { "any_": [run_id] } } }),
    );
    runs.extend(
        subflows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string()),
    );
    let tasks = api.post(
        "task_runs/filter",
        json!({ "task_runs": { "flow_run_id": { "any_": runs } } }),
    );
    tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn watch_on_a_terminal_shows_every_task_run_and_subflow_then_describe_summarises() {
    let deployed = tree_deployment();
    let out = pf("pf-run")
        .args(["-n", &deployed.full_name, "--watch", "--timeout", "100s"])
        .tty(200)
        .run();
    out.ok();
    let run_id = out
        .stdout
        .lines()
        .find_map(|l| {
            l.split_whitespace()
                .find(|w| w.len() == 36 && w.matches('-').count() == 4)
        })
        .expect("the run's id in the table")
        .to_string();
    let run = wait_terminal(&run_id, Duration::from_secs(10));
    // The last drawing of the tree is what stays on screen: every task run, the subflow run.
    let screen = out.stdout.rsplit('\r').next().unwrap_or_default();
    let names = task_names(&run_id);
    assert_eq!(names.len(), 4, "{names:?}");
    for name in names.iter().filter(|n| !n.starts_with("pf-child")) {
        assert!(
            screen.contains(name.as_str()),
            "{name} not in the tree:\n{}",
            out.stdout
        );
    }
    assert!(screen.contains("subflow"), "{}", out.stdout);

    let described = pf("pf-describe")
        .args(["flow-run", &run_id])
        .tty(200)
        .env("NO_COLOR", "1")
        .run();
    described.ok();
    let text = &described.stdout;
    for section in [
        format!("Name:         {}", run["name"].as_str().unwrap()),
        format!("ID:           {run_id}"),
        "Flow:         pf-tree".to_string(),
        format!("Deployment:   {}", deployed.full_name),
        "State:        Completed".to_string(),
        "Started:".into(),
        "Ended:".into(),
        "Duration:".into(),
        "Work Pool:    pf-test-pool".into(),
        "URL:          http://127.0.0.1:".into(),
        "Parameters:".into(),
        "State History:".into(),
        "Task Runs:".into(),
        "Artifacts:".into(),
        "pf-tree-total".into(),
        "Last Logs (up to 10):".into(),
        "tree total 4".into(),
    ] {
        assert!(text.contains(&section), "no {section:?} in:\n{text}");
    }
    for name in &names {
        if !name.starts_with("pf-child") {
            assert!(
                text.contains(name.as_str()),
                "no task run {name} in:\n{text}"
            );
        }
    }
    let history = text
        .split("State History:")
        .nth(1)
        .and_then(|rest| rest.split("Task Runs:").next())
        .unwrap_or_default();
    for state in ["Scheduled", "Pending", "Running", "Completed"] {
        assert!(
            history.contains(state),
            "{state} not in the history:\n{history}"
        );
    }
    // pf-logs --follow of the run on a terminal: the same tree under the lines, final states.
    let followed = pf("pf-logs")
        .args(["--follow", &run_id])
        .tty(200)
        .env("NO_COLOR", "1")
        .run();
    followed.ok();
    let screen = followed.stdout.rsplit('\r').next().unwrap_or_default();
    assert!(
        screen.starts_with(&format!(
            "\x1b[K{}: Completed",
            run["name"].as_str().unwrap()
        )) || screen.contains(&format!("{}: Completed", run["name"].as_str().unwrap())),
        "{}",
        followed.stdout
    );
    for name in names.iter().filter(|n| !n.starts_with("pf-child")) {
        assert!(
            screen.contains(name.as_str()),
            "{name} not in:\n{}",
            followed.stdout
        );
    }
    assert!(
        followed.stdout.contains("tree total 4"),
        "{}",
        followed.stdout
    );
    // In a pipe: the log records only.
    let piped = pf("pf-logs").args(["--follow", &run_id]).run();
    piped.ok();
    assert!(
        piped
            .json_lines()
            .iter()
            .all(|r| r.get("flow_run_id").is_some())
    );

    // Pipes keep the full object.
    let piped: Vec<Value> = pf("pf-describe")
        .args(["flow-run", &run_id])
        .run()
        .ok()
        .json_lines();
    assert_eq!(piped[0]["id"], run_id.as_str());
}
