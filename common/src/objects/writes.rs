//! Applying a write verb to a batch of REFs (pf-rm, pf-pause, pf-resume): resolve every REF
//! first (ids many at a time), ask once on a terminal, act — through the server's bulk endpoint
//! where the kind has one, else one request per object — and report one row per REF.
//!
//! Every write here is safe to run again: an object already in the requested state is success
//! ("already paused", "already deleted"), and when an answer is lost after the server may have
//! applied the change, the object is read back and reported from what it is now.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::{Value, json};

use crate::cli::{Batch, warn};
use crate::client::{Client, Method, Request};
use crate::error::{Error, Result};
use crate::kinds::{BULK_LIMIT, Kind, fill};
use crate::output::{Cell, Printer, Style};
use crate::progress::Progress;
use crate::refs::{is_uuid, str_field};

/// The columns of a result table.
pub const COLUMNS: &[&str] = &["REF", "KIND", "NAME", "RESULT"];

/// How many id REFs one `*/filter` request resolves.
const RESOLVE_CHUNK: usize = 200;

/// One REF resolved to the object it names.
#[derive(Debug, Clone)]
pub struct Target {
    /// The REF as given.
    pub reference: String,
    /// The object, as the API returned it.
    pub object: Value,
}

impl Target {
    /// The object's id.
    pub fn id(&self) -> &str {
        str_field(&self.object, "id")
    }
}

/// The result rows of a batch, and its exit code (the batch rule of docs/decisions.md).
/// A table prints once at the end (aligned); NDJSON streams a line per REF.
#[derive(Debug)]
pub struct Report<'p> {
    tool: &'static str,
    kind: &'static Kind,
    printer: &'p mut Printer,
    batch: Batch,
    table: Vec<Value>,
    progress: Progress,
}

impl<'p> Report<'p> {
    /// A report of `tool` acting on objects of `kind`.
    pub fn new(tool: &'static str, kind: &'static Kind, printer: &'p mut Printer) -> Self {
        printer.columns(COLUMNS);
        Report {
            tool,
            kind,
            printer,
            batch: Batch::default(),
            table: Vec::new(),
            progress: Progress::none(),
        }
    }

    /// Show a bar on a terminal's stderr while more than one of `total` REFs is acted on
    /// (`what`: "flow runs deleted"); each row moves it.
    pub fn show_progress(&mut self, total: usize, what: &str) {
        if total > 1 {
            self.progress = Progress::new(Some(total as u64), what);
        }
    }

    /// The tool's name (for warnings).
    pub fn tool(&self) -> &'static str {
        self.tool
    }

    /// A REF whose verb succeeded: `result` says how ("deleted", "already paused").
    pub fn ok(&mut self, reference: &str, object: &Value, result: &str) -> Result<()> {
        self.batch.record(self.tool, Ok(()));
        self.row(reference, object, result, None, true)
    }

    /// A REF whose verb failed: the row says `result` and why, and the error goes to stderr
    /// and into the exit code.
    pub fn failed(
        &mut self,
        reference: &str,
        object: &Value,
        result: &str,
        error: Error,
    ) -> Result<()> {
        let reason = error.to_string();
        self.batch.record::<()>(self.tool, Err(error));
        self.row(reference, object, result, Some(&reason), false)
    }

    fn row(
        &mut self,
        reference: &str,
        object: &Value,
        result: &str,
        reason: Option<&str>,
        ok: bool,
    ) -> Result<()> {
        let row = json!({
            "ref": reference,
            "kind": self.kind.name,
            "id": object.get("id").cloned().unwrap_or(Value::Null),
            "name": self.kind.display_name(object),
            "result": result,
            "reason": reason,
            "ok": ok,
        });
        self.progress.inc(1);
        if self.printer.needs_cells() {
            self.table.push(row);
            Ok(())
        } else {
            // NDJSON on the terminal the bar is drawn on goes above it, not through it.
            let printer = &mut self.printer;
            self.progress.suspend(|| printer.object(&row, cells))
        }
    }

    /// Print what is left and give the batch's exit code.
    pub fn finish(self) -> Result<i32> {
        self.progress.finish();
        if !self.table.is_empty() {
            self.printer.page(&self.table, cells)?;
        }
        self.printer.finish()?;
        Ok(self.batch.exit_code())
    }
}

fn cells(row: &Value) -> Vec<Cell> {
    let ok = row.get("ok").and_then(Value::as_bool).unwrap_or(false);
    let result = match row.get("reason").and_then(Value::as_str) {
        Some(reason) => format!("{}: {reason}", str_field(row, "result")),
        None => str_field(row, "result").to_string(),
    };
    vec![
        Cell::from_json(row.get("ref")),
        Cell::from_json(row.get("kind")),
        Cell::from_json(row.get("name")),
        Cell::Styled(result, if ok { Style::Green } else { Style::Red }),
    ]
}

/// What to do with a REF that names nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// A failed row "not found" (exit 4 when every REF failed so).
    NotFound,
    /// For an id REF: a success row with this result ("already deleted"), since an id names
    /// an object that existed; a name REF that names nothing is still "not found" (a typo).
    IdIsDone(&'static str),
}

/// Resolve every REF (arguments, or stdin lines / NDJSON) to its objects and report each REF
/// that fails in `report` (see [`resolve_refs`] and [`Missing`]).
pub fn resolve_all(
    client: &Client,
    kind: &'static Kind,
    references: &[String],
    expand: bool,
    missing: Missing,
    report: &mut Report,
) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    for resolved in resolve_refs(client, kind, references, expand)? {
        match resolved {
            Ok(found) => targets.extend(found),
            Err((reference, error)) => not_found(&reference, error, missing, report)?,
        }
    }
    Ok(targets)
}

/// One REF's resolution: the objects it names, or (the REF, why it failed).
pub type Resolved = std::result::Result<Vec<Target>, (String, Error)>;

/// Resolve every REF (arguments, or stdin lines / NDJSON), in order. Id REFs of kinds whose
/// filter takes ids ([`Kind::ids_filterable`]) resolve 200 at a time; with
/// `expand`, a REF may name several objects ([`crate::kinds::Delete::expand`]: every version of
/// an artifact key). An error of the whole input (a broken pipe) ends the batch.
pub fn resolve_refs(
    client: &Client,
    kind: &'static Kind,
    references: &[String],
    expand: bool,
) -> Result<Vec<Resolved>> {
    let expander = kind.verbs.delete.and_then(|d| d.expand).filter(|_| expand);
    let batched = kind.ids_filterable && expander.is_none();
    let mut out: Vec<Resolved> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for reference in crate::input::refs(references)? {
        let reference = match reference {
            Ok(r) => r.trim().to_string(),
            Err(e) if e.is_broken_pipe() => return Err(e),
            Err(e) => {
                out.push(Err((String::new(), e)));
                continue;
            }
        };
        if batched && is_uuid(&reference) {
            ids.push(reference);
            if ids.len() == RESOLVE_CHUNK {
                out.extend(resolve_ids(client, kind, std::mem::take(&mut ids)));
            }
            continue;
        }
        let found = match expander {
            Some(expand) => expand(client, &reference),
            None => kind.resolve(client, &reference).map(|o| vec![o]),
        };
        out.push(match found {
            Ok(objects) => Ok(objects
                .into_iter()
                .map(|object| Target {
                    reference: reference.clone(),
                    object,
                })
                .collect()),
            Err(e) => Err((reference, e)),
        });
    }
    out.extend(resolve_ids(client, kind, ids));
    Ok(out)
}

fn not_found(reference: &str, error: Error, missing: Missing, report: &mut Report) -> Result<()> {
    let object = json!({ "id": if is_uuid(reference) { json!(reference) } else { Value::Null } });
    let gone = error.exit_code() == crate::error::EXIT_NOT_FOUND;
    match missing {
        Missing::IdIsDone(done) if gone && is_uuid(reference) => {
            report.ok(reference, &object, done)
        }
        _ if gone => report.failed(reference, &object, "not found", error),
        _ => report.failed(reference, &object, "error", error),
    }
}

/// Resolve a chunk of id REFs with one `POST {path}/filter`, in the order given.
fn resolve_ids(client: &Client, kind: &'static Kind, chunk: Vec<String>) -> Vec<Resolved> {
    if chunk.is_empty() {
        return Vec::new();
    }
    let body = json!({ kind.refs.filter_key: { "id": { "any_": chunk } }, "limit": chunk.len() });
    let found = match client.post(&format!("{}/filter", kind.refs.path), body) {
        Ok(Value::Array(found)) => found,
        Ok(_) => Vec::new(),
        Err(e) => {
            return chunk
                .into_iter()
                .map(|reference| Err((reference, clone_error(&e))))
                .collect();
        }
    };
    chunk
        .into_iter()
        .map(
            |reference| match found.iter().find(|o| str_field(o, "id") == reference) {
                Some(object) => Ok(vec![Target {
                    object: object.clone(),
                    reference,
                }]),
                None => {
                    let error = crate::refs::not_found(&kind.refs, &reference);
                    Err((reference, error))
                }
            },
        )
        .collect()
}

/// A copy of an error for each REF it failed (errors are not `Clone`).
fn clone_error(error: &Error) -> Error {
    match error {
        Error::Server { status, message } => Error::Server {
            status: *status,
            message: message.clone(),
        },
        Error::Network { message, hint } => Error::Network {
            message: message.clone(),
            hint: hint.clone(),
        },
        Error::Client {
            status,
            message,
            hint,
        } => Error::Client {
            status: *status,
            message: message.clone(),
            hint: hint.clone(),
        },
        Error::Auth {
            status,
            message,
            hint,
        } => Error::Auth {
            status: *status,
            message: message.clone(),
            hint: hint.clone(),
        },
        other => Error::Failed(other.to_string()),
    }
}

/// Whether an error leaves the outcome unknown: the request may have been applied and its
/// answer lost (network, 5xx, timeout). 4xx answers are the server's decision.
pub fn outcome_unknown(error: &Error) -> bool {
    matches!(
        error,
        Error::Network { .. } | Error::Server { .. } | Error::Timeout(_)
    )
}

/// Read an object again by id: `Ok(None)` when it is gone.
pub fn reread(client: &Client, kind: &Kind, object: &Value) -> Result<Option<Value>> {
    match kind.resolve(client, &fill(kind.id_ref, object)) {
        Ok(object) => Ok(Some(object)),
        Err(e) if e.exit_code() == crate::error::EXIT_NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}

/// On a terminal, with more than one object, ask `question` (reading `/dev/tty`, so it also
/// asks when REFs are piped in). `yes` or no terminal (cron, CI): go ahead without asking.
/// Anything but y/yes is an error "nothing changed" (exit 1).
pub fn confirm_many(count: usize, yes: bool, question: &str) -> Result<()> {
    if count <= 1 || yes || confirm(question)? {
        return Ok(());
    }
    Err(Error::Failed("nothing changed".into()))
}

/// Ask on the terminal (`/dev/tty`). Not on a terminal there is no one to ask: true.
pub fn confirm(question: &str) -> Result<bool> {
    if !std::io::stderr().is_terminal() {
        return Ok(true);
    }
    let Ok(tty) = std::fs::File::options().read(true).open("/dev/tty") else {
        return Ok(true);
    };
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{question} [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::BufReader::new(tty)
        .read_line(&mut answer)
        .map_err(|e| Error::io("cannot read the answer", e))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Whether a bulk endpoint is there: 404/405 on the first call means an older server without
/// it (detected once, then every object goes one request at a time).
#[derive(Debug, Default)]
pub struct BulkSupport {
    missing: bool,
}

impl BulkSupport {
    /// Whether to try the bulk endpoint.
    pub fn available(&self) -> bool {
        !self.missing
    }

    /// POST a bulk call: `Ok(None)` (and never again) when the server has no such endpoint.
    pub fn call(&mut self, client: &Client, path: &str, body: Value) -> Result<Option<Value>> {
        let request = Request::new(Method::Post, path).json(body).idempotent(true);
        match client.call(request) {
            Err(e) if matches!(e.status(), Some(404 | 405)) => {
                self.missing = true;
                Ok(None)
            }
            other => other.map(Some),
        }
    }
}

/// Delete every target: bulk calls of at most [`BULK_LIMIT`] where the kind has a bulk endpoint
/// (unless `per_item`), else one `DELETE` per object. One row per target.
pub fn delete_all(
    client: &Client,
    kind: &'static Kind,
    targets: Vec<Target>,
    per_item: bool,
    report: &mut Report,
) -> Result<()> {
    let Some(delete) = kind.verbs.delete else {
        return Err(Error::usage(format!(
            "a {} cannot be deleted",
            kind.label()
        )));
    };
    let mut bulk = BulkSupport::default();
    let mut rest = targets.as_slice();
    while !rest.is_empty() {
        let (chunk, after) = rest.split_at(rest.len().min(BULK_LIMIT));
        rest = after;
        let mut gone = "already deleted";
        let deleted = match delete.bulk.filter(|_| !per_item && bulk.available()) {
            Some(path) => {
                let ids: Vec<&str> = chunk.iter().map(Target::id).collect();
                let body =
                    json!({ kind.refs.filter_key: { "id": { "any_": ids } }, "limit": BULK_LIMIT });
                match bulk.call(client, path, body) {
                    Ok(Some(answer)) => Some(
                        answer
                            .get("deleted")
                            .and_then(Value::as_array)
                            .map(|d| {
                                d.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_string)
                                    .collect::<Vec<_>>()
                            })
                            .unwrap_or_default(),
                    ),
                    Ok(None) => None,
                    // The chunk's outcome is unknown: each object is checked (and deleted if
                    // it is still there) one by one below.
                    Err(e) => {
                        warn(
                            report.tool(),
                            format!(
                                "{path} failed ({e}); checking its {} objects one by one",
                                chunk.len()
                            ),
                        );
                        gone = "deleted";
                        Some(Vec::new())
                    }
                }
            }
            None => None,
        };
        for target in chunk {
            if deleted
                .as_ref()
                .is_some_and(|d| d.iter().any(|id| id == target.id()))
            {
                report.ok(&target.reference, &target.object, "deleted")?;
                continue;
            }
            delete_one(client, kind, delete.path, target, gone, report)?;
        }
    }
    Ok(())
}

/// One `DELETE`; a 404 is `gone` ("already deleted"); an unknown outcome is read back.
fn delete_one(
    client: &Client,
    kind: &Kind,
    template: &str,
    target: &Target,
    gone: &str,
    report: &mut Report,
) -> Result<()> {
    let (reference, object) = (&target.reference, &target.object);
    match client.delete(&fill(template, object)) {
        Ok(_) => report.ok(reference, object, "deleted"),
        Err(e) if e.status() == Some(404) => report.ok(reference, object, gone),
        Err(e) if outcome_unknown(&e) => match reread(client, kind, object) {
            Ok(None) => report.ok(reference, object, "deleted"),
            _ => report.failed(reference, object, "error", e),
        },
        Err(e) if e.is_broken_pipe() => Err(e),
        Err(e) => report.failed(reference, object, "refused", e),
    }
}

/// Pause (`pause` true) or resume every target through its kind's [`crate::kinds::Switch`].
/// One already in the requested state is "already paused" / "already resumed"; an unknown
/// outcome is read back and reported from the object's state.
pub fn switch_all(
    client: &Client,
    kind: &'static Kind,
    targets: &[Target],
    pause: bool,
    dry_run: bool,
    report: &mut Report,
) -> Result<()> {
    let Some(switch) = kind.verbs.pause else {
        return Err(Error::usage(format!("a {} cannot be paused", kind.label())));
    };
    let (done, already, would) = if pause {
        ("paused", "already paused", "would pause")
    } else {
        ("resumed", "already resumed", "would resume")
    };
    for Target { reference, object } in targets {
        if switch.is_paused(object) == Some(pause) {
            report.ok(reference, object, already)?;
            continue;
        }
        if dry_run {
            report.ok(reference, object, would)?;
            continue;
        }
        let (method, path, body) = switch.request(object, pause);
        let request = Request::new(method, path).json(body).idempotent(true);
        match client.call(request) {
            Ok(_) => report.ok(reference, object, done)?,
            Err(e) if e.is_broken_pipe() => return Err(e),
            Err(e) if outcome_unknown(&e) => match reread(client, kind, object) {
                Ok(Some(now)) if switch.is_paused(&now) == Some(pause) => {
                    report.ok(reference, &now, done)?
                }
                _ => report.failed(reference, object, "error", e)?,
            },
            Err(e) => report.failed(reference, object, "refused", e)?,
        }
    }
    Ok(())
}

/// The flags every batch write takes.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchFlags {
    /// Resolve and list, change nothing.
    pub dry_run: bool,
    /// Do not ask on a terminal.
    pub yes: bool,
}

/// pf-pause / pf-resume of objects: resolve the REFs, ask once, switch each; the exit code.
pub fn pause_or_resume(
    client: &Client,
    printer: &mut Printer,
    kind: &'static Kind,
    references: &[String],
    pause: bool,
    flags: BatchFlags,
) -> Result<i32> {
    let tool = if pause { "pf-pause" } else { "pf-resume" };
    let mut report = Report::new(tool, kind, printer);
    let targets = resolve_all(
        client,
        kind,
        references,
        false,
        Missing::NotFound,
        &mut report,
    )?;
    if !flags.dry_run {
        let verb = if pause { "Pause" } else { "Resume" };
        let question = format!("{verb} {} {}s?", targets.len(), kind.label());
        confirm_many(targets.len(), flags.yes, &question)?;
        let done = if pause { "paused" } else { "resumed" };
        report.show_progress(targets.len(), &format!("{}s {done}", kind.label()));
    }
    switch_all(client, kind, &targets, pause, flags.dry_run, &mut report)?;
    report.finish()
}
