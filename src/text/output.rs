//! Standard output without panics: `println!` panics when stdout is a closed pipe
//! (`raytls inspect --json f | head`) or a full disk. `outln!` writes, remembers the first
//! error, and `main` turns a lost write into exit 1 (a closed pipe is not an error).
use std::io::{self, Write};
use std::sync::OnceLock;

static STDOUT_ERROR: OnceLock<io::ErrorKind> = OnceLock::new();

/// Write already-formatted text to stdout; on error remember it and drop later output.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    if STDOUT_ERROR.get().is_some() {
        return;
    }
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|_| out.flush()) {
        let _ = STDOUT_ERROR.set(e.kind());
    }
}

/// The first stdout write error, if any.
pub fn stdout_error() -> Option<io::ErrorKind> {
    STDOUT_ERROR.get().copied()
}

/// `print!` that never panics.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::text::output::write_stdout(format_args!($($arg)*)) };
}

/// `println!` that never panics.
#[macro_export]
macro_rules! outln {
    () => { $crate::text::output::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::text::output::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `2026-11-28T07:42:34Z`: a time for machines (JSON, log lines).
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
