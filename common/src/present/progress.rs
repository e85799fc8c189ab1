//! Progress of long work on stderr (`pf-get --all` over many pages, bulk `pf-state` and
//! `pf-rm`, `pf-apply` of many objects): a bar
//! with a total where it is known, a counter otherwise. Only when stderr is a terminal, so
//! pipes, files and cron mail never see it; it is erased when the work ends.

use std::io::IsTerminal;
use std::time::Duration;

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar on screen, so that error and warning lines ([`crate::cli::warn`],
/// [`crate::cli::report_item`]) are printed above it rather than through it.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Run `f` (which writes to stderr) with any progress bar out of the way.
pub fn above_bar<R>(f: impl FnOnce() -> R) -> R {
    let active = ACTIVE.lock().ok().and_then(|a| a.clone());
    match active {
        Some(bar) => bar.suspend(f),
        None => f(),
    }
}

/// Progress of one piece of work (nothing at all when stderr is not a terminal).
#[derive(Debug)]
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// Progress over `total` items (None: unknown) of `what` (`flow runs`).
    pub fn new(total: Option<u64>, what: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = match total {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ({eta} left)")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{spinner} {pos} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(what.to_string());
        // Drawn at once: a batch that ends within the first tick still showed its total.
        bar.tick();
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut active) = ACTIVE.lock() {
            *active = Some(bar.clone());
        }
        Progress(Some(bar))
    }

    /// No progress shown.
    pub fn none() -> Progress {
        Progress(None)
    }

    /// `n` more items done.
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }

    /// Run `f` (which prints to the same terminal) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.0 {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Erase the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
            if let Ok(mut active) = ACTIVE.lock() {
                *active = None;
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
