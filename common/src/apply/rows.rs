//! The row printed for each applied object: KIND, NAME, RESULT, ID (NDJSON in a pipe:
//! `{"kind","name","result","changed","id","source"}`).

use serde_json::{Value, json};

use super::prepare::Item;
use super::upsert::{Applied, Outcome};
use crate::error::Error;
use crate::output::{Cell, Style};

/// The table's columns.
pub const COLUMNS: &[&str] = &["KIND", "NAME", "RESULT", "ID"];

/// The row of an object applied (or refused: `refused: reason`).
pub fn row(item: &Item, result: &Result<Applied, Error>) -> Value {
    let (outcome, changed, id) = match result {
        Ok(applied) => (
            applied.outcome.text(),
            match &applied.outcome {
                Outcome::Updated(fields) => json!(fields),
                _ => json!([]),
            },
            json!(applied.id),
        ),
        Err(e) => (format!("refused: {e}"), json!([]), Value::Null),
    };
    json!({
        "kind": item.spec.kind,
        "name": item.name(),
        "result": outcome,
        "changed": changed,
        "id": id,
        "source": item.origin.to_string(),
    })
}

/// A row's cells: the result coloured (created green, updated yellow, refused red).
pub fn cells(row: &Value) -> Vec<Cell> {
    let result = row["result"].as_str().unwrap_or_default().to_string();
    let style = if result.starts_with("created") {
        Style::Green
    } else if result.starts_with("updated") {
        Style::Yellow
    } else if result.starts_with("refused") {
        Style::Red
    } else {
        Style::Plain
    };
    vec![
        Cell::from_json(row.get("kind")),
        Cell::from_json(row.get("name")),
        Cell::Styled(result, style),
        Cell::from_json(row.get("id")),
    ]
}
