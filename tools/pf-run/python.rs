//! The Python side of pf-run: the interpreter (`--python`, `PF_PYTHON`, else `python3`), a check
//! that it can import `prefect`, and the child processes that execute flow runs: Prefect's own
//! engine (`python -m prefect.engine ID`, what a process worker runs) for `--execute`, and the
//! `local_flow.py` helper for `-p`/`-m`. Children get pf's API settings in their environment and
//! their own process group, so a Ctrl-C reaches pf-run alone and pf-run decides what happens.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use pf_common::Error;
use pf_common::config::Settings;
use serde_json::{Map, Value};

const LOCAL_FLOW_HELPER: &str = include_str!("local_flow.py");

/// The interpreter that runs flows.
#[derive(Debug, Clone)]
pub struct Python {
    program: String,
}

impl Python {
    pub fn new(program: Option<String>) -> Python {
        Python {
            program: program
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "python3".into()),
        }
    }

    fn hint(&self) -> String {
        format!(
            "install it (pip install prefect) for {}, or point --python / PF_PYTHON at an interpreter that has it",
            self.program
        )
    }

    fn cannot_run(&self, e: std::io::Error) -> Error {
        Error::usage_hint(
            format!("cannot run Python '{}': {e}", self.program),
            "point --python or PF_PYTHON at a Python interpreter that has prefect installed",
        )
    }

    /// Fail with a usage error (exit 2) unless the interpreter runs and can import prefect.
    pub fn check_prefect(&self) -> Result<(), Error> {
        let probe =
            "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('prefect') else 3)";
        match Command::new(&self.program)
            .args(["-c", probe])
            .stdin(Stdio::null())
            .status()
        {
            Ok(status) if status.success() => Ok(()),
            Ok(_) => Err(Error::usage_hint(
                format!("Python '{}' cannot import prefect", self.program),
                self.hint(),
            )),
            Err(e) => Err(self.cannot_run(e)),
        }
    }

    /// A command for this interpreter with the API settings and `env` (strings as they are,
    /// other JSON values as JSON) in its environment.
    fn command(
        &self,
        settings: &Settings,
        env: &Map<String, Value>,
        output: &ChildOutput,
    ) -> Result<Command, Error> {
        let mut cmd = Command::new(&self.program);
        cmd.process_group(0)
            .env("PREFECT_API_URL", &settings.api_url);
        if let Some(key) = &settings.api_key {
            cmd.env("PREFECT_API_KEY", key.expose());
        }
        if let Some(auth) = &settings.auth_string {
            cmd.env("PREFECT_API_AUTH_STRING", auth.expose());
        }
        if settings.tls_insecure {
            cmd.env("PREFECT_API_TLS_INSECURE_SKIP_VERIFY", "true");
        }
        if let Some(cert) = &settings.ssl_cert_file {
            cmd.env("PREFECT_API_SSL_CERT_FILE", cert);
        }
        for (key, value) in env {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            cmd.env(key, text);
        }
        cmd.stdin(Stdio::null())
            .stdout(output.stdio()?)
            .stderr(output.stdio()?);
        Ok(cmd)
    }

    /// Start Prefect's engine on an existing flow run (it runs the deployment's pull steps and
    /// entrypoint, as a process worker would).
    pub fn start_engine(
        &self,
        settings: &Settings,
        run_id: &str,
        env: &Map<String, Value>,
        output: ChildOutput,
    ) -> Result<EngineProcess, Error> {
        let mut cmd = self.command(settings, env, &output)?;
        cmd.args(["-m", "prefect.engine", run_id])
            .env("PREFECT__FLOW_RUN_ID", run_id);
        let child = cmd.spawn().map_err(|e| self.cannot_run(e))?;
        Ok(EngineProcess { child })
    }

    /// Load a local flow in the helper; it then waits for flow run ids to execute.
    pub fn load_local_flow(
        &self,
        settings: &Settings,
        kind: &str,
        source: &str,
        function: Option<&str>,
        env: &Map<String, Value>,
        output: ChildOutput,
    ) -> Result<LocalFlow, Error> {
        let mut cmd = self.command(settings, env, &output)?;
        cmd.args([
            "-c",
            LOCAL_FLOW_HELPER,
            kind,
            source,
            function.unwrap_or(""),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| self.cannot_run(e))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(value) = serde_json::from_str::<Value>(&line)
                    && sender.send(value).is_err()
                {
                    break;
                }
            }
        });
        let mut flow = LocalFlow {
            child,
            stdin: Some(stdin),
            lines,
            flow_name: String::new(),
            schema: Value::Null,
            running: None,
        };
        let first = match flow.lines.recv() {
            Ok(value) => value,
            Err(_) => {
                let status = flow
                    .child
                    .wait()
                    .map_err(|e| Error::io("waiting for Python", e))?;
                return Err(Error::Failed(format!(
                    "the Python helper exited ({status}) before loading {source}"
                )));
            }
        };
        if let Some(kind) = first.get("error").and_then(Value::as_str) {
            let message = first
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let _ = flow.child.wait();
            return Err(match kind {
                "no-prefect" => Error::usage_hint(
                    format!("Python '{}' cannot import prefect: {message}", self.program),
                    self.hint(),
                ),
                _ => Error::usage(message),
            });
        }
        flow.flow_name = first
            .get("flow_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        flow.schema = first
            .get("parameter_schema")
            .cloned()
            .unwrap_or(Value::Null);
        Ok(flow)
    }
}

/// Where a child's console output (its own log lines, prints) goes: pf-run's stderr, so that
/// stdout stays the run's id or events; or nowhere (`--no-logs`, or `--watch`, which shows the
/// run's logs from the API instead).
#[derive(Debug, Clone, Copy)]
pub enum ChildOutput {
    Stderr,
    Discard,
}

impl ChildOutput {
    fn stdio(&self) -> Result<Stdio, Error> {
        Ok(match self {
            ChildOutput::Discard => Stdio::null(),
            ChildOutput::Stderr => Stdio::from(
                std::io::stderr()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(|e| Error::io("cannot share stderr", e))?,
            ),
        })
    }
}

/// A run being executed by a child process.
pub trait Execution {
    /// `Some(how it ended)` once the execution is over.
    fn finished(&mut self) -> Result<Option<String>, Error>;
    /// Stop it: SIGTERM to its process group, SIGKILL after a grace period.
    fn terminate(&mut self);
}

/// `python -m prefect.engine ID`.
pub struct EngineProcess {
    child: Child,
}

impl Execution for EngineProcess {
    fn finished(&mut self) -> Result<Option<String>, Error> {
        let status = self
            .child
            .try_wait()
            .map_err(|e| Error::io("waiting for the flow process", e))?;
        Ok(status.map(|s| format!("the flow process exited ({s})")))
    }

    fn terminate(&mut self) {
        terminate_group(&mut self.child);
    }
}

/// The local-flow helper with its flow loaded.
pub struct LocalFlow {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    /// The flow's name (`@flow(name=…)`).
    pub flow_name: String,
    /// The flow's parameter schema.
    pub schema: Value,
    running: Option<String>,
}

impl LocalFlow {
    /// Execute a flow run (created for this flow) in the helper.
    pub fn start(&mut self, run_id: &str) -> Result<(), Error> {
        let stdin = self.stdin.as_mut().expect("open until drop");
        writeln!(stdin, "{run_id}")
            .and_then(|()| stdin.flush())
            .map_err(|e| Error::io("cannot hand the run to the Python helper", e))?;
        self.running = Some(run_id.to_string());
        Ok(())
    }
}

impl Execution for LocalFlow {
    fn finished(&mut self) -> Result<Option<String>, Error> {
        loop {
            match self.lines.try_recv() {
                Ok(line) if line.get("done").and_then(Value::as_str) == self.running.as_deref() => {
                    self.running = None;
                    return Ok(Some("the flow function returned".into()));
                }
                Ok(_) => continue,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    let status = self
                        .child
                        .wait()
                        .map_err(|e| Error::io("waiting for Python", e))?;
                    return Ok(Some(format!("the Python process exited ({status})")));
                }
            }
        }
        let status = self
            .child
            .try_wait()
            .map_err(|e| Error::io("waiting for Python", e))?;
        Ok(status.map(|s| format!("the Python process exited ({s})")))
    }

    fn terminate(&mut self) {
        terminate_group(&mut self.child);
    }
}

impl Drop for LocalFlow {
    fn drop(&mut self) {
        // Closing stdin ends the helper's loop; a helper that does not end is stopped.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        terminate_group(&mut self.child);
    }
}

/// SIGTERM the child's process group (the engine then reports the run itself), SIGKILL what is
/// left after 10 s. `kill(1)` keeps this free of unsafe code.
fn terminate_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill")
        .args(["-TERM", "--", &group])
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
}
