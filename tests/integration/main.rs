//! Integration tests: the real pf binaries against a real Prefect server started by the harness.

mod fixture;
mod harness;

mod describe;
mod faults;
mod get;
mod logs;
mod man;
