//! What a renewal starts from: the certificate already in the directory, the names it
//! keeps, the lifetime it was asked for, and which directory faults are configuration.
use std::net::IpAddr;
use std::path::Path;

use crate::error::{Error, Result};
use crate::pki::authority::{Lifetime, CLOCK_SKEW};
use crate::pki::certinfo::{CertFile, CertInfo};
use crate::pki::role::Role;
use crate::pki::san::San;
use crate::provision::ray_env::CERT_FILE;

/// DIR/tls.crt, which a renewal replaces. Its absence is the sidecar's configuration (exit
/// 2: pointed at the wrong directory), not a passing fault.
pub fn current_certificate(dir: &Path) -> Result<CertFile> {
    let path = dir.join(CERT_FILE);
    if std::fs::metadata(&path).is_err() {
        return Err(Error::LocalConfig(Box::new(Error::Missing {
            path,
            hint: "there is nothing to renew: run `raytls init` first".into(),
        })));
    }
    CertInfo::read_first(&path)
}

/// A `--dir` that does not take the files (a read-only volume, no permission, a `..data`
/// raytls did not make) is the sidecar's configuration, not a passing fault: exit 2, and
/// `--watch` stops instead of retrying it. Found before anything was asked of the signer
/// or the CA (`provision::files::stage`). Other write errors (a full disk) stay failures.
pub fn dir_config(e: Error) -> Error {
    use std::io::ErrorKind;
    let config = match &e {
        Error::NotWritable { source, .. } => matches!(
            source.kind(),
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
        ),
        Error::ForeignDataLink { .. } => true,
        _ => false,
    };
    if config {
        Error::LocalConfig(Box::new(e))
    } else {
        e
    }
}

/// The lifetime a certificate was asked for: raytls dates `notBefore` back by the allowed
/// clock skew, which is not part of it (else every renewal would add five minutes).
pub fn chosen_lifetime(info: &CertInfo) -> time::Duration {
    let span = info.not_after - info.not_before;
    if span > CLOCK_SKEW + Lifetime::SHORTEST {
        span - CLOCK_SKEW
    } else {
        span.max(Lifetime::SHORTEST)
    }
}

/// The names a renewed certificate keeps.
pub struct Names {
    /// POD_IP when the pod says so, else the certificate's own non-loopback address.
    pub pod_ip: Option<IpAddr>,
    /// DNS names other than localhost (the head's service names).
    pub dns: Vec<San>,
    /// Every name besides localhost, loopback and the pod IP (for a local CA).
    pub other: Vec<San>,
}

impl Names {
    /// The names of `info`, with `env_pod_ip` (POD_IP, read at the edge for `role`) taking
    /// the place of the certificate's own pod IP: a pod that moved keeps its identity.
    pub fn of(info: &CertInfo, env_pod_ip: Option<IpAddr>) -> Names {
        // The certificate's own pod IP is its first address that is not loopback.
        let cert_pod_ip = info
            .ip_addresses
            .iter()
            .copied()
            .find(|ip| !ip.is_loopback());
        let pod_ip = env_pod_ip.or(cert_pod_ip);
        let dns: Vec<San> = info
            .dns_names
            .iter()
            .filter(|n| n.as_str() != "localhost")
            .filter_map(|n| San::parse("tls.crt", n).ok())
            .collect();
        let mut other = dns.clone();
        other.extend(
            info.ip_addresses
                .iter()
                .filter(|ip| !ip.is_loopback() && Some(**ip) != pod_ip && Some(**ip) != cert_pod_ip)
                .map(|ip| San::Ip(*ip)),
        );
        Names { pod_ip, dns, other }
    }

    /// What to ask the signer for besides the pod IP: a head's service names; a worker
    /// asks for none (the signer grants it none).
    pub fn signer_dns(&self, role: Role) -> Vec<San> {
        if role == Role::Head {
            self.dns.clone()
        } else {
            Vec::new()
        }
    }
}
