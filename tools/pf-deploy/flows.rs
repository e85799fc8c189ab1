//! The user's flows, seen through one Python process (`deploy_helper.py`) for the whole call:
//! each entrypoint's flow name, description, version and parameter schema (read from the source
//! when it is simple enough, else from the flow Prefect loads); build and push steps run by
//! Prefect's own `run_steps`.

use std::collections::HashMap;
use std::time::Duration;

use pf_common::config::Settings;
use pf_common::python::{ChildOutput, Helper, NoAnswer, Python};
use pf_common::{Error, Result};
use serde_json::{Map, Value, json};

const HELPER: &str = include_str!("deploy_helper.py");

/// Importing prefect and the user's module, or running a build step, may take this long.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(900);

/// What pf-deploy needs to know about a flow.
#[derive(Debug, Clone)]
pub struct FlowInfo {
    /// `@flow(name=…)`.
    pub flow_name: String,
    /// The flow's description (its docstring), or null.
    pub description: Value,
    /// The flow's version (Prefect's hash of the file), or null.
    pub version: Value,
    /// The parameter schema Prefect stores on the deployment.
    pub schema: Value,
}

/// The helper process, started on first use.
pub struct Flows {
    python: Python,
    settings: Settings,
    helper: Option<Helper>,
    loaded: HashMap<String, FlowInfo>,
}

impl Flows {
    /// Flows loaded by this interpreter, with these API settings.
    pub fn new(python: Python, settings: Settings) -> Flows {
        Flows {
            python,
            settings,
            helper: None,
            loaded: HashMap::new(),
        }
    }

    fn ask(&mut self, request: &Value, what: &str) -> Result<Value> {
        if self.helper.is_none() {
            let mut helper = self.python.start_helper(
                &self.settings,
                HELPER,
                &[],
                &Map::new(),
                ChildOutput::Stderr,
            )?;
            let first = answer(&mut helper, "starting")?;
            if let Some(message) = error_of(&first, "no-prefect") {
                return Err(self.python.no_prefect(&message));
            }
            self.helper = Some(helper);
        }
        let helper = self.helper.as_mut().expect("started");
        helper.send_line(&request.to_string())?;
        answer(helper, what)
    }

    /// The flow at `entrypoint` (`path/file.py:function`), loaded once.
    pub fn load(&mut self, entrypoint: &str, origin: &str) -> Result<FlowInfo> {
        if let Some(info) = self.loaded.get(entrypoint) {
            return Ok(info.clone());
        }
        let reply = self.ask(
            &json!({"load": entrypoint}),
            &format!("loading {entrypoint}"),
        )?;
        if let Some(kind) = reply.get("error").and_then(Value::as_str) {
            let message = reply["message"].as_str().unwrap_or_default();
            // In the entrypoint form the origin is the entrypoint itself.
            let at = if origin == entrypoint {
                origin.to_string()
            } else {
                format!("{origin}: {entrypoint}")
            };
            return Err(match kind {
                "no-prefect" => self.python.no_prefect(message),
                "not-a-flow" => Error::usage_hint(
                    format!("{at}: {message}"),
                    "decorate the function with @flow",
                ),
                _ => Error::usage(format!("{at}: cannot load the flow: {message}")),
            });
        }
        let info = FlowInfo {
            flow_name: reply["flow_name"].as_str().unwrap_or_default().to_string(),
            description: reply["description"].clone(),
            version: reply["version"].clone(),
            schema: reply["parameter_schema"].clone(),
        };
        self.loaded.insert(entrypoint.to_string(), info.clone());
        Ok(info)
    }

    /// Run steps after `outputs`; the outputs with each step's added.
    pub fn run_steps(&mut self, steps: &[Value], outputs: &Value, origin: &str) -> Result<Value> {
        let reply = self.ask(
            &json!({"steps": steps, "outputs": outputs}),
            "running steps",
        )?;
        if let Some(message) = error_of(&reply, "steps") {
            return Err(Error::Failed(format!("{origin}: a step failed: {message}")));
        }
        Ok(reply.get("outputs").cloned().unwrap_or_else(|| json!({})))
    }
}

fn error_of(reply: &Value, kind: &str) -> Option<String> {
    (reply.get("error").and_then(Value::as_str) == Some(kind))
        .then(|| reply["message"].as_str().unwrap_or_default().to_string())
}

fn answer(helper: &mut Helper, what: &str) -> Result<Value> {
    helper.recv(ANSWER_TIMEOUT).map_err(|e| match e {
        NoAnswer::Timeout => Error::Timeout(format!(
            "the Python helper gave no answer within {}s ({what})",
            ANSWER_TIMEOUT.as_secs()
        )),
        NoAnswer::Exited(status) => {
            Error::Failed(format!("the Python helper exited ({status}) while {what}"))
        }
    })
}
