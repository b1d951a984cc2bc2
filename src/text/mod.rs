//! Text in and out: durations on the command line, base64, and standard output that never
//! panics.
pub mod base64;
pub mod duration;
pub mod output;
