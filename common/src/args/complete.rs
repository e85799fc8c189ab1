//! Shell completion of names from the server (`pf-run -n <TAB>` → `FLOW/DEPLOYMENT`s).
//!
//! The binary answers completion requests itself (clap_complete's `CompleteEnv`: the shell
//! calls `COMPLETE=bash pf-run -- pf-run -n et`), so bash, zsh and fish get the same
//! candidates. Which arguments complete what is decided here, in one table, by walking each
//! tool's clap command: tools declare nothing. Candidates come from one small filter request
//! with a hard 300 ms budget (`PF_COMPLETE_TIMEOUT_MS`) (then nothing, never a hang), made with the `--profile` and
//! `--api-url` already on the line. Flags, subcommands and value enums complete without a
//! server, as with the static scripts.

use std::ffi::{OsStr, OsString};
use std::sync::mpsc;
use std::time::Duration;

use clap::Command;
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use serde_json::{Value, json};

use crate::client::Client;
use crate::config::{Overrides, Settings};

/// How long a completion may wait for the server: 300 ms, or `PF_COMPLETE_TIMEOUT_MS` (for a
/// slow link; at most 10 s).
fn budget() -> Duration {
    let ms = std::env::var("PF_COMPLETE_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(300, |ms| ms.min(10_000));
    Duration::from_millis(ms)
}

/// How many candidates one request asks for.
const MAX_CANDIDATES: usize = 100;

/// Answer a completion request when the shell made one (`COMPLETE=…` in the environment),
/// then exit; otherwise return at once.
pub fn answer_if_asked(command: impl Fn() -> Command + Clone + 'static) {
    clap_complete::CompleteEnv::with_factory(move || with_completers(command()))
        .var("COMPLETE")
        .complete();
}

/// The registration script for `shell` (bash, zsh, fish, elvish, powershell) that makes the
/// shell ask `bin` for candidates: what `--generate complete-SHELL` prints.
pub fn registration(shell: &str, bin: &str) -> Option<Vec<u8>> {
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells.completer(shell)?;
    let mut script = Vec::new();
    completer
        .write_registration("COMPLETE", bin, bin, bin, &mut script)
        .ok()?;
    Some(script)
}

/// What a value completes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Profiles of profiles.toml.
    Profiles,
    /// Prefect's state names.
    StateNames,
    /// Flow names.
    Flows,
    /// `FLOW/DEPLOYMENT` names.
    Deployments,
    /// Recent flow run names; `Some(types)` keeps runs in those state types.
    FlowRuns(Option<&'static [&'static str]>),
    /// Work pool names.
    WorkPools,
    /// `POOL/QUEUE` names.
    WorkQueues,
    /// `TYPE/NAME` block documents.
    Blocks,
    /// Variable names.
    Variables,
    /// Automation names.
    Automations,
    /// Artifact keys.
    Artifacts,
    /// Global concurrency limit names.
    GlobalLimits,
    /// The kind named earlier on the line decides (`pf-describe work-pool <TAB>`).
    KindOnLine,
    /// The kinds pf-apply and pf-export take (`pf-export <TAB>`, `pf-apply --kind <TAB>`).
    ApplyKinds,
}

/// State types of runs that can still be cancelled.
const CANCELLABLE: &[&str] = &["SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"];
/// State types of runs that can be retried.
const RETRYABLE: &[&str] = &["FAILED", "CRASHED", "CANCELLED"];
/// State types of runs not finished yet.
const UNFINISHED: &[&str] = &["SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"];

/// Prefect's state names, as `--state` takes them.
pub const STATE_NAMES: &[&str] = &[
    "Scheduled",
    "Late",
    "AwaitingRetry",
    "AwaitingConcurrencySlot",
    "Pending",
    "Running",
    "Retrying",
    "Paused",
    "Suspended",
    "Cancelling",
    "Cancelled",
    "Completed",
    "Cached",
    "RolledBack",
    "Failed",
    "Crashed",
    "TimedOut",
];

/// The table: which argument of which tool completes from which source. `path` is the tool
/// and subcommand names (`["pf-state", "cancel"]`); `id` the clap argument id; `refs` whether
/// the argument takes REFs (value name `REF`).
pub fn source_for(path: &[&str], id: &str, refs: bool) -> Option<Source> {
    let tool = path.first().copied().unwrap_or_default();
    let sub = path.get(1).copied().unwrap_or_default();
    match (tool, id) {
        ("pf-apply", "kind") | ("pf-export", "kinds") => return Some(Source::ApplyKinds),
        // pf-exec's --name is the flow's name; pf-deploy's --queue a queue of its --pool, not
        // a POOL/QUEUE.
        ("pf-exec", "name") => return Some(Source::Flows),
        ("pf-deploy", "queue") => return None,
        _ => {}
    }
    match id {
        "profile" => return Some(Source::Profiles),
        "state" | "states" => return Some(Source::StateNames),
        "flow" => return Some(Source::Flows),
        "deployment" => return Some(Source::Deployments),
        "flow_run" => return Some(Source::FlowRuns(None)),
        "pool" | "work_pool" => return Some(Source::WorkPools),
        "queue" | "work_queue" => return Some(Source::WorkQueues),
        _ => {}
    }
    if tool == "pf-run" && id == "name" {
        return Some(Source::Deployments);
    }
    if !refs {
        return None;
    }
    Some(match (tool, sub) {
        ("pf-logs", _) => Source::FlowRuns(None),
        ("pf-wait", _) => Source::FlowRuns(Some(UNFINISHED)),
        ("pf-state", "cancel") => Source::FlowRuns(Some(CANCELLABLE)),
        ("pf-state", "retry") => Source::FlowRuns(Some(RETRYABLE)),
        ("pf-state", _) => Source::FlowRuns(None),
        ("pf-var", _) => Source::Variables,
        ("pf-limit", _) => Source::GlobalLimits,
        ("pf-secret", _) => Source::Blocks,
        _ => Source::KindOnLine,
    })
}

/// The source for a kind's name as typed on the line (any name the registry of kinds
/// accepts: `work-pool`, `work-pools`, `pools`, …).
pub fn source_for_kind(word: &str) -> Option<Source> {
    Some(match crate::kinds::find(word)?.name {
        "flow" => Source::Flows,
        "flow-run" => Source::FlowRuns(None),
        "deployment" => Source::Deployments,
        "work-pool" => Source::WorkPools,
        "work-queue" => Source::WorkQueues,
        "block" => Source::Blocks,
        "variable" => Source::Variables,
        "automation" => Source::Automations,
        "artifact" => Source::Artifacts,
        "concurrency-limit" => Source::GlobalLimits,
        _ => return None,
    })
}

/// Attach a server-backed completer to every argument the table names, in every subcommand.
pub fn with_completers(command: Command) -> Command {
    let name = command.get_name().to_string();
    attach(command, &[name])
}

fn attach(mut command: Command, path: &[String]) -> Command {
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    let ids: Vec<(String, Source)> = command
        .get_arguments()
        .filter_map(|arg| {
            let refs = arg
                .get_value_names()
                .is_some_and(|names| names.iter().any(|n| n.as_str() == "REF"));
            source_for(&names, arg.get_id().as_str(), refs).map(|s| (arg.get_id().to_string(), s))
        })
        .collect();
    for (id, source) in ids {
        command = command.mut_arg(id, move |arg| {
            arg.add(ArgValueCompleter::new(move |current: &OsStr| {
                candidates(source, current)
            }))
        });
    }
    let subs: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for sub in subs {
        let mut sub_path = path.to_vec();
        sub_path.push(sub.clone());
        command = command.mut_subcommand(sub, move |s| attach(s, &sub_path));
    }
    command
}

/// The words of the line being completed (after `--` in `COMPLETE=… pf-x -- pf-x …`).
fn line_words() -> Vec<String> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let start = args.iter().position(|a| a == "--").map_or(1, |i| i + 2);
    args.iter()
        .skip(start)
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// `--profile` and `--api-url` as given on the line (either `--flag value` or `--flag=value`).
fn line_overrides(words: &[String]) -> Overrides {
    let mut overrides = Overrides::default();
    for (i, word) in words.iter().enumerate() {
        for (flag, slot) in [
            ("--profile", &mut overrides.profile),
            ("--api-url", &mut overrides.api_url),
        ] {
            if word == flag {
                *slot = words.get(i + 1).cloned();
            } else if let Some(value) = word.strip_prefix(&format!("{flag}=")) {
                *slot = Some(value.to_string());
            }
        }
    }
    overrides
}

/// The candidates for `current`: local ones at once, server ones within the budget.
fn candidates(source: Source, current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy().into_owned();
    let words = line_words();
    let source = match source {
        Source::KindOnLine => match words.iter().find_map(|w| source_for_kind(w)) {
            Some(source) => source,
            None => return Vec::new(),
        },
        other => other,
    };
    let values = match source {
        Source::Profiles => crate::profiles::ProfilesFile::load_default()
            .map(|p| p.names())
            .unwrap_or_default(),
        Source::StateNames => STATE_NAMES.iter().map(|s| s.to_string()).collect(),
        Source::ApplyKinds => crate::apply::spec::SPECS
            .iter()
            .map(|spec| spec.kind.to_string())
            .collect(),
        server => from_server(server, &current, line_overrides(&words)),
    };
    values
        .into_iter()
        .filter(|v| v.starts_with(&current))
        .map(CompletionCandidate::new)
        .collect()
}

/// Ask the server, on a thread, giving up after the budget: a slow or absent server means no
/// candidates, never a hung shell.
fn from_server(source: Source, current: &str, overrides: Overrides) -> Vec<String> {
    let (send, receive) = mpsc::channel();
    let current = current.to_string();
    let budget = budget();
    std::thread::spawn(move || {
        let names = Settings::load(&overrides)
            .and_then(|mut settings| {
                settings.request_timeout = budget;
                settings.max_retries = 0;
                Client::new(settings, false)
            })
            .map(|client| fetch(&client, source, &current))
            .unwrap_or_default();
        let _ = send.send(names);
    });
    receive.recv_timeout(budget).unwrap_or_default()
}

/// A `like_` filter on the typed prefix (the server matches anywhere; the shell keeps only
/// prefixes).
fn like(current: &str) -> Value {
    json!({ "like_": current })
}

fn names(page: &Value, key: &str) -> Vec<String> {
    page.as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o.get(key).and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn fetch(client: &Client, source: Source, current: &str) -> Vec<String> {
    let limit = MAX_CANDIDATES;
    let post = |path: &str, body: Value| client.post(path, body).unwrap_or(Value::Null);
    match source {
        Source::Flows => names(
            &post(
                "flows/filter",
                json!({"flows": {"name": like(current)}, "limit": limit}),
            ),
            "name",
        ),
        Source::Deployments => deployments(client, current),
        Source::FlowRuns(types) => {
            let mut filter = json!({"name": like(current)});
            if let Some(types) = types {
                filter["state"] = json!({"type": {"any_": types}});
            }
            names(
                &post(
                    "flow_runs/filter",
                    json!({"flow_runs": filter, "sort": "EXPECTED_START_TIME_DESC", "limit": limit}),
                ),
                "name",
            )
        }
        Source::WorkPools => names(
            &post("work_pools/filter", json!({"limit": limit})),
            "name",
        ),
        Source::WorkQueues => post("work_queues/filter", json!({"limit": limit}))
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|q| {
                let pool = q.get("work_pool_name")?.as_str()?;
                let name = q.get("name")?.as_str()?;
                Some(format!("{pool}/{name}"))
            })
            .collect(),
        Source::Blocks => post(
            "block_documents/filter",
            json!({"block_documents": {"is_anonymous": {"eq_": false}}, "include_secrets": false, "limit": limit}),
        )
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| {
            let slug = b.pointer("/block_type/slug")?.as_str()?;
            let name = b.get("name")?.as_str()?;
            Some(format!("{slug}/{name}"))
        })
        .collect(),
        Source::Variables => names(
            &post(
                "variables/filter",
                json!({"variables": {"name": like(current)}, "limit": limit}),
            ),
            "name",
        ),
        Source::Automations => names(&post("automations/filter", json!({"limit": limit})), "name"),
        Source::Artifacts => names(
            &post(
                "artifacts/latest/filter",
                json!({"artifacts": {"key": {"like_": current}}, "limit": limit}),
            ),
            "key",
        ),
        Source::GlobalLimits => names(
            &post("v2/concurrency_limits/filter", json!({"limit": limit})),
            "name",
        ),
        Source::Profiles | Source::StateNames | Source::KindOnLine | Source::ApplyKinds => {
            Vec::new()
        }
    }
}

/// `FLOW/DEPLOYMENT` names: the deployments whose flow name matches what is typed before a
/// `/` (and whose name matches what follows it), then their flows' names in one batched query.
fn deployments(client: &Client, current: &str) -> Vec<String> {
    let (flow, name) = current.split_once('/').unwrap_or((current, ""));
    let Ok(page) = client.post(
        "deployments/filter",
        json!({
            "flows": {"name": like(flow)},
            "deployments": {"name": like(name)},
            "limit": MAX_CANDIDATES,
        }),
    ) else {
        return Vec::new();
    };
    let deployments = page.as_array().cloned().unwrap_or_default();
    let flow_ids: Vec<&Value> = deployments
        .iter()
        .filter_map(|d| d.get("flow_id"))
        .collect();
    let flows = client
        .post(
            "flows/filter",
            json!({"flows": {"id": {"any_": flow_ids}}, "limit": MAX_CANDIDATES}),
        )
        .unwrap_or(Value::Null);
    let flow_name = |id: &Value| {
        flows
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f.get("id") == Some(id))
            .and_then(|f| f.get("name").and_then(Value::as_str))
            .map(str::to_string)
    };
    deployments
        .iter()
        .filter_map(|d| {
            let flow = flow_name(d.get("flow_id")?)?;
            Some(format!("{flow}/{}", d.get("name")?.as_str()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn overrides_come_from_the_line() {
        let o = line_overrides(&words("pf-run --profile prod -n et"));
        assert_eq!(o.profile.as_deref(), Some("prod"));
        let o = line_overrides(&words("pf-run --api-url=http://x/api -n"));
        assert_eq!(o.api_url.as_deref(), Some("http://x/api"));
    }

    #[test]
    fn the_table_names_sources() {
        assert_eq!(
            source_for(&["pf-run"], "name", false),
            Some(Source::Deployments)
        );
        assert_eq!(
            source_for(&["pf-state", "cancel"], "refs", true),
            Some(Source::FlowRuns(Some(CANCELLABLE)))
        );
        assert_eq!(
            source_for(&["pf-describe"], "refs", true),
            Some(Source::KindOnLine)
        );
        assert_eq!(source_for(&["pf-get"], "limit", false), None);
        assert_eq!(source_for_kind("work-pools"), Some(Source::WorkPools));
        assert_eq!(source_for_kind("flow-run"), Some(Source::FlowRuns(None)));
    }
}
