//! Flow runs: finding the deployment a run starts from, creating runs idempotently (the server
//! answers 201 for a new run and 200 for the existing run of an idempotency key), setting
//! states, and what a watched run waits for (the watching itself is [`crate::follow`]).

use jiff::Timestamp;
use serde_json::{Value, json};

use std::time::Duration;

use crate::cli::Batch;
use crate::client::{Client, Method, Request, check_status};
use crate::error::{Error, Result};
use crate::model::TERMINAL_STATE_TYPES;
use crate::refs::{self, DEPLOYMENT, str_field};
use crate::time::to_api_time;

/// A deployment and the name of its flow (for `FLOW/DEPLOYMENT`).
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The API object.
    pub object: Value,
    /// Its flow's name.
    pub flow_name: String,
}

impl Deployment {
    /// The deployment's id.
    pub fn id(&self) -> &str {
        str_field(&self.object, "id")
    }

    /// `FLOW/DEPLOYMENT`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.flow_name, str_field(&self.object, "name"))
    }
}

/// Find the deployment a REF names: an id, `FLOW/DEPLOYMENT`, or a bare FLOW name when that
/// flow has exactly one deployment (several: an error listing them; no such flow: a deployment
/// of that name, when it is unique).
pub fn resolve_deployment(client: &Client, reference: &str) -> Result<Deployment> {
    let reference = reference.trim();
    if refs::is_uuid(reference) || reference.contains('/') {
        let object = refs::resolve(client, &DEPLOYMENT, reference)?;
        let flow_name = match reference.split_once('/') {
            Some((flow, _)) if !refs::is_uuid(reference) => flow.to_string(),
            _ => flow_name(client, str_field(&object, "flow_id"))?,
        };
        return Ok(Deployment { object, flow_name });
    }
    let body = json!({ "flows": { "name": { "any_": [reference] } }, "limit": 10 });
    let mut found = match client.post("deployments/filter", body)? {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    match found.len() {
        0 => {
            let object = refs::resolve(client, &DEPLOYMENT, reference).map_err(|e| match e {
                Error::Client { status: 404, .. } => Error::not_found(
                    format!("no flow or deployment named '{reference}'"),
                    Some("list deployments with: pf-get deployments".into()),
                ),
                other => other,
            })?;
            let flow_name = flow_name(client, str_field(&object, "flow_id"))?;
            Ok(Deployment { object, flow_name })
        }
        1 => Ok(Deployment {
            object: found.remove(0),
            flow_name: reference.to_string(),
        }),
        n => {
            let names: Vec<String> = found
                .iter()
                .map(|d| format!("{reference}/{}", str_field(d, "name")))
                .collect();
            let more = if n >= 10 { " (and possibly more)" } else { "" };
            Err(Error::Client {
                status: 0,
                message: format!(
                    "flow '{reference}' has {n} deployments{more}: {}",
                    names.join(", ")
                ),
                hint: Some(format!("name one: -n {}", names[0])),
            })
        }
    }
}

fn flow_name(client: &Client, flow_id: &str) -> Result<String> {
    let flow = client.get(&format!("flows/{flow_id}"))?;
    Ok(str_field(&flow, "name").to_string())
}

/// A create answer: the run, and whether this request made it (201) or an earlier request with
/// the same idempotency key did (200).
#[derive(Debug, Clone)]
pub struct Created {
    /// The flow run.
    pub run: Value,
    /// True for a new run, false for the existing run of the idempotency key.
    pub created: bool,
}

/// A fresh idempotency key, so that a retried create never makes a second run.
pub fn new_idempotency_key() -> String {
    format!("pf-{}", uuid::Uuid::new_v4())
}

/// Create a run of a deployment (`POST deployments/{id}/create_flow_run`). The body should
/// carry an `idempotency_key`: only then is the request retried after a dropped connection.
pub fn create_from_deployment(
    client: &Client,
    deployment_id: &str,
    body: Value,
) -> Result<Created> {
    post_create(
        client,
        &format!("deployments/{deployment_id}/create_flow_run"),
        body,
    )
}

/// Create a run of a flow (`POST flow_runs/`), e.g. one that pf-run executes locally.
pub fn create_flow_run(client: &Client, body: Value) -> Result<Created> {
    post_create(client, "flow_runs/", body)
}

fn post_create(client: &Client, path: &str, body: Value) -> Result<Created> {
    let keyed = body.get("idempotency_key").is_some_and(|k| k.is_string());
    let response = client.send(
        Request::new(Method::Post, path)
            .json(body)
            .idempotent(keyed),
    )?;
    check_status(Method::Post, path, &response)?;
    Ok(Created {
        run: response.json()?,
        created: response.status == 201,
    })
}

/// A SCHEDULED state for `at` (the body of `state` in a create request).
pub fn scheduled_state(at: Timestamp) -> Value {
    json!({ "type": "SCHEDULED", "state_details": { "scheduled_time": to_api_time(at) } })
}

/// Whether a state object's type is terminal.
pub fn is_terminal_state(state: &Value) -> bool {
    TERMINAL_STATE_TYPES.contains(&str_field(state, "type"))
}

/// Whether a log record is the engine's last word on a run (`Finished in state …`), after
/// which no more logs of the run are expected.
pub fn is_final_log(record: &Value) -> bool {
    str_field(record, "name") == "prefect.flow_runs"
        && str_field(record, "message").starts_with("Finished in state")
}

/// What a watched run waits for (`pf-wait --for`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Target {
    /// Any terminal state; only COMPLETED counts as success (the default).
    #[default]
    Terminal,
    /// COMPLETED; a run that ends otherwise never will.
    Completed,
    /// RUNNING (a run that has started counts, even when it ended since).
    Running,
    /// A state type or name (`late`, `paused`, `FAILED`), compared case-insensitively.
    State(String),
}

impl Target {
    /// Parse `terminal`, `completed`, `running`, or any state type or name.
    pub fn parse(text: &str) -> Result<Target> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::usage(
                "--for needs a state: terminal, completed, running, or a state name",
            ));
        }
        Ok(match text.to_ascii_lowercase().as_str() {
            "terminal" | "finished" | "done" => Target::Terminal,
            "completed" => Target::Completed,
            "running" => Target::Running,
            _ => Target::State(text.to_string()),
        })
    }

    /// Whether `run` (a flow run object) reached the target: Some(true) yes, Some(false) never
    /// will (it ended otherwise), None not yet.
    pub fn judge(&self, run: &Value) -> Option<bool> {
        let state_type = str_field(run, "state_type");
        let state_name = str_field(run, "state_name");
        let terminal = crate::model::is_terminal(run);
        match self {
            Target::Terminal | Target::Completed => terminal.then_some(state_type == "COMPLETED"),
            Target::Running if state_type == "RUNNING" => Some(true),
            Target::Running => {
                terminal.then(|| run.get("start_time").is_some_and(|t| !t.is_null()))
            }
            Target::State(wanted) => {
                if wanted.eq_ignore_ascii_case(state_type)
                    || wanted.eq_ignore_ascii_case(state_name)
                {
                    Some(true)
                } else {
                    terminal.then_some(false)
                }
            }
        }
    }
}

/// The outcome of following: the final states, and how the REFs fared.
#[derive(Debug, Default)]
pub struct FollowOutcome {
    /// Per REF outcome (unknown REFs are failures).
    pub batch: Batch,
    /// Final state type of each run followed.
    pub final_states: Vec<String>,
    /// Every watched run's latest object and whether it reached the target, in REF order.
    pub runs: Vec<(Value, Option<bool>)>,
    /// `timeout` ran out first.
    pub timed_out: bool,
    /// [`crate::follow::FollowOptions::interrupted`] said stop first.
    pub interrupted: bool,
    /// Stopped at the first run that reached the target (`any`).
    pub any_reached: bool,
    /// Runs deleted while they were followed.
    pub vanished: usize,
    /// How the executing process ended, when it did.
    pub process_ended: Option<String>,
}

impl FollowOutcome {
    /// 0 when every run reached the target (with `any`: one did) and every REF resolved; 1
    /// when a run ended otherwise; the batch's code when REFs failed.
    pub fn exit_code(&self) -> i32 {
        let batch = self.batch.exit_code();
        if batch != 0 {
            return batch;
        }
        if self.vanished > 0 {
            // A run that vanished is "not found" (4); with others that ended, a partial batch.
            return if self.final_states.is_empty() {
                crate::error::EXIT_NOT_FOUND
            } else {
                crate::error::EXIT_FAILED
            };
        }
        if self.any_reached || self.runs.iter().all(|(_, reached)| *reached == Some(true)) {
            0
        } else {
            crate::error::EXIT_FAILED
        }
    }

    /// The runs that have not reached the target yet (for a timeout message).
    pub fn waiting(&self) -> impl Iterator<Item = &Value> {
        self.runs
            .iter()
            .filter(|(_, r)| r.is_none())
            .map(|(run, _)| run)
    }
}

/// The error for a wait whose `--timeout` ran out: which runs are still going, in which state.
pub fn timeout_error(outcome: &FollowOutcome, waited: Duration) -> Error {
    let waiting: Vec<String> = outcome
        .waiting()
        .map(|run| {
            format!(
                "'{}' ({})",
                str_field(run, "name"),
                str_field(run, "state_name")
            )
        })
        .collect();
    let what = match waiting.len() {
        1 => format!("flow run {}", waiting[0]),
        n => format!("{n} flow runs: {}", waiting.join(", ")),
    };
    Error::Timeout(format!(
        "timed out after {} waiting for {what}",
        crate::time::hms(waited.as_secs_f64())
    ))
}
