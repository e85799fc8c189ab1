//! `pf-get KIND --watch` against a real server: a run seen going Scheduled → Completed, a
//! deleted run, filters applied to the stream, the table redrawn in place on a terminal.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Server, Supervised, bin, pf, temp_dir};
use crate::logs::finish;

/// `pf-get ARGS` in a pipe, supervised, output in files under `dir`.
fn pf_get_in_pipe(server: &Server, dir: &Path, args: &str) -> Supervised {
    pf_get_in_pipe_at(&server.url, dir, args)
}

/// `pf-get ARGS` in a pipe against the API at `url`, supervised (see [`tool_in_pipe_at`]).
pub(crate) fn pf_get_in_pipe_at(url: &str, dir: &Path, args: &str) -> Supervised {
    tool_in_pipe_at("pf-get", url, dir, "", args)
}

/// `TOOL ARGS` in a pipe against the API at `url` with `env` (`K=V ...`) added to a clean
/// environment, supervised: stdout, stderr and the exit code in `dir/out`, `dir/err`,
/// `dir/code`, and its pid in `dir/pid` (an inner shell writes its own and becomes the tool),
/// for [`interrupt`].
pub(crate) fn tool_in_pipe_at(
    tool: &str,
    url: &str,
    dir: &Path,
    env: &str,
    args: &str,
) -> Supervised {
    let script = format!(
        "env -i PATH=\"$PATH\" HOME={dir} PREFECT_HOME={dir} PREFECT_API_URL={url} {env} \
         sh -c 'echo $$ >{dir}/pid; exec \"$0\" \"$@\"' {tool} {args} \
         >{dir}/out 2>{dir}/err; echo $? >{dir}/code",
        dir = dir.display(),
        tool = bin(tool).display(),
    );
    Supervised::start(
        &["bash", "-c", &script],
        &[],
        dir,
        dir.join("pipeline.log"),
        1,
    )
}

pub(crate) fn interrupt(follower: Supervised, dir: &Path) -> (i32, String, String) {
    std::thread::sleep(Duration::from_secs(8));
    let pid = std::fs::read_to_string(dir.join("pid")).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-INT", pid.trim()])
        .status()
        .unwrap();
    assert!(status.success(), "pf-get was gone before the interrupt");
    finish(follower, dir, Duration::from_secs(60))
}

fn lines(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("out"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Wait (bounded) for a change line `what` of object `id` whose state type is `state`.
fn wait_for(dir: &Path, what: &str, id: &str, state: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = lines(dir).iter().any(|l| {
            l["what"] == what
                && l["object"]["id"] == id
                && state.is_none_or(|s| l["object"]["state_type"] == s)
        });
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} {state:?} line for {id}:\n{:#?}\nstderr:\n{}",
            lines(dir),
            std::fs::read_to_string(dir.join("err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn set_state(run_id: &str, state_type: &str) {
    Server::shared().api().post(
        &format!("flow_runs/{run_id}/set_state"),
        json!({ "state": { "type": state_type }, "force": true }),
    );
}

#[test]
fn watch_of_flow_runs_sees_a_run_complete_and_another_deleted() {
    let server = Server::shared();
    let api = server.api();
    let flow = api.flow("watched", &[]);
    let other = api.flow("unwatched", &[]);
    let flow_name = flow["name"].as_str().unwrap();
    let old = api.flow_run(flow["id"].as_str().unwrap(), "SCHEDULED", &[]);
    let old_id = old["id"].as_str().unwrap();
    let dir = temp_dir("watch-runs");
    let watcher = pf_get_in_pipe(
        server,
        &dir,
        // The timeout only bounds a broken watcher: the test interrupts it.
        &format!("flow-runs --flow {flow_name} --watch --timeout 300s"),
    );
    wait_for(&dir, "listed", old_id, Some("SCHEDULED"));

    let run = api.flow_run(flow["id"].as_str().unwrap(), "SCHEDULED", &[]);
    let run_id = run["id"].as_str().unwrap();
    // Not in the filter: never printed.
    let unwatched = api.flow_run(other["id"].as_str().unwrap(), "SCHEDULED", &[]);
    wait_for(&dir, "created", run_id, Some("SCHEDULED"));
    set_state(run_id, "RUNNING");
    set_state(run_id, "COMPLETED");
    wait_for(&dir, "updated", run_id, Some("COMPLETED"));
    let (status, _) = api.request("DELETE", &format!("flow_runs/{old_id}"), None);
    assert_eq!(status, 204);
    wait_for(&dir, "deleted", old_id, None);

    let (code, stdout, stderr) = interrupt(watcher, &dir);
    assert_eq!(code, 0, "stderr:\n{stderr}");
    assert!(
        !stdout.contains(unwatched["id"].as_str().unwrap()),
        "a run of another flow was printed:\n{stdout}"
    );
    for line in lines(&dir) {
        assert!(
            matches!(
                line["what"].as_str(),
                Some("listed" | "created" | "updated" | "deleted")
            ),
            "{line}"
        );
    }
}

#[test]
fn watch_on_a_terminal_redraws_rows_in_place() {
    let api = Server::shared().api();
    let flow = api.flow("watched-tty", &[]);
    let run = api.flow_run(flow["id"].as_str().unwrap(), "SCHEDULED", &[]);
    let out = pf("pf-get")
        .args([
            "flow-runs",
            "--flow",
            flow["name"].as_str().unwrap(),
            "-w",
            "--timeout",
            "3s",
        ])
        .tty(200)
        .env("NO_COLOR", "1")
        .run();
    out.ok();
    let screen: Vec<String> = out
        .stdout
        .lines()
        .map(|l| l.rsplit("\x1b[K").next().unwrap().to_string())
        .collect();
    assert!(
        screen[0].starts_with("NAME") && screen[0].ends_with("CHANGE"),
        "{:?}",
        out.stdout
    );
    assert!(
        screen[1].starts_with(run["name"].as_str().unwrap()),
        "{:?}",
        out.stdout
    );
    // --watch of a kind without changes to watch is a usage error.
    pf("pf-get")
        .args(["variables", "--watch"])
        .run()
        .expect_code(2);
    pf("pf-get")
        .args(["flow-runs", "--timeout", "3s"])
        .run()
        .expect_code(2);
}

#[test]
fn ctrl_c_ends_a_watch_and_a_follow_with_exit_0() {
    let api = Server::shared().api();
    let flow = api.flow("watched-int", &[]);
    api.flow_run(flow["id"].as_str().unwrap(), "SCHEDULED", &[]);
    for args in [
        vec![
            "flow-runs",
            "--flow",
            flow["name"].as_str().unwrap(),
            "--watch",
        ],
        vec!["events", "--follow"],
    ] {
        let mut child = pf("pf-get")
            .args(&args)
            .command()
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let line = line.unwrap_or_default();
                let _ = tx.send(());
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        if args[0] == "flow-runs" {
            // The first listing is out: the watch is running.
            rx.recv_timeout(Duration::from_secs(60))
                .expect("no listing within 60 s");
        } else {
            std::thread::sleep(Duration::from_secs(3));
        }
        let _ = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("pf-get {args:?} did not end on SIGINT");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(status.code(), Some(0), "pf-get {args:?}");
        let text = reader.join().unwrap();
        if args[0] == "flow-runs" {
            assert!(text.contains("\"what\":\"listed\""), "{text}");
        }
    }
}
