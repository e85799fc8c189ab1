//! Reading and changing objects: filter bodies and pages, listings, what pf knows of Prefect's
//! objects, state proposals, resuming runs, and write verbs over batches of REFs.

pub mod filters;
pub mod listing;
pub mod model;
pub mod paging;
pub mod resume;
pub mod states;
pub mod writes;
