//! Runs, logs and events over time: creating and watching runs, reading, following and shipping
//! logs, the server's websockets, followed events and watched lists.
//!
//! Following runs ([`follow`]), events ([`events`]) and lists ([`watchlist`]) are sources of
//! one watch loop, [`watcher`], which owns the websockets, the polling schedule, the timeout
//! and the outage rules for all three.

pub mod events;
pub mod follow;
pub(crate) mod follower;
pub mod logs;
pub mod logship;
pub mod logstream;
pub mod runs;
pub mod text_search;
pub mod watcher;
pub mod watchlist;
