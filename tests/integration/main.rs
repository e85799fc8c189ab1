//! Integration tests: the real pf binaries against a real Prefect server started by the harness.

mod fixture;
mod harness;
mod worker;

mod api;
mod auth;
mod auth_cloud;
mod describe;
mod faults;
mod get;
mod limits_vars_secrets;
mod logs;
mod man;
mod objects;
mod pipeline;
mod run;
mod run_checks;
mod state;
