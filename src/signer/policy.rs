//! Who gets which names. The server decides, as istio's CA does: a head or worker gets the
//! address its request came from (the pod IP: Ray dials pods by IP and gRPC checks an IP
//! target against the IP SANs exactly), 127.0.0.1 (and ::1 for an IPv6 pod) and
//! `localhost`; a head also gets the service names that match a `--head-name` pattern.
//! Anything else a request or its CSR asks for is refused, naming the name.
use std::net::IpAddr;

use super::refusal::{NameNotAllowed, PolicyWhy, Refusal};
use crate::error::{Error, Result};
use crate::pki::role::{LeafIdentity, Role};
use crate::pki::san::{DnsName, San};

/// A `--head-name` pattern: a DNS name whose `*` matches any run of characters inside one
/// label (`*-head-svc.ray.svc.cluster.local` matches `raycluster-head-svc.ray.svc.cluster.local`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadPattern(String);

impl HeadPattern {
    pub fn parse(source: &str, input: &str) -> Result<Self> {
        let p = input.trim().trim_end_matches('.').to_ascii_lowercase();
        let bad = |why: &str| Error::InvalidValue {
            source_name: source.to_string(),
            value: input.to_string(),
            what: "head name pattern",
            why: why.to_string(),
        };
        if p.is_empty() {
            return Err(bad("it is empty"));
        }
        if !p.contains('.') {
            return Err(bad(
                "it has one label; give the service's full name, e.g. *-head-svc.ray.svc.cluster.local",
            ));
        }
        if p.split('.').skip(1).any(|l| l.contains('*')) {
            return Err(bad("'*' may only appear in the first label"));
        }
        if p.matches('*').count() > 1 {
            return Err(bad("give at most one '*'"));
        }
        // With each '*' replaced by a letter, it must be a valid DNS name.
        DnsName::parse(source, &p.replace('*', "x"))?;
        Ok(HeadPattern(p))
    }

    pub fn matches(&self, name: &DnsName) -> bool {
        let name = name.as_str();
        let (pfirst, prest) = self.0.split_once('.').unwrap_or((&self.0, ""));
        let (nfirst, nrest) = name.split_once('.').unwrap_or((name, ""));
        prest == nrest && glob_label(pfirst.as_bytes(), nfirst.as_bytes())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `*` matches any run (including none) of a label's characters.
fn glob_label(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob_label(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && glob_label(rest, &s[1..]),
    }
}

/// The names policy of one signer.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub head_patterns: Vec<HeadPattern>,
}

impl Policy {
    /// The identity a request gets: `peer` is the TCP peer address; `asked` are the names
    /// of the request's `fqdn` field and of the CSR. A name outside the policy is a 403.
    pub fn decide(
        &self,
        role: Role,
        peer: IpAddr,
        asked: &[String],
    ) -> Result<LeafIdentity, Refusal> {
        // ::ffff:10.0.0.5 on a dual-stack socket is the pod's IPv4 address.
        let peer = peer.to_canonical();
        let pod_ip = role.needs_pod_ip().then_some(peer);
        let base = LeafIdentity {
            role,
            pod_ip,
            fqdn: None,
            ray_ip: None,
            extra: Vec::new(),
        }
        .required_sans();
        let mut extra: Vec<San> = Vec::new();
        for text in asked {
            let refuse = |why: PolicyWhy| {
                Refusal::NameNotAllowed(NameNotAllowed::Policy {
                    name: text.clone(),
                    role,
                    why,
                })
            };
            let san = match San::parse("name", text) {
                Ok(San::Ip(ip)) => San::Ip(ip.to_canonical()),
                Ok(s) => s,
                Err(_) => return Err(refuse(PolicyWhy::NotAName)),
            };
            if base.contains(&san) || extra.contains(&san) {
                continue;
            }
            match (&san, role) {
                (San::Dns(d), Role::Head) if self.head_patterns.iter().any(|p| p.matches(d)) => {
                    extra.push(san)
                }
                (San::Dns(_), Role::Head) => {
                    return Err(refuse(if self.head_patterns.is_empty() {
                        PolicyWhy::NoHeadNames
                    } else {
                        PolicyWhy::NoPatternMatches {
                            patterns: self.patterns_text(),
                        }
                    }))
                }
                (San::Dns(d), _) if self.head_patterns.iter().any(|p| p.matches(d)) => {
                    return Err(refuse(PolicyWhy::HeadNamesOnlyForHead))
                }
                (_, Role::Client) => return Err(refuse(PolicyWhy::ClientHoldsNoNames)),
                (San::Ip(_), _) => return Err(refuse(PolicyWhy::NotThePeer { peer })),
                (San::Dns(_), _) => return Err(refuse(PolicyWhy::WorkerDnsIsLocalhost)),
            }
        }
        Ok(LeafIdentity {
            role,
            pod_ip,
            fqdn: None,
            ray_ip: None,
            extra,
        })
    }

    fn patterns_text(&self) -> String {
        self.head_patterns
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            head_patterns: vec![
                HeadPattern::parse("t", "*-head-svc.ray.svc.cluster.local").unwrap()
            ],
        }
    }

    fn names(id: &LeafIdentity) -> Vec<String> {
        id.required_sans().iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn worker_gets_its_peer_address_and_loopback() {
        let id = policy()
            .decide(
                Role::Worker,
                "10.1.2.3".parse().unwrap(),
                &["localhost".into(), "10.1.2.3".into()],
            )
            .unwrap();
        assert_eq!(names(&id), ["localhost", "127.0.0.1", "10.1.2.3"]);
        let v6 = policy()
            .decide(Role::Worker, "fd00::9".parse().unwrap(), &[])
            .unwrap();
        assert_eq!(names(&v6), ["localhost", "127.0.0.1", "::1", "fd00::9"]);
        let mapped = policy()
            .decide(Role::Worker, "::ffff:10.0.0.8".parse().unwrap(), &[])
            .unwrap();
        assert_eq!(names(&mapped), ["localhost", "127.0.0.1", "10.0.0.8"]);
    }

    #[test]
    fn refusals_name_the_name() {
        let p = policy();
        let peer: IpAddr = "10.1.2.3".parse().unwrap();
        let no_match = || PolicyWhy::NoPatternMatches {
            patterns: "*-head-svc.ray.svc.cluster.local".into(),
        };
        for (role, asked, why, says) in [
            (
                Role::Worker,
                "10.9.9.9",
                PolicyWhy::NotThePeer { peer },
                "came from (10.1.2.3)",
            ),
            (
                Role::Worker,
                "rc-head-svc.ray.svc.cluster.local",
                PolicyWhy::HeadNamesOnlyForHead,
                "only for role head",
            ),
            (
                Role::Worker,
                "::1",
                PolicyWhy::NotThePeer { peer },
                "came from",
            ),
            (
                Role::Head,
                "evil.example.com",
                no_match(),
                "matches no --head-name",
            ),
            (
                Role::Head,
                "a.b-head-svc.ray.svc.cluster.local",
                no_match(),
                "matches no --head-name",
            ),
            (
                Role::Client,
                "localhost",
                PolicyWhy::ClientHoldsNoNames,
                "holds no names",
            ),
            (
                Role::Worker,
                "bad name\u{1b}",
                PolicyWhy::NotAName,
                "not a DNS name",
            ),
        ] {
            let e = p.decide(role, peer, &[asked.to_string()]).unwrap_err();
            assert!(
                matches!(&e, Refusal::NameNotAllowed(NameNotAllowed::Policy { name, why: w, .. })
                    if name == asked && *w == why),
                "{asked}: {e:?}"
            );
            assert_eq!(e.status(), 403);
            let message = e.to_string();
            assert!(message.contains(says), "{asked}: {message}");
            assert!(!message.contains('\u{1b}'), "escaped: {message}");
        }
        let none = Policy::default()
            .decide(Role::Head, peer, &["rc-head-svc.ray".into()])
            .unwrap_err();
        assert!(matches!(
            none,
            Refusal::NameNotAllowed(NameNotAllowed::Policy {
                why: PolicyWhy::NoHeadNames,
                ..
            })
        ));
    }

    #[test]
    fn head_gets_matching_service_names() {
        let id = policy()
            .decide(
                Role::Head,
                "10.1.2.3".parse().unwrap(),
                &["RC-head-svc.ray.svc.cluster.local.".into()],
            )
            .unwrap();
        assert_eq!(
            names(&id),
            [
                "localhost",
                "127.0.0.1",
                "10.1.2.3",
                "rc-head-svc.ray.svc.cluster.local"
            ]
        );
        assert!(HeadPattern::parse("--head-name", "*").is_err());
        assert!(HeadPattern::parse("--head-name", "a.*.svc").is_err());
        assert!(HeadPattern::parse("--head-name", "*-*.svc").is_err());
        let exact = HeadPattern::parse("--head-name", "head.ray.svc").unwrap();
        assert!(exact.matches(&DnsName::parse("t", "head.ray.svc").unwrap()));
        assert!(!exact.matches(&DnsName::parse("t", "xhead.ray.svc").unwrap()));
    }
}
