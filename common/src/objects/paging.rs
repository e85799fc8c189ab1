//! Paging over `*/filter` endpoints: offset pages of up to 200, yielded as they arrive.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{Error, Result};

/// The server's page cap (`limit` > 200 → 422).
pub const PAGE_SIZE: usize = 200;

/// An iterator over pages of a `POST {path}` filter endpoint. Each item is one page (at most
/// 200 objects), handed out as it arrives.
///
/// No object is handed out twice: objects created while the walk goes on shift the offset
/// pages, so a later page can repeat the end of the one before; the ids seen are kept (16
/// bytes per UUID) and a repeat is dropped.
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
    seen: SeenIds,
}

/// Ids already handed out by one walk: UUIDs as 128-bit numbers, anything else as text.
#[derive(Debug, Default)]
pub struct SeenIds {
    uuids: HashSet<u128>,
    others: HashSet<String>,
}

impl SeenIds {
    /// Whether `object` is new (objects without an `id` always are); remembers its id.
    pub fn first_time(&mut self, object: &Value) -> bool {
        let Some(id) = object.get("id").and_then(Value::as_str) else {
            return true;
        };
        match uuid::Uuid::parse_str(id) {
            Ok(uuid) => self.uuids.insert(uuid.as_u128()),
            Err(_) => self.others.insert(id.to_string()),
        }
    }
}

impl<'c> Pages<'c> {
    /// Pages of `POST path` with `body` (a JSON object of filters and sort); `limit` caps the
    /// total number of objects (None: all of them). An `offset` in the body is where the walk
    /// starts.
    pub fn new(client: &'c Client, path: &str, body: Value, limit: Option<usize>) -> Self {
        let offset = body.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
        Pages {
            client,
            path: path.to_string(),
            body: if body.is_object() { body } else { json!({}) },
            offset,
            remaining: limit,
            done: limit == Some(0),
            seen: SeenIds::default(),
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
                    message: format!(
                        "{} answered with {} instead of a list",
                        self.path,
                        kind_of(&other)
                    ),
                }));
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        self.offset += page.len();
        let full = page.len() == size;
        let page: Vec<Value> = page
            .into_iter()
            .filter(|object| self.seen.first_time(object))
            .collect();
        if let Some(r) = &mut self.remaining {
            *r = r.saturating_sub(page.len());
        }
        if !full || self.remaining == Some(0) {
            self.done = true;
        }
        if page.is_empty() {
            // A page of repeats only: go on with the next one.
            return if self.done { None } else { self.next() };
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

/// Where one stream of pages comes from.
#[derive(Debug, Clone)]
pub enum PageSource {
    /// Offset pages of `POST {path}` with a filter body (most `*/filter` endpoints).
    Offset {
        /// The filter endpoint, e.g. `work_pools/my-pool/workers/filter`.
        path: String,
        /// Filters and sort (limit/offset are added per page).
        body: Value,
    },
    /// `POST events/filter`, then `GET` each page's `next_page` URL until there is none.
    Events {
        /// The `events/filter` body (its `filter`); the page size is added.
        body: Value,
    },
}

/// The events endpoint's page cap (`limit` > 50 → 422).
pub const EVENT_PAGE_SIZE: usize = 50;

/// Pages of several sources, one after the other, with one `limit` over all of them (None:
/// everything). Each source is only asked once the ones before it are used up. An object a
/// later source repeats (same `id`: Prefect 3 serves each tag limit of `/concurrency_limits`
/// again as a global limit named `tag:NAME`) is dropped, so with several sources the ids seen
/// are kept across sources (each source's own walk keeps them too, see [`Pages`]).
///
/// ```no_run
/// # use pf_common::{client::Client, paging::{chain, PageSource}};
/// # fn f(client: &Client) -> pf_common::error::Result<()> {
/// let sources = vec![
///     PageSource::Offset { path: "concurrency_limits/filter".into(), body: serde_json::json!({}) },
///     PageSource::Offset { path: "v2/concurrency_limits/filter".into(), body: serde_json::json!({}) },
/// ];
/// for page in chain(client, sources, Some(300)) { let _ = page?; }
/// # Ok(()) }
/// ```
pub fn chain(
    client: &Client,
    sources: Vec<PageSource>,
    limit: Option<usize>,
) -> impl Iterator<Item = Result<Vec<Value>>> + '_ {
    let seen = (sources.len() > 1).then(SeenIds::default);
    Chain {
        client,
        sources: sources.into_iter(),
        current: None,
        remaining: limit,
        seen,
    }
}

struct Chain<'c> {
    client: &'c Client,
    sources: std::vec::IntoIter<PageSource>,
    current: Option<Box<dyn Iterator<Item = Result<Vec<Value>>> + 'c>>,
    remaining: Option<usize>,
    seen: Option<SeenIds>,
}

impl Iterator for Chain<'_> {
    type Item = Result<Vec<Value>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.remaining == Some(0) {
                return None;
            }
            if let Some(current) = &mut self.current {
                match current.next() {
                    Some(Ok(mut page)) => {
                        if let Some(seen) = &mut self.seen {
                            page.retain(|o| seen.first_time(o));
                        }
                        if let Some(r) = &mut self.remaining {
                            page.truncate(*r);
                            *r -= page.len();
                        }
                        if page.is_empty() {
                            continue;
                        }
                        return Some(Ok(page));
                    }
                    Some(Err(e)) => {
                        self.remaining = Some(0);
                        return Some(Err(e));
                    }
                    None => self.current = None,
                }
            }
            let source = self.sources.next()?;
            self.current = Some(match source {
                PageSource::Offset { path, body } => {
                    Box::new(Pages::new(self.client, &path, body, self.remaining))
                }
                PageSource::Events { body } => {
                    Box::new(EventPages::new(self.client, body, self.remaining))
                }
            });
        }
    }
}

/// Pages of `POST events/filter` (at most 50 events each), following each answer's
/// `next_page` URL (a page token) until the server has no more or `limit` is reached.
///
/// No event is handed out twice: events stored while the walk goes on (the server stores them
/// asynchronously) shift the pages as new runs do for [`Pages`]; a repeated id is dropped.
#[derive(Debug)]
pub struct EventPages<'c> {
    client: &'c Client,
    body: Option<Value>,
    next: Option<String>,
    remaining: Option<usize>,
    done: bool,
    seen: SeenIds,
}

impl<'c> EventPages<'c> {
    /// Pages of events matching `body` (an object with an optional `filter`); `limit` caps the
    /// total (None: all).
    pub fn new(client: &'c Client, body: Value, limit: Option<usize>) -> Self {
        let body = if body.is_object() { body } else { json!({}) };
        EventPages {
            client,
            body: Some(body),
            next: None,
            remaining: limit,
            done: limit == Some(0),
            seen: SeenIds::default(),
        }
    }
}

impl Iterator for EventPages<'_> {
    type Item = Result<Vec<Value>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_page()? {
                // A page of repeats only: the walk goes on.
                Ok(events) if events.is_empty() => continue,
                page => return Some(page),
            }
        }
    }
}

impl EventPages<'_> {
    /// The next page as the server gives it, repeats dropped (possibly empty); None at the end.
    fn next_page(&mut self) -> Option<Result<Vec<Value>>> {
        if self.done {
            return None;
        }
        let answer = match (self.body.take(), self.next.take()) {
            (Some(mut body), _) => {
                body["limit"] = json!(
                    self.remaining
                        .map_or(EVENT_PAGE_SIZE, |r| r.min(EVENT_PAGE_SIZE))
                );
                self.client.post("events/filter", body)
            }
            (None, Some(url)) => self.client.get(&url),
            (None, None) => return None,
        };
        let mut answer = match answer {
            Ok(answer @ Value::Object(_)) => answer,
            Ok(other) => {
                self.done = true;
                return Some(Err(Error::Server {
                    status: 200,
                    message: format!(
                        "events/filter answered with {} instead of a page",
                        kind_of(&other)
                    ),
                }));
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let mut events = match answer.get_mut("events").map(Value::take) {
            Some(Value::Array(events)) => events,
            _ => Vec::new(),
        };
        let served = events.len();
        events.retain(|event| self.seen.first_time(event));
        if let Some(r) = self.remaining {
            events.truncate(r);
            self.remaining = Some(r - events.len());
        }
        // Follow the token through our own API URL: behind a proxy the server's idea of its
        // address may not be reachable.
        self.next =
            answer
                .get("next_page")
                .and_then(Value::as_str)
                .map(|url| match url.split_once('?') {
                    Some((_, query)) => format!("events/filter/next?{query}"),
                    None => url.to_string(),
                });
        if self.next.is_none() || served == 0 || self.remaining == Some(0) {
            self.done = true;
        }
        if events.is_empty() && self.done {
            return None;
        }
        Some(Ok(events))
    }
}
