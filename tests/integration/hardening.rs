//! Issue 15: nothing lost, nothing hung, no panic. Faults a real server won't produce on demand
//! come from the fixture (alone, or as a fault-injecting proxy in front of the real server).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixture::{Fixture, Recorded, Reply, forward};
use crate::harness::{Pf, Server, bin, pf};
use crate::logs::{messages, server_logs};

/// The shared server's base URL without `/api` (what the proxy forwards to).
fn upstream() -> String {
    Server::shared().url.trim_end_matches("/api").to_string()
}

fn is_log_write(r: &Recorded) -> bool {
    r.method == "POST" && r.path.trim_end_matches('/') == "/api/logs"
}

fn running_run() -> Value {
    let api = Server::shared().api();
    let flow = api.flow("harden", &[]);
    api.flow_run(flow["id"].as_str().unwrap(), "RUNNING", &[])
}

/// A proxy to the shared server whose `POST /logs/` number n (0-based) gets `fault(n)`.
fn log_proxy(fault: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Fixture {
    let base = upstream();
    let writes = Arc::new(AtomicUsize::new(0));
    Fixture::start(move |r, _| {
        if is_log_write(r) {
            let n = writes.fetch_add(1, Ordering::SeqCst);
            fault(r, n)
        } else {
            forward(r, &base)
        }
    })
}

#[test]
fn write_stores_each_line_once_when_answers_are_lost() {
    let run = running_run();
    let id = run["id"].as_str().unwrap();
    let base = upstream();
    // 1st batch: stored, then 504; 2nd: dropped before the server saw it; 3rd: stored, then
    // the connection drops before the answer. Each must end up stored exactly once.
    let proxy = log_proxy(move |r, n| match n {
        0 => {
            forward(r, &base);
            Reply::json(504, json!({"detail": "gateway timeout"}))
        }
        1 => Reply::Drop,
        2 => {
            forward(r, &base);
            Reply::Drop
        }
        _ => forward(r, &base),
    });
    let lines: String = (1..=250).map(|i| format!("line {i}\n")).collect();
    let out = Pf::new("pf-logs")
        .args(["--write", "--flow-run", id])
        .env("PREFECT_API_URL", &proxy.url)
        .stdin(lines)
        .run();
    out.ok();
    let expected: Vec<String> = (1..=250).map(|i| format!("line {i}")).collect();
    assert_eq!(
        messages(&server_logs(&Server::shared().api(), id)),
        expected
    );
}

#[test]
fn write_keeps_reading_through_an_outage_and_never_kills_the_producer() {
    let run = running_run();
    let id = run["id"].as_str().unwrap();
    let base = upstream();
    let started = Instant::now();
    // Every log write fails for the first 4 seconds (the server is "away"), then passes.
    let proxy = log_proxy(move |r, _| {
        if started.elapsed() < Duration::from_secs(4) {
            Reply::Drop
        } else {
            forward(r, &base)
        }
    });
    // pipefail: the producer's own exit status counts; a SIGPIPE would make it 141.
    let script = format!(
        "set -o pipefail; for i in $(seq 1 500); do echo \"out $i\"; done | {} --write --flow-run {id}",
        bin("pf-logs").display()
    );
    let output = Command::new("bash")
        .args(["-c", &script])
        .env("PREFECT_API_URL", &proxy.url)
        .env("PREFECT_HOME", crate::harness::temp_dir("home"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("keeping log lines and retrying"),
        "{stderr}"
    );
    let expected: Vec<String> = (1..=500).map(|i| format!("out {i}")).collect();
    assert_eq!(
        messages(&server_logs(&Server::shared().api(), id)),
        expected
    );
}

#[test]
fn write_reports_how_many_lines_were_finally_lost() {
    let run = running_run();
    let id = run["id"].as_str().unwrap();
    let proxy = log_proxy(|_, _| Reply::Drop);
    let out = Pf::new("pf-logs")
        .args(["--write", "--flow-run", id, "--give-up-after", "1s"])
        .env("PREFECT_API_URL", &proxy.url)
        .stdin("a\nb\nc\n")
        .run();
    out.expect_code(1);
    let last = out.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("pf-logs: error: 3 of 3 log lines were not stored"),
        "{out:?}"
    );
}

#[test]
fn write_logs_invalid_utf8_lossily_and_keeps_the_stream() {
    let run = running_run();
    let id = run["id"].as_str().unwrap();
    pf("pf-logs")
        .args(["--write", "--flow-run", id])
        .stdin(b"first\nbad \xff\xfe byte\r\nthird\n".to_vec())
        .run()
        .ok();
    assert_eq!(
        messages(&server_logs(&Server::shared().api(), id)),
        ["first", "bad \u{fffd}\u{fffd} byte", "third"]
    );
}

/// A tool with a directory as stdin: every read fails (EISDIR).
fn with_directory_stdin(tool: Pf) -> crate::harness::Run {
    let mut cmd = tool.command();
    cmd.stdin(std::fs::File::open("/").unwrap());
    let output = cmd.output().unwrap();
    crate::harness::Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn a_stdin_read_error_is_one_line_and_exit_2() {
    let run = with_directory_stdin(pf("pf-describe").args(["flow-run"]));
    run.expect_code(2);
    assert_eq!(
        run.stderr.lines().collect::<Vec<_>>(),
        ["pf-describe: error: cannot read stdin: Is a directory (os error 21)"]
    );
    let flow_run = running_run();
    let run = with_directory_stdin(pf("pf-logs").args([
        "--write",
        "--flow-run",
        flow_run["id"].as_str().unwrap(),
    ]));
    run.expect_code(2);
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
}

/// A fixture that answers every request with `reply` (until it has been hit `times` times) and
/// then `[]`; pf-get flows against it.
fn pf_get_flows_against(fixture: &Fixture) -> crate::harness::Run {
    Pf::new("pf-get")
        .arg("flows")
        .env("PREFECT_API_URL", &fixture.url)
        .env("PREFECT_CLIENT_MAX_RETRIES", "1")
        .run()
}

#[test]
fn absurd_retry_after_values_never_panic() {
    for value in ["1e30", "99999999999999999999", "inf", "NaN", "-1", "1e-300"] {
        let fixture = Fixture::start(move |_, index| {
            if index == 0 {
                Reply::json(503, json!({"detail": "busy"})).with_header("Retry-After", value)
            } else {
                Reply::json(200, json!([]))
            }
        });
        let started = Instant::now();
        let run = pf_get_flows_against(&fixture);
        assert!(
            run.code == 0 || run.code == 5,
            "Retry-After {value}: {run:?}"
        );
        assert!(!run.stderr.contains("panicked"), "{run:?}");
        assert!(started.elapsed() < Duration::from_secs(20), "{value}");
    }
}

#[test]
fn error_bodies_become_one_readable_line() {
    let multibyte = format!("{}é and more", "x".repeat(299));
    let nginx = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
    let cases: Vec<(u16, String, &str)> = vec![
        (
            500,
            multibyte.clone(),
            "pf-get: error: server error 500: POST flows/filter: xxx",
        ),
        (
            502,
            nginx.to_string(),
            "pf-get: error: server error 502: POST flows/filter: 502 Bad Gateway",
        ),
        (
            400,
            json!({"detail": "first line\nsecond line\n\n  third"}).to_string(),
            "pf-get: error: POST flows/filter failed (400): first line second line third",
        ),
    ];
    for (status, body, expected) in cases {
        let fixture = Fixture::start(move |_, _| Reply::Respond {
            status,
            headers: vec![],
            body: body.clone(),
        });
        let run = pf_get_flows_against(&fixture);
        assert!(run.code == 5 || run.code == 4, "{run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
        assert!(run.stderr.starts_with(expected), "{run:?}");
    }
}

#[test]
fn dns_failures_and_tls_mismatches_fail_at_once() {
    let started = Instant::now();
    let run = Pf::new("pf-get")
        .arg("flows")
        .env("PREFECT_API_URL", "http://no-such-host.invalid/api")
        .run();
    run.expect_code(7);
    assert!(run.stderr.contains("cannot resolve host"), "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // https:// against a plain-http server (which answers the TLS hello with an HTTP 400).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let plain_http = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut accepted = 0;
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && accepted < 10 {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    accepted += 1;
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(2)))
                        .unwrap();
                    let _ = stream.read(&mut [0u8; 1024]);
                    let _ = stream.write_all(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
            if accepted > 0 && Instant::now() + Duration::from_secs(25) > deadline {
                break;
            }
        }
        accepted
    });
    let started = Instant::now();
    let run = Pf::new("pf-get")
        .arg("flows")
        .env("PREFECT_API_URL", format!("https://127.0.0.1:{port}/api"))
        .run();
    run.expect_code(7);
    assert!(run.stderr.contains("TLS handshake"), "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(plain_http.join().unwrap(), 1, "the handshake was retried");
}

/// `body` gzip-compressed by the system's gzip.
fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    child.wait_with_output().unwrap().stdout
}

#[test]
fn a_gzip_answer_cut_midway_is_retried_and_all_stays_whole() {
    let flows = |from: usize, count: usize| -> Value {
        (from..from + count)
            .map(|i| json!({"id": format!("f{i}"), "name": format!("flow-{i}"), "tags": [], "created": "2024-01-01T00:00:00Z"}))
            .collect()
    };
    let page1 = flows(0, 200);
    let page2 = flows(200, 7).to_string();
    let compressed = gzip(page2.as_bytes());
    let cut = compressed[..compressed.len() / 2].to_vec();
    let fixture = Fixture::start(move |_, index| match index {
        0 => Reply::json(200, page1.clone()),
        1 => {
            let mut raw = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                compressed.len()
            )
            .into_bytes();
            raw.extend_from_slice(&cut);
            Reply::Raw(raw)
        }
        _ => Reply::json(200, serde_json::from_str(&page2).unwrap()),
    });
    let run = Pf::new("pf-get")
        .args(["flows", "--all"])
        .env("PREFECT_API_URL", &fixture.url)
        .run();
    run.ok();
    let names: Vec<String> = run
        .json_lines()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..207).map(|i| format!("flow-{i}")).collect();
    assert_eq!(names, expected);
    assert_eq!(fixture.requests().len(), 3);
}

#[test]
fn a_create_without_a_key_is_never_resent_and_says_the_outcome_is_unknown() {
    let user = "8e9f0a1b-6666-4c2d-8e3f-000000000009";
    let fixture = Fixture::start(move |request, _| match request.method.as_str() {
        "GET" => Reply::json(200, json!({"id": user, "handle": "jdoe"})),
        _ => Reply::json(504, json!({"detail": "gateway timeout"})),
    });
    let run = Pf::new("pf-auth")
        .args(["create-token", "--name", "ci"])
        .env("PREFECT_CLOUD_API_URL", &fixture.url)
        .env(
            "PREFECT_API_URL",
            format!("{}/accounts/a/workspaces/w", fixture.url),
        )
        .env(
            "PREFECT_API_KEY",
            "pnu_0123456789abcdef0123456789abcdef0123",
        )
        .run();
    run.expect_code(5);
    let posts = fixture
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1, "{:?}", fixture.requests());
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert!(
        lines[0].contains("may or may not have been applied"),
        "{run:?}"
    );
    assert!(
        lines[1].starts_with("hint: look for an API key named 'ci'"),
        "{run:?}"
    );
}

#[test]
fn a_password_in_the_api_url_is_never_shown() {
    let fixture = Fixture::start(|_, _| Reply::json(200, json!([])));
    let url = fixture.url.replace("http://", "http://admin:s3cret@");
    let home = crate::harness::temp_dir("redact");
    let status = Pf::new("pf-auth")
        .args(["status", "-o", "json", "-v"])
        .env("PREFECT_HOME", &home)
        .env("PREFECT_API_URL", &url)
        .run();
    assert!(
        !status.stdout.contains("s3cret") && !status.stderr.contains("s3cret"),
        "{status:?}"
    );
    assert!(status.stdout.contains("admin:***@127.0.0.1"), "{status:?}");
    std::fs::write(
        home.join("profiles.toml"),
        format!("active = \"p\"\n[profiles.p]\nPREFECT_API_URL = \"{url}\"\n"),
    )
    .unwrap();
    let profiles = Pf::new("pf-auth")
        .args(["profiles", "-o", "ndjson"])
        .env("PREFECT_HOME", &home)
        .run();
    profiles.ok();
    assert!(!profiles.stdout.contains("s3cret"), "{profiles:?}");
    assert!(profiles.stdout.contains("admin:***@"), "{profiles:?}");
}

#[test]
fn concurrent_pf_auth_edits_lose_nothing_and_a_symlink_stays_a_symlink() {
    let fixture = Fixture::start(|_, _| Reply::json(200, json!("3.9.1")));
    let home = crate::harness::temp_dir("auth-lock");
    // profiles.toml is a symlink into another directory (a dotfiles repository, say).
    let real_dir = crate::harness::temp_dir("dotfiles");
    let real = real_dir.join("prefect-profiles.toml");
    std::fs::write(
        &real,
        format!(
            "# my profiles\nactive = \"base\"\n[profiles.base]\nPREFECT_API_URL = \"{}\"\n",
            fixture.url
        ),
    )
    .unwrap();
    std::os::unix::fs::symlink(&real, home.join("profiles.toml")).unwrap();
    let spawn = |args: Vec<String>| {
        let mut cmd = Pf::new("pf-auth")
            .args(args)
            .env("PREFECT_HOME", &home)
            .command();
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    let mut children = Vec::new();
    for i in 0..5 {
        children.push(spawn(vec![
            "login".into(),
            "--url".into(),
            fixture.url.clone(),
            "--profile".into(),
            format!("p{i}"),
        ]));
        children.push(spawn(vec!["use".into(), "base".into()]));
    }
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
    }
    assert!(
        std::fs::symlink_metadata(home.join("profiles.toml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let text = std::fs::read_to_string(&real).unwrap();
    let file = pf_common::profiles::ProfilesFile::load(&real).unwrap();
    for i in 0..5 {
        assert_eq!(
            file.get(&format!("p{i}"), "PREFECT_API_URL").as_deref(),
            Some(fixture.url.as_str()),
            "{text}"
        );
    }
    assert!(text.starts_with("# my profiles\n"), "{text}");
}

#[test]
fn all_never_prints_a_run_twice_while_runs_are_created() {
    use std::io::{BufRead, BufReader};
    let api = Server::shared().api();
    // 210 runs due in the next 210 minutes, made in one request.
    let flow = api.flow_with_scheduled_runs("paging", 210);
    let flow_id = flow["id"].as_str().unwrap().to_string();
    let flow_name = flow["name"].as_str().unwrap().to_string();
    let mut cmd = pf("pf-get")
        .args(["flow-runs", "--flow", &flow_name, "--all", "-o", "ndjson"])
        .command();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // pf-get is now blocked writing the first page into the pipe: runs created now, due later
    // than all the others, sort first (newest expected start) and shift the offset pages
    // under it.
    let first = lines.next().unwrap().unwrap();
    for _ in 0..20 {
        api.post(
            "flow_runs/",
            json!({"flow_id": flow_id, "state": {"type": "SCHEDULED",
                "state_details": {"scheduled_time": "2100-01-01T00:00:00Z"}}}),
        );
    }
    let mut ids: Vec<String> = vec![first];
    ids.extend(lines.map(|l| l.unwrap()));
    let ids: Vec<String> = ids
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(child.wait().unwrap().success());
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "a run was printed twice");
    assert!(ids.len() >= 210, "{}", ids.len());
}

/// Start `tool`, read its first stdout line, delete the flow run, and wait (bounded) for the
/// tool to end.
fn delete_under(mut cmd: Command, run_id: Option<&str>) -> crate::harness::Run {
    use std::io::{BufRead, BufReader, Read};
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let id = match run_id {
        Some(id) => id.to_string(),
        None => serde_json::from_str::<Value>(&first).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string(),
    };
    let (status, _) = Server::shared()
        .api()
        .request("DELETE", &format!("flow_runs/{id}"), None);
    assert_eq!(status, 204);
    let deadline = Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running 60 s after its run was deleted");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    crate::harness::Run {
        code,
        stdout: first + &rest,
        stderr,
    }
}

#[test]
fn a_followed_run_that_is_deleted_ends_with_exit_4() {
    let run = running_run();
    let id = run["id"].as_str().unwrap();
    Server::shared().api().post(
        "logs/",
        json!([{"name": "t", "level": 20, "message": "before", "timestamp": jiff::Timestamp::now().to_string(), "flow_run_id": id}]),
    );
    let out = delete_under(
        pf("pf-logs")
            .args(["--follow", id, "-o", "ndjson"])
            .command(),
        Some(id),
    );
    out.expect_code(4);
    assert!(
        out.stderr.contains(&format!(
            "flow run '{}' was deleted while it was followed",
            run["name"].as_str().unwrap()
        )),
        "{out:?}"
    );
}

#[test]
fn a_watched_run_that_is_deleted_ends_with_exit_4() {
    let api = Server::shared().api();
    let flow = api.flow("watched", &[]);
    api.deployment(flow["id"].as_str().unwrap(), "d", json!({}));
    let target = format!("{}/d", flow["name"].as_str().unwrap());
    let out = delete_under(
        pf("pf-run")
            .args(["-n", &target, "--watch", "-o", "ndjson"])
            .command(),
        None,
    );
    out.expect_code(4);
    assert!(
        out.stderr.contains("was deleted while it was watched"),
        "{out:?}"
    );
}

#[test]
fn config_numbers_are_range_checked() {
    let fixture = Fixture::start(|_, _| Reply::json(200, json!([])));
    let with = |key: &str, value: &str| {
        Pf::new("pf-get")
            .arg("flows")
            .env("PREFECT_API_URL", &fixture.url)
            .env(key, value)
            .run()
    };
    // "No limit" values mean pf's longest timeout (a day), never a panic.
    for value in ["inf", "1e20", "99999999999999999999", "0"] {
        with("PREFECT_API_REQUEST_TIMEOUT", value).ok();
    }
    for (key, value) in [
        ("PREFECT_API_REQUEST_TIMEOUT", "NaN"),
        ("PREFECT_API_REQUEST_TIMEOUT", "-5"),
        ("PREFECT_CLIENT_MAX_RETRIES", "99999999999"),
        ("PREFECT_CLIENT_MAX_RETRIES", "1000"),
        ("PREFECT_CLIENT_RETRY_EXTRA_CODES", "70000"),
    ] {
        let run = with(key, value);
        run.expect_code(2);
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
        assert!(run.stderr.contains(key), "{run:?}");
    }
}

#[test]
fn usage_errors_are_2_before_any_request() {
    let fixture = Fixture::start(|_, _| Reply::json(200, json!({}))).allow_unused();
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "pf-api",
            "POST",
            "flows/",
            "--paginate",
            "-d",
            "{\"name\":\"x\"}",
        ],
        vec!["pf-api", "POST", "flow_runs/abc/set_state", "--paginate"],
        vec!["pf-limit", "set", "", "5"],
        vec!["pf-limit", "set", "  ", "5", "--global"],
        vec!["pf-var", "set", "", "1"],
        vec!["pf-secret", "get", ""],
    ];
    for case in cases {
        let run = Pf::new(case[0])
            .args(&case[1..])
            .env("PREFECT_API_URL", &fixture.url)
            .run();
        run.expect_code(2);
        assert!(
            run.stderr.starts_with(&format!("{}: error: ", case[0])),
            "{run:?}"
        );
    }
    assert!(fixture.requests().is_empty(), "{:?}", fixture.requests());
}

#[test]
fn echoed_input_is_cut_and_each_distinct_ref_is_resolved_once() {
    // A 100 kB REF is echoed in ~100 characters.
    let long = "n".repeat(100_000);
    let fixture = Fixture::start(|r, _| match r.method.as_str() {
        "GET" => Reply::json(404, json!({"detail": "Not Found"})),
        _ => Reply::json(200, json!([])),
    });
    let run = Pf::new("pf-describe")
        .args(["flow", &long])
        .env("PREFECT_API_URL", &fixture.url)
        .run();
    run.expect_code(4);
    let first = run.stderr.lines().next().unwrap();
    assert!(first.len() < 200 && first.contains('…'), "{first}");

    // 1000 copies of one id on stdin: one request.
    let id = "0b7e9a3c-1111-4c2d-8e3f-000000000001";
    let fixture = Fixture::start(move |r, _| match r.method.as_str() {
        "GET" => Reply::json(
            200,
            json!({"id": id, "name": "f", "tags": [], "created": "2024-01-01T00:00:00Z"}),
        ),
        _ => Reply::json(200, json!([])),
    });
    let gets = |f: &Fixture| f.requests().iter().filter(|r| r.method == "GET").count();
    let run = Pf::new("pf-describe")
        .args(["flow", "-o", "ndjson"])
        .env("PREFECT_API_URL", &fixture.url)
        .stdin(format!("{id}\n").repeat(1000))
        .run();
    run.ok();
    assert_eq!(run.lines().len(), 1);
    assert_eq!(gets(&fixture), 1);

    // A 2 MB line on stdin is reported as too long, on one line, and the stream goes on.
    let mut input = "x".repeat(2 << 20);
    input.push('\n');
    input.push_str(id);
    input.push('\n');
    let run = Pf::new("pf-describe")
        .args(["flow", "-o", "ndjson"])
        .env("PREFECT_API_URL", &fixture.url)
        .stdin(input)
        .run();
    run.expect_code(1);
    assert_eq!(run.lines().len(), 1);
    let errors: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("pf-describe: error: stdin line 1: "),
        "{errors:?}"
    );
    assert!(
        errors[0].contains("line too long") && errors[0].len() < 300,
        "{errors:?}"
    );
}
