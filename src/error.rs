//! One error type for the certificate side of raytls. Every variant carries the input
//! a user must look at (a path, a SAN, a flag), and its message says how to fix it.
//! Messages are one line: `main` prints them after `raytls: error: `.
use std::path::PathBuf;

use crate::exit_code::ExitCode;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- bad values given on the command line or in the environment (exit 2) ----
    #[error("{source_name}={value:?} is not a valid {what}: {why}")]
    InvalidValue {
        /// The flag or env var the value came from, e.g. `--san` or `POD_IP`.
        source_name: String,
        value: String,
        what: &'static str,
        why: String,
    },

    #[error(
        "no pod IP for the {role} certificate: set POD_IP (fieldRef status.podIP) or pass --pod-ip; \
         Ray dials the pod IP between pods, so the certificate must hold it"
    )]
    MissingPodIp { role: &'static str },

    #[error("{0}")]
    Usage(String),

    // ---- files ----
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path} already exists; pass --force to overwrite it")]
    Exists { path: PathBuf },

    #[error("{path} is {found}, not {expected}")]
    WrongPem {
        path: PathBuf,
        expected: &'static str,
        found: String,
    },

    #[error("{path} is an encrypted private key; raytls needs it unencrypted (e.g. `openssl pkey -in {path} -out key.pem`, then keep key.pem 0600)")]
    EncryptedKey { path: PathBuf },

    #[error("{path}: {why}")]
    UnsupportedKey { path: PathBuf, why: String },

    #[error("{path}: {why}")]
    BadCertificate { path: PathBuf, why: String },

    // ---- the certificate authority ----
    #[error("{key} does not match {cert}: they are not a key pair (wrong file, or a CA that was re-created)")]
    KeyDoesNotMatchCert { key: PathBuf, cert: PathBuf },

    #[error(
        "{path} is not a CA certificate ({why}); pass the CA's ca.crt, not a leaf such as tls.crt"
    )]
    NotACa { path: PathBuf, why: String },

    #[error(
        "the CA in {path} expired on {not_after}; create a new CA (raytls ca create) and re-issue"
    )]
    CaExpired { path: PathBuf, not_after: String },

    #[error("the CA in {path} is not valid until {not_before}; check this machine's clock")]
    CaNotYetValid { path: PathBuf, not_before: String },

    #[error("--days {days} would outlive the CA in {ca}, which expires on {ca_not_after} ({max_days} days from now); use --days {max_days} or less")]
    OutlivesCa {
        days: u32,
        max_days: i64,
        ca: PathBuf,
        ca_not_after: String,
    },

    #[error("refusing to write into {out}: it holds the CA key {key}, and Ray's pods must never see it; write the certificate to another directory (e.g. --out /etc/ray/tls)")]
    CaKeyInOutputDir { out: PathBuf, key: PathBuf },

    #[error("cannot sign the certificate: {0}")]
    Signing(String),

    // ---- a network check whose own inputs are unusable (nothing was dialed) ----
    /// Our CA, certificate, key or token for `health-check` cannot be used: a local
    /// configuration error (exit 2), whatever the inner error's own exit code is.
    #[error("{0}")]
    LocalConfig(Box<Error>),

    // ---- other subsystems wrap their own message ----
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Values the user typed wrong are usage errors (2); everything else is a failure (1).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::InvalidValue { .. }
            | Error::MissingPodIp { .. }
            | Error::Usage(_)
            | Error::LocalConfig(_) => ExitCode::Usage,
            _ => ExitCode::Failure,
        }
    }

    pub fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Read {
            path: path.into(),
            source,
        }
    }

    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Write {
            path: path.into(),
            source,
        }
    }
}
