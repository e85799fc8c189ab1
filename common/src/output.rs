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

    fn table_text(&self, now: Timestamp) -> (String, Style) {
        match self {
            Cell::Text(s) => (s.clone(), Style::Plain),
            Cell::Styled(s, style) => (s.clone(), *style),
            Cell::Age(t) => (
                t.map(|t| relative_age(t, now)).unwrap_or_default(),
                Style::Plain,
            ),
            Cell::Time(t) => (
                t.map(crate::time::local_datetime).unwrap_or_default(),
                Style::Plain,
            ),
            Cell::Duration(d) => (d.map(hms).unwrap_or_default(), Style::Plain),
        }
    }

    fn tsv_text(&self) -> String {
        let raw = match self {
            Cell::Text(s) | Cell::Styled(s, _) => s.clone(),
            Cell::Age(t) | Cell::Time(t) => t.map(|t| t.to_string()).unwrap_or_default(),
            Cell::Duration(d) => d.map(|d| format!("{d:.3}")).unwrap_or_default(),
        };
        escape_tsv(&raw)
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
    header: bool,
    color: bool,
    width: Option<usize>,
    table_mode: TableMode,
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
    /// filter; `header` prints a TSV header row.
    pub fn new(format: Option<Format>, jq: Option<&str>, header: bool) -> Result<Printer> {
        let jq = jq.map(JqFilter::compile).transpose()?;
        let format = format.unwrap_or(if stdout_is_terminal() {
            Format::Table
        } else {
            Format::Ndjson
        });
        Ok(Printer {
            format,
            jq,
            header,
            color: use_color(),
            width: terminal_width(),
            table_mode: TableMode::Columns,
            out: BufWriter::new(io::stdout()),
            headers: Vec::new(),
            widths: Vec::new(),
            header_printed: false,
            json_items: 0,
            rows: 0,
            now: Timestamp::now(),
        })
    }

    /// Print objects as pretty JSON instead of columns in table format (pf-describe).
    pub fn with_table_mode(mut self, mode: TableMode) -> Self {
        self.table_mode = mode;
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

    /// True when rows will be rendered as cells (table/tsv without --jq), i.e. when it is worth
    /// fetching the names a table joins in.
    pub fn needs_cells(&self) -> bool {
        self.jq.is_none()
            && (self.format == Format::Tsv
                || (self.format == Format::Table && self.table_mode == TableMode::Columns))
    }

    /// How many objects were printed so far.
    pub fn count(&self) -> usize {
        self.rows
    }

    /// Set the table's column headers (before the first page).
    pub fn columns(&mut self, headers: &[&str]) {
        self.headers = headers.iter().map(|h| h.to_string()).collect();
        self.widths = self.headers.iter().map(|h| h.chars().count()).collect();
    }

    /// Print one page of objects; `cells` renders a row for table/tsv. Flushes, so pipes see
    /// each page as it arrives.
    pub fn page(&mut self, objects: &[Value], cells: impl Fn(&Value) -> Vec<Cell>) -> Result<()> {
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
            (Format::Tsv, _) => {
                if self.header && !self.header_printed {
                    let line = self
                        .headers
                        .iter()
                        .map(|h| escape_tsv(h))
                        .collect::<Vec<_>>()
                        .join("\t");
                    writeln!(self.out, "{line}").map_err(write_error)?;
                    self.header_printed = true;
                }
                for object in objects {
                    let line = cells(object)
                        .iter()
                        .map(Cell::tsv_text)
                        .collect::<Vec<_>>()
                        .join("\t");
                    writeln!(self.out, "{line}").map_err(write_error)?;
                }
            }
            (Format::Table, TableMode::Columns) => {
                let rows: Vec<Vec<(String, Style)>> = objects
                    .iter()
                    .map(|o| cells(o).iter().map(|c| c.table_text(self.now)).collect())
                    .collect();
                self.table_rows(rows)?;
            }
        }
        self.rows += objects.len();
        self.flush()
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
        if !self.header_printed {
            let header: Vec<(String, Style)> = self
                .headers
                .iter()
                .map(|h| (h.clone(), Style::Plain))
                .collect();
            let line = render_row(&header, &widths, false);
            writeln!(self.out, "{line}").map_err(write_error)?;
            self.header_printed = true;
        }
        for row in rows {
            let line = render_row(&row, &widths, self.color);
            writeln!(self.out, "{line}").map_err(write_error)?;
        }
        Ok(())
    }

    /// Finish: close a JSON array, print a table header for an empty result on a terminal,
    /// flush.
    pub fn finish(&mut self) -> Result<()> {
        if self.jq.is_none() {
            match self.format {
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
