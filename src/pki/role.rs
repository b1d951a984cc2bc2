//! Roles: what each kind of Ray certificate must hold. One place decides SANs, key usage
//! and EKU, so `issue`, `init` and the checks of an existing certificate agree.
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::pki::san::{push_unique, San};

/// The certificate roles in a Ray cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The head pod: GCS (port 6379), dashboard, client server.
    Head,
    /// A worker pod: raylet and workers, dialed by IP.
    Worker,
    /// A client identity (e.g. a job submitter or a health check); the GCS does not check
    /// client names, so SANs are only what you ask for.
    Client,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Head => "head",
            Role::Worker => "worker",
            Role::Client => "client",
        }
    }

    /// Head and worker certificates are dialed at the pod IP; a client's is never dialed.
    pub fn needs_pod_ip(self) -> bool {
        !matches!(self, Role::Client)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who a raytls leaf is for, as its subject records it (`OU=worker`, `OU=signer`): one of
/// Ray's roles, or the signer itself. Only raytls writes this OU in leaves of its CA (`issue`,
/// `init` and `raytls serve` decide the subject; a CSR's subject is never copied), so a pod
/// can tell the signer from any other holder of a leaf of the same CA by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    Ray(Role),
    /// The signer's own serving certificate, made by `raytls serve` at start.
    Signer,
}

impl Holder {
    /// The OU value in the subject.
    pub fn label(self) -> &'static str {
        match self {
            Holder::Ray(role) => role.name(),
            Holder::Signer => SIGNER_LABEL,
        }
    }

    pub fn from_label(label: &str) -> Option<Holder> {
        match label {
            "head" => Some(Holder::Ray(Role::Head)),
            "worker" => Some(Holder::Ray(Role::Worker)),
            "client" => Some(Holder::Ray(Role::Client)),
            SIGNER_LABEL => Some(Holder::Signer),
            _ => None,
        }
    }
}

/// The signer's mark: the OU of its serving certificate. A pod sends its token only to a
/// server whose certificate chains to `--signer-ca` *and* carries it, because every pod
/// holds a leaf of that same CA. An OU rather than an extended key usage of our own: raytls
/// has no registered OID arc, and an OID under the self-assigned UUID arc (2.25.<uuid>)
/// makes Go's x509 parser refuse the whole certificate ("x509: invalid extended key
/// usages"), which would fail the kubelet's HTTPS probes of the signer. The OU is the
/// mark the signer already trusts for roles (a renewal's `OU=head`), and every
/// `raytls serve` has put it in its certificate since the first version.
pub const SIGNER_LABEL: &str = "signer";

/// The identity a leaf certificate is for, already validated.
#[derive(Debug, Clone)]
pub struct LeafIdentity {
    pub role: Role,
    pub pod_ip: Option<IpAddr>,
    /// The head service FQDN (FQ_RAY_IP); head only.
    pub fqdn: Option<San>,
    /// The short head service name (RAY_IP); head only.
    pub ray_ip: Option<San>,
    pub extra: Vec<San>,
}

impl LeafIdentity {
    pub fn new(
        role: Role,
        pod_ip: Option<IpAddr>,
        fqdn: Option<San>,
        ray_ip: Option<San>,
        extra: Vec<San>,
    ) -> Result<Self> {
        if role.needs_pod_ip() && pod_ip.is_none() {
            return Err(Error::MissingPodIp { role: role.name() });
        }
        Ok(LeafIdentity {
            role,
            pod_ip,
            fqdn,
            ray_ip,
            extra,
        })
    }

    /// The SANs this certificate must carry, in the order a reader expects:
    /// head = localhost, 127.0.0.1, POD_IP, FQDN, RAY_IP, --san...
    /// worker = localhost, 127.0.0.1, POD_IP, --san...; client = --san...
    pub fn required_sans(&self) -> Vec<San> {
        let mut sans = Vec::new();
        if self.role != Role::Client {
            // Ray on the same pod dials localhost/127.0.0.1 (and ::1 on an IPv6 pod).
            push_unique(&mut sans, San::localhost());
            push_unique(&mut sans, San::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            if let Some(ip) = self.pod_ip {
                if ip.is_ipv6() {
                    push_unique(&mut sans, San::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
                }
                // Ray dials the pod IP between pods, so the IP SAN must match it exactly.
                push_unique(&mut sans, San::Ip(ip));
            }
        }
        if self.role == Role::Head {
            if let Some(f) = &self.fqdn {
                push_unique(&mut sans, f.clone());
            }
            // Clients that dial the short service name otherwise fail with gRPC's
            // "Peer name ... is not in peer certificate" (the KubeRay TLS guide's error).
            if let Some(r) = &self.ray_ip {
                push_unique(&mut sans, r.clone());
            }
        }
        for s in &self.extra {
            push_unique(&mut sans, s.clone());
        }
        sans
    }

    /// The subject common name: informative only (Ray and rustls match SANs, not the CN).
    pub fn common_name(&self) -> String {
        match (self.role, &self.fqdn, self.pod_ip) {
            (Role::Head, Some(f), _) => format!("ray-head {f}"),
            (role, _, Some(ip)) => format!("ray-{role} {ip}"),
            (role, _, None) => match self.extra.first() {
                Some(s) => format!("ray-{role} {s}"),
                None => format!("ray-{role}"),
            },
        }
    }

    /// What the user should hear before issuing (not an error).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        // A renewal carries the head's names over as extra SANs: any DNS name there counts.
        let has_service_name = self.fqdn.is_some()
            || self
                .extra
                .iter()
                .any(|s| matches!(s, San::Dns(d) if d.as_str() != "localhost"));
        if self.role == Role::Head && !has_service_name {
            w.push(
                "no --fqdn/FQ_RAY_IP: workers that dial the head service by name will fail with \
                 \"Peer name ... is not in peer certificate\""
                    .to_string(),
            );
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn head_sans_in_order_without_duplicates() {
        let id = LeafIdentity::new(
            Role::Head,
            Some(ip("10.0.0.5")),
            Some(San::parse("t", "head-svc.ns.svc.cluster.local").unwrap()),
            Some(San::parse("t", "head-svc").unwrap()),
            vec![
                San::parse("--san", "127.0.0.1").unwrap(),
                San::parse("--san", "extra.io").unwrap(),
            ],
        )
        .unwrap();
        let got: Vec<String> = id.required_sans().iter().map(|s| s.to_string()).collect();
        assert_eq!(
            got,
            [
                "localhost",
                "127.0.0.1",
                "10.0.0.5",
                "head-svc.ns.svc.cluster.local",
                "head-svc",
                "extra.io"
            ]
        );
    }

    #[test]
    fn worker_ignores_fqdn_and_ipv6_gets_v6_loopback() {
        let id = LeafIdentity::new(
            Role::Worker,
            Some(ip("fd00::7")),
            Some(San::parse("t", "head.svc").unwrap()),
            None,
            vec![],
        )
        .unwrap();
        let got: Vec<String> = id.required_sans().iter().map(|s| s.to_string()).collect();
        assert_eq!(got, ["localhost", "127.0.0.1", "::1", "fd00::7"]);
    }

    #[test]
    fn holder_labels_round_trip_and_nothing_else_is_one() {
        for h in [
            Holder::Ray(Role::Head),
            Holder::Ray(Role::Worker),
            Holder::Ray(Role::Client),
            Holder::Signer,
        ] {
            assert_eq!(Holder::from_label(h.label()), Some(h));
        }
        for other in ["", "Signer", "signer ", "raytls signer", "ca"] {
            assert_eq!(Holder::from_label(other), None, "{other:?}");
        }
    }

    #[test]
    fn head_and_worker_need_a_pod_ip_client_does_not() {
        for role in [Role::Head, Role::Worker] {
            let err = LeafIdentity::new(role, None, None, None, vec![]).unwrap_err();
            assert!(err.to_string().contains("POD_IP"), "{err}");
        }
        let client = LeafIdentity::new(Role::Client, None, None, None, vec![]).unwrap();
        assert!(client.required_sans().is_empty());
    }
}
