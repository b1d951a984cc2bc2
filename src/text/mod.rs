//! Text in and out: durations on the command line, bytes as hex, counts with commas, escaping of text from peers and files, and standard output that never
//! panics.
pub mod duration;
pub mod escape;
pub mod hex;
pub mod number;
pub mod output;
pub mod prometheus;
