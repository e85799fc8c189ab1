//! Bytes of a command's output → log lines.

/// Longest piece of one output line that [`LineSplitter`] makes into one record: the server
/// stores a record as one row, and a line without newlines (a progress bar, binary output)
/// must not grow without bound.
pub const LINE_PIECE_BYTES: usize = 64 << 10;

/// Turns a stream of output bytes into log lines: split at `\n` (a trailing `\r` dropped),
/// invalid UTF-8 and NUL bytes replaced by U+FFFD, lines longer than [`LINE_PIECE_BYTES`]
/// cut into pieces (nothing dropped).
///
/// ```
/// use pf_common::logship::LineSplitter;
/// let mut lines = Vec::new();
/// let mut splitter = LineSplitter::default();
/// splitter.feed(b"one\r\ntw\xff", |l| lines.push(l));
/// splitter.feed(b"o\nlast", |l| lines.push(l));
/// splitter.finish(|l| lines.push(l));
/// assert_eq!(lines, ["one", "tw\u{FFFD}o", "last"]);
/// ```
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Feed bytes as they were read; `emit` gets each complete line (or piece).
    pub fn feed(&mut self, mut bytes: &[u8], mut emit: impl FnMut(String)) {
        while let Some(pos) = bytes.iter().position(|b| *b == b'\n') {
            self.partial.extend_from_slice(&bytes[..pos]);
            emit(self.take_line());
            bytes = &bytes[pos + 1..];
        }
        self.partial.extend_from_slice(bytes);
        while self.partial.len() >= LINE_PIECE_BYTES {
            let rest = self.partial.split_off(LINE_PIECE_BYTES);
            emit(self.take_piece());
            self.partial = rest;
        }
    }

    /// The stream ended: an unterminated last line is emitted too.
    pub fn finish(&mut self, mut emit: impl FnMut(String)) {
        if !self.partial.is_empty() {
            emit(self.take_line());
        }
    }

    fn take_line(&mut self) -> String {
        if self.partial.last() == Some(&b'\r') {
            self.partial.pop();
        }
        self.take_piece()
    }

    fn take_piece(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.partial).replace('\0', "\u{FFFD}");
        self.partial.clear();
        text
    }
}
