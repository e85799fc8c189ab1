//! The Python side of pf-run, over `pf_common::python`: Prefect's own engine
//! (`python -m prefect.engine ID`, what a process worker runs) for `--execute`, and the
//! `local_flow.py` helper for `-p`/`-m`.

use std::process::Child;
use std::time::Duration;

use pf_common::Error;
use pf_common::config::Settings;
pub use pf_common::python::{ChildOutput, Python};
use pf_common::python::{Helper, NoAnswer, terminate_group};
use serde_json::{Map, Value};

const LOCAL_FLOW_HELPER: &str = include_str!("local_flow.py");

/// How long the helper may take to import the user's code and describe the flow.
const LOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// Start Prefect's engine on an existing flow run (it runs the deployment's pull steps and
/// entrypoint, as a process worker would).
pub fn start_engine(
    python: &Python,
    settings: &Settings,
    run_id: &str,
    env: &Map<String, Value>,
    output: ChildOutput,
) -> Result<EngineProcess, Error> {
    let mut cmd = python.command(settings, env, &output)?;
    cmd.args(["-m", "prefect.engine", run_id])
        .env("PREFECT__FLOW_RUN_ID", run_id);
    let child = cmd.spawn().map_err(|e| python.cannot_run(e))?;
    Ok(EngineProcess { child })
}

/// Load a local flow in the helper; it then waits for flow run ids to execute.
pub fn load_local_flow(
    python: &Python,
    settings: &Settings,
    kind: &str,
    source: &str,
    function: Option<&str>,
    env: &Map<String, Value>,
    output: ChildOutput,
) -> Result<LocalFlow, Error> {
    let mut helper = python.start_helper(
        settings,
        LOCAL_FLOW_HELPER,
        &[kind, source, function.unwrap_or("")],
        env,
        output,
    )?;
    let first = match helper.recv(LOAD_TIMEOUT) {
        Ok(value) => value,
        Err(NoAnswer::Exited(status)) => {
            return Err(Error::Failed(format!(
                "the Python helper exited ({status}) before loading {source}"
            )));
        }
        Err(NoAnswer::Timeout) => {
            return Err(Error::Timeout(format!(
                "the Python helper did not load {source} within {}s",
                LOAD_TIMEOUT.as_secs()
            )));
        }
    };
    if let Some(kind) = first.get("error").and_then(Value::as_str) {
        let message = first
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        return Err(match kind {
            "no-prefect" => python.no_prefect(&message),
            _ => Error::usage(message),
        });
    }
    Ok(LocalFlow {
        flow_name: first
            .get("flow_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        schema: first
            .get("parameter_schema")
            .cloned()
            .unwrap_or(Value::Null),
        helper,
        running: None,
    })
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
    helper: Helper,
    /// The flow's name (`@flow(name=…)`).
    pub flow_name: String,
    /// The flow's parameter schema.
    pub schema: Value,
    running: Option<String>,
}

impl LocalFlow {
    /// Execute a flow run (created for this flow) in the helper.
    pub fn start(&mut self, run_id: &str) -> Result<(), Error> {
        self.helper
            .send_line(run_id)
            .map_err(|_| Error::Failed("cannot hand the run to the Python helper".into()))?;
        self.running = Some(run_id.to_string());
        Ok(())
    }
}

impl Execution for LocalFlow {
    fn finished(&mut self) -> Result<Option<String>, Error> {
        loop {
            match self.helper.try_recv() {
                Ok(Some(line))
                    if line.get("done").and_then(Value::as_str) == self.running.as_deref() =>
                {
                    self.running = None;
                    return Ok(Some("the flow function returned".into()));
                }
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(NoAnswer::Exited(status)) => {
                    return Ok(Some(format!("the Python process exited ({status})")));
                }
                Err(NoAnswer::Timeout) => break,
            }
        }
        Ok(self
            .helper
            .exited()?
            .map(|s| format!("the Python process exited ({s})")))
    }

    fn terminate(&mut self) {
        self.helper.terminate();
    }
}
