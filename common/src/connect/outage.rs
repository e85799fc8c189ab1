//! The one set of outage rules of every loop that waits on the server (`pf-logs --follow`,
//! `pf-run --watch`, `pf-wait`, `pf-get … --follow/--watch`): a lost server (network error or
//! 5xx while it restarts) is reported once on stderr, retried with jittered backoff, and given
//! up after [`GIVE_UP_AFTER`]; its return is reported too, and the caller resumes from its
//! cursor.

use std::time::{Duration, Instant};

use crate::cli::warn;
use crate::error::{Error, Result};

/// A server gone for this long ends the wait with its error.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(600);
/// The longest pause between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// Errors a wait rides out: the server is unreachable, or answers 5xx (restarting).
pub fn is_connection_loss(e: &Error) -> bool {
    matches!(e, Error::Network { .. } | Error::Server { .. })
}

/// Tracks whether the server is reachable for one loop.
#[derive(Debug)]
pub struct Outage {
    tool: &'static str,
    since: Option<Instant>,
    attempt: u32,
}

impl Outage {
    /// No outage yet; warnings are printed as `TOOL: warning: …`.
    pub fn new(tool: &'static str) -> Outage {
        Outage {
            tool,
            since: None,
            attempt: 0,
        }
    }

    /// Whether the server is reachable as far as we know.
    pub fn is_up(&self) -> bool {
        self.since.is_none()
    }

    /// A request succeeded: when an outage just ended, say so and return how long it lasted.
    pub fn up(&mut self) -> Option<Duration> {
        let since = self.since.take()?;
        self.attempt = 0;
        warn(
            self.tool,
            format!(
                "reconnected after {} s; resuming",
                since.elapsed().as_secs()
            ),
        );
        Some(since.elapsed())
    }

    /// A request failed: Ok(how long to wait before the next attempt) for a connection loss
    /// (reported the first time), or the error itself when it is another error or the server
    /// has been gone for [`GIVE_UP_AFTER`].
    pub fn down(&mut self, error: Error) -> Result<Duration> {
        if !is_connection_loss(&error) {
            return Err(error);
        }
        let since = *self.since.get_or_insert_with(|| {
            warn(
                self.tool,
                format!("lost connection to the server ({error}); retrying"),
            );
            Instant::now()
        });
        if since.elapsed() >= GIVE_UP_AFTER {
            return Err(error);
        }
        let delay = crate::client::backoff_delay(self.attempt, MAX_BACKOFF);
        self.attempt += 1;
        Ok(delay)
    }

    /// True right when an outage starts (the first failure), so callers can hold their cursors.
    pub fn just_started(&self) -> bool {
        self.since.is_some() && self.attempt == 1
    }
}
