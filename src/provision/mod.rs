//! Putting a certificate into a directory a Ray pod reads: `directory` issues into it and
//! makes init's keep-or-reissue decision, `files` is the one writer (0600 from the first
//! byte, temp file, fsync, rename), `ray_env` renders the RAY_TLS_* environment, `renewal`
//! keeps it fresh as a service (`renew --watch`).
pub mod directory;
pub mod files;
pub mod ray_env;
pub mod renewal;
pub mod signer;
pub mod watch_metrics;

pub use directory::*;
