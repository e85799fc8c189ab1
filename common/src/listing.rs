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
}

/// The names joined in for one page.
#[derive(Debug, Default)]
pub struct Joined {
    /// flow id → flow name.
    pub flow_names: HashMap<String, String>,
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
    printer.columns(listing.columns);
    for page in Pages::new(client, listing.path, listing.body, listing.limit) {
        let page = page?;
        let joined = if printer.needs_cells() { join(client, listing.join, &page)? } else { Joined::default() };
        printer.page(&page, |object| (listing.row)(object, &joined))?;
    }
    printer.finish()
}

/// Fetch the names a page needs, in one request.
pub fn join(client: &Client, join: Join, page: &[Value]) -> Result<Joined> {
    let mut joined = Joined::default();
    if join == Join::FlowNames {
        let mut ids: Vec<&str> = page.iter().filter_map(|o| o.get("flow_id").and_then(Value::as_str)).collect();
        ids.sort_unstable();
        ids.dedup();
        if !ids.is_empty() {
            let body = json!({ "flows": { "id": { "any_": ids } }, "limit": ids.len().min(200) });
            if let Value::Array(flows) = client.post("flows/filter", body)? {
                for flow in flows {
                    if let (Some(id), Some(name)) =
                        (flow.get("id").and_then(Value::as_str), flow.get("name").and_then(Value::as_str))
                    {
                        joined.flow_names.insert(id.to_string(), name.to_string());
                    }
                }
            }
        }
    }
    Ok(joined)
}
