//! The registry of kinds: everything pf knows about one kind of Prefect object, declared once.
//!
//! Each [`Kind`] entry (see [`ALL`]) says what the kind is called on the command line, which API
//! collection holds it, how a REF names one object ([`RefKind`], [`crate::refs::resolve`]), how
//! its objects print as rows ([`Rows`]), which fields identify an object across servers
//! ([`Kind::natural_key`], for pf-apply), what pf-describe adds to it ([`Kind::related`]), and
//! which write verbs it supports with their endpoints ([`Verbs`]: delete single and bulk,
//! pause/resume, resume a paused run, set state single and bulk).
//!
//! Tools look kinds up by any of their names with [`find`] (or [`find_for`] to also require a
//! verb) and never spell a collection path, a column list or a REF form themselves: a new kind is
//! one new entry here, a new verb one new field.
//!
//! Events and logs are streams, not objects that REFs name: they are listed by pf-get and
//! pf-logs and are not in the registry.

mod entries;
mod lookups;
mod related;

use serde_json::Value;

use crate::client::Client;
use crate::error::{Error, Result};
pub use crate::listing::{Join, Rows};
pub use crate::refs::{Lookup, RefKind};

pub use entries::*;

/// Everything pf knows about one kind of Prefect object.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// The command-line name, singular: `flow-run` (pf-describe, pf-rm, pf-pause take it).
    pub name: &'static str,
    /// The plural name: `flow-runs` (pf-get's subcommand; every tool accepts it too).
    pub plural: &'static str,
    /// Further names accepted for the kind (`tasks`, `limits`, `pools`).
    pub aliases: &'static [&'static str],
    /// One line for help texts: what it is and the REF forms it takes.
    pub about: &'static str,
    /// How a REF names one object: label, API collection, filter key, lookup.
    pub refs: RefKind,
    /// The endpoint pf-get lists the kind from (`flow_runs/filter`); a `{}` marks a path that
    /// is per parent (`work_pools/{}/workers/filter`); "" when it cannot be listed on its own.
    pub list_path: &'static str,
    /// Whether `POST {collection}/filter` takes `{FILTER_KEY: {id: {any_: ids}}}`, so that many
    /// id REFs resolve in one request.
    pub ids_filterable: bool,
    /// The REF that names an object again once it is resolved, [`fill`]ed from it (`{id}`;
    /// `{deployment_id}/{id}` for a schedule): how a write reads an object back.
    pub id_ref: &'static str,
    /// How its objects print as table rows: columns, names joined in per page, one row's cells.
    pub rows: Rows,
    /// JSON pointers of the fields that identify an object across servers, as pf-describe
    /// prints it (`["/flow_name", "/name"]` for a deployment); `["/id"]` when nothing else does.
    pub natural_key: &'static [&'static str],
    /// How pf-apply creates and updates objects of the kind and pf-export writes them (natural
    /// key in files, endpoints, server-owned and reference fields); None: not applied.
    pub apply: Option<&'static crate::apply::spec::ApplySpec>,
    /// What pf-describe adds to an object after the API's own fields (names of related
    /// objects, state history, a pool's queues and workers).
    pub related: fn(&Client, Value) -> Result<Value>,
    /// The write verbs the kind supports, with their endpoints.
    pub verbs: Verbs,
    /// How `pf-get --watch` follows the kind's list. None: `--watch` does not take the kind.
    pub watch: Option<Watch>,
}

/// How a kind's list is watched (`pf-get KIND --watch`).
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    /// The prefix of the events its objects' changes emit (`prefect.flow-run.`): the list is
    /// re-read as soon as one happens.
    pub events: &'static str,
    /// Fields the server computes from its clock on every read (a running run's
    /// `estimated_run_time`): they differ between two reads of an unchanged object, so a
    /// change in them alone is not shown as `updated`.
    pub clock_fields: &'static [&'static str],
}

/// The fields a flow run or task run computes from the clock on each read.
const RUN_CLOCK_FIELDS: &[&str] = &["estimated_run_time", "estimated_start_time_delta"];

/// The write verbs of a kind and their endpoints. A `None` verb is not supported.
#[derive(Debug, Clone, Copy, Default)]
pub struct Verbs {
    /// pf-rm.
    pub delete: Option<Delete>,
    /// pf-pause / pf-resume.
    pub pause: Option<Switch>,
    /// pf-resume of a paused or suspended run: `POST` this template (`flow_runs/{id}/resume`).
    pub resume_run: Option<&'static str>,
    /// pf-state: proposing a state.
    pub set_state: Option<SetState>,
}

/// Expands one REF into the objects it names (see [`Delete::expand`]).
pub type Expand = fn(&Client, &str) -> Result<Vec<Value>>;

/// How objects of a kind are deleted.
#[derive(Debug, Clone, Copy)]
pub struct Delete {
    /// `DELETE` path; each `{field}` is filled from the resolved object ([`fill`]).
    pub path: &'static str,
    /// The bulk endpoint, if the server has one: `POST` with `{FILTER_KEY: {id: {any_: ids}},
    /// limit}` (at most [`BULK_LIMIT`] ids), answering `{deleted: [ids]}`.
    pub bulk: Option<&'static str>,
    /// A REF that names several objects to delete (every version of an artifact KEY), instead
    /// of the one [`crate::refs::resolve`] finds. None: a REF is one object.
    pub expand: Option<Expand>,
}

/// How a kind is paused and resumed (or disabled and enabled, or made inactive and active).
#[derive(Debug, Clone, Copy)]
pub struct Switch {
    /// JSON pointer of the field that says whether an object is paused: `/paused`,
    /// `/is_paused`, `/active`, `/enabled`.
    pub field: &'static str,
    /// The field's value when paused (`false` for `active` and `enabled`).
    pub paused_when: bool,
    /// The request that pauses or resumes.
    pub how: SwitchHow,
}

/// The request of a [`Switch`].
#[derive(Debug, Clone, Copy)]
pub enum SwitchHow {
    /// `PATCH` the template ([`fill`]ed from the object) with `{field: value}`.
    Patch(&'static str),
    /// `POST` (empty body) to one template to pause and another to resume.
    Post {
        /// Pauses: `deployments/{id}/pause_deployment`.
        pause: &'static str,
        /// Resumes: `deployments/{id}/resume_deployment`.
        resume: &'static str,
    },
}

impl Switch {
    /// Whether `object` is paused now (None when the field is missing).
    pub fn is_paused(&self, object: &Value) -> Option<bool> {
        object
            .pointer(self.field)
            .and_then(Value::as_bool)
            .map(|v| v == self.paused_when)
    }

    /// The method, path and body that pause (`pause` true) or resume `object`.
    pub fn request(&self, object: &Value, pause: bool) -> (crate::client::Method, String, Value) {
        use crate::client::Method;
        match self.how {
            SwitchHow::Patch(template) => {
                let field = self.field.trim_start_matches('/');
                let value = if pause {
                    self.paused_when
                } else {
                    !self.paused_when
                };
                (
                    Method::Patch,
                    fill(template, object),
                    serde_json::json!({ field: value }),
                )
            }
            SwitchHow::Post {
                pause: p,
                resume: r,
            } => (
                Method::Post,
                fill(if pause { p } else { r }, object),
                serde_json::json!({}),
            ),
        }
    }
}

/// How run states are proposed.
#[derive(Debug, Clone, Copy)]
pub struct SetState {
    /// One run: `POST flow_runs/{id}/set_state`.
    pub single: &'static str,
    /// Many runs, if the server has it: `POST flow_runs/bulk_set_state` with
    /// `{FILTER_KEY: {id: {any_: ids}}, state, force, limit}` (at most [`BULK_LIMIT`] ids),
    /// answering `{results: [{flow_run_id, status, state, details}]}`.
    pub bulk: Option<&'static str>,
}

/// The most ids one bulk call of the server takes (`limit` ≤ 50 on every bulk endpoint).
pub const BULK_LIMIT: usize = 50;

/// A write verb, for [`find_for`] and [`Kind::supports`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// pf-describe (every kind).
    Describe,
    /// pf-rm.
    Delete,
    /// pf-pause and pf-resume of objects.
    Pause,
    /// pf-resume of a paused run.
    ResumeRun,
    /// pf-state.
    SetState,
}

impl Kind {
    /// Whether the kind supports `verb`.
    pub fn supports(&self, verb: Verb) -> bool {
        match verb {
            Verb::Describe => true,
            Verb::Delete => self.verbs.delete.is_some(),
            Verb::Pause => self.verbs.pause.is_some(),
            Verb::ResumeRun => self.verbs.resume_run.is_some(),
            Verb::SetState => self.verbs.set_state.is_some(),
        }
    }

    /// Whether `name` is one of this kind's names (case and `_`/`-` insensitive).
    pub fn is_named(&self, name: &str) -> bool {
        let name = name.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        name == self.name || name == self.plural || self.aliases.contains(&name.as_str())
    }

    /// The kind's label, singular: "flow run".
    pub fn label(&self) -> &'static str {
        self.refs.label
    }

    /// Find the one object a REF names (see [`crate::refs::resolve`]).
    pub fn resolve(&self, client: &Client, reference: &str) -> Result<Value> {
        crate::refs::resolve(client, &self.refs, reference)
    }

    /// The values of the natural key of `object` ("" for a missing field).
    pub fn natural_key_of(&self, object: &Value) -> Vec<String> {
        self.natural_key
            .iter()
            .map(|p| match object.pointer(p) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            })
            .collect()
    }

    /// A short name for `object` in result rows: its natural key joined with `/` when every
    /// part is there (`default/low` for a work queue), else its `name` (or `key`).
    pub fn display_name(&self, object: &Value) -> String {
        let parts = self.natural_key_of(object);
        if self.natural_key != ["/id"] && parts.iter().all(|p| !p.is_empty()) {
            return parts.join("/");
        }
        ["name", "key"]
            .iter()
            .find_map(|k| object.get(*k).and_then(Value::as_str))
            .unwrap_or_default()
            .to_string()
    }
}

/// The kind any of whose names is `name` (`flow-run`, `flow-runs`, `flow_run`, an alias).
pub fn find(name: &str) -> Option<&'static Kind> {
    ALL.iter().copied().find(|k| k.is_named(name))
}

/// The kind named `name` that supports `verb`, or a usage error (exit 2) listing the kinds
/// that do.
pub fn find_for(name: &str, verb: Verb) -> Result<&'static Kind> {
    let supported = || {
        ALL.iter()
            .filter(|k| k.supports(verb))
            .map(|k| k.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match find(name) {
        Some(kind) if kind.supports(verb) => Ok(kind),
        Some(kind) => Err(Error::usage_hint(
            format!("a {} cannot be {}", kind.label(), verb_past(verb)),
            format!("kinds that can: {}", supported()),
        )),
        None => Err(Error::usage_hint(
            format!("unknown kind '{name}'"),
            format!("use one of: {}", supported()),
        )),
    }
}

fn verb_past(verb: Verb) -> &'static str {
    match verb {
        Verb::Describe => "described",
        Verb::Delete => "deleted",
        Verb::Pause => "paused or resumed",
        Verb::ResumeRun => "resumed",
        Verb::SetState => "given a state",
    }
}

/// The kinds that support `verb`, as clap possible values (name, plural and aliases; help from
/// [`Kind::about`]) — for a tool's `KIND` argument.
pub fn possible_values(verb: Verb) -> Vec<clap::builder::PossibleValue> {
    ALL.iter()
        .filter(|k| k.supports(verb))
        .map(|k| {
            clap::builder::PossibleValue::new(k.name)
                .alias(k.plural)
                .aliases(k.aliases.iter().copied())
                .help(k.about)
        })
        .collect()
}

/// Fill each `{field}` of a path template with that field of `object`, percent-encoded
/// (`work_pools/{work_pool_name}/workers/{name}`). A missing field fills in as "".
///
/// ```
/// use pf_common::kinds::fill;
/// let worker = serde_json::json!({"name": "w 1", "work_pool_name": "default"});
/// assert_eq!(fill("work_pools/{work_pool_name}/workers/{name}", &worker),
///     "work_pools/default/workers/w%201");
/// ```
pub fn fill(template: &str, object: &Value) -> String {
    let mut out = String::with_capacity(template.len() + 36);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let field = &rest[start + 1..start + len];
        let value = match object.get(field) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        out.push_str(&crate::refs::encode_path(&value));
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// The identity of a kind's [`Kind::related`] when pf-describe adds nothing.
fn nothing_related(_: &Client, object: Value) -> Result<Value> {
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_finds_one_kind() {
        let mut seen = std::collections::HashSet::new();
        for kind in ALL {
            for name in [kind.name, kind.plural]
                .into_iter()
                .chain(kind.aliases.iter().copied())
            {
                assert!(seen.insert(name), "{name} names two kinds");
                assert_eq!(find(name).map(|k| k.name), Some(kind.name));
            }
        }
        assert_eq!(find("Flow_Runs").map(|k| k.name), Some("flow-run"));
        assert!(find("nothing").is_none());
    }

    #[test]
    fn verbs_are_checked() {
        assert!(find_for("flow-runs", Verb::Delete).is_ok());
        let err = find_for("flow-run", Verb::Pause).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.hint().unwrap_or_default().contains("work-pool"));
    }

    #[test]
    fn switches_build_their_requests() {
        let pool = serde_json::json!({"name": "my pool", "is_paused": false});
        let switch = WORK_POOL.verbs.pause.unwrap();
        assert_eq!(switch.is_paused(&pool), Some(false));
        let (_, path, body) = switch.request(&pool, true);
        assert_eq!(path, "work_pools/my%20pool");
        assert_eq!(body, serde_json::json!({"is_paused": true}));
        let automation = serde_json::json!({"id": "a", "enabled": true});
        let switch = AUTOMATION.verbs.pause.unwrap();
        assert_eq!(switch.is_paused(&automation), Some(false));
        assert_eq!(
            switch.request(&automation, true).2,
            serde_json::json!({"enabled": false})
        );
    }
}
