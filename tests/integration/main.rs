//! Integration tests: the real pf binaries against a real Prefect server started by the harness.

mod fixture;
mod harness;
mod worker;

mod admin;
mod admin_limits;
mod api;
mod apply;
mod apply_transfer;
mod auth;
mod auth_cloud;
mod bulk_state;
mod compat;
mod deploy;
mod deps;
mod describe;
mod events;
mod exec;
mod faults;
mod get;
mod hardening;
mod large_answers;
mod limits_vars_secrets;
mod logs;
mod man;
mod objects;
mod parity;
mod pipeline;
mod run;
mod run_checks;
mod shell;
mod state;
mod tree;
mod wait;
mod watch;
