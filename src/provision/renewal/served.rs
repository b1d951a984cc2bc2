//! `--check-served`: which certificate the Ray process at an address serves, compared with
//! the one on disk; the log line of a planned restart, without restarting anything.
use std::path::Path;
use std::time::Duration;

use super::current::current_certificate;
use crate::probe::{credentials, health, target};
use crate::provision::ray_env::{CA_FILE, CERT_FILE, KEY_FILE};

/// What the Ray process at an address serves, compared with the certificate on disk.
#[derive(Debug, Clone)]
pub struct Served {
    pub address: String,
    /// It serves DIR/tls.crt.
    pub current: bool,
    /// `ok`, `stale_certificate`, or why it could not be asked (`connection_refused`...).
    pub cause: String,
    pub message: String,
}

impl Served {
    /// Some(true): Ray serves an older certificate; Some(false): the one on disk; None: Ray
    /// could not be asked.
    pub fn restart_due(&self) -> Option<bool> {
        if self.current {
            Some(false)
        } else if self.cause == "stale_certificate" {
            Some(true)
        } else {
            None
        }
    }

    /// What a log line says about it.
    pub fn line(&self) -> String {
        let message = crate::text::escape::escape(&self.message);
        if self.current {
            format!("Ray at {} serves it", self.address)
        } else if self.cause == "stale_certificate" {
            format!("RESTART DUE: {message}")
        } else {
            format!(
                "could not ask Ray at {} which certificate it serves ({}): {message}",
                self.address, self.cause
            )
        }
    }
}

/// Asks one address, pass after pass, on one async runtime made at the first check (not one
/// per pass), with this pod's own identity (DIR's tls.crt, tls.key, ca.crt), as
/// `health-check --expect-cert` does.
pub struct ServedCheck {
    address: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl ServedCheck {
    /// `address` is HOST:PORT, checked by the caller (`probe::target::parse`) so that a bad
    /// one is a configuration error once, not a log line on every pass.
    pub fn new(address: &str) -> Self {
        ServedCheck {
            address: address.to_string(),
            runtime: None,
        }
    }

    /// Ask which certificate the address serves, against DIR/tls.crt as it is now.
    pub fn check(&mut self, dir: &Path) -> Served {
        let address = self.address.as_str();
        let fail = |cause: &str, message: String| Served {
            address: address.to_string(),
            current: false,
            cause: cause.to_string(),
            message,
        };
        let cert_path = dir.join(CERT_FILE);
        let (target, creds, want) = match (
            target::parse(address),
            credentials::load(&dir.join(CA_FILE), &cert_path, &dir.join(KEY_FILE)),
            current_certificate(dir),
        ) {
            (Ok(t), Ok(c), Ok(w)) => (t, c, w),
            (Err(e), _, _) => return fail("local_config", e),
            (_, Err(e), _) | (_, _, Err(e)) => return fail("local_config", e.to_string()),
        };
        let opts = health::Options {
            timeout: Duration::from_secs(5),
            expect_ray_version: None,
            expect_cert: Some((cert_path, want.certs[0].clone())),
            and_gcs: false,
        };
        let runtime = match self.runtime.take() {
            Some(r) => r,
            None => match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    return fail(
                        "local_config",
                        format!("cannot start the async runtime: {e}"),
                    )
                }
            },
        };
        let report = runtime.block_on(health::check(&target, &creds, None, &opts));
        self.runtime = Some(runtime);
        Served {
            address: address.to_string(),
            current: report.healthy,
            cause: report.cause.code().to_string(),
            message: report.message,
        }
    }
}

impl Drop for ServedCheck {
    /// A DNS lookup still blocking on its thread must not hold up the exit.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
