//! The output layer every tool shares: table / ndjson / json / tsv, `--jq`, colours, and the
//! rule that a closed stdout ends the tool quietly.
//!
//! Tools hand over API objects (for ndjson/json/jq) and, for table and tsv, a function that turns
//! an object into cells. Pages are printed as they arrive, so `--all` streams in constant memory.

use std::io::{self, BufWriter, IsTerminal, Write};

use jiff::Timestamp;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::jq::JqFilter;
use crate::time::{hms, relative_age};

/// The output formats of `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with a header (default on a terminal).
    Table,
    /// One compact JSON object per line (default in a pipe).
    Ndjson,
    /// One JSON array.
    Json,
    /// The table's columns, tab-separated, no header unless --header.
    Tsv,
    /// The table's columns as RFC 4180 CSV, with a header row unless --no-headers.
    Csv,
    /// A table with the extra columns each kind has (labels, parameters, work queue, …).
    Wide,
}

/// How tables show points in time (`--time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TimeStyle {
    /// Ages as "22 hours ago", start times in local time (the default).
    #[default]
    Relative,
    /// Every time as local `YYYY-MM-DD HH:MM:SS`.
    Local,
    /// Every time as UTC `YYYY-MM-DDTHH:MM:SSZ`.
    Utc,
}

/// Whether stdout counts as a terminal. `PF_FORCE_TTY=1` makes tests see what a user sees.
pub fn stdout_is_terminal() -> bool {
    match std::env::var("PF_FORCE_TTY") {
        Ok(v) if !v.is_empty() && v != "0" => true,
        _ => io::stdout().is_terminal(),
    }
}

/// Whether stdin is a terminal (so no REFs will come from it).
pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}

/// Whether to colour stdout: a terminal without NO_COLOR, or CLICOLOR_FORCE set.
pub fn use_color() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0");
    if set("CLICOLOR_FORCE") {
        return true;
    }
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    stdout_is_terminal()
}

/// Terminal width for truncating tables: `COLUMNS`, else the terminal's, else none (no truncation).
pub fn terminal_width() -> Option<usize> {
    if !stdout_is_terminal() {
        return None;
    }
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
    {
        return Some(cols.max(20));
    }
    terminal_size::terminal_size().map(|(w, _)| usize::from(w.0))
}

/// A colour for a table cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// No colour.
    #[default]
    Plain,
    /// Success (COMPLETED).
    Green,
    /// Failure (FAILED, CRASHED, ERROR).
    Red,
    /// Waiting (SCHEDULED, PENDING, PAUSED, WARNING).
    Yellow,
    /// Active (RUNNING).
    Blue,
    /// Stopped or unimportant (CANCELLED, DEBUG).
    Dim,
}

impl Style {
    /// The colour of a Prefect state type (`COMPLETED`, `FAILED`, …).
    pub fn for_state_type(state_type: &str) -> Style {
        match state_type.to_ascii_uppercase().as_str() {
            "COMPLETED" => Style::Green,
            "FAILED" | "CRASHED" => Style::Red,
            "RUNNING" => Style::Blue,
            "SCHEDULED" | "PENDING" | "PAUSED" => Style::Yellow,
            "CANCELLED" | "CANCELLING" => Style::Dim,
            _ => Style::Plain,
        }
    }

    /// The colour of a log level (`ERROR`, `WARNING`, …).
    pub fn for_log_level(level: &str) -> Style {
        match level {
            "CRITICAL" | "ERROR" => Style::Red,
            "WARNING" => Style::Yellow,
            "DEBUG" => Style::Dim,
            _ => Style::Plain,
        }
    }

    fn ansi(self) -> &'static str {
        match self {
            Style::Plain => "",
            Style::Green => "\x1b[32m",
            Style::Red => "\x1b[31m",
            Style::Yellow => "\x1b[33m",
            Style::Blue => "\x1b[34m",
            Style::Dim => "\x1b[2m",
        }
    }

    /// Wrap text in this style's colour when `color` is on.
    pub fn paint(self, text: &str, color: bool) -> String {
        if !color || self == Style::Plain || text.is_empty() {
            text.to_string()
        } else {
            format!("{}{text}\x1b[0m", self.ansi())
        }
    }
}

/// One table cell. Tables show times as ages and durations as `HH:MM:SS`; TSV shows the
/// machine form (RFC 3339, seconds) so scripts can compute with it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Plain text.
    Text(String),
    /// Text with a colour.
    Styled(String, Style),
    /// A point in time: "22 hours ago" in tables, RFC 3339 in TSV.
    Age(Option<Timestamp>),
    /// A point in time: local `YYYY-MM-DD HH:MM:SS` in tables, RFC 3339 in TSV.
    Time(Option<Timestamp>),
    /// A duration in seconds: `HH:MM:SS` in tables, seconds in TSV.
    Duration(Option<f64>),
}

impl Cell {
    /// A text cell from any JSON value (strings unquoted, null empty, arrays comma-joined).
    pub fn from_json(value: Option<&Value>) -> Cell {
        Cell::Text(match value {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join(","),
            Some(other) => other.to_string(),
        })
    }

    /// An age cell from an API timestamp string.
    pub fn age(value: Option<&Value>) -> Cell {
        Cell::Age(
            value
                .and_then(Value::as_str)
                .and_then(crate::time::parse_api_time),
        )
    }

    /// A local-time cell from an API timestamp string.
    pub fn time(value: Option<&Value>) -> Cell {
        Cell::Time(
            value
                .and_then(Value::as_str)
                .and_then(crate::time::parse_api_time),
        )
    }

    fn table_text(&self, now: Timestamp, times: TimeStyle) -> (String, Style) {
        let time = |t: &Option<Timestamp>, relative: bool| {
            t.map(|t| match times {
                TimeStyle::Utc => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                TimeStyle::Local => crate::time::local_datetime(t),
                TimeStyle::Relative if relative => relative_age(t, now),
                TimeStyle::Relative => crate::time::local_datetime(t),
            })
            .unwrap_or_default()
        };
        match self {
            Cell::Text(s) => (s.clone(), Style::Plain),
            Cell::Styled(s, style) => (s.clone(), *style),
            Cell::Age(t) => (time(t, true), Style::Plain),
            Cell::Time(t) => (time(t, false), Style::Plain),
            Cell::Duration(d) => (d.map(hms).unwrap_or_default(), Style::Plain),
        }
    }

    /// The machine form (TSV and CSV): RFC 3339 times, seconds with millisecond decimals.
    fn machine_text(&self) -> String {
        match self {
            Cell::Text(s) | Cell::Styled(s, _) => s.clone(),
            Cell::Age(t) | Cell::Time(t) => t.map(|t| t.to_string()).unwrap_or_default(),
            Cell::Duration(d) => d.map(|d| format!("{d:.3}")).unwrap_or_default(),
        }
    }
}

fn escape_tsv(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out
}

/// What a tool prints when it has no table of its own for an object (pf-describe): pretty JSON
/// on a terminal, compact JSON per line in a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableMode {
    /// Aligned columns.
    Columns,
    /// Pretty-printed JSON objects.
    PrettyJson,
}

/// Writes a tool's results in the chosen format.
pub struct Printer {
    format: Format,
    jq: Option<JqFilter>,
    /// `--header` (Some(true)) / `--no-headers` (Some(false)); None: the format's default.
    header: Option<bool>,
    wide: bool,
    times: TimeStyle,
    /// `--columns`: the headers asked for, in the order asked.
    wanted: Option<Vec<String>>,
    /// Which of a row's cells are shown, in order (None: all but the wide-only ones).
    shown: Option<Vec<usize>>,
    /// An unknown `--columns` name, reported when the first page is printed.
    column_error: Option<Error>,
    color: bool,
    width: Option<usize>,
    table_mode: TableMode,
    json_bare: bool,
    out: BufWriter<io::Stdout>,
    headers: Vec<String>,
    widths: Vec<usize>,
    header_printed: bool,
    json_items: usize,
    rows: usize,
    now: Timestamp,
}

impl std::fmt::Debug for Printer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer")
            .field("format", &self.format)
            .finish()
    }
}

impl Printer {
    /// A printer for `format` (None: table on a terminal, else ndjson) with an optional jq
    /// filter; `header` prints a TSV header row. `-o wide` is a table with the wide columns:
    /// [`Printer::format`] then answers `Table`.
    pub fn new(format: Option<Format>, jq: Option<&str>, header: bool) -> Result<Printer> {
        let jq = jq.map(JqFilter::compile).transpose()?;
        let format = format.unwrap_or(if stdout_is_terminal() {
            Format::Table
        } else {
            Format::Ndjson
        });
        let wide = format == Format::Wide;
        Ok(Printer {
            format: if wide { Format::Table } else { format },
            jq,
            header: header.then_some(true),
            wide,
            times: TimeStyle::default(),
            wanted: None,
            shown: None,
            column_error: None,
            color: use_color(),
            width: terminal_width(),
            table_mode: TableMode::Columns,
            json_bare: false,
            out: BufWriter::new(io::stdout()),
            headers: Vec::new(),
            widths: Vec::new(),
            header_printed: false,
            json_items: 0,
            rows: 0,
            now: Timestamp::now(),
        })
    }

    /// `--header` / `--no-headers`: force the header row on or off (None: the format's
    /// default — on for table and CSV, off for TSV).
    pub fn with_header(mut self, header: Option<bool>) -> Self {
        self.header = header;
        self
    }

    /// `--time`: how tables show points in time.
    pub fn with_times(mut self, times: TimeStyle) -> Self {
        self.times = times;
        self
    }

    /// `--columns`: show only these columns (by header, case-insensitive; `_`/`-` match a
    /// space), in this order, for table, TSV and CSV. An unknown name is a usage error that
    /// lists the valid ones.
    pub fn with_columns(mut self, wanted: Option<Vec<String>>) -> Self {
        self.wanted = wanted.filter(|w| !w.is_empty());
        self
    }

    /// Print objects as pretty JSON instead of columns in table format (pf-describe).
    pub fn with_table_mode(mut self, mode: TableMode) -> Self {
        self.table_mode = mode;
        self
    }

    /// In json format, print the one object asked for as itself rather than as an array of
    /// one (as `prefect … inspect -o json`); the caller decides when exactly one is asked for.
    pub fn with_single_json_object(mut self, single: bool) -> Self {
        self.json_bare = single;
        self
    }

    /// The format in effect.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether colour is on.
    pub fn color(&self) -> bool {
        self.color
    }

    /// True when rows will be rendered as cells (table/tsv/csv without --jq), i.e. when it is
    /// worth fetching the names a table joins in.
    pub fn needs_cells(&self) -> bool {
        self.jq.is_none()
            && (matches!(self.format, Format::Tsv | Format::Csv)
                || (self.format == Format::Table && self.table_mode == TableMode::Columns))
    }

    /// How many objects were printed so far.
    pub fn count(&self) -> usize {
        self.rows
    }

    /// Set the table's column headers (before the first page). Those a kind has only in wide
    /// output ([`crate::tables::wide_only`]) are shown with `-o wide` or when `--columns` names
    /// them; rows carry a cell for every header, wide ones included.
    pub fn columns(&mut self, headers: &[&str]) {
        let all: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        self.column_error = None;
        self.shown = match self.visible_columns(headers) {
            Ok(shown) => shown,
            Err(e) => {
                self.column_error = Some(e);
                None
            }
        };
        self.headers = self.pick(all);
        self.widths = self.headers.iter().map(|h| h.chars().count()).collect();
    }

    /// Which of `headers` this printer shows, in order (None: all of them): `--columns`, or
    /// all but the kind's wide-only ones unless `-o wide`. For tools that draw a table
    /// themselves (watched lists); an unknown `--columns` name is a usage error.
    pub fn visible_columns(&self, headers: &[&str]) -> Result<Option<Vec<usize>>> {
        let wide = crate::tables::wide_only(headers);
        let all: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        Ok(match &self.wanted {
            Some(wanted) => Some(select_columns(&all, wanted)?),
            None if self.wide || wide.is_empty() => None,
            None => Some(
                (0..all.len())
                    .filter(|&i| !wide.contains(&all[i].as_str()))
                    .collect(),
            ),
        })
    }

    /// The shown cells of a full row, in the shown order.
    fn pick<T: Clone>(&self, row: Vec<T>) -> Vec<T> {
        match &self.shown {
            None => row,
            Some(indices) => indices
                .iter()
                .filter_map(|&i| row.get(i).cloned())
                .collect(),
        }
    }

    fn header_wanted(&self) -> bool {
        self.header.unwrap_or(self.format != Format::Tsv)
    }

    /// Print one page of objects; `cells` renders a row for table/tsv. Flushes, so pipes see
    /// each page as it arrives.
    pub fn page(&mut self, objects: &[Value], cells: impl Fn(&Value) -> Vec<Cell>) -> Result<()> {
        if let Some(e) = self.column_error.take() {
            return Err(e);
        }
        if let Some(jq) = &self.jq {
            for object in objects {
                for result in jq.run(object)? {
                    writeln!(self.out, "{}", result.text()).map_err(write_error)?;
                }
            }
            self.rows += objects.len();
            return self.flush();
        }
        match (self.format, self.table_mode) {
            (Format::Ndjson, _) => {
                for object in objects {
                    serde_json::to_writer(&mut self.out, object).map_err(json_write_error)?;
                    self.out.write_all(b"\n").map_err(write_error)?;
                }
            }
            (Format::Json, _) if self.json_bare => {
                for object in objects {
                    serde_json::to_writer_pretty(&mut self.out, object)
                        .map_err(json_write_error)?;
                    self.out.write_all(b"\n").map_err(write_error)?;
                }
            }
            (Format::Json, _) => {
                for object in objects {
                    let sep: &[u8] = if self.json_items == 0 { b"[\n" } else { b",\n" };
                    self.out.write_all(sep).map_err(write_error)?;
                    serde_json::to_writer_pretty(&mut self.out, object)
                        .map_err(json_write_error)?;
                    self.json_items += 1;
                }
            }
            (Format::Table, TableMode::PrettyJson) => {
                for object in objects {
                    serde_json::to_writer_pretty(&mut self.out, object)
                        .map_err(json_write_error)?;
                    self.out.write_all(b"\n").map_err(write_error)?;
                }
            }
            (Format::Tsv | Format::Csv, _) => {
                if self.header_wanted() && !self.header_printed {
                    let header = self.headers.clone();
                    self.delimited(&header)?;
                    self.header_printed = true;
                }
                for object in objects {
                    let row: Vec<String> = self
                        .pick(cells(object))
                        .iter()
                        .map(Cell::machine_text)
                        .collect();
                    self.delimited(&row)?;
                }
            }
            (Format::Table | Format::Wide, _) => {
                let rows: Vec<Vec<(String, Style)>> = objects
                    .iter()
                    .map(|o| {
                        self.pick(cells(o))
                            .iter()
                            .map(|c| c.table_text(self.now, self.times))
                            .collect()
                    })
                    .collect();
                self.table_rows(rows)?;
            }
        }
        self.rows += objects.len();
        self.flush()
    }

    /// One TSV line (values escaped) or CSV record (RFC 4180 quoting).
    fn delimited(&mut self, values: &[String]) -> Result<()> {
        if self.format == Format::Csv {
            let mut record = csv::Writer::from_writer(Vec::new());
            record
                .write_record(values)
                .map_err(|e| Error::Failed(format!("cannot write CSV: {e}")))?;
            let bytes = record
                .into_inner()
                .map_err(|e| Error::Failed(format!("cannot write CSV: {e}")))?;
            self.out.write_all(&bytes).map_err(write_error)
        } else {
            let line = values
                .iter()
                .map(|v| escape_tsv(v))
                .collect::<Vec<_>>()
                .join("\t");
            writeln!(self.out, "{line}").map_err(write_error)
        }
    }

    /// Print one object (`page` of one).
    pub fn object(&mut self, object: &Value, cells: impl Fn(&Value) -> Vec<Cell>) -> Result<()> {
        self.page(std::slice::from_ref(object), cells)
    }

    /// Print a line of plain text to stdout (for tools whose output is not objects).
    pub fn line(&mut self, text: &str) -> Result<()> {
        writeln!(self.out, "{text}").map_err(write_error)?;
        self.flush()
    }

    fn table_rows(&mut self, rows: Vec<Vec<(String, Style)>>) -> Result<()> {
        // Widths grow page by page; earlier pages are already printed, so a later, wider page
        // only widens what follows it.
        for row in &rows {
            for (i, (text, _)) in row.iter().enumerate() {
                if i < self.widths.len() {
                    self.widths[i] = self.widths[i].max(text.chars().count());
                }
            }
        }
        let widths = fit_to_width(&self.widths, &self.headers, self.width);
        if !self.header_printed && self.header_wanted() {
            let header: Vec<(String, Style)> = self
                .headers
                .iter()
                .map(|h| (h.clone(), Style::Plain))
                .collect();
            let line = render_row(&header, &widths, false);
            writeln!(self.out, "{line}").map_err(write_error)?;
        }
        self.header_printed = true;
        for row in rows {
            let line = render_row(&row, &widths, self.color);
            writeln!(self.out, "{line}").map_err(write_error)?;
        }
        Ok(())
    }

    /// Finish: close a JSON array, print a table header for an empty result on a terminal,
    /// flush.
    pub fn finish(&mut self) -> Result<()> {
        if let Some(e) = self.column_error.take() {
            return Err(e);
        }
        if self.jq.is_none() {
            match self.format {
                Format::Json if self.json_bare => {}
                Format::Json => {
                    let tail: &[u8] = if self.json_items == 0 {
                        b"[]\n"
                    } else {
                        b"\n]\n"
                    };
                    self.out.write_all(tail).map_err(write_error)?;
                }
                Format::Table
                    if self.table_mode == TableMode::Columns
                        && !self.header_printed
                        && !self.headers.is_empty()
                        && !crate::cli::item_failed() =>
                {
                    eprintln!("No resources found.");
                }
                _ => {}
            }
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(write_error)
    }
}

/// The indices of the `wanted` headers among `all` (case-insensitive; `_` and `-` match a
/// space), or a usage error listing the valid names.
fn select_columns(all: &[String], wanted: &[String]) -> Result<Vec<usize>> {
    let normal = |s: &str| s.trim().to_ascii_uppercase().replace(['_', '-'], " ");
    wanted
        .iter()
        .map(|w| {
            all.iter()
                .position(|h| normal(h) == normal(w))
                .ok_or_else(|| {
                    let valid: Vec<String> = all.iter().map(|h| h.replace(' ', "_")).collect();
                    Error::usage(format!(
                        "unknown column '{}'; valid columns: {}",
                        w.trim(),
                        valid.join(",")
                    ))
                })
        })
        .collect()
}

fn render_row(row: &[(String, Style)], widths: &[usize], color: bool) -> String {
    let mut line = String::new();
    let last = widths.len().saturating_sub(1);
    for (i, width) in widths.iter().enumerate() {
        let (text, style) = row.get(i).cloned().unwrap_or_default();
        let text = truncate(&text, *width);
        let pad = width.saturating_sub(text.chars().count());
        line.push_str(&style.paint(&text, color));
        if i < last {
            line.push_str(&" ".repeat(pad + 2));
        }
    }
    line.trim_end().to_string()
}

/// Shrink the widest columns until the row fits the terminal (never below 6 characters). The
/// object's own `ID` column keeps its width: a cut id is useless to copy.
fn fit_to_width(widths: &[usize], headers: &[String], terminal: Option<usize>) -> Vec<usize> {
    let mut widths = widths.to_vec();
    let Some(limit) = terminal else { return widths };
    let shrinkable: Vec<bool> = (0..widths.len())
        .map(|i| {
            !headers
                .get(i)
                .is_some_and(|h| h == "ID" || h.ends_with(" ID"))
        })
        .collect();
    let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
    while total(&widths) > limit {
        let Some((i, &widest)) = widths
            .iter()
            .enumerate()
            .filter(|(i, _)| shrinkable[*i])
            .max_by_key(|(_, w)| **w)
        else {
            break;
        };
        if widest <= 6 {
            break;
        }
        widths[i] = widest - 1;
    }
    widths
}

fn truncate(text: &str, width: usize) -> String {
    // Newlines and tabs would break the table's lines and columns.
    let text = if text.contains(['\n', '\t', '\r']) {
        text.replace(['\n', '\t', '\r'], " ")
    } else {
        text.to_string()
    };
    if text.chars().count() <= width {
        return text;
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn write_error(e: io::Error) -> Error {
    Error::io("cannot write to stdout", e)
}

fn json_write_error(e: serde_json::Error) -> Error {
    match e.io_error_kind() {
        Some(kind) => write_error(io::Error::from(kind)),
        None => Error::Failed(format!("cannot write JSON: {e}")),
    }
}

/// A small aligned table as lines (for sections of a summary, or a live view redrawn in
/// place): headers, then one line per row; no width fitting.
pub fn table_lines(headers: &[&str], rows: &[Vec<Cell>], color: bool) -> Vec<String> {
    let now = Timestamp::now();
    let rows: Vec<Vec<(String, Style)>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| c.table_text(now, TimeStyle::default()))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, (text, _)) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(text.chars().count());
            }
        }
    }
    let mut lines = Vec::with_capacity(rows.len() + 1);
    if !headers.is_empty() {
        let header: Vec<(String, Style)> = headers
            .iter()
            .map(|h| (h.to_string(), Style::Plain))
            .collect();
        lines.push(render_row(&header, &widths, false));
    }
    for row in &rows {
        lines.push(render_row(row, &widths, color));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_escapes_tabs_and_newlines() {
        assert_eq!(escape_tsv("a\tb\nc\\d"), "a\\tb\\nc\\\\d");
    }

    #[test]
    fn tables_shrink_the_widest_column() {
        let headers: Vec<String> = ["NAME", "MESSAGE", "AGE"].map(String::from).to_vec();
        assert_eq!(
            fit_to_width(&[10, 40, 5], &headers, Some(40)),
            vec![10, 21, 5]
        );
        assert_eq!(fit_to_width(&[10, 40, 5], &headers, None), vec![10, 40, 5]);
        let headers: Vec<String> = ["NAME", "ID"].map(String::from).to_vec();
        assert_eq!(fit_to_width(&[30, 36], &headers, Some(50)), vec![12, 36]);
        assert_eq!(truncate("abcdefgh", 5), "abcd…");
        assert_eq!(truncate("a\tb\nc", 9), "a b c");
    }

    #[test]
    fn rows_pad_but_do_not_trail() {
        let row = vec![
            ("a".to_string(), Style::Plain),
            ("bb".to_string(), Style::Plain),
        ];
        assert_eq!(render_row(&row, &[3, 4], false), "a    bb");
    }
}
