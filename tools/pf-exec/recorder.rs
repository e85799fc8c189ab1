//! The server's side of one run, kept so that the command never depends on it: every call is
//! tried only while the server answers; after a network error or a 5xx the recorder waits
//! (backoff) before trying again, says once on stderr that the run is not being recorded, and
//! the log lines wait in memory meanwhile (the shared shipper, `pf_common::logship`, sends them
//! on its own thread). A 4xx (auth, a refused body) stops the recording.

use std::time::{Duration, Instant};

use pf_common::client::backoff_delay;
use pf_common::logship::{LogLines, LogShipper, ShipOptions, ShipReport};
use pf_common::refs::str_field;
use pf_common::runs::create_flow_run;
use pf_common::states::{Orchestration, RunKind, TargetState, set_state};
use pf_common::time::to_api_time;
use pf_common::{Client, Error, Result};
use serde_json::{Value, json};

/// The longest pause between two tries while the server is away.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The log buffer keeps at most this many bytes of messages while the server is away; later
/// lines are dropped (counted, and a note says so in the run's logs).
const BUFFER_BYTES: usize = 8 << 20;
/// Logger name of the command's lines (what `pf-logs` shows in its logger column).
const LOGGER: &str = "pf-exec";

/// The run as the server knows it.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Flow run id.
    pub id: String,
    /// Flow run name (`bright-fox`).
    pub name: String,
    /// Flow id.
    pub flow_id: String,
    /// Deployment id, for runs of a served deployment.
    pub deployment_id: Option<String>,
    /// Tags (for heartbeats' related resources).
    pub tags: Vec<String>,
}

impl RunInfo {
    /// From a flow run object.
    pub fn of(run: &Value) -> RunInfo {
        RunInfo {
            id: str_field(run, "id").to_string(),
            name: str_field(run, "name").to_string(),
            flow_id: str_field(run, "flow_id").to_string(),
            deployment_id: run
                .get("deployment_id")
                .and_then(Value::as_str)
                .map(str::to_string),
            tags: run
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// What a watch-mode run is created from, until the server has it.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Flow name.
    pub flow: String,
    /// The `POST flow_runs/` body without `flow_id`.
    pub body: Value,
}

/// The recording of one run.
#[derive(Debug)]
pub struct Recorder {
    client: Option<Client>,
    /// The run once the server has it.
    pub run: Option<RunInfo>,
    new_run: Option<NewRun>,
    shipper: Option<LogShipper>,
    /// Where the run's log lines go (from any thread).
    pub logs: LogLines,
    failures: u32,
    retry_at: Option<Instant>,
    stopped: bool,
    told: bool,
    heartbeat_every: Option<Duration>,
    next_heartbeat: Instant,
}

impl Recorder {
    /// A recorder for an existing run (served deployments), or one to create (`new_run`).
    pub fn new(
        client: Option<Client>,
        run: Option<RunInfo>,
        new_run: Option<NewRun>,
        heartbeat_every: Option<Duration>,
    ) -> Recorder {
        let client = client.map(limit_waits);
        // The shipper sends from its own thread, with a client of its own.
        let shipper = client
            .as_ref()
            .and_then(|c| Client::new(c.settings().clone(), c.verbose()).ok())
            .map(|c| LogShipper::start_unbound(c, LOGGER, ship_options()));
        if let (Some(shipper), Some(run)) = (&shipper, &run) {
            shipper.bind(&run.id);
        }
        Recorder {
            run,
            new_run,
            logs: shipper
                .as_ref()
                .map_or_else(LogLines::detached, LogShipper::lines),
            shipper,
            failures: 0,
            retry_at: None,
            stopped: client.is_none(),
            client,
            told: false,
            heartbeat_every,
            next_heartbeat: Instant::now() + heartbeat_every.unwrap_or_default(),
        }
    }

    /// Run `call` unless the server is known to be away (None then, or when it fails).
    pub fn attempt<T>(&mut self, call: impl FnOnce(&Client) -> Result<T>) -> Option<T> {
        if self.stopped || self.retry_at.is_some_and(|at| Instant::now() < at) {
            return None;
        }
        match call(self.client.as_ref()?) {
            Ok(value) => {
                self.failures = 0;
                self.retry_at = None;
                Some(value)
            }
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    fn failed(&mut self, error: &Error) {
        let transient = match error {
            // A lost answer (a timeout under load) is asked again: lines are worth a possible
            // duplicate, the run's create carries an idempotency key, a repeated state proposal is
            // accepted as already done, and a slot taken twice is a lease that expires.
            Error::Network { .. } | Error::Server { .. } | Error::OutcomeUnknown { .. } => true,
            Error::Client { status, .. } => *status == 408 || *status == 429,
            _ => false,
        };
        self.tell(&error.to_string(), transient);
        if transient {
            self.retry_at = Some(Instant::now() + backoff_delay(self.failures, MAX_BACKOFF));
            self.failures = self.failures.saturating_add(1);
        } else {
            self.stopped = true;
        }
    }

    /// Say once on stderr that the server is not taking the run's record, and why.
    fn tell(&mut self, why: &str, transient: bool) {
        if self.told {
            return;
        }
        self.told = true;
        let what = match &self.run {
            Some(run) => format!("flow run '{}' is not fully recorded", run.name),
            None => "the flow run is not recorded yet".to_string(),
        };
        let then = if transient {
            "; the command goes on, its log lines are kept and sent when the server is back"
        } else {
            "; the command goes on"
        };
        pf_common::cli::warn("pf-exec", format!("{what}: {why}{then}"));
    }

    /// Wait for the next try after a failure (a short pause without one): `false`, at once,
    /// when recording stopped for good or `deadline` has passed.
    pub fn wait_to_retry(&self, deadline: Instant) -> bool {
        if self.stopped || Instant::now() >= deadline {
            return false;
        }
        let wake = self
            .retry_at
            .unwrap_or_else(|| Instant::now() + Duration::from_millis(10));
        std::thread::sleep(wake.min(deadline).saturating_duration_since(Instant::now()));
        true
    }

    /// Create the run if it is not on the server yet (watch mode), as Running.
    pub fn ensure_run(&mut self) -> Option<RunInfo> {
        if self.run.is_none()
            && let Some(new_run) = self.new_run.clone()
        {
            let created = self.attempt(|client| {
                let flow = client.post("flows/", json!({ "name": new_run.flow }))?;
                let mut body = new_run.body.clone();
                body["flow_id"] = json!(str_field(&flow, "id"));
                create_flow_run(client, body)
            });
            if let Some(created) = created {
                let run = RunInfo::of(&created.run);
                if let Some(shipper) = &self.shipper {
                    shipper.bind(&run.id);
                }
                self.run = Some(run);
                self.new_run = None;
            }
        }
        self.run.clone()
    }

    /// Create the run when the server is back, say once if its lines cannot be sent, and send
    /// a heartbeat when one is due.
    pub fn tick(&mut self) {
        let Some(run) = self.ensure_run() else {
            return;
        };
        if let Some(why) = self.shipper.as_ref().and_then(LogShipper::outage) {
            self.tell(&why, true);
        }
        if let Some(every) = self.heartbeat_every
            && Instant::now() >= self.next_heartbeat
        {
            self.next_heartbeat = Instant::now() + every;
            self.attempt(|client| client.post("events", json!([heartbeat(&run)])));
        }
    }

    /// Propose a state (None when the server could not be asked).
    pub fn propose(
        &mut self,
        target: &TargetState,
        message: Option<&str>,
        force: bool,
    ) -> Option<Orchestration> {
        let run = self.ensure_run()?;
        self.attempt(|client| set_state(client, RunKind::FlowRun, &run.id, target, message, force))
    }

    /// Whether recording stopped for good (no settings, or a 4xx).
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Whether the server has the run.
    pub fn has_run(&self) -> bool {
        self.run.is_some()
    }

    /// Send the log lines left, waiting for the server at most until `deadline` (lines of a
    /// run the server never got are lost at once), and say what was stored.
    pub fn finish_logs(&mut self, deadline: Instant) -> ShipReport {
        let Some(shipper) = self.shipper.take() else {
            return ShipReport::default();
        };
        let deadline = if self.run.is_some() {
            deadline
        } else {
            Instant::now()
        };
        shipper.finish_by(deadline)
    }
}

/// Lines are sent at most 1 s or 100 lines late; the shipper's outage notices are off, as the
/// recorder says it once in its own words.
fn ship_options() -> ShipOptions {
    ShipOptions {
        max_buffered_bytes: BUFFER_BYTES,
        max_backoff: MAX_BACKOFF,
        tool: "pf-exec".into(),
        outage_notices: false,
        ..ShipOptions::default()
    }
}

/// pf-exec never waits long for the server while a command runs: a request gets 10 s and 3
/// retries at most; after that the recorder's own backoff takes over.
fn limit_waits(client: Client) -> Client {
    let mut settings = client.settings().clone();
    settings.request_timeout = settings.request_timeout.min(Duration::from_secs(10));
    settings.max_retries = settings.max_retries.min(3);
    let verbose = client.verbose();
    Client::new(settings, verbose).unwrap_or(client)
}

/// A `prefect.flow-run.heartbeat` event, as the flow engine emits it: the server's zombie
/// detection marks the run Crashed when they stop coming.
fn heartbeat(run: &RunInfo) -> Value {
    let mut related = vec![json!({
        "prefect.resource.id": format!("prefect.flow.{}", run.flow_id),
        "prefect.resource.role": "flow",
    })];
    if let Some(deployment) = &run.deployment_id {
        related.push(json!({
            "prefect.resource.id": format!("prefect.deployment.{deployment}"),
            "prefect.resource.role": "deployment",
        }));
    }
    for tag in &run.tags {
        related.push(json!({
            "prefect.resource.id": format!("prefect.tag.{tag}"),
            "prefect.resource.role": "tag",
        }));
    }
    json!({
        "occurred": to_api_time(jiff::Timestamp::now()),
        "event": "prefect.flow-run.heartbeat",
        "resource": {
            "prefect.resource.id": format!("prefect.flow-run.{}", run.id),
            "prefect.resource.name": run.name,
        },
        "related": related,
        "id": uuid::Uuid::new_v4().to_string(),
    })
}
