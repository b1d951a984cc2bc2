//! raytls: a small certificate authority and mutual-TLS health check for Ray clusters.
//!
//! The binary (`src/main.rs`) is a thin shell; the work is done here:
//! `pki` makes and checks certificates, `files` is the one place that writes to disk,
//! `ray_env` renders the `RAY_TLS_*` environment, `probe` talks to a Ray GCS over mTLS.
pub mod base64;
pub mod cli;
pub mod commands;
pub mod duration;
pub mod error;
pub mod exit_code;
pub mod files;
pub mod inspect;
pub mod netrc;
pub mod output;
pub mod pki;
pub mod probe;
pub mod provision;
pub mod ray_env;
pub mod signer;
pub mod token;
pub mod uri_lint;
pub mod verify;

pub use error::{Error, Result};
