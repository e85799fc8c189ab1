//! pf-exec against a real server: final states and exit codes, output passed through byte for
//! byte and shipped in order, an outage mid-job, signals, --no-overlap, a global concurrency
//! limit, and --serve (a schedule, pf-run with parameters, a cancel from pf-state).

use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixture::{Fixture, Reply, forward};
use crate::harness::{Api, Pf, Server, pf, unique};
use crate::logs::{messages, server_logs};

/// A pf-exec process that is killed (by pid) if a test leaves it behind.
struct Running(Option<Child>);

impl Running {
    fn start(pf: Pf) -> Running {
        let mut command: Command = pf.command();
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        Running(Some(command.spawn().expect("cannot start pf-exec")))
    }

    fn pid(&self) -> i32 {
        self.0.as_ref().unwrap().id() as i32
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait (bounded) for the end; returns its output.
    fn finish(mut self, timeout: Duration) -> Output {
        let child = self.0.take().unwrap();
        let pid = child.id();
        let watchdog = std::thread::spawn(move || {
            let deadline = Instant::now() + timeout;
            while Instant::now() < deadline {
                if std::fs::metadata(format!("/proc/{pid}")).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        });
        let output = child.wait_with_output().unwrap();
        let _ = watchdog.join();
        output
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn exec(server: &Server) -> Pf {
    Pf::new("pf-exec").server(server)
}

fn run_bounded(pf: Pf) -> Output {
    Running::start(pf).finish(Duration::from_secs(120))
}

/// The flow's runs (newest first).
fn runs_of(api: &Api, flow: &str) -> Vec<Value> {
    let runs = api.post(
        "flow_runs/filter",
        json!({"flows": {"name": {"any_": [flow]}}, "sort": "EXPECTED_START_TIME_DESC"}),
    );
    runs.as_array().unwrap().clone()
}

fn only_run(api: &Api, flow: &str) -> Value {
    let runs = runs_of(api, flow);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    runs[0].clone()
}

/// Wait (bounded) until `done` holds for the run's logs, and return them.
fn logs_until(api: &Api, run_id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let logs = server_logs(api, run_id);
        if done(&logs) || Instant::now() > deadline {
            return logs;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Wait (bounded) for `pred` over the flow's runs.
fn runs_until(api: &Api, flow: &str, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let runs = runs_of(api, flow);
        if pred(&runs) {
            return runs;
        }
        assert!(Instant::now() < deadline, "waited for {what}: {runs:#?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn state_name(run: &Value) -> &str {
    run["state"]["name"].as_str().unwrap()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn exit_codes_give_the_four_states() {
    let server = Server::shared();
    let api = server.api();
    let cases: [(&str, &[&str], i32, &str, &str); 4] = [
        ("exit 0", &[], 0, "Completed", "exit status 0"),
        (
            "echo broken >&2; exit 1",
            &[],
            1,
            "Failed",
            "exit status 1\nbroken",
        ),
        ("kill -9 $$", &[], 137, "Crashed", "killed by SIGKILL"),
        (
            "sleep 30",
            &["--timeout", "1s"],
            124,
            "TimedOut",
            "timed out after 1s",
        ),
    ];
    for (script, flags, want_code, want_state, want_message) in cases {
        let flow = unique("exec-states");
        let started = Instant::now();
        let out = run_bounded(
            exec(server)
                .args(["-n", &flow])
                .args(flags)
                .args(["--", "sh", "-c", script]),
        );
        assert_eq!(code(&out), want_code, "{script}: {}", text(&out.stderr));
        let run = only_run(&api, &flow);
        assert_eq!(state_name(&run), want_state, "{script}: {run:#}");
        let message = run["state"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(want_message), "{script}: {message:?}");
        assert!(run["start_time"].is_string() && run["end_time"].is_string());
        if want_state == "TimedOut" {
            assert_eq!(run["state"]["type"], "FAILED");
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the group was not killed"
            );
        }
    }
}

#[test]
fn ten_thousand_interleaved_lines_pass_through_and_reach_the_logs_in_order() {
    let server = Server::shared();
    let api = server.api();
    let flow = unique("exec-lines");
    let script =
        "i=1; while [ $i -le 5000 ]; do echo \"out $i\"; echo \"err $i\" >&2; i=$((i+1)); done";
    // A loaded test server takes its time over 10 000 records: give the end a long wait.
    let out = run_bounded(exec(server).args([
        "-n",
        &flow,
        "--flush-timeout",
        "120s",
        "--",
        "sh",
        "-c",
        script,
    ]));
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let notices: Vec<String> = text(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("pf-exec:"))
        .map(str::to_string)
        .collect();
    let expected_out: String = (1..=5000).map(|i| format!("out {i}\n")).collect();
    assert_eq!(
        out.stdout,
        expected_out.as_bytes(),
        "stdout is not byte for byte"
    );
    let expected_err: Vec<String> = (1..=5000).map(|i| format!("err {i}")).collect();
    let got_err: Vec<String> = text(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("pf-exec:"))
        .map(str::to_string)
        .collect();
    assert_eq!(got_err, expected_err);

    let run = only_run(&api, &flow);
    let logs = logs_until(&api, run["id"].as_str().unwrap(), |l| l.len() >= 10_001);
    let all = messages(&logs);
    assert_eq!(
        all.len(),
        10_001,
        "every line once, and the final line; {notices:?}"
    );
    assert_eq!(
        all.last().unwrap(),
        "Finished in state Completed('exit status 0')"
    );
    let of = |prefix: &str, level: u64| -> Vec<String> {
        logs.iter()
            .filter(|r| r["message"].as_str().unwrap().starts_with(prefix))
            .inspect(|r| assert_eq!(r["level"], level, "{r}"))
            .map(|r| r["message"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(of("out ", 20), expected_out.lines().collect::<Vec<_>>());
    assert_eq!(of("err ", 30), expected_err);
}

#[test]
fn binary_output_passes_through_unchanged_and_is_logged_safely() {
    let server = Server::shared();
    let api = server.api();
    let flow = unique("exec-binary");
    let script =
        "printf 'a\\000b\\377\\376c\\r\\n\\211PNG'; head -c 150000 /dev/zero | tr '\\000' x";
    let out = run_bounded(exec(server).args([
        "-n",
        &flow,
        "--stderr-level",
        "error",
        "--",
        "sh",
        "-c",
        script,
    ]));
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let mut expected = b"a\x00b\xff\xfec\r\n\x89PNG".to_vec();
    expected.extend(std::iter::repeat_n(b'x', 150_000));
    assert_eq!(out.stdout, expected, "stdout is not byte for byte");
    let run = only_run(&api, &flow);
    let logs = logs_until(&api, run["id"].as_str().unwrap(), |l| l.len() >= 5);
    let got = messages(&logs);
    assert_eq!(got[0], "a\u{FFFD}b\u{FFFD}\u{FFFD}c");
    // The unterminated last line (4 + 150 000 bytes) in pieces of 64 KiB.
    let pieces: Vec<usize> = got[1..got.len() - 1].iter().map(String::len).collect();
    // (The first piece's invalid byte became a 3-byte U+FFFD.)
    assert_eq!(pieces, [65536 + 2, 65536, 150_004 - 2 * 65536]);
    assert!(got[1].starts_with("\u{FFFD}PNGxxx"), "{}", &got[1][..20]);
}

#[test]
fn the_job_outlives_a_server_restart_and_its_lines_arrive_afterwards() {
    let mut server = Server::start(&[]);
    let api = server.api();
    let flow = unique("exec-outage");
    let script =
        "i=1; while [ $i -le 30 ]; do echo \"line $i\"; sleep 0.5; i=$((i+1)); done; exit 3";
    let job = Running::start(exec(&server).args([
        "-n",
        &flow,
        "--flush-timeout",
        "120s",
        "--",
        "sh",
        "-c",
        script,
    ]));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = runs_of(&api, &flow);
        if let Some(run) = runs.first()
            && !server_logs(&api, run["id"].as_str().unwrap()).is_empty()
        {
            break;
        }
        assert!(Instant::now() < deadline, "no lines reached the server");
        std::thread::sleep(Duration::from_millis(200));
    }
    server.stop();
    std::thread::sleep(Duration::from_secs(4));
    server.start_again();
    let out = job.finish(Duration::from_secs(180));
    assert_eq!(code(&out), 3, "{}", text(&out.stderr));
    let expected: Vec<String> = (1..=30).map(|i| format!("line {i}")).collect();
    assert_eq!(text(&out.stdout).lines().collect::<Vec<_>>(), expected);
    let warnings: Vec<String> = text(&out.stderr).lines().map(str::to_string).collect();
    assert_eq!(warnings.len(), 1, "one notice: {warnings:?}");
    assert!(
        warnings[0].starts_with("pf-exec: warning: flow run '"),
        "{warnings:?}"
    );
    let run = only_run(&api, &flow);
    assert_eq!(state_name(&run), "Failed");
    let logs = logs_until(&server.api(), run["id"].as_str().unwrap(), |l| {
        l.len() >= 31
    });
    let mut got = messages(&logs);
    assert_eq!(
        got.pop().unwrap(),
        "Finished in state Failed('exit status 3')"
    );
    assert_eq!(got, expected);
}

#[test]
fn sigterm_goes_to_the_command_and_the_run_ends_cancelled() {
    let server = Server::shared();
    let api = server.api();
    let flow = unique("exec-sigterm");
    let script = "trap 'echo stopping; exit 5' TERM; echo ready; sleep 60 & wait";
    let job = Running::start(exec(server).args(["-n", &flow, "--", "sh", "-c", script]));
    runs_until(&api, &flow, "the run to start", |runs| runs.len() == 1);
    std::thread::sleep(Duration::from_millis(500));
    job.signal("TERM");
    let out = job.finish(Duration::from_secs(60));
    assert_eq!(
        code(&out),
        5,
        "the command's own code: {}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "ready\nstopping\n");
    let run = only_run(&api, &flow);
    assert_eq!(state_name(&run), "Cancelled");
    assert!(
        run["state"]["message"]
            .as_str()
            .unwrap()
            .contains("SIGTERM")
    );
}

#[test]
fn no_overlap_runs_one_of_two_started_at_once() {
    let server = Server::shared();
    let api = server.api();
    let flow = unique("exec-overlap");
    let start =
        || Running::start(exec(server).args(["-n", &flow, "--no-overlap", "--", "sleep", "4"]));
    let (a, b) = (start(), start());
    let (a, b) = (
        a.finish(Duration::from_secs(90)),
        b.finish(Duration::from_secs(90)),
    );
    let mut codes = [code(&a), code(&b)];
    codes.sort();
    assert_eq!(codes, [0, 1], "{} / {}", text(&a.stderr), text(&b.stderr));
    let runs = runs_of(&api, &flow);
    let mut states: Vec<&str> = runs.iter().map(state_name).collect();
    states.sort();
    assert_eq!(states, ["Cancelled", "Completed"]);
    let skipped = runs.iter().find(|r| state_name(r) == "Cancelled").unwrap();
    assert!(
        skipped["state"]["message"]
            .as_str()
            .unwrap()
            .starts_with("already running: flow run '")
    );
}

#[test]
fn a_global_limit_of_one_runs_three_jobs_one_after_another() {
    let server = Server::shared();
    let api = server.api();
    let limit = unique("exec-gcl");
    api.post(
        "v2/concurrency_limits/",
        json!({ "name": limit, "limit": 1 }),
    );
    let flow = unique("exec-limited");
    let script = "date +%s.%N; sleep 1.5; date +%s.%N";
    let jobs: Vec<Running> = (0..3)
        .map(|_| {
            Running::start(exec(server).args([
                "-n",
                &flow,
                "--concurrency",
                &limit,
                "--",
                "sh",
                "-c",
                script,
            ]))
        })
        .collect();
    let mut stderr = String::new();
    let mut spans: Vec<(f64, f64)> = jobs
        .into_iter()
        .map(|job| {
            let out = job.finish(Duration::from_secs(120));
            assert_eq!(code(&out), 0, "{}", text(&out.stderr));
            stderr.push_str(&text(&out.stderr));
            let times: Vec<f64> = text(&out.stdout)
                .lines()
                .map(|l| l.parse().unwrap())
                .collect();
            (times[0], times[1])
        })
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "two jobs held the slot at once: {spans:?}\n{stderr}"
        );
    }
    let held = api.get(&format!("v2/concurrency_limits/{limit}"));
    assert_eq!(held["active_slots"], 0, "every slot given back: {held}");
}

#[test]
fn a_job_whose_requests_fail_under_load_still_waits_for_its_slot() {
    let server = Server::shared();
    let api = server.api();
    let limit = unique("exec-gcl-faults");
    api.post(
        "v2/concurrency_limits/",
        json!({ "name": limit, "limit": 1 }),
    );
    // The test holds the only slot.
    let lease = api.post(
        "v2/concurrency_limits/increment-with-lease",
        json!({"names": [limit], "slots": 1, "mode": "concurrency", "lease_duration": 120}),
    );
    let lease_id = lease["lease_id"].as_str().unwrap().to_string();
    // In front of the real server: the run's create fails 5 times (more than the client's own
    // retries), the first two asks for a slot get a 503 and a dropped answer; the rest passes.
    let base = server.url.trim_end_matches("/api").to_string();
    let asks = Arc::new(AtomicUsize::new(0));
    let creates = Arc::new(AtomicUsize::new(0));
    let proxy = {
        let (asks, creates) = (asks.clone(), creates.clone());
        Fixture::start(move |r, _| match r.path.trim_end_matches('/') {
            "/api/flow_runs" if r.method == "POST" => {
                if creates.fetch_add(1, Ordering::SeqCst) < 5 {
                    Reply::json(503, json!({"detail": "busy"}))
                } else {
                    forward(r, &base)
                }
            }
            "/api/v2/concurrency_limits/increment-with-lease" => {
                match asks.fetch_add(1, Ordering::SeqCst) {
                    0 => Reply::json(503, json!({"detail": "busy"})),
                    1 => Reply::Drop,
                    _ => forward(r, &base),
                }
            }
            _ => forward(r, &base),
        })
    };
    let marker = crate::harness::temp_dir("exec-slot").join("ran");
    let flow = unique("exec-limited-faults");
    let job = Running::start(
        Pf::new("pf-exec")
            .env("PREFECT_API_URL", &proxy.url)
            .args(["-n", &flow, "--concurrency", &limit, "--"])
            .args(["touch", marker.to_str().unwrap()]),
    );
    // Wait until the limit has answered "full" twice (after both faults).
    let deadline = Instant::now() + Duration::from_secs(90);
    while asks.load(Ordering::SeqCst) < 4 {
        assert!(
            Instant::now() < deadline,
            "pf-exec never asked for the slot"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!marker.exists(), "the job ran without its slot");
    api.post(
        "v2/concurrency_limits/decrement-with-lease",
        json!({ "lease_id": lease_id }),
    );
    let out = job.finish(Duration::from_secs(120));
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        marker.exists(),
        "the job did not run once the slot was free"
    );
    assert_eq!(state_name(&only_run(&api, &flow)), "Completed");
    let held = api.get(&format!("v2/concurrency_limits/{limit}"));
    assert_eq!(held["active_slots"], 0, "every slot given back: {held}");
}

/// A `pf-exec --serve` process, stopped with SIGTERM at the end.
fn serve(server: &Server, flow: &str, extra: &[&str], script: &str) -> Running {
    Running::start(
        exec(server)
            .args(["--serve", "-n", flow, "--poll", "1s"])
            .args(extra)
            .args(["--", "sh", "-c", script]),
    )
}

fn stop(served: Running) -> Output {
    served.signal("TERM");
    served.finish(Duration::from_secs(60))
}

#[test]
fn serve_runs_an_interval_schedule_to_completion() {
    let server = Server::shared();
    let api = server.api();
    let flow = unique("exec-serve-interval");
    let served = serve(server, &flow, &["--interval", "5s"], "echo tick");
    let runs = runs_until(&api, &flow, "two completed runs", |runs| {
        runs.iter().filter(|r| state_name(r) == "Completed").count() >= 2
    });
    let out = stop(served);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("tick\ntick\n"),
        "{}",
        text(&out.stdout)
    );
    let done = runs.iter().find(|r| state_name(r) == "Completed").unwrap();
    assert!(done["deployment_id"].is_string());
    let history = api.get(&format!(
        "flow_run_states/?flow_run_id={}",
        done["id"].as_str().unwrap()
    ));
    let mut names: Vec<(String, String)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["timestamp"].as_str().unwrap().to_string(),
                s["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    names.sort();
    let names: Vec<&str> = names.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["Scheduled", "Pending", "Running", "Completed"]);
    let deployment = api.get(&format!("deployments/name/{flow}/{flow}"));
    assert!(deployment["work_pool_name"].is_null(), "{deployment}");
}

#[test]
fn serve_runs_pf_run_with_parameters_and_stops_a_run_cancelled_with_pf_state() {
    let server = Server::shared();
    let api = server.api();
    let flow = unique("exec-serve-manual");
    let script = "echo \"hello $PF_PARAM_WHO\"; sleep ${PF_PARAM_NAP:-0}";
    let served = serve(server, &flow, &[], script);
    let deployment_ref = format!("{flow}/{flow}");
    // The deployment exists once pf-exec has started.
    let deadline = Instant::now() + Duration::from_secs(60);
    while api
        .request("GET", &format!("deployments/name/{deployment_ref}"), None)
        .0
        != 200
    {
        assert!(Instant::now() < deadline, "no deployment");
        std::thread::sleep(Duration::from_millis(200));
    }
    let created = pf("pf-run")
        .args(["-n", &deployment_ref, "--param", "who=\"bob\"", "--watch"])
        .run();
    created.ok();
    let run = only_run(&api, &flow);
    assert_eq!(state_name(&run), "Completed");
    let logs = logs_until(&api, run["id"].as_str().unwrap(), |l| l.len() >= 2);
    assert_eq!(messages(&logs)[0], "hello bob");

    pf("pf-run")
        .args(["-n", &deployment_ref, "--param", "nap=60"])
        .run()
        .ok();
    let runs = runs_until(&api, &flow, "the second run to be Running", |runs| {
        runs.iter().any(|r| state_name(r) == "Running")
    });
    let running = runs.iter().find(|r| state_name(r) == "Running").unwrap();
    let cancelled_at = Instant::now();
    pf("pf-state")
        .args(["cancel", running["id"].as_str().unwrap()])
        .run()
        .ok();
    runs_until(&api, &flow, "the cancelled run to end", |runs| {
        runs.iter()
            .any(|r| r["id"] == running["id"] && state_name(r) == "Cancelled")
    });
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(15),
        "not stopped within a poll"
    );
    let out = stop(served);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
}
