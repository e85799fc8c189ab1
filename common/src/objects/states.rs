//! Run states: proposing a new state to the server's orchestration (`set_state`), reading the
//! answer (ACCEPT / REJECT / ABORT / WAIT), and a run's state history.

use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::model::{STATE_NAMES, STATE_TYPES};
use crate::refs::{self, RefKind, str_field};

/// Flow runs or task runs: which `set_state` and history endpoints to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// `flow_runs/{id}/set_state`, `flow_run_states/?flow_run_id=`.
    FlowRun,
    /// `task_runs/{id}/set_state`, `task_run_states/?task_run_id=`.
    TaskRun,
}

impl RunKind {
    /// The REF kind runs of this kind are resolved with.
    pub fn ref_kind(self) -> RefKind {
        match self {
            RunKind::FlowRun => refs::FLOW_RUN,
            RunKind::TaskRun => refs::TASK_RUN,
        }
    }
}

/// Every state a run went through, oldest first.
pub fn history(client: &Client, kind: RunKind, run_id: &str) -> Result<Vec<Value>> {
    let path = match kind {
        RunKind::FlowRun => format!("flow_run_states/?flow_run_id={run_id}"),
        RunKind::TaskRun => format!("task_run_states/?task_run_id={run_id}"),
    };
    let mut states = match client.get(&path)? {
        Value::Array(states) => states,
        _ => Vec::new(),
    };
    states.sort_by(|a, b| str_field(a, "timestamp").cmp(str_field(b, "timestamp")));
    Ok(states)
}

/// A state to propose: a type, and the name when it is not the type's own (`Late`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetState {
    /// `SCHEDULED`, `CANCELLING`, …
    pub state_type: String,
    /// `Late`, `AwaitingRetry`, … (None: the type's default name).
    pub name: Option<String>,
}

/// The state type each state name belongs to (Prefect's `states.py` constructors).
const NAME_TYPES: &[(&str, &str)] = &[
    ("Late", "SCHEDULED"),
    ("AwaitingRetry", "SCHEDULED"),
    ("AwaitingConcurrencySlot", "SCHEDULED"),
    ("Retrying", "RUNNING"),
    ("Cached", "COMPLETED"),
    ("RolledBack", "COMPLETED"),
    ("Suspended", "PAUSED"),
];

impl TargetState {
    /// A state of a type with its default name.
    pub fn of_type(state_type: &str) -> TargetState {
        TargetState {
            state_type: state_type.to_string(),
            name: None,
        }
    }

    /// Parse a state type or name, case-insensitive (`failed`, `Late`, `awaiting-retry`).
    ///
    /// ```
    /// use pf_common::states::TargetState;
    /// assert_eq!(TargetState::parse("failed").unwrap(), TargetState::of_type("FAILED"));
    /// let late = TargetState::parse("late").unwrap();
    /// assert_eq!((late.state_type.as_str(), late.name.as_deref()), ("SCHEDULED", Some("Late")));
    /// assert!(TargetState::parse("done").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<TargetState> {
        let key = text
            .trim()
            .to_ascii_uppercase()
            .replace(['-', '_', ' '], "");
        if let Some(t) = STATE_TYPES.iter().find(|t| **t == key) {
            return Ok(TargetState::of_type(t));
        }
        if let Some((name, state_type)) = NAME_TYPES
            .iter()
            .find(|(n, _)| n.to_ascii_uppercase() == key)
        {
            return Ok(TargetState {
                state_type: state_type.to_string(),
                name: Some(name.to_string()),
            });
        }
        Err(Error::usage_hint(
            format!("unknown state '{text}'"),
            format!(
                "use a state type ({}) or name ({})",
                STATE_TYPES.join(", ").to_lowercase(),
                STATE_NAMES.join(", ")
            ),
        ))
    }

    /// The state's display name (`Late`, or the type in title case: `Cancelling`).
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| title_case(&self.state_type))
    }

    /// The `state` object of a `set_state` body.
    pub fn to_json(&self, message: Option<&str>) -> Value {
        let mut state = json!({ "type": self.state_type });
        if let Some(name) = &self.name {
            state["name"] = json!(name);
        }
        if let Some(message) = message {
            state["message"] = json!(message);
        }
        state
    }
}

fn title_case(state_type: &str) -> String {
    let lower = state_type.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The server's answer to a proposed state.
#[derive(Debug, Clone)]
pub struct Orchestration {
    /// `ACCEPT`, `REJECT`, `ABORT` or `WAIT`.
    pub status: String,
    /// The server's reason (REJECT/ABORT/WAIT), if any.
    pub reason: Option<String>,
    /// The run's state after the call (the proposed one when accepted; on REJECT the state the
    /// server chose instead; on ABORT the unchanged state).
    pub state: Value,
}

impl Orchestration {
    /// The resulting state's type (`CANCELLED`), or "".
    pub fn state_type(&self) -> &str {
        str_field(&self.state, "type")
    }
}

/// Propose `target` for a run; `force` skips the server's orchestration rules. An HTTP error
/// (404, 422, …) is an error; any orchestration answer — even a refusal — is returned.
pub fn set_state(
    client: &Client,
    kind: RunKind,
    run_id: &str,
    target: &TargetState,
    message: Option<&str>,
    force: bool,
) -> Result<Orchestration> {
    let path = match kind {
        RunKind::FlowRun => format!("flow_runs/{run_id}/set_state"),
        RunKind::TaskRun => format!("task_runs/{run_id}/set_state"),
    };
    let answer = client.post(
        &path,
        json!({ "state": target.to_json(message), "force": force }),
    )?;
    Orchestration::from_answer(&path, &answer)
}

impl Orchestration {
    /// Read an orchestration answer (of `set_state`, `resume`, or one result of
    /// `bulk_set_state`); `path` names the call in the error when it has no status.
    pub fn from_answer(path: &str, answer: &Value) -> Result<Orchestration> {
        let status = str_field(answer, "status").to_string();
        if status.is_empty() {
            return Err(Error::Server {
                status: 200,
                message: format!("{path} answered without a status: {answer}"),
            });
        }
        let reason = answer
            .pointer("/details/reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        let reason = match (
            reason,
            answer
                .pointer("/details/delay_seconds")
                .and_then(Value::as_f64),
        ) {
            (Some(r), Some(delay)) => Some(format!("{r} (retry in {delay:.0}s)")),
            (r, _) => r,
        };
        Ok(Orchestration {
            status,
            reason,
            state: answer.get("state").cloned().unwrap_or(Value::Null),
        })
    }
}
