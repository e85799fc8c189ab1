//! `pf-common`: the one library crate of pf. It is the only place that knows HTTP, auth, paging,
//! output formats and how references are parsed; each tool's `main.rs` holds its flags and flow.
//!
//! - [`apply`]: create-or-update from files (pf-apply) and export of a server (pf-export)
//! - [`config`]: settings from flags, environment and Prefect's `profiles.toml`
//! - [`profiles`]: reading and editing `profiles.toml` in place
//! - [`cloud`]: Prefect Cloud's account API (`/me/`, workspaces, API keys)
//! - [`client`]: the synchronous HTTP client (auth, CSRF, retries, `-v` traces)
//! - [`answer`]: answer bodies, large ones spooled to a file and parsed element by element
//! - [`error`]: typed errors and their exit codes
//! - [`paging`], [`filters`]: `*/filter` pages and filter bodies
//! - [`refs`], [`input`]: REFs (ids or names) from arguments or stdin
//! - [`output`], [`jq`], [`time`]: table / ndjson / json / tsv, `--jq`, ages and durations
//! - [`cli`]: shared flags and the run wrapper
//! - [`complete`]: shell completion of names from the server
//! - [`kinds`]: the registry of kinds: per kind its REF forms, collection, columns and verbs
//! - [`model`]: what the tools know about Prefect objects (states, columns)
//! - [`params`]: `KEY=JSON` flags and parameter checks against a flow's schema
//! - [`runs`]: creating flow runs (idempotently) and watching their states and logs
//! - [`logs`], [`logstream`], [`follow`]: reading, streaming, following and writing run logs;
//!   [`follow`] is also the one watcher of runs' states (pf-wait)
//! - [`events`]: following events (`/events/out`, or polling `/events/filter`)
//! - [`liveregion`]: lines redrawn in place at the bottom of a terminal
//! - [`runtree`]: a flow run's task runs and subflow runs as a tree
//! - [`watchlist`]: watched lists (`pf-get KIND --watch`)
//! - [`progress`]: progress bars on stderr for long work (terminal only)
//! - [`outage`]: the one set of rules for riding out a lost server
//! - [`python`]: the user's Python interpreter and JSON-line helper processes
//! - [`logship`]: the bounded, retrying log shipper of `pf-logs --write` and `pf-exec`
//! - [`states`]: proposing run states (`set_state`) and reading state histories
//! - [`server`]: the server's release and the features it has (older servers)
//! - [`text_search`]: Prefect's log text search, for servers that cannot search

#![warn(missing_docs)]

pub mod answer;
pub mod apply;
pub mod cli;
pub mod client;
pub mod cloud;
pub mod complete;
pub mod config;
pub mod error;
pub mod events;
pub mod filters;
pub mod follow;
pub mod input;
pub mod jq;
pub mod kinds;
pub mod listing;
pub mod liveregion;
pub mod logprint;
pub mod logs;
pub mod logship;
pub mod logstream;
pub mod model;
pub mod outage;
pub mod output;
pub mod paging;
pub mod params;
pub mod profiles;
pub mod progress;
pub mod python;
pub mod refs;
pub mod resume;
pub mod runs;
pub mod runtree;
pub mod server;
pub mod states;
pub mod tables;
pub mod text_search;
pub mod time;
pub mod watchlist;
pub mod weburl;
pub mod writes;

pub use client::Client;
pub use error::{Error, Result};
