//! pf's main commands against every Prefect server users run: Prefect 2.20 and 3.0 (and 3.4.25)
//! on SQLite, installed from the frozen sets in `tests/python/prefect-*.txt`, and the pinned
//! 3.9.1 on PostgreSQL. Each server gets a process worker of its own release and the test flows
//! deployed to it; one test per server runs the whole list of commands on it and records a
//! column of the server × command table (`target/compat-table.md`, also printed; the copy in
//! docs/compatibility.md comes from it). A command a server cannot serve must get pf's clear
//! answer (a named version, a hint), never an opaque 422.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{
    Pf, Postgres, Run, Server, Supervised, release_venv, target_dir, temp_dir, unique, venv,
};
use crate::worker::{HELLO, SLEEPS, TestFlow, flows_dir, flows_file, start_process_worker};

/// One server under test, with its worker and deployments.
struct Target {
    /// Column title: `Prefect 2.20.27`, `Prefect 3.9.1 + PostgreSQL`.
    title: String,
    venv: PathBuf,
    server: Server,
    hello: String,
    sleeps: String,
    /// Kept for their lifetime: the worker, and the database the server uses.
    _worker: Supervised,
    _postgres: Option<Postgres>,
}

/// The pool each target's own worker serves.
const POOL: &str = "pf-compat-pool";

impl Target {
    fn start(title: &str, venv: PathBuf, postgres: Option<Postgres>) -> Target {
        let mut extra = Vec::new();
        if let Some(pg) = &postgres {
            // 3.x reads the SERVER name; the API name is its older alias.
            extra.push(("PREFECT_SERVER_DATABASE_CONNECTION_URL", pg.url.as_str()));
            extra.push(("PREFECT_API_DATABASE_CONNECTION_URL", pg.url.as_str()));
        }
        let server = Server::start_in(&venv, &extra);
        let worker = start_process_worker(&server, &venv, POOL);
        let deploy = |flow: &TestFlow| deploy(&server, &venv, flow);
        Target {
            title: title.to_string(),
            hello: deploy(&HELLO),
            sleeps: deploy(&SLEEPS),
            venv,
            server,
            _worker: worker,
            _postgres: postgres,
        }
    }

    /// A pf tool pointed at this server.
    fn pf(&self, tool: &str) -> Pf {
        Pf::new(tool).server(&self.server)
    }
}

/// Deploy a test flow as `FLOW/compat` through the REST API (as worker.rs does), with the
/// parameter schema the target's own Python prefect computes.
fn deploy(server: &Server, venv: &Path, flow: &TestFlow) -> String {
    let script = "import json, sys\n\
        sys.path.insert(0, sys.argv[1])\n\
        import flows\n\
        from prefect.utilities.callables import parameter_schema\n\
        s = parameter_schema(getattr(flows, sys.argv[2]).fn)\n\
        print(json.dumps(s.model_dump_for_openapi() if hasattr(s, 'model_dump_for_openapi') else s.dict()))";
    let output = Command::new(venv.join("bin/python"))
        .args([
            "-c",
            script,
            &flows_dir().display().to_string(),
            flow.function,
        ])
        .output()
        .expect("cannot run the release's python");
    assert!(
        output.status.success(),
        "schema: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let schema: Value = serde_json::from_slice(&output.stdout).unwrap();
    let api = server.api();
    let flow_object = api.post("flows/", json!({ "name": flow.flow_name }));
    api.post(
        "deployments/",
        json!({
            "name": "compat",
            "flow_id": flow_object["id"],
            "entrypoint": format!("flows.py:{}", flow.function),
            "work_pool_name": POOL,
            "pull_steps": [{
                "prefect.deployments.steps.set_working_directory": { "directory": flows_dir().display().to_string() }
            }],
            "parameter_openapi_schema": schema,
        }),
    );
    format!("{}/compat", flow.flow_name)
}

/// What a command must do on a server.
enum Expect {
    /// Exit 0.
    Ok,
    /// Exit with this code, stderr containing this text (pf's clear answer).
    Refused(i32, &'static str),
}

/// The rows of one server's column, and whether each held.
struct Column {
    title: String,
    rows: Vec<(String, String, bool)>,
    started: Instant,
}

impl Column {
    /// Record a command's result against what was expected, with a note for the table.
    fn record(&mut self, command: &str, run: &Run, expect: Expect, note: &str, extra_ok: bool) {
        let (held, cell) = match expect {
            Expect::Ok if run.code == 0 && extra_ok => (true, format!("ok{note}")),
            Expect::Refused(code, text)
                if run.code == code && run.stderr.contains(text) && extra_ok =>
            {
                (true, format!("refused, exit {code}{note}"))
            }
            _ => (false, format!("**FAILED** (exit {})", run.code)),
        };
        if !held {
            eprintln!("{}: `{command}` did not behave: {run:#?}", self.title);
        }
        eprintln!(
            "{} +{:?}: {command}: {cell}",
            self.title,
            self.started.elapsed()
        );
        self.rows.push((command.to_string(), cell, held));
    }
}

/// Run `script` in bash (a pipeline), in its own process group, killed after `timeout`.
fn shell(target: &Target, script: &str, timeout: Duration) -> Run {
    let home = temp_dir("compat-shell");
    let mut child = Command::new("bash");
    child
        .args(["-c", script])
        .env("PREFECT_API_URL", &target.server.url)
        .env("PREFECT_HOME", &home)
        .env("HOME", &home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut child, 0);
    let child = child.spawn().unwrap();
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
            .args(["-KILL", "--", &format!("-{pid}")])
            .status();
    });
    let output = child.wait_with_output().unwrap();
    let _ = watchdog.join();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The messages of NDJSON log records (or events) on stdout.
fn messages(run: &Run) -> Vec<String> {
    run.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// Run pf's main commands on `target` and return its column.
fn run_commands(target: &Target) -> Column {
    let mut column = Column {
        title: target.title.clone(),
        rows: Vec::new(),
        started: Instant::now(),
    };
    let version = target.server.api().get("admin/version");
    let version = version.as_str().unwrap_or_default().to_string();
    let release = pf_common::server::Version::parse(&version).expect("a release number");
    let prefect2 = release.0 == 2;
    let labels = release >= pf_common::server::RUN_LABELS;
    let streams = release >= pf_common::server::LOG_STREAM;

    // A finished run through the target's own worker: everything else reads it.
    let run = target
        .pf("pf-run")
        .args(["-n", &target.hello, "--watch", "--timeout", "3m"])
        .run();
    let lines = run.stdout.matches("hello world line").count();
    column.record(
        "pf-run -n FLOW/DEPLOYMENT --watch (process worker)",
        &run,
        Expect::Ok,
        "",
        lines == 3,
    );
    let run_id = run
        .json_lines()
        .first()
        .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();

    for kind in [
        "flows",
        "flow-runs",
        "deployments",
        "task-runs",
        "work-pools",
        "work-queues",
        "workers",
        "artifacts",
        "variables",
        "blocks",
        "concurrency-limits",
    ] {
        let run = target.pf("pf-get").arg(kind).run();
        column.record(&format!("pf-get {kind}"), &run, Expect::Ok, "", true);
    }
    for kind in ["events", "automations"] {
        let run = target.pf("pf-get").arg(kind).run();
        if prefect2 {
            let hint = run.stderr.contains("PREFECT_EXPERIMENTAL_EVENTS=true");
            column.record(
                &format!("pf-get {kind}"),
                &run,
                Expect::Refused(4, "not enabled"),
                ": server's 404 + hint",
                hint,
            );
        } else {
            column.record(&format!("pf-get {kind}"), &run, Expect::Ok, "", true);
        }
    }

    for (kind, reference) in [
        ("flow-run", run_id.as_str()),
        ("flow", HELLO.flow_name),
        ("deployment", target.hello.as_str()),
        ("work-pool", POOL),
    ] {
        let run = target.pf("pf-describe").args([kind, reference]).run();
        column.record(
            &format!("pf-describe {kind} REF"),
            &run,
            Expect::Ok,
            "",
            !run.stdout.is_empty(),
        );
    }

    let run = target.pf("pf-logs").arg(&run_id).run();
    let all = messages(&run);
    column.record(
        "pf-logs RUN",
        &run,
        Expect::Ok,
        "",
        all.iter()
            .filter(|m| m.starts_with("hello world line"))
            .count()
            == 3,
    );
    let run = target
        .pf("pf-logs")
        .args([&run_id, "--grep", "line -2"])
        .run();
    let expected = ["hello world line 1", "hello world line 3"];
    // 3.4.20–3.4.x search with SQL `concat`, which SQLite before 3.44 lacks (a 500).
    let searched_here = if release < pf_common::server::LOG_TEXT_SEARCH {
        ": pf searches (no server search)"
    } else if release.1 == 4 {
        ": pf searches when the server 500s (SQLite < 3.44)"
    } else {
        ""
    };
    column.record(
        "pf-logs RUN --grep 'line -2'",
        &run,
        Expect::Ok,
        searched_here,
        messages(&run) == expected,
    );
    let run = target
        .pf("pf-logs")
        .args([&run_id, "--grep", "line", "--tail", "1"])
        .run();
    column.record(
        "pf-logs RUN --grep line --tail 1",
        &run,
        Expect::Ok,
        "",
        messages(&run) == ["hello world line 3"],
    );

    let pipeline = format!(
        "{} -n {} --param seconds=2 --quiet | {} --follow",
        crate::harness::bin("pf-run").display(),
        target.sleeps,
        crate::harness::bin("pf-logs").display()
    );
    let run = shell(target, &pipeline, Duration::from_secs(180));
    let all = messages(&run);
    let notices = run.stderr.matches("polling for logs instead").count();
    let woke = all.iter().any(|m| m == "sleeping") && all.iter().any(|m| m == "woke up");
    let note = if streams {
        ""
    } else {
        ": polls (says so once)"
    };
    column.record(
        "pf-run -n … --quiet | pf-logs --follow",
        &run,
        Expect::Ok,
        note,
        woke && notices == usize::from(!streams),
    );

    let label_run = target
        .pf("pf-run")
        .args([
            "-n",
            &target.hello,
            "--label",
            "team=data",
            "--start-in",
            "1h",
        ])
        .run();
    if labels {
        column.record("pf-run --label team=data", &label_run, Expect::Ok, "", true);
    } else {
        column.record(
            "pf-run --label team=data",
            &label_run,
            Expect::Refused(2, "needs a Prefect 3.1.5 server"),
            ": names 3.1.5",
            true,
        );
    }
    let scheduled = target
        .pf("pf-run")
        .args(["-n", &target.hello, "--start-in", "1h", "--tag", "compat"])
        .run();
    let scheduled_id = scheduled
        .json_lines()
        .first()
        .and_then(|v| v["id"].as_str().map(str::to_string))
        .unwrap_or_default();
    column.record(
        "pf-run --start-in 1h --tag compat",
        &scheduled,
        Expect::Ok,
        "",
        !scheduled_id.is_empty(),
    );
    let run = target.pf("pf-state").args(["cancel", &scheduled_id]).run();
    column.record("pf-state cancel RUN", &run, Expect::Ok, "", true);
    let run = target
        .pf("pf-state")
        .args(["set", "completed", &scheduled_id, "--force"])
        .run();
    column.record(
        "pf-state set RUN completed --force",
        &run,
        Expect::Ok,
        "",
        true,
    );
    let run = target.pf("pf-state").args(["retry", &scheduled_id]).run();
    column.record("pf-state retry RUN", &run, Expect::Ok, "", true);
    let run = target.pf("pf-state").args(["history", &scheduled_id]).run();
    column.record(
        "pf-state history RUN",
        &run,
        Expect::Ok,
        "",
        run.stdout.lines().count() >= 3,
    );
    let _ = target.pf("pf-state").args(["cancel", &scheduled_id]).run();

    let name = unique("compat_var").replace('-', "_");
    let run = target.pf("pf-var").args(["set", &name, "plain text"]).run();
    column.record("pf-var set NAME 'plain text'", &run, Expect::Ok, "", true);
    let run = target.pf("pf-var").args(["get", &name]).run();
    column.record(
        "pf-var get NAME",
        &run,
        Expect::Ok,
        "",
        run.stdout.trim() == "plain text",
    );
    let run = target
        .pf("pf-var")
        .args(["set", &name, r#"{"a": 1}"#])
        .run();
    if prefect2 {
        column.record(
            "pf-var set NAME '{\"a\": 1}'",
            &run,
            Expect::Refused(2, "variables are strings"),
            ": Prefect 2 variables are strings",
            true,
        );
    } else {
        column.record("pf-var set NAME '{\"a\": 1}'", &run, Expect::Ok, "", true);
    }
    let run = target.pf("pf-var").args(["rm", &name]).run();
    column.record("pf-var rm NAME", &run, Expect::Ok, "", true);

    let tag = unique("compat-tag");
    for (label, args) in [
        ("pf-limit set TAG 2", vec!["set", tag.as_str(), "2"]),
        ("pf-limit get TAG", vec!["get", tag.as_str()]),
        ("pf-limit reset TAG", vec!["reset", tag.as_str()]),
        ("pf-limit rm TAG", vec!["rm", tag.as_str()]),
        (
            "pf-limit set --global NAME 3",
            vec!["set", "--global", tag.as_str(), "3"],
        ),
        (
            "pf-limit get --global NAME",
            vec!["get", "--global", tag.as_str()],
        ),
        (
            "pf-limit rm --global NAME",
            vec!["rm", "--global", tag.as_str()],
        ),
    ] {
        let run = target.pf("pf-limit").args(args).run();
        column.record(label, &run, Expect::Ok, "", true);
    }

    let python = target.venv.join("bin/python");
    let run = target
        .pf("pf-run")
        .args([
            "-p",
            flows_file().to_str().unwrap(),
            "-n",
            "hello",
            "--param",
            "lines=2",
            "--watch",
        ])
        .arg("--python")
        .arg(&python)
        .run();
    column.record(
        "pf-run -p flows.py -n hello --watch (its Python prefect)",
        &run,
        Expect::Ok,
        "",
        run.stdout.matches("hello world line").count() == 2,
    );
    column
}

/// Write this column beside the others and (re)build `target/compat-table.md` from every
/// column there; print the table.
fn publish(column: &Column) {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = target_dir().join("compat-columns");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!(
        "{}.json",
        column.title.replace([' ', '+', '/'], "_")
    ));
    let rows: Vec<Value> = column
        .rows
        .iter()
        .map(|(c, cell, _)| json!([c, cell]))
        .collect();
    std::fs::write(
        &file,
        json!({ "title": column.title, "rows": rows }).to_string(),
    )
    .unwrap();

    let mut columns: Vec<Value> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter_map(|text| serde_json::from_str(&text).ok())
        .collect();
    columns.sort_by_key(|c| c["title"].as_str().unwrap_or_default().to_string());
    let mut commands: Vec<String> = Vec::new();
    for c in &columns {
        for row in c["rows"].as_array().into_iter().flatten() {
            let command = row[0].as_str().unwrap_or_default().to_string();
            if !commands.contains(&command) {
                commands.push(command);
            }
        }
    }
    let mut table = String::from("| command |");
    for c in &columns {
        table.push_str(&format!(" {} |", c["title"].as_str().unwrap_or_default()));
    }
    table.push_str("\n|---|");
    table.push_str(&"---|".repeat(columns.len()));
    table.push('\n');
    for command in &commands {
        table.push_str(&format!("| `{}` |", command.replace('|', "\\|")));
        for c in &columns {
            let cell = c["rows"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|row| row[0].as_str() == Some(command))
                .and_then(|row| row[1].as_str())
                .unwrap_or("not run");
            table.push_str(&format!(" {cell} |"));
        }
        table.push('\n');
    }
    std::fs::write(target_dir().join("compat-table.md"), &table).unwrap();
    println!("{table}");
}

/// Run the commands on a target, publish its column, and fail naming every command that did
/// not behave.
fn check(started: Instant, target: &Target) {
    eprintln!(
        "{}: server, worker and deployments ready after {:?}",
        target.title,
        started.elapsed()
    );
    let column = run_commands(target);
    publish(&column);
    let failed: Vec<&str> = column
        .rows
        .iter()
        .filter(|r| !r.2)
        .map(|r| r.0.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "{}: these commands did not behave: {failed:?}",
        target.title
    );
}

#[test]
fn prefect_2_20() {
    check(
        Instant::now(),
        &Target::start("Prefect 2.20.27", release_venv("2.20.27"), None),
    );
}

#[test]
fn prefect_3_0() {
    check(
        Instant::now(),
        &Target::start("Prefect 3.0.11", release_venv("3.0.11"), None),
    );
}

#[test]
fn prefect_3_4_on_old_sqlite() {
    check(
        Instant::now(),
        &Target::start("Prefect 3.4.25", release_venv("3.4.25"), None),
    );
}

#[test]
fn prefect_3_9_on_postgresql() {
    match Postgres::start() {
        Ok(pg) => check(
            Instant::now(),
            &Target::start("Prefect 3.9.1 + PostgreSQL", venv().to_path_buf(), Some(pg)),
        ),
        Err(why) => {
            // Only where PostgreSQL cannot be installed (not root, no apt): say so loudly.
            eprintln!(
                "\n{}\nSKIPPED: Prefect 3.9.1 on PostgreSQL: {why}\n{}\n",
                "!".repeat(78),
                "!".repeat(78)
            );
        }
    }
}

/// A Python prefect the helper cannot drive (here a stand-in for Prefect 1) is refused up front,
/// naming the releases that work, and no flow run is created.
#[test]
fn local_flows_need_python_prefect_2_20_or_3_and_no_run_is_created_first() {
    let fake = temp_dir("fake-prefect-1");
    std::fs::create_dir_all(fake.join("prefect")).unwrap();
    std::fs::write(fake.join("prefect/__init__.py"), "__version__ = '1.4.1'\n").unwrap();
    std::fs::write(fake.join("prefect/flows.py"), "class Flow:\n    pass\n").unwrap();
    let flow_name = unique("pf-never-run");
    let script = fake.join("never.py");
    std::fs::write(
        &script,
        format!("from prefect.flows import Flow\nf = Flow()\nf.name = '{flow_name}'\n"),
    )
    .unwrap();
    let run = crate::harness::pf("pf-run")
        .arg("-p")
        .arg(&script)
        .arg("--python")
        .arg(crate::harness::venv_bin("python"))
        // Found before the venv's own prefect 3.9.
        .env("PYTHONPATH", &fake)
        .run();
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("needs Python prefect 2.20 or 3.0 and later (this is 1.4.1)"),
        "{run:#?}"
    );
    let (status, _) =
        Server::shared()
            .api()
            .request("GET", &format!("flows/name/{flow_name}"), None);
    assert_eq!(
        status, 404,
        "pf-run created the flow of a run it cannot execute"
    );
}
