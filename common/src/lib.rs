//! `pf-common`: the one library crate of pf. It is the only place that knows HTTP, auth, paging,
//! output formats and how references are parsed; each tool's `main.rs` holds its flags and flow.
//! Modules are grouped in folders by concern and re-exported at the top, so each keeps its short
//! path (`pf_common::client`):
//!
//! - [`connect`]: [`config`] (flags, environment, `profiles.toml`), [`profiles`] (editing it in
//!   place), [`client`] (auth, CSRF, retries, `-v` traces), [`answer`] (bodies; large ones
//!   spooled to a file and parsed element by element), [`cloud`] (Prefect Cloud's account
//!   API), [`server`] (a release's features), [`outage`] (riding out a lost server)
//! - [`args`]: [`cli`] (shared flags, the run wrapper), [`refs`] and [`input`] (REFs from
//!   arguments or stdin), [`params`] (`KEY=JSON`, schema checks), [`time`] (times, durations),
//!   [`complete`] (completion of names from the server)
//! - [`present`]: [`output`] and [`jq`] (table / ndjson / json / tsv / csv, `--jq`), [`tables`]
//!   (columns), [`logprint`] (log lines), [`weburl`] (UI addresses), [`progress`],
//!   [`liveregion`] and [`runtree`] (terminal-only live views)
//! - [`objects`]: [`filters`] and [`paging`] (`*/filter` bodies and pages), [`listing`],
//!   [`model`] (states, accessors), [`states`] (`set_state`, histories), [`resume`] (paused
//!   runs), [`writes`] (a write verb over a batch of REFs)
//! - [`watch`]: [`runs`] (creating runs idempotently), [`watcher`] (the one watch loop, with
//!   its outage rules), and its sources: [`follow`] (runs: pf-run --watch, pf-logs --follow,
//!   pf-wait), [`events`] (`pf-get events --follow`) and [`watchlist`] (`pf-get KIND --watch`);
//!   [`logs`], [`logstream`] (websockets), [`logship`] (the bounded log shipper),
//!   [`text_search`] (`--grep` where the server can't)
//! - [`kinds`]: the registry of kinds: per kind its REF forms, collection, columns and verbs
//! - [`apply`]: create-or-update from files (pf-apply) and export of a server (pf-export)
//! - [`error`]: typed errors and their exit codes; [`python`]: the user's Python interpreter

#![warn(missing_docs)]

pub mod apply;
pub mod args;
pub mod connect;
pub mod error;
pub mod kinds;
pub mod objects;
pub mod present;
pub mod python;
pub mod watch;

// Every module keeps its short path (`pf_common::client`, `crate::output`): the folders group
// modules by concern for readers, not for callers.
pub use args::{cli, complete, input, params, refs, time};
pub use connect::{answer, client, cloud, config, outage, profiles, server};
pub use objects::{filters, listing, model, paging, resume, states, writes};
pub use present::{jq, liveregion, logprint, output, progress, runtree, tables, weburl};
pub use watch::{events, follow, logs, logship, logstream, runs, text_search, watcher, watchlist};

pub use client::Client;
pub use error::{Error, Result};
