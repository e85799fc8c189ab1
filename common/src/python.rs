//! The user's Python: the interpreter (`--python`, `PF_PYTHON`, else `python3`), a check that it
//! can import `prefect`, and child processes that speak JSON lines with pf (pf-run's local-flow
//! helper, pf-deploy's flow loader). Children get pf's API settings in their environment and
//! their own process group, so a Ctrl-C reaches the pf tool alone and the tool decides what
//! happens.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::config::Settings;
use crate::error::Error;

/// The interpreter that loads and runs the user's flows.
#[derive(Debug, Clone)]
pub struct Python {
    program: String,
}

impl Python {
    /// The interpreter `program` (from `--python` / `PF_PYTHON`), else `python3`.
    pub fn new(program: Option<String>) -> Python {
        Python {
            program: program
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "python3".into()),
        }
    }

    /// The interpreter's name as the user gave it.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// What to do when this interpreter has no usable prefect.
    pub fn hint(&self) -> String {
        format!(
            "install it (pip install prefect) for {}, or point --python / PF_PYTHON at an interpreter that has it",
            self.program
        )
    }

    /// The error for an interpreter that cannot be started.
    pub fn cannot_run(&self, e: std::io::Error) -> Error {
        Error::usage_hint(
            format!("cannot run Python '{}': {e}", self.program),
            "point --python or PF_PYTHON at a Python interpreter that has prefect installed",
        )
    }

    /// The error for an interpreter that cannot import prefect (`detail`: why).
    pub fn no_prefect(&self, detail: &str) -> Error {
        Error::usage_hint(
            format!("Python '{}' cannot import prefect: {detail}", self.program),
            self.hint(),
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

    /// A command for this interpreter in its own process group, with the API settings and
    /// `env` (strings as they are, other JSON values as JSON) in its environment, stdin closed
    /// and stdout/stderr sent to `output`.
    pub fn command(
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

    /// Start a helper script (`python -c SCRIPT ARGS…`) that reads requests on stdin and
    /// answers one JSON object per line on stdout (its other output goes to `output`).
    pub fn start_helper(
        &self,
        settings: &Settings,
        script: &str,
        args: &[&str],
        env: &Map<String, Value>,
        output: ChildOutput,
    ) -> Result<Helper, Error> {
        let mut cmd = self.command(settings, env, &output)?;
        cmd.arg("-c")
            .arg(script)
            .args(args)
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
        Ok(Helper {
            child,
            stdin: Some(stdin),
            lines,
        })
    }
}

/// Where a child's console output (its own log lines, prints) goes: the tool's stderr, so that
/// stdout stays the tool's own output; or nowhere.
#[derive(Debug, Clone, Copy)]
pub enum ChildOutput {
    /// The tool's stderr.
    Stderr,
    /// Nowhere.
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

/// A helper child that speaks JSON lines: requests to its stdin, one answer object per line
/// from its stdout. Dropping it closes stdin (the helper's loop ends) and stops a helper that
/// does not end.
pub struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
}

/// Why no answer came from a helper.
#[derive(Debug)]
pub enum NoAnswer {
    /// Nothing within the time allowed.
    Timeout,
    /// The helper exited (its exit status, as text).
    Exited(String),
}

impl Helper {
    /// Write one line (a request) to the helper.
    pub fn send_line(&mut self, line: &str) -> Result<(), Error> {
        let stdin = self.stdin.as_mut().expect("open until drop");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| Error::io("cannot write to the Python helper", e))
    }

    /// The next answer, waiting at most `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Result<Value, NoAnswer> {
        match self.lines.recv_timeout(timeout) {
            Ok(value) => Ok(value),
            Err(RecvTimeoutError::Timeout) => Err(NoAnswer::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(NoAnswer::Exited(self.wait_status())),
        }
    }

    /// The next answer if one is waiting; `Err` when the helper has exited.
    pub fn try_recv(&mut self) -> Result<Option<Value>, NoAnswer> {
        match self.lines.try_recv() {
            Ok(value) => Ok(Some(value)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(NoAnswer::Exited(self.wait_status())),
        }
    }

    /// The helper's exit status once it has exited, without waiting.
    pub fn exited(&mut self) -> Result<Option<String>, Error> {
        let status = self
            .child
            .try_wait()
            .map_err(|e| Error::io("waiting for Python", e))?;
        Ok(status.map(|s| s.to_string()))
    }

    fn wait_status(&mut self) -> String {
        match self.child.wait() {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        }
    }

    /// Stop it: SIGTERM to its process group, SIGKILL after a grace period.
    pub fn terminate(&mut self) {
        terminate_group(&mut self.child);
    }
}

impl Drop for Helper {
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

/// SIGTERM the child's process group (a flow engine then reports its run itself), SIGKILL
/// what is left after 10 s. `kill(1)` keeps this free of unsafe code.
pub fn terminate_group(child: &mut Child) {
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
