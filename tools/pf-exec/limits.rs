//! What keeps runs apart: a slot of a global concurrency limit held for the command's life
//! (the lease calls Prefect's `concurrency()` makes), and `--no-overlap`.

use std::time::{Duration, Instant};

use pf_common::client::{Method, Request, check_status};
use pf_common::refs::str_field;
use pf_common::{Client, Error, Result};
use serde_json::{Value, json};

use crate::recorder::RunInfo;

/// Lease length asked for (Prefect's default); renewed at 3/4 of it, as Prefect does.
const LEASE_SECONDS: f64 = 300.0;
const RENEW_EVERY: Duration = Duration::from_secs(225);

/// `--concurrency NAME[:SLOTS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSpec {
    /// The global concurrency limit's name.
    pub name: String,
    /// Slots to occupy.
    pub slots: u32,
}

impl LimitSpec {
    /// Parse `NAME` or `NAME:SLOTS` (SLOTS ≥ 1).
    pub fn parse(text: &str) -> Result<LimitSpec> {
        let (name, slots) = match text.rsplit_once(':') {
            Some((name, slots)) => {
                let slots = slots
                    .parse::<u32>()
                    .ok()
                    .filter(|s| (1..=1_000_000).contains(s));
                let slots = slots.ok_or_else(|| {
                    Error::usage(format!(
                        "--concurrency {text}: SLOTS must be a whole number from 1 to 1000000"
                    ))
                })?;
                (name, slots)
            }
            None => (text, 1),
        };
        if name.is_empty() {
            return Err(Error::usage("--concurrency needs a limit name"));
        }
        Ok(LimitSpec {
            name: name.to_string(),
            slots,
        })
    }
}

/// A held slot: a lease (Prefect 3.4+), or a plain increment on servers without leases.
#[derive(Debug)]
pub enum Slot {
    /// `increment-with-lease`: renewed while held, released by lease id.
    Lease {
        /// The lease id.
        id: String,
        /// When to renew next.
        renew_at: Instant,
    },
    /// `increment` (older servers): released with `decrement`.
    Counted {
        /// When it was taken (for `occupancy_seconds`).
        since: Instant,
    },
    /// The limit does not exist: nothing held (as Prefect's non-strict `concurrency()`).
    Missing,
}

/// What one try to take a slot gave.
#[derive(Debug)]
pub enum Acquire {
    /// Held (or nothing to hold).
    Held(Slot),
    /// The limit is full: try again after this long (the server's Retry-After).
    Full(Duration),
}

/// Try once to take the slots for `run`.
pub fn acquire(client: &Client, spec: &LimitSpec, run: &RunInfo) -> Result<Acquire> {
    let body = json!({
        "names": [spec.name],
        "slots": spec.slots,
        "mode": "concurrency",
        "lease_duration": LEASE_SECONDS,
        "holder": { "type": "flow_run", "id": run.id },
    });
    let path = "v2/concurrency_limits/increment-with-lease";
    let response = client.send(
        Request::new(Method::Post, path)
            .json(body)
            .idempotent(false),
    )?;
    if response.status == 404 {
        return acquire_counted(client, spec);
    }
    if let Some(wait) = locked(&response) {
        return Ok(Acquire::Full(wait));
    }
    check_status(Method::Post, path, &response)?;
    let answer = response.json()?;
    if limits_empty(&answer) {
        return Ok(Acquire::Held(Slot::Missing));
    }
    Ok(Acquire::Held(Slot::Lease {
        id: str_field(&answer, "lease_id").to_string(),
        renew_at: Instant::now() + RENEW_EVERY,
    }))
}

fn acquire_counted(client: &Client, spec: &LimitSpec) -> Result<Acquire> {
    let path = "v2/concurrency_limits/increment";
    let body = json!({ "names": [spec.name], "slots": spec.slots, "mode": "concurrency" });
    let response = client.send(
        Request::new(Method::Post, path)
            .json(body)
            .idempotent(false),
    )?;
    if let Some(wait) = locked(&response) {
        return Ok(Acquire::Full(wait));
    }
    check_status(Method::Post, path, &response)?;
    if limits_empty(&response.json()?) {
        return Ok(Acquire::Held(Slot::Missing));
    }
    Ok(Acquire::Held(Slot::Counted {
        since: Instant::now(),
    }))
}

/// 423 Locked: the limit is full; Retry-After says when to ask again.
fn locked(response: &pf_common::client::Response) -> Option<Duration> {
    (response.status == 423).then(|| {
        // The Retry-After header is not kept by the client; the server's own default is 1-30 s
        // depending on the limit's decay: ask again every second, as a full limit frees fast.
        Duration::from_secs(1)
    })
}

fn limits_empty(answer: &Value) -> bool {
    match answer {
        Value::Array(limits) => limits.is_empty(),
        other => other
            .get("limits")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty),
    }
}

impl Slot {
    /// Renew the lease when due; `false` when the server no longer has it (410 Gone: it
    /// expired while the server could not be reached), so nothing is held any more.
    pub fn renew_if_due(&mut self, client: &Client) -> Result<bool> {
        if let Slot::Lease { id, renew_at } = self
            && Instant::now() >= *renew_at
        {
            let renewed = client.post(
                &format!("v2/concurrency_limits/leases/{id}/renew"),
                json!({ "lease_duration": LEASE_SECONDS }),
            );
            match renewed {
                Err(Error::Client { status: 410, .. }) => return Ok(false),
                other => drop(other?),
            }
            *renew_at = Instant::now() + RENEW_EVERY;
        }
        Ok(true)
    }

    /// Give the slots back.
    pub fn release(&self, client: &Client, spec: &LimitSpec) -> Result<()> {
        match self {
            Slot::Lease { id, .. } => client
                .post(
                    "v2/concurrency_limits/decrement-with-lease",
                    json!({ "lease_id": id }),
                )
                .map(drop),
            Slot::Counted { since } => client
                .post(
                    "v2/concurrency_limits/decrement",
                    json!({
                        "names": [spec.name],
                        "slots": spec.slots,
                        "occupancy_seconds": since.elapsed().as_secs_f64(),
                    }),
                )
                .map(drop),
            Slot::Missing => Ok(()),
        }
    }
}

/// `--no-overlap`: the other Running run of this flow that goes first, if any. Every run is
/// created Running before it looks, and the earliest (start time, then id) goes on, so of two
/// started at once exactly one runs.
pub fn earlier_running_run(client: &Client, run: &RunInfo) -> Result<Option<String>> {
    let body = json!({
        "flows": { "id": { "any_": [run.flow_id] } },
        "flow_runs": { "state": { "type": { "any_": ["RUNNING"] } } },
        "sort": "START_TIME_ASC",
        "limit": 200,
    });
    let runs = client.post("flow_runs/filter", body)?;
    let runs = runs.as_array().cloned().unwrap_or_default();
    let key = |r: &Value| {
        (
            str_field(r, "start_time").to_string(),
            str_field(r, "id").to_string(),
        )
    };
    let Some(mine) = runs.iter().find(|r| str_field(r, "id") == run.id).map(key) else {
        // Not Running (any more): nothing to compare with; let the state proposals decide.
        return Ok(None);
    };
    Ok(runs
        .iter()
        .filter(|r| str_field(r, "id") != run.id && key(r) < mine)
        .map(|r| str_field(r, "name").to_string())
        .next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_specs_parse_with_and_without_slots() {
        let one = LimitSpec::parse("warehouse").unwrap();
        assert_eq!((one.name.as_str(), one.slots), ("warehouse", 1));
        let three = LimitSpec::parse("db:prod:3").unwrap();
        assert_eq!((three.name.as_str(), three.slots), ("db:prod", 3));
        assert!(LimitSpec::parse("db:0").is_err());
        assert!(LimitSpec::parse("db:many").is_err());
        assert!(LimitSpec::parse(":2").is_err());
    }
}
