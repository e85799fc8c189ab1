//! The test harness: a real Prefect server (pinned Python `prefect` in a venv under `target/`),
//! a `pf(tool)` command builder with a clean environment, and an `Api` for fixtures.
//!
//! Servers run under `tests/support/supervise.py`, which tears the server's process group down
//! when the test binary exits, even if it panicked or was killed, so no process is left behind.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/` (where the venv and test homes live).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

/// A fresh temporary directory under `target/pf-test-tmp/`.
pub fn temp_dir(label: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = target_dir().join("pf-test-tmp").join(format!(
        "{label}-{}-{n}-{}",
        std::process::id(),
        unique("")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A unique name for fixtures: `prefix-<8 hex>`.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    if prefix.is_empty() {
        id[..8].to_string()
    } else {
        format!("{prefix}-{}", &id[..8])
    }
}

/// The venv with the pinned Python prefect, installed on first use (keyed by the requirements
/// file's hash, reused when present). Fails loudly when Python or the install fails.
pub fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let requirements = repo().join("tests/python/requirements.txt");
        let text = std::fs::read(&requirements).expect("tests/python/requirements.txt is missing");
        // PF_PREFECT_VENV lets several checkouts share one install.
        let dir = std::env::var_os("PF_PREFECT_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| target_dir().join(format!("prefect-venv-{:016x}", fnv1a(&text))));
        install_venv(&dir, &requirements);
        dir
    })
}

/// The venv of another Prefect release (`tests/python/prefect-VERSION.txt`, a frozen set that
/// installs offline with `pip install --no-deps`), installed on first use, keyed by the file's
/// hash like [`venv`]. `PF_PREFECT_VENVS=DIR` puts them in DIR, so checkouts can share them.
pub fn release_venv(version: &str) -> PathBuf {
    let requirements = repo().join(format!("tests/python/prefect-{version}.txt"));
    let text = std::fs::read(&requirements)
        .unwrap_or_else(|e| panic!("{} is missing: {e}", requirements.display()));
    let parent = std::env::var_os("PF_PREFECT_VENVS")
        .map(PathBuf::from)
        .unwrap_or_else(target_dir);
    let dir = parent.join(format!("prefect-venv-{version}-{:016x}", fnv1a(&text)));
    install_venv(&dir, &requirements);
    dir
}

/// Install `requirements` into the venv `dir` unless it is installed (one installer at a time,
/// across test processes).
fn install_venv(dir: &Path, requirements: &Path) {
    std::fs::create_dir_all(target_dir()).unwrap();
    let lock = std::fs::File::create(target_dir().join(".prefect-venv.lock")).unwrap();
    lock.lock().unwrap();
    if !dir.join(".installed").exists() {
        let output = Command::new("bash")
            .arg(repo().join("tests/support/install-prefect.sh"))
            .arg(dir)
            .arg(requirements)
            .output()
            .expect("cannot run tests/support/install-prefect.sh");
        assert!(
            output.status.success(),
            "installing Python prefect from {} failed (is python3 with venv and pip present?)\n{}\n{}",
            requirements.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    lock.unlock().unwrap();
}

/// `venv/bin/NAME`.
pub fn venv_bin(name: &str) -> PathBuf {
    venv().join("bin").join(name)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process under `supervise.py`: its whole process group ends when this handle is dropped,
/// when `stop` is called, or when the test binary exits.
pub struct Supervised {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Supervised {
    /// Start `command` (program + args) with `env`, in `cwd`, logging to `log`. `signals` is how
    /// many rounds of SIGINT/SIGTERM the group gets before SIGKILL (a worker needs two).
    pub fn start(
        command: &[&str],
        env: &[(String, String)],
        cwd: &Path,
        log: PathBuf,
        signals: u32,
    ) -> Self {
        let log_file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(venv_bin("python"));
        cmd.arg(repo().join("tests/support/supervise.py"))
            .arg(std::process::id().to_string())
            .arg(signals.to_string())
            .arg("--")
            .args(command)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("cannot start supervise.py");
        Supervised {
            child: Some(child),
            log,
        }
    }

    /// Stop the process group and wait (bounded) for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the supervised command is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Environment for a Prefect server process (also what workers and flows share).
fn server_env(home: &Path, port: u16, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("PREFECT_HOME".into(), home.display().to_string()),
        ("PREFECT_SERVER_ANALYTICS_ENABLED".into(), "false".into()),
        ("PREFECT_SERVER_UI_ENABLED".into(), "false".into()),
        ("PREFECT_UI_ENABLED".into(), "false".into()),
        ("PREFECT_SERVER_API_HOST".into(), "127.0.0.1".into()),
        ("PREFECT_SERVER_API_PORT".into(), port.to_string()),
        (
            "PREFECT_API_URL".into(),
            format!("http://127.0.0.1:{port}/api"),
        ),
        (
            "PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED".into(),
            "true".into(),
        ),
        (
            "PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED".into(),
            "true".into(),
        ),
        ("PREFECT_LOGGING_LEVEL".into(), "WARNING".into()),
        ("PREFECT_SERVER_LOGGING_LEVEL".into(), "WARNING".into()),
        // The cancellation clean-up service re-checks every run cancelled in the last day every
        // 20 s and times out runs left Cancelling (tests cancel runs no worker will stop): on a
        // server shared by every test that became a storm of background writes retried on
        // "database is locked" (hundreds a minute), slowing everything else. No test relies on
        // it; the worker stops the runs it executes itself. (API_… is the 2.x name.)
        (
            "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED".into(),
            "false".into(),
        ),
        (
            "PREFECT_API_SERVICES_CANCELLATION_CLEANUP_ENABLED".into(),
            "false".into(),
        ),
        ("DO_NOT_TRACK".into(), "1".into()),
    ];
    for (k, v) in extra {
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// A real Prefect server on a free port with its own PREFECT_HOME (and SQLite database).
pub struct Server {
    pub port: u16,
    pub home: PathBuf,
    pub url: String,
    /// The venv whose `prefect server start` this is.
    pub venv: PathBuf,
    extra: Vec<(String, String)>,
    process: Supervised,
}

impl Server {
    /// Start a server with extra environment (e.g. PREFECT_SERVER_API_AUTH_STRING) and wait
    /// until `/api/health` answers (240 s at most).
    pub fn start(extra: &[(&str, &str)]) -> Server {
        Self::start_with(venv(), extra, Duration::from_secs(240))
    }

    /// Start the server of the Prefect installed in `venv` (another release: see
    /// [`release_venv`]), like [`Server::start`]; 5 minutes to become healthy, as a new
    /// database of an older release runs every migration first (Prefect 2: over a minute).
    pub fn start_in(venv: &Path, extra: &[(&str, &str)]) -> Server {
        Self::start_with(venv, extra, Duration::from_secs(300))
    }

    fn start_with(venv: &Path, extra: &[(&str, &str)], healthy_within: Duration) -> Server {
        let home = temp_dir("server");
        let port = free_port();
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let process = Self::spawn(venv, &home, port, &extra);
        let server = Server {
            port,
            url: format!("http://127.0.0.1:{port}/api"),
            home,
            venv: venv.to_path_buf(),
            extra,
            process,
        };
        server.wait_healthy(healthy_within);
        server
    }

    fn spawn(venv: &Path, home: &Path, port: u16, extra: &[(String, String)]) -> Supervised {
        let extra_refs: Vec<(&str, &str)> = extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let env = server_env(home, port, &extra_refs);
        let prefect = venv.join("bin/prefect");
        let port_s = port.to_string();
        Supervised::start(
            &[
                prefect.to_str().unwrap(),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                &port_s,
            ],
            &env,
            home,
            home.join(format!("server-{}.log", unique(""))),
            1,
        )
    }

    fn wait_healthy(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if http_get_status(self.port, "/api/health") == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "the Prefect server did not become healthy within {timeout:?}; log:\n{}",
            self.process.log_text()
        );
    }

    /// The server all tests share (started once per test binary).
    pub fn shared() -> &'static Server {
        static SHARED: OnceLock<Server> = OnceLock::new();
        SHARED.get_or_init(|| Server::start(&[]))
    }

    /// Stop the server process (the database stays in `home`).
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Start it again on the same port and database.
    pub fn restart(&mut self) {
        self.process.stop();
        self.process = Self::spawn(&self.venv, &self.home, self.port, &self.extra);
        self.wait_healthy(Duration::from_secs(240));
    }

    /// Start again after `stop`.
    pub fn start_again(&mut self) {
        self.restart();
    }

    /// An API client for fixtures.
    pub fn api(&self) -> Api {
        Api {
            base: self.url.clone(),
            auth: None,
        }
    }

    /// Environment a Python prefect process (worker, flow) needs to talk to this server.
    pub fn client_env(&self) -> Vec<(String, String)> {
        server_env(&self.home, self.port, &[])
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

/// A private PostgreSQL cluster on a free loopback port (`tests/support/postgres.sh`, which
/// installs Debian's `postgresql` when it is missing and it runs as root). It stops, and its
/// data directory goes, when this handle is dropped or the test binary exits.
pub struct Postgres {
    /// `postgresql+asyncpg://…/prefect`, for PREFECT_API_DATABASE_CONNECTION_URL.
    pub url: String,
    process: Supervised,
}

impl Postgres {
    /// Start a cluster; `Err(why)` when PostgreSQL is not installed and cannot be installed
    /// here. Panics when it is installed but does not come up within 5 minutes.
    pub fn start() -> Result<Postgres, String> {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("pf-postgres-{}", unique("")));
        let log = temp_dir("postgres").join("postgres.log");
        let script = repo().join("tests/support/postgres.sh");
        let mut process = Supervised::start(
            &[
                "bash",
                script.to_str().unwrap(),
                dir.to_str().unwrap(),
                &port.to_string(),
            ],
            &[],
            &target_dir(),
            log,
            2,
        );
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let text = process.log_text();
            if text.contains("pf-postgres: ready") {
                break;
            }
            if let Some(line) = text
                .lines()
                .find(|l| l.starts_with("pf-postgres: unavailable"))
            {
                return Err(line.to_string());
            }
            assert!(
                process.is_running() && Instant::now() < deadline,
                "PostgreSQL did not start; log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(Postgres {
            url: format!("postgresql+asyncpg://postgres@127.0.0.1:{port}/prefect"),
            process,
        })
    }
}

fn http_get_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace().nth(1)?.parse().ok()
}

/// A small JSON client for creating fixtures through the REST API.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub auth: Option<String>,
}

impl Api {
    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into()
    }

    /// Send a request; panics on transport errors; returns (status, JSON body). A busy SQLite
    /// server answers 503 under load: those are retried (bounded).
    pub fn request(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        for _ in 0..60 {
            let (status, value) = self.request_once(method, path, body.clone());
            if status != 503 && status != 429 {
                return (status, value);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        self.request_once(method, path, body)
    }

    fn request_once(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(auth) = &self.auth {
            builder = builder.header("Authorization", auth.as_str());
        }
        let request = builder
            .header("Content-Type", "application/json")
            .body(
                body.map(|b| serde_json::to_vec(&b).unwrap())
                    .unwrap_or_default(),
            )
            .unwrap();
        let mut response = Self::agent()
            .run(request)
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POST and expect 2xx.
    pub fn post(&self, path: &str, body: Value) -> Value {
        let (status, value) = self.request("POST", path, Some(body));
        assert!(
            (200..300).contains(&status),
            "POST {path}: {status} {value}"
        );
        value
    }

    /// GET and expect 2xx.
    pub fn get(&self, path: &str) -> Value {
        let (status, value) = self.request("GET", path, None);
        assert!((200..300).contains(&status), "GET {path}: {status} {value}");
        value
    }

    /// Create a flow (unique name from `prefix`) and return it.
    pub fn flow(&self, prefix: &str, tags: &[&str]) -> Value {
        self.post("flows/", json!({ "name": unique(prefix), "tags": tags }))
    }

    /// Create a flow run of `flow_id` in a state type (e.g. "COMPLETED") with tags.
    pub fn flow_run(&self, flow_id: &str, state_type: &str, tags: &[&str]) -> Value {
        self.post(
            "flow_runs/",
            json!({ "flow_id": flow_id, "name": unique("run"), "state": { "type": state_type }, "tags": tags }),
        )
    }

    /// A flow (name from `prefix`) with `n` Scheduled runs, made in one request: a paused
    /// deployment (the server's scheduler leaves paused ones alone, so no run is added behind
    /// the test's back) with a one-minute schedule, asked to schedule exactly `n` runs
    /// (`POST /deployments/{id}/schedule`, one bulk insert, instead of `n` POSTs that keep a
    /// shared SQLite server busy for minutes). Returns the flow.
    pub fn flow_with_scheduled_runs(&self, prefix: &str, n: usize) -> Value {
        let flow = self.flow(prefix, &[]);
        let flow_id = flow["id"].as_str().unwrap();
        let deployment = self.deployment(
            flow_id,
            "bulk",
            json!({"paused": true, "schedules": [{"schedule": {"interval": 60}, "active": true}]}),
        );
        let deployment_id = deployment["id"].as_str().unwrap();
        self.post(
            &format!("deployments/{deployment_id}/schedule"),
            json!({"min_runs": n, "max_runs": n}),
        );
        flow
    }

    /// Create a deployment of `flow_id` named `name`.
    pub fn deployment(&self, flow_id: &str, name: &str, extra: Value) -> Value {
        let mut body = json!({ "flow_id": flow_id, "name": name });
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        self.post("deployments/", body)
    }
}

/// The result of running a pf tool.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// stdout's lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// stdout parsed as NDJSON.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}\n{self:?}"))
            })
            .collect()
    }

    /// Assert the exit code, showing everything on failure.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code; run: {self:#?}");
        self
    }

    /// Assert success.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }
}

/// A pf tool invocation with a clean environment: no PREFECT_* from the developer's shell, a
/// temp PREFECT_HOME, and the given server's URL.
pub struct Pf {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

/// The path of a pf binary.
pub fn bin(tool: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_pf-get"))
        .parent()
        .unwrap()
        .to_path_buf();
    dir.join(tool)
}

/// `pf(tool)` against the shared server.
pub fn pf(tool: &str) -> Pf {
    Pf::new(tool).server(Server::shared())
}

impl Pf {
    /// A tool with a clean environment and no server configured.
    pub fn new(tool: &str) -> Pf {
        let mut cmd = Command::new(bin(tool));
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().to_string();
            if key.starts_with("PREFECT_")
                || matches!(
                    key.as_str(),
                    "NO_COLOR"
                        | "CLICOLOR_FORCE"
                        | "COLUMNS"
                        | "PF_FORCE_TTY"
                        | "PF_PYTHON"
                        | "SSL_CERT_FILE"
                )
            {
                cmd.env_remove(&key);
            }
        }
        let home = temp_dir("home");
        cmd.env("PREFECT_HOME", &home)
            .env("HOME", &home)
            .stdin(Stdio::null())
            // Under the suite's parallel load a SQLite server answers bursts of 503
            // (SQLITE_BUSY); more retries than the default ride them out. Retry tests set
            // their own.
            .env("PREFECT_CLIENT_MAX_RETRIES", "8");
        Pf { cmd, stdin: None }
    }

    /// Point at a server.
    pub fn server(mut self, server: &Server) -> Pf {
        self.cmd.env("PREFECT_API_URL", &server.url);
        self
    }

    /// Add arguments.
    pub fn args<I, S>(mut self, args: I) -> Pf
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Add one argument.
    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Pf {
        self.cmd.arg(arg);
        self
    }

    /// Set an environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Pf {
        self.cmd.env(key, value);
        self
    }

    /// Remove an environment variable.
    pub fn env_remove(mut self, key: &str) -> Pf {
        self.cmd.env_remove(key);
        self
    }

    /// Run in this folder.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Pf {
        self.cmd.current_dir(dir);
        self
    }

    /// Pretend stdout is a terminal (`PF_FORCE_TTY=1`), with a width.
    pub fn tty(self, columns: usize) -> Pf {
        self.env("PF_FORCE_TTY", "1")
            .env("COLUMNS", columns.to_string())
    }

    /// Feed stdin.
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Pf {
        self.stdin = Some(input.into());
        self
    }

    /// The underlying command (for pipes and timing).
    pub fn command(self) -> Command {
        self.cmd
    }

    /// Run to completion (2 minutes at most).
    pub fn run(mut self) -> Run {
        if self.stdin.is_some() {
            self.cmd.stdin(Stdio::piped());
        }
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("cannot start pf tool");
        if let Some(input) = self.stdin.take() {
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        let pid = child.id();
        let watchdog = std::thread::spawn(move || {
            for _ in 0..1200 {
                std::thread::sleep(Duration::from_millis(100));
                if std::fs::metadata(format!("/proc/{pid}")).is_err() {
                    return;
                }
            }
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        });
        let output = child.wait_with_output().unwrap();
        drop(watchdog);
        Run::from(output)
    }
}
