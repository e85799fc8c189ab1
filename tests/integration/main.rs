//! Integration tests: the real pf binaries against a real Prefect server started by the harness.

mod fixture;
mod harness;

mod auth;
mod auth_cloud;
mod describe;
mod faults;
mod get;
mod man;
