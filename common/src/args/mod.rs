//! What the user gives a tool: shared flags, REFs from arguments or stdin, `KEY=JSON`
//! parameters, times and durations, and shell completion of names.

pub mod cli;
pub mod complete;
pub mod input;
pub mod jsonschema;
pub mod params;
pub mod refs;
pub mod time;
