//! Printing pf-api's answer: pretty JSON on a terminal, compact in a pipe, anything that is not
//! JSON as it came. A large JSON list (spooled to a file by the client) is printed element by
//! element as it is parsed, byte for byte what printing the whole list would give.

use std::io::{BufWriter, Write};

use pf_common::answer::Body;
use pf_common::output::{Format, Printer};
use pf_common::{Error, Result};

/// Print an answer's body through `printer` (pretty JSON on a terminal, compact in a pipe, or
/// `--jq` on the whole answer).
pub fn print_answer(printer: &mut Printer, mut body: Body, jq: bool) -> Result<()> {
    let first = body
        .first_byte()
        .map_err(|e| Error::io("cannot read the answer back", e))?;
    let Some(first) = first else {
        return Ok(());
    };
    // Only a spooled (large) list is streamed, and only when it is valid JSON throughout (an
    // answer that is not JSON is printed as it came, and that cannot be known halfway). A
    // --jq filter sees the whole answer, so it needs the whole value.
    if body.is_spooled() && !jq && first == b'[' && body.is_json_list() {
        let out = BufWriter::with_capacity(256 << 10, std::io::stdout().lock());
        return body.write_list(out, printer.format() == Format::Table);
    }
    match body.json() {
        Ok(value) => {
            printer.object(&value, |_| Vec::new())?;
            printer.finish()
        }
        Err(_) => {
            let mut out = std::io::stdout().lock();
            body.copy_to(&mut out)
                .and_then(|_| out.flush())
                .map_err(|e| Error::io("cannot write to stdout", e))
        }
    }
}
