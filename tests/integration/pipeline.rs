//! The mission pipeline, end to end: `pf-run -n FLOW/DEPLOYMENT --quiet | pf-logs --follow`
//! through a real shell pipe, against the real server and the real process worker.

use std::path::Path;
use std::time::Duration;

use crate::harness::{Server, Supervised, bin, temp_dir};
use crate::logs::{assert_every_line_once, finish, messages};
use crate::worker::{Deployed, deployments};

/// `pf-run -n DEPLOYMENT --quiet | pf-logs --follow` in bash, with pf-logs' stdout, stderr and
/// exit code in files under `dir`; supervised, so it dies with the test binary.
fn pipeline(deployment: &Deployed, dir: &Path) -> Supervised {
    let server = Server::shared();
    let script = format!(
        "{pf_run} -n {name} --quiet 2>{dir}/run.err | {pf_logs} --follow >{dir}/out 2>{dir}/err; echo $? >{dir}/code",
        pf_run = bin("pf-run").display(),
        pf_logs = bin("pf-logs").display(),
        name = deployment.full_name,
        dir = dir.display(),
    );
    let env = vec![
        ("PREFECT_API_URL".to_string(), server.url.clone()),
        ("PREFECT_HOME".to_string(), dir.display().to_string()),
        ("HOME".to_string(), dir.display().to_string()),
    ];
    Supervised::start(
        &["bash", "-c", &script],
        &env,
        dir,
        dir.join("pipeline.log"),
        1,
    )
}

#[test]
fn run_quiet_into_logs_follow_prints_every_line_and_exits_with_the_state() {
    let shared = deployments();
    let ok_dir = temp_dir("pipeline-ok");
    let fail_dir = temp_dir("pipeline-fail");
    let ok = pipeline(&shared.hello, &ok_dir);
    let failing = pipeline(&shared.fails, &fail_dir);
    let api = Server::shared().api();

    let (code, stdout, stderr) = finish(ok, &ok_dir, Duration::from_secs(120));
    assert_eq!(code, 0, "stderr:\n{stderr}");
    let stored = assert_every_line_once(&api, &stdout, &stderr);
    let flow_lines: Vec<String> = messages(&stored)
        .into_iter()
        .filter(|m| m.starts_with("hello world line"))
        .collect();
    assert_eq!(
        flow_lines,
        [
            "hello world line 1",
            "hello world line 2",
            "hello world line 3"
        ]
    );

    let (code, stdout, stderr) = finish(failing, &fail_dir, Duration::from_secs(120));
    assert_eq!(code, 1, "stderr:\n{stderr}");
    let stored = assert_every_line_once(&api, &stdout, &stderr);
    assert!(
        messages(&stored).iter().any(|m| m == "about to fail"),
        "{stdout}"
    );
}
