//! raytls: a small certificate authority and mutual-TLS health check for Ray clusters.
//!
//! The binary (`src/main.rs`) is a thin shell; the work is done here, in folders named
//! for what they are for:
//! - `cli`: the root of the command line and flag groups shared by several commands;
//! - `commands`: one file per subcommand (its flags and its `run`);
//! - `pki`: keys, names, the CA, the one certificate model, chain and leaf checks;
//! - `fsio`: bounded reading of input files (regular files only, capped), below every
//!   reader of certificate, key and token files;
//! - `provision`: putting certificates into a directory (`files` is the one writer);
//! - `probe`: the network client side, `health-check`;
//! - `kit`: the small neighbours: auth token, netrc, URI lint;
//! - `text`: durations, escaping, and standard output that never panics.
pub mod cli;
pub mod commands;
pub mod error;
pub mod exit_code;
pub mod fsio;
pub mod kit;
pub mod pki;
pub mod probe;
pub mod provision;
pub mod signer;
pub mod text;

pub use error::{Error, Result};
