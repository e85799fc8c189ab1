//! What the user sees: output formats and `--jq`, table columns, log lines, web UI addresses,
//! and the terminal-only parts (progress bars, lines redrawn in place, the live run tree).

pub mod jq;
pub mod liveregion;
pub mod logprint;
pub mod output;
pub mod progress;
pub mod runtree;
pub mod tables;
pub mod weburl;
