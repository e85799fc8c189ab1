//! Flow execution for tests: a real `process` work pool with a real `prefect worker start`
//! (PREFECT_WORKER_QUERY_SECONDS=1) against `Server::shared()`, and deployments of the test flows
//! in `tests/flows/flows.py`, made through the REST API the way `prefect deploy` would (a
//! `set_working_directory` pull step to `tests/flows`, entrypoint `flows.py:FUNCTION`, the
//! flow's parameter schema).
//!
//! The worker starts once per test binary (on first use) and is stopped with the binary (it
//! runs under supervise.py, which gives it SIGINT then SIGTERM). Use [`deployments`] for the
//! shared deployment of each test flow, or [`deploy`] for one of your own (own flow name, other
//! pool, extra fields).
//!
//! ```ignore
//! let hello = &worker::deployments().hello;
//! pf("pf-run").args(["-n", &hello.full_name, "--watch"]).run().ok();
//! ```

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Server, Supervised, repo, temp_dir, unique, venv_bin};

/// The work pool the shared worker serves.
pub const POOL: &str = "pf-test-pool";

/// A flow function of `tests/flows/flows.py` and its flow name (`@flow(name=…)`).
#[derive(Debug, Clone, Copy)]
pub struct TestFlow {
    pub function: &'static str,
    pub flow_name: &'static str,
}

/// Logs `hello NAME line I` for I in 1..=LINES (`name: str = "world"`, `lines: int = 3`).
pub const HELLO: TestFlow = TestFlow {
    function: "hello",
    flow_name: "pf-hello",
};
/// Logs `about to fail`, then raises: the run ends FAILED.
pub const FAILS: TestFlow = TestFlow {
    function: "fails",
    flow_name: "pf-fails",
};
/// Typed parameters `count: int`, `ratio: float = 1.0`, `names: list[str] = []`,
/// `verbose: bool = False`; logs `params {json}`.
pub const TYPED: TestFlow = TestFlow {
    function: "typed",
    flow_name: "pf-typed",
};
/// Logs `sleeping`, sleeps `seconds: float = 30.0`, logs `woke up`.
pub const SLEEPS: TestFlow = TestFlow {
    function: "sleeps",
    flow_name: "pf-sleeps",
};

/// Pauses for run input (`approved: bool`, `note: str = ""`), then logs
/// `approved=… note=…`.
pub const ASKS: TestFlow = TestFlow {
    function: "asks",
    flow_name: "pf-asks",
};

/// Task runs `add_one` (twice), a subflow `pf-child` (one `add_one`), an artifact
/// `pf-tree-total`; logs `tree total 4`.
pub const TREE: TestFlow = TestFlow {
    function: "tree",
    flow_name: "pf-tree",
};

const ALL: [TestFlow; 6] = [HELLO, FAILS, TYPED, SLEEPS, ASKS, TREE];

/// `tests/flows`.
pub fn flows_dir() -> PathBuf {
    repo().join("tests/flows")
}

/// `tests/flows/flows.py`.
pub fn flows_file() -> PathBuf {
    flows_dir().join("flows.py")
}

/// The running worker.
pub struct Worker {
    process: Supervised,
}

/// The shared worker, started on first use; returns once its pool exists.
pub fn worker() -> &'static Worker {
    static WORKER: OnceLock<Worker> = OnceLock::new();
    WORKER.get_or_init(|| Worker {
        process: start_process_worker(Server::shared(), crate::harness::venv(), POOL),
    })
}

/// `prefect worker start --type process --pool POOL` of the Prefect in `venv` against
/// `server` (PREFECT_WORKER_QUERY_SECONDS=1, the flows' INFO lines sent to the API); returns
/// once the pool exists.
pub fn start_process_worker(server: &Server, venv: &std::path::Path, pool: &str) -> Supervised {
    let home = temp_dir("worker");
    let mut env = server.client_env();
    env.retain(|(k, _)| k != "PREFECT_HOME" && k != "PREFECT_LOGGING_LEVEL");
    env.push(("PREFECT_HOME".into(), home.display().to_string()));
    env.push(("PREFECT_WORKER_QUERY_SECONDS".into(), "1".into()));
    // The flows' INFO lines must reach the API (the server's env says WARNING).
    env.push(("PREFECT_LOGGING_LEVEL".into(), "INFO".into()));
    let prefect = venv.join("bin/prefect");
    let mut process = Supervised::start(
        &[
            prefect.to_str().unwrap(),
            "worker",
            "start",
            "--pool",
            pool,
            "--type",
            "process",
        ],
        &env,
        &home,
        home.join("worker.log"),
        2,
    );
    let api = server.api();
    // An older release's worker may first migrate nothing but still imports slowly.
    let deadline = Instant::now() + Duration::from_secs(180);
    while api.request("GET", &format!("work_pools/{pool}"), None).0 != 200 {
        assert!(
            process.is_running(),
            "the worker exited; log:\n{}",
            process.log_text()
        );
        assert!(
            Instant::now() < deadline,
            "the worker did not create its pool; log:\n{}",
            process.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    process
}

impl Worker {
    /// The worker's log so far.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

/// The parameter schema of each test flow, computed by the venv's Python prefect (once).
pub fn parameter_schema(flow: &TestFlow) -> Value {
    static SCHEMAS: OnceLock<Value> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| {
        let script = "import json, sys\n\
            sys.path.insert(0, sys.argv[1])\n\
            import flows\n\
            from prefect.utilities.callables import parameter_schema\n\
            names = sys.argv[2:]\n\
            print(json.dumps({n: parameter_schema(getattr(flows, n).fn).model_dump_for_openapi() for n in names}))";
        let mut args = vec!["-c".to_string(), script.to_string(), flows_dir().display().to_string()];
        args.extend(ALL.iter().map(|f| f.function.to_string()));
        let output = Command::new(venv_bin("python")).args(&args).output().expect("cannot run the venv's python");
        assert!(output.status.success(), "computing flow schemas failed: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("schemas are JSON")
    });
    schemas[flow.function].clone()
}

/// A deployment made for tests.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// The API object.
    pub object: Value,
    /// Its id.
    pub id: String,
    /// `FLOW/DEPLOYMENT`.
    pub full_name: String,
}

/// Deploy a test flow under `flow_name` (a flow of that name is created if needed) as
/// deployment `name` in `pool`, with `extra` fields merged into the create body.
pub fn deploy(flow: &TestFlow, flow_name: &str, name: &str, pool: &str, extra: Value) -> Deployed {
    worker();
    let api = Server::shared().api();
    let flow_object = api.post("flows/", json!({ "name": flow_name }));
    let mut body = json!({
        "name": name,
        "flow_id": flow_object["id"],
        "entrypoint": format!("flows.py:{}", flow.function),
        "work_pool_name": pool,
        "pull_steps": [{
            "prefect.deployments.steps.set_working_directory": { "directory": flows_dir().display().to_string() }
        }],
        "parameter_openapi_schema": parameter_schema(flow),
    });
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            body[k] = v;
        }
    }
    let object = api.post("deployments/", body);
    Deployed {
        id: object["id"].as_str().unwrap().to_string(),
        full_name: format!("{flow_name}/{name}"),
        object,
    }
}

/// The shared deployment of each test flow (`pf-hello/shared`, …) in [`POOL`].
pub struct Deployments {
    pub hello: Deployed,
    pub fails: Deployed,
    pub typed: Deployed,
    pub sleeps: Deployed,
}

/// The shared deployments, made once.
pub fn deployments() -> &'static Deployments {
    static DEPLOYMENTS: OnceLock<Deployments> = OnceLock::new();
    DEPLOYMENTS.get_or_init(|| {
        let shared = |flow: &TestFlow| deploy(flow, flow.flow_name, "shared", POOL, json!({}));
        Deployments {
            hello: shared(&HELLO),
            fails: shared(&FAILS),
            typed: shared(&TYPED),
            sleeps: shared(&SLEEPS),
        }
    })
}

/// A `process` work pool that no worker serves (for `pf-run --execute`), made once.
pub fn pool_without_worker() -> &'static str {
    static POOL_NAME: OnceLock<String> = OnceLock::new();
    POOL_NAME.get_or_init(|| {
        let name = unique("pf-idle-pool");
        Server::shared()
            .api()
            .post("work_pools/", json!({ "name": name, "type": "process" }));
        name
    })
}

/// Wait (bounded) until a flow run is in a terminal state; returns the run.
pub fn wait_terminal(run_id: &str, timeout: Duration) -> Value {
    let api = Server::shared().api();
    let deadline = Instant::now() + timeout;
    loop {
        let run = api.get(&format!("flow_runs/{run_id}"));
        if matches!(
            run["state_type"].as_str(),
            Some("COMPLETED" | "FAILED" | "CANCELLED" | "CRASHED")
        ) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "flow run {run_id} did not end within {timeout:?}: {run}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
