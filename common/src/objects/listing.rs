//! Listing a kind of object: walk its filter pages, join in names once per page, print rows.
//! Every kind of `pf-get` goes through [`print_listing`]; a kind is data ([`Listing`]), not code.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::client::Client;
use crate::error::Result;
use crate::output::{Cell, Printer};
use crate::paging::Pages;

/// Names a table joins in, fetched once per page in one batched `any_` query (never N+1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// Nothing to join.
    None,
    /// `flow_id` → flow name (flow runs, deployments).
    FlowNames,
    /// `work_pool_id` → work pool name (workers).
    WorkPoolNames,
}

/// The names joined in for one page.
#[derive(Debug, Default)]
pub struct Joined {
    /// flow id → flow name.
    pub flow_names: HashMap<String, String>,
    /// work pool id → work pool name.
    pub work_pool_names: HashMap<String, String>,
}

impl Joined {
    /// The flow name of an object with a `flow_id` ("" when unknown).
    pub fn flow_name(&self, object: &Value) -> String {
        object
            .get("flow_id")
            .and_then(Value::as_str)
            .and_then(|id| self.flow_names.get(id))
            .cloned()
            .unwrap_or_default()
    }

    /// The work pool name of an object with a `work_pool_id` ("" when unknown).
    pub fn work_pool_name(&self, object: &Value) -> String {
        object
            .get("work_pool_id")
            .and_then(Value::as_str)
            .and_then(|id| self.work_pool_names.get(id))
            .cloned()
            .unwrap_or_default()
    }
}

/// One kind's listing: what to request and how to print a row.
#[derive(Debug)]
pub struct Listing {
    /// The filter endpoint, e.g. `flow_runs/filter`.
    pub path: &'static str,
    /// The filter body (filters and sort; limit/offset are added per page).
    pub body: Value,
    /// How many objects at most (None: all).
    pub limit: Option<usize>,
    /// Table headers.
    pub columns: &'static [&'static str],
    /// Names to join in per page.
    pub join: Join,
    /// One row's cells.
    pub row: fn(&Value, &Joined) -> Vec<Cell>,
}

/// Walk the listing's pages and print each as it arrives.
pub fn print_listing(client: &Client, printer: &mut Printer, listing: Listing) -> Result<()> {
    let pages = Pages::new(client, listing.path, listing.body, listing.limit);
    print_pages(
        client,
        printer,
        pages,
        &Rows {
            columns: listing.columns,
            join: listing.join,
            row: listing.row,
        },
    )
}

/// How a kind's objects print as rows: columns, names to join in, one row's cells.
#[derive(Debug, Clone, Copy)]
pub struct Rows {
    /// Table headers.
    pub columns: &'static [&'static str],
    /// Names to join in per page.
    pub join: Join,
    /// One row's cells.
    pub row: fn(&Value, &Joined) -> Vec<Cell>,
}

/// Print pages from any source (offset pages, event pages, a chain of them — see
/// [`crate::paging::chain`]) as they arrive, joining names in once per page.
pub fn print_pages(
    client: &Client,
    printer: &mut Printer,
    pages: impl IntoIterator<Item = Result<Vec<Value>>>,
    rows: &Rows,
) -> Result<()> {
    printer.columns(rows.columns);
    for page in pages {
        let page = page?;
        let joined = if printer.needs_cells() {
            join(client, rows.join, &page)?
        } else {
            Joined::default()
        };
        printer.page(&page, |object| (rows.row)(object, &joined))?;
    }
    printer.finish()
}

/// Fetch the names a page needs, in one request.
pub fn join(client: &Client, join: Join, page: &[Value]) -> Result<Joined> {
    let mut joined = Joined::default();
    match join {
        Join::None => {}
        Join::FlowNames => joined.flow_names = names_by_id(client, page, "flow_id", "flows")?,
        Join::WorkPoolNames => {
            joined.work_pool_names = names_by_id(client, page, "work_pool_id", "work_pools")?
        }
    }
    Ok(joined)
}

/// id → name of the `collection` objects a page refers to through `key`, in one request.
fn names_by_id(
    client: &Client,
    page: &[Value],
    key: &str,
    collection: &str,
) -> Result<HashMap<String, String>> {
    let mut names = HashMap::new();
    let mut ids: Vec<&str> = page
        .iter()
        .filter_map(|o| o.get(key).and_then(Value::as_str))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(names);
    }
    let body = json!({ collection: { "id": { "any_": ids } }, "limit": ids.len().min(200) });
    if let Value::Array(objects) = client.post(&format!("{collection}/filter"), body)? {
        for object in objects {
            if let (Some(id), Some(name)) = (
                object.get("id").and_then(Value::as_str),
                object.get("name").and_then(Value::as_str),
            ) {
                names.insert(id.to_string(), name.to_string());
            }
        }
    }
    Ok(names)
}
