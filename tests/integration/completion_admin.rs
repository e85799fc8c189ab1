//! Completion of the administration tools (pf-rm, pf-pause, pf-resume, pf-wait, pf-apply,
//! pf-export, pf-deploy, pf-exec): each binary answers the shell's request as the older tools
//! do (shell.rs), with kinds from the registry and names from the real server.

use std::process::Command;

use serde_json::json;

use crate::harness::{Server, bin, temp_dir, unique};

/// The candidates the tool offers for the last word of `line` (an empty last word: the
/// trailing space of `pf-rm <TAB>`), asked as bash's registration script asks.
fn ask(line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split(' ').collect();
    let output = Command::new(bin(words[0]))
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
        // A loaded test machine's server can be slow; the budget is for interactive shells.
        .env("PF_COMPLETE_TIMEOUT_MS", "10000")
        .env("PREFECT_API_URL", &Server::shared().url)
        .env("PREFECT_HOME", temp_dir("comp-admin"))
        .arg("--")
        .args(&words)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn offers(line: &str, expected: &[&str], not: &[&str]) {
    let got = ask(line);
    for want in expected {
        assert!(
            got.iter().any(|g| g == want),
            "{line}<TAB>: no {want} in {got:?}"
        );
    }
    for unwanted in not {
        assert!(
            !got.iter().any(|g| g == unwanted),
            "{line}<TAB>: {unwanted} in {got:?}"
        );
    }
}

#[test]
fn the_new_tools_offer_kinds_and_flags() {
    offers(
        "pf-rm ",
        &["flow-run", "deployment", "schedule", "work-pool", "--yes"],
        &[],
    );
    // Only the kinds the verb supports: a flow run is resumed, not paused.
    offers(
        "pf-pause ",
        &["deployment", "work-pool", "automation"],
        &["flow-run", "flow"],
    );
    offers("pf-resume ", &["flow-run", "work-queue", "--input"], &[]);
    // pf-apply and pf-export take the kinds that can be applied.
    offers(
        "pf-export ",
        &["work-pool", "deployment", "automation", "--include-secrets"],
        &["flow-run", "task-run"],
    );
    offers("pf-apply --kind ", &["variable", "block"], &["flow-run"]);
    offers("pf-wait --t", &["--timeout"], &[]);
    offers("pf-deploy --p", &["--pool", "--param"], &[]);
    offers("pf-exec --s", &["--serve"], &[]);
}

#[test]
fn the_new_tools_offer_names_from_the_server() {
    let api = Server::shared().api();
    // Pools are listed by name, 100 at most: a name that sorts first on a busy test server.
    let pool = unique("0comp-pool");
    api.post("work_pools/", json!({"name": pool, "type": "process"}));
    api.post(&format!("work_pools/{pool}/queues"), json!({"name": "low"}));
    let flow_name = unique("comp-admin-flow");
    let flow = api.post("flows/", json!({"name": flow_name}));
    let flow_id = flow["id"].as_str().unwrap();
    api.deployment(flow_id, "nightly", json!({}));
    let running = api.flow_run(flow_id, "RUNNING", &[]);
    let running = running["name"].as_str().unwrap();
    let done = api.flow_run(flow_id, "COMPLETED", &[]);
    let done = done["name"].as_str().unwrap();

    offers(&format!("pf-pause work-pool {}", &pool[..9]), &[&pool], &[]);
    offers(&format!("pf-resume work-pools {pool}"), &[&pool], &[]);
    let queue = format!("{pool}/low");
    offers(&format!("pf-pause work-queue {pool}"), &[&queue], &[]);
    offers(&format!("pf-rm flow-runs {done}"), &[done], &[]);
    let deployment = format!("{flow_name}/nightly");
    offers(
        &format!("pf-rm deployment {flow_name}"),
        &[&deployment],
        &[],
    );
    offers(
        &format!("pf-pause deployment {flow_name}/"),
        &[&deployment],
        &[],
    );
    // pf-wait offers the runs that have not finished only.
    offers(&format!("pf-wait {running}"), &[running], &[]);
    offers(&format!("pf-wait {done}"), &[], &[done]);
    offers(&format!("pf-deploy --pool {pool}"), &[&pool], &[]);
    offers(&format!("pf-exec --name {flow_name}"), &[&flow_name], &[]);
}
