//! Paging over `*/filter` endpoints: offset pages of up to 200, yielded as they arrive.

use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{Error, Result};

/// The server's page cap (`limit` > 200 → 422).
pub const PAGE_SIZE: usize = 200;

/// An iterator over pages of a `POST {path}` filter endpoint. Each item is one page (at most
/// 200 objects); memory stays constant however many pages there are.
///
/// ```no_run
/// # use pf_common::{client::Client, paging::Pages};
/// # fn f(client: &Client) -> pf_common::error::Result<()> {
/// let body = serde_json::json!({"sort": "ID_DESC"});
/// for page in Pages::new(client, "flows/filter", body, None) {
///     for flow in page? { println!("{}", flow["name"]); }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Pages<'c> {
    client: &'c Client,
    path: String,
    body: Value,
    offset: usize,
    remaining: Option<usize>,
    done: bool,
}

impl<'c> Pages<'c> {
    /// Pages of `POST path` with `body` (a JSON object of filters and sort); `limit` caps the
    /// total number of objects (None: all of them).
    pub fn new(client: &'c Client, path: &str, body: Value, limit: Option<usize>) -> Self {
        Pages {
            client,
            path: path.to_string(),
            body: if body.is_object() { body } else { json!({}) },
            offset: 0,
            remaining: limit,
            done: limit == Some(0),
        }
    }
}

impl Iterator for Pages<'_> {
    type Item = Result<Vec<Value>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let size = self.remaining.map_or(PAGE_SIZE, |r| r.min(PAGE_SIZE));
        let mut body = self.body.clone();
        body["limit"] = json!(size);
        body["offset"] = json!(self.offset);
        let page = match self.client.post(&self.path, body) {
            Ok(Value::Array(items)) => items,
            Ok(other) => {
                self.done = true;
                return Some(Err(Error::Server {
                    status: 200,
                    message: format!("{} answered with {} instead of a list", self.path, kind_of(&other)),
                }));
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        self.offset += page.len();
        if let Some(r) = &mut self.remaining {
            *r = r.saturating_sub(page.len());
        }
        if page.len() < size || self.remaining == Some(0) {
            self.done = true;
        }
        if page.is_empty() {
            return None;
        }
        Some(Ok(page))
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
