//! `--serve`: the command as the deployment NAME/NAME (no work pool, as `flow.serve` does),
//! and a loop that runs its due runs, as Prefect's Runner does.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use pf_common::refs::str_field;
use pf_common::states::TargetState;
use pf_common::time::{parse_duration, to_api_time};
use pf_common::{Client, Error, Result};
use serde_json::{Map, Value, json};

use crate::child;
use crate::job::{self, Options};
use crate::recorder::{Recorder, RunInfo};

/// What is served.
#[derive(Debug)]
pub struct Served {
    /// Flow and deployment name.
    pub flow: String,
    /// The `schedule` of the deployment's schedule, if any.
    pub schedule: Option<Value>,
    /// Default parameters.
    pub params: Map<String, Value>,
    /// Deployment tags.
    pub tags: Vec<String>,
    /// Most runs at once.
    pub limit: usize,
    /// Poll interval.
    pub poll: Duration,
    /// Heartbeat interval.
    pub heartbeat: Option<Duration>,
    /// `-v`.
    pub verbose: bool,
    /// `--quiet`: print nothing of pf-exec's own but run ids.
    pub quiet: bool,
}

/// The schedule object for --cron / --interval / --rrule (none: runs only when asked).
pub fn schedule(
    cron: &Option<String>,
    interval: &Option<String>,
    rrule: &Option<String>,
    timezone: &Option<String>,
) -> Result<Option<Value>> {
    let timezone = timezone.clone().unwrap_or_else(|| "UTC".into());
    if let Some(cron) = cron {
        return Ok(Some(json!({ "cron": cron, "timezone": timezone })));
    }
    if let Some(interval) = interval {
        let every = parse_duration(interval)?;
        if every < Duration::from_secs(1) {
            return Err(Error::usage("--interval must be at least 1s"));
        }
        return Ok(Some(json!({
            "interval": every.as_secs_f64(),
            "anchor_date": to_api_time(Timestamp::now()),
            "timezone": timezone,
        })));
    }
    Ok(rrule
        .as_ref()
        .map(|rrule| json!({ "rrule": rrule, "timezone": timezone })))
}

/// Create or update the deployment, then run its due runs until SIGTERM/SIGINT.
pub fn serve(client: Client, served: &Served, options: &Options) -> Result<i32> {
    let deployment = upsert_deployment(&client, served, options)?;
    let deployment_id = str_field(&deployment, "id").to_string();
    if !served.quiet {
        eprintln!(
            "pf-exec: serving '{0}/{0}' ({deployment_id}); run it with: pf-run -n '{0}/{0}'",
            served.flow
        );
    }
    let active: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut told_unreachable = false;
    while child::interrupted().is_none() {
        threads.retain(|t| !t.is_finished());
        let free = served.limit.saturating_sub(lock(&active).len());
        if free > 0 {
            match due_runs(&client, &deployment_id, free) {
                Ok(runs) => {
                    told_unreachable = false;
                    for run in runs {
                        let id = str_field(&run, "id").to_string();
                        if !lock(&active).insert(id.clone()) {
                            continue;
                        }
                        threads.push(start_run(&client, served, options, run, &active));
                    }
                }
                Err(e) if !told_unreachable => {
                    told_unreachable = true;
                    pf_common::cli::warn("pf-exec", format!("cannot look for runs: {e}"));
                }
                Err(_) => {}
            }
        }
        let until = Instant::now() + served.poll;
        while Instant::now() < until && child::interrupted().is_none() {
            std::thread::sleep(
                until
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(100)),
            );
        }
    }
    // The signal went on to every running command; each run records how it ended.
    for thread in threads {
        let _ = thread.join();
    }
    Ok(0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn upsert_deployment(client: &Client, served: &Served, options: &Options) -> Result<Value> {
    let flow = client.post("flows/", json!({ "name": served.flow }))?;
    let schedules: Vec<Value> = served
        .schedule
        .iter()
        .map(|s| json!({ "schedule": s, "active": true }))
        .collect();
    let command = options.spec.argv.join(" ");
    client.post(
        "deployments/",
        json!({
            "name": served.flow,
            "flow_id": str_field(&flow, "id"),
            "paused": false,
            "schedules": schedules,
            "parameters": served.params,
            // No parameter list: a served command takes any parameter (pf-run checks none).
            "parameter_openapi_schema": { "type": "object", "additionalProperties": true },
            "enforce_parameter_schema": false,
            "tags": served.tags,
            "description": format!("pf-exec --serve: {command}"),
        }),
    )
}

/// Due runs of the deployment (none while it is paused), earliest first.
fn due_runs(client: &Client, deployment_id: &str, limit: usize) -> Result<Vec<Value>> {
    let runs = client.post(
        "deployments/get_scheduled_flow_runs",
        json!({
            "deployment_ids": [deployment_id],
            "scheduled_before": to_api_time(Timestamp::now()),
            "limit": limit,
        }),
    )?;
    let mut runs = runs.as_array().cloned().unwrap_or_default();
    if runs.is_empty() {
        return Ok(runs);
    }
    let deployment = client.get(&format!("deployments/{deployment_id}"))?;
    if deployment.get("paused").and_then(Value::as_bool) == Some(true) {
        return Ok(Vec::new());
    }
    runs.sort_by(|a, b| {
        str_field(a, "next_scheduled_start_time").cmp(str_field(b, "next_scheduled_start_time"))
    });
    runs.truncate(limit);
    Ok(runs)
}

fn start_run(
    client: &Client,
    served: &Served,
    options: &Options,
    run: Value,
    active: &Arc<Mutex<HashSet<String>>>,
) -> JoinHandle<()> {
    let settings = client.settings().clone();
    let verbose = served.verbose;
    let heartbeat = served.heartbeat;
    let poll = served.poll;
    let quiet = served.quiet;
    let options = options.clone();
    let active = active.clone();
    std::thread::spawn(move || {
        let info = RunInfo::of(&run);
        if let Ok(client) = Client::new(settings, verbose) {
            let mut recorder = Recorder::new(Some(client), Some(info.clone()), None, heartbeat);
            if start(&mut recorder) {
                if quiet {
                    eprintln!("{}", info.id);
                }
                let params = run
                    .get("parameters")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let env = crate::param_env(&params);
                let run_id = info.id.clone();
                let mut cancelled = move |recorder: &mut Recorder| {
                    recorder
                        .attempt(|c| c.get(&format!("flow_runs/{run_id}")))
                        .is_some_and(|r| {
                            matches!(
                                r.pointer("/state/type").and_then(Value::as_str),
                                Some("CANCELLING" | "CANCELLED")
                            )
                        })
                };
                job::run(&mut recorder, &options, env, Some((poll, &mut cancelled)));
            }
        }
        lock(&active).remove(&info.id);
    })
}

/// Scheduled → Pending → Running, as the Runner proposes them; false when the server moved the
/// run elsewhere (cancelled meanwhile, or taken by another server process).
fn start(recorder: &mut Recorder) -> bool {
    for state in ["PENDING", "RUNNING"] {
        match recorder.propose(&TargetState::of_type(state), None, false) {
            Some(answer) if answer.state_type() == state => {}
            _ => return false,
        }
    }
    true
}
