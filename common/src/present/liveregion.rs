//! A few lines at the bottom of a terminal redrawn in place (the live state line and tree of
//! `pf-run --watch`, the tree under `pf-logs --follow`), with ordinary output printed above
//! them: clear the region, print, draw it again.
//!
//! The cursor stays at the end of the region's last line. Lines are cut to the terminal's
//! width, since a wrapped line would break the count of lines to move up.

use std::io::Write;

use crate::error::{Error, Result};
use crate::output::terminal_width;

/// The region and how many lines it takes on screen (0: not drawn).
#[derive(Debug, Default)]
pub struct LiveRegion {
    lines: usize,
}

impl LiveRegion {
    /// Whether the region is on screen.
    pub fn is_drawn(&self) -> bool {
        self.lines > 0
    }

    /// Move to the start of the region and erase it.
    fn reset(&self) -> String {
        match self.lines {
            // Nothing below the line: erasing it is enough.
            0 | 1 => "\r\x1b[K".to_string(),
            n => format!("\r\x1b[{}A\x1b[J", n - 1),
        }
    }

    /// Draw `lines` in place of what the region showed.
    pub fn draw(&mut self, lines: &[String]) -> Result<()> {
        let width = terminal_width().unwrap_or(usize::MAX).max(20);
        let mut text = self.reset();
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            let line = line.trim_end();
            if visible_width(line) < width {
                text.push_str(line);
            } else {
                text.extend(strip_escapes(line).chars().take(width - 1));
            }
        }
        write_out(&text)?;
        self.lines = lines.len();
        Ok(())
    }

    /// Erase the region (output printed next takes its place).
    pub fn clear(&mut self) -> Result<()> {
        if self.lines > 0 {
            write_out(&self.reset())?;
            self.lines = 0;
        }
        Ok(())
    }

    /// Leave the region on screen and end its last line.
    pub fn close(&mut self) -> Result<()> {
        if self.lines > 0 {
            write_out("\n")?;
            self.lines = 0;
        }
        Ok(())
    }
}

fn write_out(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("cannot write to stdout", e))
}

/// The text without ANSI colour sequences.
fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn visible_width(text: &str) -> usize {
    strip_escapes(text).chars().count()
}
