//! Resuming paused or suspended flow runs (`POST flow_runs/{id}/resume`), with run input for
//! runs that wait for it (`pause_flow_run(wait_for_input=…)`), checked first against the schema
//! the run published.

use serde_json::{Map, Value, json};

use crate::client::{Client, Method, Request};
use crate::error::{Error, Result};
use crate::kinds::{self, fill};
use crate::refs::str_field;
use crate::writes::{Report, Target, outcome_unknown, reread};

/// The run's state type (`PAUSED`), or "".
fn state_type(run: &Value) -> &str {
    run.pointer("/state/type")
        .or_else(|| run.get("state_type"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn state_name(run: &Value) -> &str {
    run.pointer("/state/name")
        .and_then(Value::as_str)
        .unwrap_or_else(|| state_type(run))
}

/// The schema of the input a paused run waits for, if it waits for input: the `schema` key of
/// its state's `run_input_keyset`, read from `flow_runs/{id}/input/{key}`.
pub fn input_schema(client: &Client, run: &Value) -> Result<Option<Value>> {
    let Some(key) = run
        .pointer("/state/state_details/run_input_keyset/schema")
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    let path = format!(
        "flow_runs/{}/input/{}",
        str_field(run, "id"),
        crate::refs::encode_path(key)
    );
    match client.get(&path) {
        // The server keeps the schema as JSON text; a string answer is that text.
        Ok(Value::String(text)) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Failed(format!("the run's input schema is not JSON: {e}"))),
        Ok(schema) => Ok(Some(schema)),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Resume every target run, with `input` as its run input. A run that is not paused any more
/// is "already resumed" (it says what it is now); an unknown outcome is read back.
pub fn resume_runs(
    client: &Client,
    targets: &[Target],
    input: Option<&Map<String, Value>>,
    dry_run: bool,
    report: &mut Report,
) -> Result<()> {
    let template = kinds::FLOW_RUN
        .verbs
        .resume_run
        .unwrap_or("flow_runs/{id}/resume");
    for Target { reference, object } in targets {
        if state_type(object) != "PAUSED" {
            let result = format!("already resumed ({})", state_name(object));
            report.ok(reference, object, &result)?;
            continue;
        }
        let schema = match input_schema(client, object) {
            Ok(schema) => schema,
            Err(e) => {
                report.failed(reference, object, "error", e)?;
                continue;
            }
        };
        if let Some(schema) = &schema {
            let given = input.cloned().unwrap_or_default();
            if let Err(e) = crate::params::check_params(schema, &given, &Map::new()) {
                let error = Error::usage_hint(
                    format!("run input does not fit the run's schema: {e}"),
                    format!("the schema: {}", compact(schema)),
                );
                report.failed(reference, object, "refused", error)?;
                continue;
            }
        }
        if dry_run {
            report.ok(reference, object, "would resume")?;
            continue;
        }
        let body = match input {
            Some(input) => json!({ "run_input": input }),
            None => json!({}),
        };
        let request = Request::new(Method::Post, fill(template, object))
            .json(body)
            .idempotent(true);
        let answer = client.call(request);
        let status = answer
            .as_ref()
            .ok()
            .map(|a| str_field(a, "status").to_string());
        match (answer, status.as_deref()) {
            (Ok(_), Some("ACCEPT")) => report.ok(reference, object, "resumed")?,
            (Err(e), _) if e.is_broken_pipe() => return Err(e),
            (Err(e), _) if !outcome_unknown(&e) => {
                report.failed(reference, object, "refused", e)?
            }
            (answer, _) => {
                // A refusal, or a lost answer: what is the run now?
                let now = reread(client, &kinds::FLOW_RUN, object);
                match (now, answer) {
                    (Ok(Some(now)), _) if state_type(&now) != "PAUSED" => {
                        let result = format!("resumed ({})", state_name(&now));
                        report.ok(reference, &now, &result)?
                    }
                    (_, Ok(a)) => {
                        let reason = a
                            .pointer("/details/reason")
                            .and_then(Value::as_str)
                            .unwrap_or("no reason given");
                        let error = Error::Failed(format!(
                            "flow run '{}': resume refused ({}): {reason}",
                            str_field(object, "name"),
                            str_field(&a, "status")
                        ));
                        report.failed(reference, object, "refused", error)?
                    }
                    (_, Err(e)) => report.failed(reference, object, "error", e)?,
                }
            }
        }
    }
    Ok(())
}

/// A schema as one line, cut at ~200 characters.
fn compact(schema: &Value) -> String {
    let text = schema.to_string();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
