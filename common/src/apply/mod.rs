//! Declarative create-or-update of any kind of object (pf-apply) and its inverse, exporting a
//! server as objects to apply (pf-export).
//!
//! - [`source`]: reading objects from files, directories, stdin or `KIND NAME KEY=JSON…`
//! - [`spec`]: what apply knows about each kind (natural key, endpoints, server-owned fields)
//! - [`prepare`]: deciding kinds and checking objects before any write
//! - [`schema`]: the embedded OpenAPI request schemas and the check against them
//! - [`references`]: natural-key lookups, names ↔ ids
//! - [`diff`]: field-level comparison
//! - [`upsert`]: create, update only what changed, or leave alone
//! - [`schedule`]: the same for one schedule of a deployment (matched by slug or by spec)
//! - [`rows`]: the KIND/NAME/RESULT/ID row of each object
//! - [`export`]: every object of a server in apply form

pub mod diff;
pub mod export;
pub mod prepare;
pub mod references;
pub mod rows;
pub mod schedule;
pub mod schema;
pub mod source;
pub mod spec;
pub mod upsert;
