//! `pf-common`: the one library crate of pf. It is the only place that knows HTTP, auth, paging,
//! output formats and how references are parsed; each tool's `main.rs` holds its flags and flow.
//!
//! - [`config`]: settings from flags, environment and Prefect's `profiles.toml`
//! - [`profiles`]: reading and editing `profiles.toml` in place
//! - [`cloud`]: Prefect Cloud's account API (`/me/`, workspaces, API keys)
//! - [`client`]: the synchronous HTTP client (auth, CSRF, retries, `-v` traces)
//! - [`error`]: typed errors and their exit codes
//! - [`paging`], [`filters`]: `*/filter` pages and filter bodies
//! - [`refs`], [`input`]: REFs (ids or names) from arguments or stdin
//! - [`output`], [`jq`], [`time`]: table / ndjson / json / tsv, `--jq`, ages and durations
//! - [`cli`]: shared flags and the run wrapper
//! - [`model`]: what the tools know about Prefect objects (states, columns)
//! - [`params`]: `KEY=JSON` flags and parameter checks against a flow's schema
//! - [`runs`]: creating flow runs (idempotently) and watching their states and logs
//! - [`logs`], [`logstream`], [`follow`]: reading, streaming, following and writing run logs
//! - [`states`]: proposing run states (`set_state`) and reading state histories

#![warn(missing_docs)]

pub mod cli;
pub mod client;
pub mod cloud;
pub mod config;
pub mod error;
pub mod filters;
pub mod follow;
pub mod input;
pub mod jq;
pub mod listing;
pub mod logprint;
pub mod logs;
pub mod logstream;
pub mod model;
pub mod output;
pub mod paging;
pub mod params;
pub mod profiles;
pub mod refs;
pub mod runs;
pub mod states;
pub mod tables;
pub mod time;

pub use client::Client;
pub use error::{Error, Result};
