//! Flow runs: finding the deployment a run starts from, creating runs idempotently (the server
//! answers 201 for a new run and 200 for the existing run of an idempotency key), setting
//! states, and watching a run's states and logs until it ends.

use std::collections::HashSet;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::client::{Client, Method, Request, check_status};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::logs::{LogPoller, LogQuery};
use crate::logstream::{LiveLogs, StreamEvent};
use crate::model::TERMINAL_STATE_TYPES;
use crate::refs::{self, DEPLOYMENT, str_field};
use crate::states::{self, RunKind};
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

/// Logs of a run keep arriving after its final state (clients send them in batches, up to
/// ~3 s later); a watch waits at most this long for the engine's final log line.
pub const LOG_GRACE: Duration = Duration::from_secs(5);

/// Follows one flow run: each poll hands out the states and log records not handed out yet,
/// oldest first. States come from the run's full state history, so a short-lived state
/// (Pending for 200 ms) is never missed between two polls.
#[derive(Debug)]
pub struct RunWatcher {
    run_id: String,
    seen_states: HashSet<String>,
    latest: Option<Value>,
    logs: Option<LogPoller>,
    final_log_seen: bool,
    ended_at: Option<Instant>,
    /// The `/logs/out` subscription, where the server streams (lower latency than polling).
    live: Option<(LiveLogs, Receiver<StreamEvent>)>,
}

impl RunWatcher {
    /// Watch `run_id`; `with_logs` also hands out its log records.
    pub fn new(run_id: &str, with_logs: bool) -> Self {
        let logs = with_logs.then(|| {
            LogPoller::new(LogQuery {
                flow_run_ids: vec![run_id.to_string()],
                ..LogQuery::default()
            })
        });
        RunWatcher {
            run_id: run_id.to_string(),
            seen_states: HashSet::new(),
            latest: None,
            logs,
            final_log_seen: false,
            ended_at: None,
            live: None,
        }
    }

    /// Also take log records from the server's `/logs/out` websocket as they are written (the
    /// same subscription `pf-logs --follow` uses); polling stays the source of truth.
    pub fn stream_logs(&mut self, settings: &Settings) {
        if self.logs.is_none() || self.live.is_some() || !crate::logstream::supported(settings) {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let live = LiveLogs::start(settings.clone(), move |event| tx.send(event).is_ok());
        live.set_filter(json!({ "flow_run_id": { "any_": [self.run_id] } }));
        self.live = Some((live, rx));
    }

    /// Log records the websocket delivered since the last call and polling has not handed out.
    pub fn streamed_logs(&mut self) -> Vec<Value> {
        let (Some((_, rx)), Some(poller)) = (&self.live, self.logs.as_mut()) else {
            return Vec::new();
        };
        let mut fresh = Vec::new();
        while let Ok(event) = rx.try_recv() {
            if let StreamEvent::Record(record) = event
                && let Some(record) = poller.admit_streamed(record)
            {
                fresh.push(record);
            }
        }
        if fresh.iter().any(is_final_log) {
            self.final_log_seen = true;
        }
        fresh
    }

    /// The watched run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// New states since the last call, oldest first (`GET flow_run_states/?flow_run_id=…`).
    pub fn poll_states(&mut self, client: &Client) -> Result<Vec<Value>> {
        let states = states::history(client, RunKind::FlowRun, &self.run_id)?;
        if states.is_empty() {
            // Every run has a state; none means it may have been deleted: a 404 ends the watch.
            client
                .get(&format!("flow_runs/{}", self.run_id))
                .map_err(|e| match e {
                    Error::Client { status: 404, .. } => Error::not_found(
                        format!("flow run {} was deleted while it was watched", self.run_id),
                        None,
                    ),
                    other => other,
                })?;
        }
        if let Some(last) = states.last() {
            self.latest = Some(last.clone());
        }
        let fresh: Vec<Value> = states
            .into_iter()
            .filter(|s| self.seen_states.insert(str_field(s, "id").to_string()))
            .collect();
        match self.final_state() {
            Some(_) if self.ended_at.is_none() => self.ended_at = Some(Instant::now()),
            None => self.ended_at = None,
            _ => {}
        }
        Ok(fresh)
    }

    /// New log records since the last call, oldest first (none when not watching logs).
    pub fn poll_logs(&mut self, client: &Client) -> Result<Vec<Value>> {
        let Some(poller) = self.logs.as_mut() else {
            return Ok(Vec::new());
        };
        let fresh = poller.poll(client)?;
        if fresh.iter().any(is_final_log) {
            self.final_log_seen = true;
        }
        Ok(fresh)
    }

    /// The run's latest state, once it is terminal.
    pub fn final_state(&self) -> Option<&Value> {
        self.latest.as_ref().filter(|s| is_terminal_state(s))
    }

    /// The run's latest state seen so far.
    pub fn latest_state(&self) -> Option<&Value> {
        self.latest.as_ref()
    }

    /// True once the run is terminal and its logs are in: the engine's final log line arrived,
    /// or [`LOG_GRACE`] passed since the end was seen (or logs are not watched).
    pub fn is_done(&self) -> bool {
        match self.ended_at {
            None => false,
            Some(at) => self.logs.is_none() || self.final_log_seen || at.elapsed() >= LOG_GRACE,
        }
    }

    /// Treat the logs as complete (the process that wrote them has exited and flushed them).
    pub fn logs_complete(&mut self) {
        self.final_log_seen = true;
    }
}
