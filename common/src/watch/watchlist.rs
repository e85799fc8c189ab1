//! Watched lists (`pf-get KIND --watch`, as `kubectl get -w`): list, then keep the list
//! current. Each tick re-reads the listing (filters, sort and window as given) and compares
//! each object with what was shown (all but the fields the server computes from its clock):
//! a new id is `created` (made after the watch began) or has come into view (`updated`), a
//! changed one `updated`, and an id that left the list is looked up by id: gone means
//! `deleted` (still there: it only left the window, and is dropped quietly). Where the server
//! streams `/events/out`, an event of the kind (`prefect.flow-run.*`, …) triggers the next
//! read at once, so changes show within a fraction of a second; else reads come every
//! [`POLL_INTERVAL`]. On a terminal the table is redrawn in place (rows that changed, with a
//! CHANGE column); in a pipe each change is one NDJSON line `{"what":…,"object":…}`.
//!
//! The listing is a source of the one watch loop ([`crate::watcher`]), which owns the
//! websocket, the schedule, the timeout and the outage rules; a read is whole, so it needs no
//! look-back after an outage, and changes read but not shown when the server went away are
//! shown on the next read.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::io::Write;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::listing::{Rows, join};
use crate::logstream::Topic;
use crate::output::{Cell, Format, Printer, table_lines, terminal_width};
use crate::refs::str_field;
use crate::time::parse_api_time;
use crate::watcher::{Control, Source, WatchSettings, Watcher};

/// How often the list is re-read when no event says it changed.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// After an event, wait this long for more before re-reading (a state change comes in bursts).
const EVENT_SETTLE: Duration = Duration::from_millis(150);

/// Reads the whole listing once.
pub type ReadList<'a> = Box<dyn FnMut() -> Result<Vec<Value>> + 'a>;
/// Tells which of some ids still exist.
pub type StillThere<'a> = Box<dyn FnMut(&[String]) -> Result<HashSet<String>> + 'a>;

/// How to watch one listing.
pub struct WatchOptions<'a> {
    /// How objects print as rows.
    pub rows: Rows,
    /// Read the whole listing once (filters, sort and window applied).
    pub list: ReadList<'a>,
    /// Which of these ids still exist (None: the kind cannot be looked up by id, so an id
    /// that left the list is taken as deleted).
    pub exists: Option<StillThere<'a>>,
    /// Event name prefix of the kind (`prefect.flow-run.`), to re-read as soon as one happens.
    pub event_prefix: Option<&'static str>,
    /// Fields the server computes from its clock on each read: not a change on their own.
    pub clock_fields: &'static [&'static str],
    /// Stop after this long (exit 0).
    pub timeout: Option<Duration>,
    /// The tool name for stderr lines.
    pub tool: &'static str,
}

impl std::fmt::Debug for WatchOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchOptions")
            .field("event_prefix", &self.event_prefix)
            .finish_non_exhaustive()
    }
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// In the first listing.
    Listed,
    /// Made after the watch began.
    Created,
    /// Changed, or came into view.
    Updated,
    /// Gone from the server.
    Deleted,
}

impl Change {
    /// The word printed (`what` in NDJSON, the CHANGE column).
    pub fn word(self) -> &'static str {
        match self {
            Change::Listed => "listed",
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Deleted => "deleted",
        }
    }
}

/// The `{coll}/filter` body that finds objects by id (`flow_runs/filter` → `{"flow_runs":
/// {"id": {"any_": ids}}}`), or None for a path that is not a plain collection filter.
pub fn by_id_body(path: &str, ids: &[String]) -> Option<Value> {
    let collection = path.strip_suffix("/filter")?;
    if collection.contains('/') {
        return None;
    }
    Some(json!({ collection: { "id": { "any_": ids } }, "limit": ids.len().min(200) }))
}

/// Watch until the timeout (or Ctrl-C, handled by the caller). Prints through `printer`.
pub fn watch(client: &Client, printer: &mut Printer, options: WatchOptions<'_>) -> Result<()> {
    let stream = options
        .event_prefix
        .map(|_| (client.settings().clone(), Topic::Events));
    let (mut watcher, _) = Watcher::new(WatchSettings {
        // Events only say when to read: the reads keep one pace, streaming or not.
        poll_interval: POLL_INTERVAL,
        stream_poll_interval: POLL_INTERVAL,
        timeout: options.timeout,
        verbose: client.verbose(),
        ..WatchSettings::new(options.tool, stream)
    });
    if let Some(prefix) = options.event_prefix {
        let mut filter = crate::events::filter_since(&json!({}), Timestamp::now());
        filter["event"] = json!({ "prefix": [prefix] });
        watcher.control().set_filter(Topic::Events, filter);
    }
    let mut source = ListSource {
        client,
        view: View::new(printer, options.rows),
        options,
        known: HashMap::new(),
        began: Timestamp::now(),
        first: true,
        pending: Vec::new(),
    };
    watcher.run(&mut source)?;
    source.view.finish()
}

/// A listing as a [`Source`] of the watcher: each tick re-reads it and shows what changed.
struct ListSource<'a, 'p> {
    client: &'a Client,
    options: WatchOptions<'a>,
    view: View<'p>,
    /// Every object shown, by id, as last read.
    known: HashMap<String, Value>,
    /// When the watch began (what was made since is `created`).
    began: Timestamp,
    /// The first read lists what is there.
    first: bool,
    /// Changes read but not shown yet (a lost server between the two: shown on the next tick).
    pending: Vec<(Change, Value)>,
}

impl Source for ListSource<'_, '_> {
    type Message = Infallible;

    fn on_record(&mut self, _: Topic, _event: Value, control: &mut Control) -> Result<()> {
        control.poll_by(Instant::now() + EVENT_SETTLE);
        Ok(())
    }

    fn tick(&mut self, control: &mut Control) -> Result<()> {
        read_changes(
            &mut self.options,
            &mut self.known,
            self.began,
            self.first,
            &mut self.pending,
        )?;
        self.first = false;
        self.view.show(self.client, &self.pending)?;
        self.pending.clear();
        control.polled();
        Ok(())
    }
}

/// One read of the list, compared with what is known: the changes go to `changes` as they
/// are found (and `known` moves on with them), so a read that fails half way loses none.
fn read_changes(
    options: &mut WatchOptions<'_>,
    known: &mut HashMap<String, Value>,
    began: Timestamp,
    first: bool,
    changes: &mut Vec<(Change, Value)>,
) -> Result<()> {
    let objects = (options.list)()?;
    let mut present = HashSet::new();
    for object in objects {
        let id = str_field(&object, "id").to_string();
        present.insert(id.clone());
        let change = match known.get(&id) {
            None if first => Some(Change::Listed),
            None => {
                let created = object
                    .get("created")
                    .and_then(Value::as_str)
                    .and_then(parse_api_time);
                Some(if created.is_some_and(|c| c >= began) {
                    Change::Created
                } else {
                    Change::Updated
                })
            }
            Some(old) if changed(old, &object, options.clock_fields) => Some(Change::Updated),
            Some(_) => None,
        };
        if let Some(change) = change {
            known.insert(id, object.clone());
            changes.push((change, object));
        }
    }
    let gone: Vec<String> = known
        .keys()
        .filter(|id| !present.contains(*id))
        .cloned()
        .collect();
    if !gone.is_empty() {
        let still = match options.exists.as_mut() {
            Some(exists) => {
                let mut still = HashSet::new();
                for chunk in gone.chunks(200) {
                    still.extend(exists(chunk)?);
                }
                still
            }
            None => HashSet::new(),
        };
        for id in gone {
            if let Some(object) = known.remove(&id)
                && !still.contains(&id)
            {
                changes.push((Change::Deleted, object));
            }
        }
    }
    Ok(())
}

/// Whether an object changed: its `updated` stamp, or any field but those the server
/// computes from its clock on each read (a work pool's status changes without a new stamp).
fn changed(old: &Value, new: &Value, clock_fields: &[&str]) -> bool {
    if old.get("updated") != new.get("updated") {
        return true;
    }
    match (old.as_object(), new.as_object()) {
        (Some(old), Some(new)) => {
            let differs = |(key, value): (&String, &Value)| {
                !clock_fields.contains(&key.as_str()) && old.get(key) != Some(value)
            };
            old.len() != new.len() || new.iter().any(differs)
        }
        _ => old != new,
    }
}

/// What is on screen (a terminal) or the stream of change lines (a pipe).
struct View<'p> {
    printer: &'p mut Printer,
    rows: Rows,
    /// Terminal: the table redrawn in place.
    live: bool,
    order: Vec<String>,
    shown: HashMap<String, (Change, Value)>,
    screen: Vec<String>,
}

impl<'p> View<'p> {
    fn new(printer: &'p mut Printer, rows: Rows) -> Self {
        let live = printer.format() == Format::Table
            && printer.needs_cells()
            && crate::output::stdout_is_terminal();
        if !live {
            let mut columns = vec!["CHANGE"];
            columns.extend_from_slice(rows.columns);
            printer.columns(&columns);
        }
        View {
            printer,
            rows,
            live,
            order: Vec::new(),
            shown: HashMap::new(),
            screen: Vec::new(),
        }
    }

    fn show(&mut self, client: &Client, changes: &[(Change, Value)]) -> Result<()> {
        if !self.live {
            let objects: Vec<Value> = changes.iter().map(|(_, o)| o.clone()).collect();
            let joined = if self.printer.needs_cells() {
                join(client, self.rows.join, &objects)?
            } else {
                Default::default()
            };
            for (change, object) in changes {
                let change = *change;
                let line = json!({ "what": change.word(), "object": object });
                let row = self.rows.row;
                self.printer.object(&line, |l| {
                    let mut cells = vec![Cell::Text(change.word().into())];
                    cells.extend(row(l.get("object").unwrap_or(&Value::Null), &joined));
                    cells
                })?;
            }
            return Ok(());
        }
        for (change, object) in changes {
            let id = str_field(object, "id").to_string();
            if !self.shown.contains_key(&id) {
                self.order.push(id.clone());
            }
            self.shown.insert(id, (*change, object.clone()));
        }
        self.redraw(client)
    }

    /// Rewrite the screen from the first line that differs.
    fn redraw(&mut self, client: &Client) -> Result<()> {
        let objects: Vec<Value> = self
            .order
            .iter()
            .filter_map(|id| self.shown.get(id).map(|(_, o)| o.clone()))
            .collect();
        let joined = join(client, self.rows.join, &objects)?;
        // The kind's columns as the printer shows them (no wide ones unless -o wide;
        // --columns), then CHANGE.
        let visible = self.printer.visible_columns(self.rows.columns)?;
        let pick = |cells: Vec<Cell>| -> Vec<Cell> {
            match &visible {
                None => cells,
                Some(indices) => indices
                    .iter()
                    .filter_map(|&i| cells.get(i).cloned())
                    .collect(),
            }
        };
        let rows: Vec<Vec<Cell>> = self
            .order
            .iter()
            .filter_map(|id| self.shown.get(id))
            .map(|(change, object)| {
                let mut cells = pick((self.rows.row)(object, &joined));
                let word = match change {
                    Change::Listed => "",
                    other => other.word(),
                };
                cells.push(Cell::Text(word.into()));
                cells
            })
            .collect();
        let mut columns: Vec<&str> = match &visible {
            None => self.rows.columns.to_vec(),
            Some(indices) => indices.iter().map(|&i| self.rows.columns[i]).collect(),
        };
        columns.push("CHANGE");
        let width = terminal_width().unwrap_or(usize::MAX).max(20);
        let color = self.printer.color();
        let plain = table_lines(&columns, &rows, false);
        let lines: Vec<String> = if plain.iter().all(|l| l.trim_end().chars().count() < width) {
            table_lines(&columns, &rows, color)
        } else {
            // Never wrap (a wrapped line breaks the cursor arithmetic): cut plain lines.
            plain
                .iter()
                .map(|l| l.chars().take(width - 1).collect())
                .collect()
        };
        let first_diff = lines
            .iter()
            .zip(&self.screen)
            .position(|(a, b)| a != b)
            .unwrap_or(self.screen.len().min(lines.len()));
        let mut text = String::new();
        let up = self.screen.len() - first_diff;
        if up > 0 {
            text.push_str(&format!("\x1b[{up}A"));
        }
        for line in &lines[first_diff..] {
            text.push_str("\r\x1b[K");
            text.push_str(line.trim_end());
            text.push('\n');
        }
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("cannot write to stdout", e))?;
        self.screen = lines;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if self.live {
            return Ok(());
        }
        self.printer.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOCK: &[&str] = &["estimated_run_time"];

    #[test]
    fn a_clock_field_alone_is_no_change() {
        let old =
            json!({"id": "a", "updated": "t1", "state_name": "Running", "estimated_run_time": 1.0});
        let ticked =
            json!({"id": "a", "updated": "t1", "state_name": "Running", "estimated_run_time": 3.5});
        assert!(!changed(&old, &ticked, CLOCK));
        // Without the kind's clock fields it would be.
        assert!(changed(&old, &ticked, &[]));
    }

    #[test]
    fn a_new_stamp_or_another_field_is_a_change() {
        let old = json!({"id": "a", "updated": "t1", "status": "READY", "estimated_run_time": 1.0});
        let stamped =
            json!({"id": "a", "updated": "t2", "status": "READY", "estimated_run_time": 1.0});
        let status =
            json!({"id": "a", "updated": "t1", "status": "NOT_READY", "estimated_run_time": 2.0});
        let dropped = json!({"id": "a", "updated": "t1", "estimated_run_time": 1.0});
        assert!(changed(&old, &stamped, CLOCK));
        assert!(changed(&old, &status, CLOCK));
        assert!(changed(&old, &dropped, CLOCK));
    }
}
