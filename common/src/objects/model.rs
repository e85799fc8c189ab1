//! What pf knows about Prefect objects: state types and names, and small accessors.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::output::{Cell, Style};

/// Prefect's state types.
pub const STATE_TYPES: &[&str] = &[
    "SCHEDULED",
    "PENDING",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "CRASHED",
    "PAUSED",
    "CANCELLING",
];

/// State names Prefect uses beyond the type names (for case-insensitive `--state`).
pub const STATE_NAMES: &[&str] = &[
    "Scheduled",
    "Late",
    "AwaitingRetry",
    "AwaitingConcurrencySlot",
    "Pending",
    "Running",
    "Retrying",
    "Completed",
    "Cached",
    "RolledBack",
    "Failed",
    "Cancelled",
    "Cancelling",
    "Crashed",
    "Paused",
    "Suspended",
    "Submitting",
    "InfrastructurePending",
];

/// The terminal state types: a run in one of these will not change by itself.
pub const TERMINAL_STATE_TYPES: &[&str] = &["COMPLETED", "FAILED", "CANCELLED", "CRASHED"];

/// A `--state` value, resolved to a state type or a state name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateSelector {
    /// A state type (`FAILED`).
    Type(String),
    /// A state name that is not a type name (`Late`, `AwaitingRetry`).
    Name(String),
}

impl StateSelector {
    /// The type or name itself.
    pub fn value(&self) -> &str {
        match self {
            StateSelector::Type(v) | StateSelector::Name(v) => v,
        }
    }
}

/// Parse `--state` values. As Prefect's `--state`, a value is a state *name* (`Scheduled`
/// excludes `Late`), matched case-insensitively against Prefect's names and otherwise taken as
/// given (a custom name, or one a newer server sets); a type name written all lower-case or
/// all upper-case (`failed`, `SCHEDULED`) is that state *type*, as pf has always read it.
///
/// ```
/// use pf_common::model::{parse_states, StateSelector};
/// assert_eq!(parse_states(&["failed".into(), "late".into(), "Scheduled".into()]).unwrap(),
///     vec![StateSelector::Type("FAILED".into()), StateSelector::Name("Late".into()),
///          StateSelector::Name("Scheduled".into())]);
/// assert_eq!(parse_states(&["Submitting".into(), "My Custom".into()]).unwrap(),
///     vec![StateSelector::Name("Submitting".into()), StateSelector::Name("My Custom".into())]);
/// ```
pub fn parse_states(values: &[String]) -> Result<Vec<StateSelector>> {
    Ok(values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            let upper = v.to_ascii_uppercase().replace(['-', '_', ' '], "");
            let one_case = v == v.to_ascii_lowercase() || v == v.to_ascii_uppercase();
            if one_case && let Some(t) = STATE_TYPES.iter().find(|t| **t == upper) {
                return StateSelector::Type(t.to_string());
            }
            match STATE_NAMES.iter().find(|n| n.to_ascii_uppercase() == upper) {
                Some(name) => StateSelector::Name(name.to_string()),
                None => StateSelector::Name(v.to_string()),
            }
        })
        .collect())
}

/// Parse `--state-type` values (case-insensitive); an unknown type is a usage error listing
/// the types.
pub fn parse_state_types(values: &[String]) -> Result<Vec<StateSelector>> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            let upper = v.to_ascii_uppercase().replace(['-', '_', ' '], "");
            STATE_TYPES
                .iter()
                .find(|t| **t == upper)
                .map(|t| StateSelector::Type(t.to_string()))
                .ok_or_else(|| {
                    Error::usage_hint(
                        format!("unknown state type '{v}'"),
                        format!("use one of: {}", STATE_TYPES.join(", ").to_lowercase()),
                    )
                })
        })
        .collect()
}

/// The names among `states` that are not Prefect's own (for a warning, as Prefect prints).
pub fn custom_state_names(states: &[StateSelector]) -> Vec<&str> {
    states
        .iter()
        .filter_map(|s| match s {
            StateSelector::Name(n) if !STATE_NAMES.contains(&n.as_str()) => Some(n.as_str()),
            _ => None,
        })
        .collect()
}

/// The filter for parsed `--state` values: types and names combined with `or_`.
pub fn state_filter(states: &[StateSelector]) -> Option<Value> {
    if states.is_empty() {
        return None;
    }
    let (types, names): (Vec<&StateSelector>, Vec<&StateSelector>) = states
        .iter()
        .partition(|s| matches!(s, StateSelector::Type(_)));
    let types: Vec<&str> = types.into_iter().map(StateSelector::value).collect();
    let names: Vec<&str> = names.into_iter().map(StateSelector::value).collect();
    let mut filter = serde_json::Map::new();
    if !types.is_empty() {
        filter.insert("type".into(), serde_json::json!({ "any_": types }));
    }
    if !names.is_empty() {
        filter.insert("name".into(), serde_json::json!({ "any_": names }));
    }
    if !types.is_empty() && !names.is_empty() {
        filter.insert("operator".into(), "or_".into());
    }
    Some(Value::Object(filter))
}

/// A run's state as a coloured cell (its name, coloured by its type).
pub fn state_cell(run: &Value) -> Cell {
    let state_type = run
        .get("state_type")
        .and_then(Value::as_str)
        .or_else(|| run.pointer("/state/type").and_then(Value::as_str))
        .unwrap_or_default();
    let name = run
        .get("state_name")
        .and_then(Value::as_str)
        .or_else(|| run.pointer("/state/name").and_then(Value::as_str))
        .unwrap_or(state_type);
    Cell::Styled(name.to_string(), Style::for_state_type(state_type))
}

/// Whether a run's state type is terminal.
pub fn is_terminal(run: &Value) -> bool {
    run.get("state_type")
        .and_then(Value::as_str)
        .or_else(|| run.pointer("/state/type").and_then(Value::as_str))
        .is_some_and(|t| TERMINAL_STATE_TYPES.contains(&t))
}

/// A run's duration: `total_run_time` when it ran, else end − start, else (running) now − start.
pub fn run_duration(run: &Value) -> Option<f64> {
    let start = run
        .get("start_time")
        .and_then(Value::as_str)
        .and_then(crate::time::parse_api_time)?;
    let end = run
        .get("end_time")
        .and_then(Value::as_str)
        .and_then(crate::time::parse_api_time);
    match end {
        Some(end) => Some((end.as_millisecond() - start.as_millisecond()) as f64 / 1000.0),
        None if is_terminal(run) => run.get("total_run_time").and_then(Value::as_f64),
        None => {
            Some((jiff::Timestamp::now().as_millisecond() - start.as_millisecond()) as f64 / 1000.0)
        }
    }
}
