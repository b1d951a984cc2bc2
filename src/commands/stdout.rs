//! Printing for commands: `print!` panics when stdout is a closed pipe
//! (`raytls lint-uri ... | head -1`), so output goes through here instead.
use std::io::Write;

use crate::error::{Error, Result};

/// Write `text` to stdout. A closed pipe is not an error: the reader has what it wanted.
pub fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::write("<stdout>", e)),
    }
}

/// `emit` one line.
pub fn line(text: &str) -> Result<()> {
    emit(&format!("{text}\n"))
}
