//! What the API server says about a request, as one value (`Facts`), and the decision on it
//! (`decide`): a pure function, no I/O, tested case by case below. `attest` fills the facts;
//! `issuer` signs what `decide` grants.
use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use time::OffsetDateTime;

use super::selector::Selector;
use crate::pki::role::Role;
use crate::pki::san::{push_unique, DnsName, San};
use crate::signer::refusal::{
    NameNotAllowed, NoRayClusterOwner, PodNotFound, PodRef, Refusal, Rejection, RoleNotAllowed,
    TokenExpired, TokenInvalid, WrongAudience,
};

/// The audience a pod's projected ServiceAccount token must be for.
pub const AUDIENCE: &str = "raytls";
/// The longest token lifetime accepted (expirationSeconds: 3600), with a minute of slack.
pub const MAX_TOKEN_LIFETIME: time::Duration = time::Duration::seconds(3600 + 60);
/// The label KubeRay puts on every pod of a cluster: head or worker.
pub const NODE_TYPE_LABEL: &str = "ray.io/node-type";
/// The label KubeRay puts on every pod of a cluster: the RayCluster's name.
pub const CLUSTER_LABEL: &str = "ray.io/cluster";
/// An annotation on a RayCluster naming, comma-separated, Services of its namespace that its
/// head may also be named by (beyond the Services the RayCluster owns): the opt-in of whoever
/// may edit the RayCluster, never of whoever may create Services.
pub const HEAD_SERVICES_ANNOTATION: &str = "raytls.io/head-services";
/// The most names a leaf may carry, and the most bytes they may add up to: a head selected by
/// many Services (each adding four names) is refused rather than signed into a leaf too large
/// to use.
pub const MAX_LEAF_NAMES: usize = 64;
pub const MAX_LEAF_NAME_BYTES: usize = 8 * 1024;
/// The pod-binding claims a TokenReview reports in `user.extra`.
pub const EXTRA_POD_NAME: &str = "authentication.kubernetes.io/pod-name";
pub const EXTRA_POD_UID: &str = "authentication.kubernetes.io/pod-uid";

/// What the TokenReview answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Review {
    /// `authenticated: false`, with the API server's error text.
    Rejected(String),
    Authenticated {
        /// `system:serviceaccount:NS:NAME` for a ServiceAccount token.
        username: String,
        /// `user.extra` (pod-name, pod-uid, ...), first value of each.
        extra: BTreeMap<String, String>,
        /// `status.audiences`.
        audiences: Vec<String>,
    },
}

/// The unverified claims of the token (the API server verified its signature in the
/// TokenReview; these only tell its lifetime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    pub issued_at: Option<i64>,
    pub expires: Option<i64>,
}

/// A pod as the signer's cache (or a GET) sees it.
#[derive(Debug, Clone, Default)]
pub struct PodFacts {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub terminating: bool,
    /// `status.phase` (Pending, Running, Succeeded, Failed, Unknown), if set.
    pub phase: Option<String>,
    /// `spec.hostNetwork`: the pod's IP is its node's.
    pub host_network: bool,
    pub labels: BTreeMap<String, String>,
    pub pod_ips: Vec<IpAddr>,
    /// The controller ownerReference: (apiVersion, kind, name, uid).
    pub controller: Option<OwnerRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// The RayCluster the pod's controller reference names, as it exists now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterFacts {
    pub name: String,
    pub uid: String,
    pub created: OffsetDateTime,
    /// Services its head may be named by besides those it owns (`HEAD_SERVICES_ANNOTATION`).
    pub head_services: Vec<String>,
}

/// A Service in the pod's namespace: its name, selector and owners.
#[derive(Debug, Clone)]
pub struct ServiceFacts {
    pub name: String,
    pub selector: BTreeMap<String, String>,
    /// UIDs of the RayClusters among its ownerReferences (KubeRay owns the head Service).
    pub owner_clusters: Vec<String>,
}

/// Everything the decision needs, gathered before it is made.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The TCP peer address of the request.
    pub peer: IpAddr,
    /// The role the request asks for.
    pub asked_role: Role,
    /// Names the request (fqdn and CSR) asks for.
    pub asked_names: Vec<String>,
    /// The bearer token was present.
    pub token_present: bool,
    pub claims: Option<Claims>,
    pub review: Option<Review>,
    /// Labels of the pod's namespace (None: unknown, e.g. not in the cache).
    pub namespace_labels: Option<BTreeMap<String, String>>,
    pub pod: Option<PodFacts>,
    /// The owner RayCluster, when the controller reference names one that exists.
    pub cluster: Option<ClusterFacts>,
    /// The Services of the pod's namespace.
    pub services: Vec<ServiceFacts>,
    /// Other live head pods (names) of the pod's controller RayCluster: KubeRay makes one.
    pub other_heads: Vec<String>,
    pub now: OffsetDateTime,
}

/// A ServiceAccount pattern: `NAME` (any namespace), `NS/NAME`, `NS/*`, `*/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPattern {
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl AccountPattern {
    pub fn parse(source: &str, input: &str) -> crate::Result<Self> {
        let t = input.trim();
        let (ns, name) = match t.split_once('/') {
            Some((ns, name)) => (Some(ns), name),
            None => (None, t),
        };
        let ok = |s: &str| {
            s == "*"
                || (!s.is_empty()
                    && s.len() <= 253
                    && s.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b)
                    }))
        };
        if !ok(name) || ns.is_some_and(|n| !ok(n)) {
            return Err(crate::Error::InvalidValue {
                source_name: source.into(),
                value: input.into(),
                what: "ServiceAccount pattern",
                why: "give NAME, NAMESPACE/NAME, NAMESPACE/* or */NAME (lowercase names)".into(),
            });
        }
        let some = |s: &str| (s != "*").then(|| s.to_string());
        Ok(AccountPattern {
            namespace: ns.and_then(some),
            name: some(name),
        })
    }

    fn matches(&self, namespace: &str, name: &str) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == namespace)
            && self.name.as_deref().is_none_or(|n| n == name)
    }
}

/// Who may get certificates.
#[derive(Debug, Clone, Default)]
pub struct KubePolicy {
    /// Namespaces whose labels match; None = every namespace.
    pub namespaces: Option<Selector>,
    /// ServiceAccounts allowed; empty = every ServiceAccount.
    pub accounts: Vec<AccountPattern>,
    /// The cluster's DNS domain (`cluster.local`).
    pub cluster_domain: String,
    /// Certify hostNetwork pods (`--allow-host-network`): their IP is the node's, so any
    /// process on that node can ask from it.
    pub allow_host_network: bool,
}

/// What a granted request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: Role,
    pub namespace: String,
    pub pod: String,
    pub pod_uid: String,
    pub service_account: String,
    pub cluster: ClusterFacts,
    /// In certificate order: localhost, head service names, 127.0.0.1 (::1), pod IPs.
    pub sans: Vec<San>,
}

/// Who a request was, as far as it got: for the audit line (never a token).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Who {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// `NAMESPACE/NAME` of the RayCluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_uid: Option<String>,
    /// Requests this decision made to the API server (TokenReview, GETs on a cache miss).
    pub api_requests: u32,
    /// How the token was settled: `local` (the issuer's keys) or `review` (a TokenReview).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_check: Option<&'static str>,
}

impl Who {
    /// What the facts tell, whatever the decision.
    pub fn of(facts: &Facts) -> Who {
        let mut who = Who::default();
        if let Some(Review::Authenticated {
            username, extra, ..
        }) = &facts.review
        {
            if let Some((ns, sa)) = service_account(username) {
                who.namespace = Some(ns.to_string());
                who.service_account = Some(sa.to_string());
            }
            who.pod = extra.get(EXTRA_POD_NAME).cloned();
            who.pod_uid = extra.get(EXTRA_POD_UID).cloned();
        }
        if let (Some(ns), Some(c)) = (&who.namespace, &facts.cluster) {
            who.cluster = Some(format!("{ns}/{}", c.name));
            who.cluster_uid = Some(c.uid.clone());
        }
        who
    }
}

/// `system:serviceaccount:NS:NAME` -> (NS, NAME).
pub fn service_account(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// What the token's own (unverified) claims already refuse: not a JWT, expired, or valid
/// for more than an hour. Checked before the TokenReview, so such a token costs no API
/// request; the claims only ever refuse, the API server alone accepts.
pub fn check_claims(claims: Option<Claims>, now: OffsetDateTime) -> Result<(), Refusal> {
    let Some(claims) = claims else {
        return Err(Refusal::TokenInvalid(TokenInvalid::NotJwt));
    };
    if let Claims {
        issued_at: Some(iat),
        expires: Some(exp),
    } = claims
    {
        if exp <= now.unix_timestamp() {
            return Err(Refusal::TokenExpired(TokenExpired::Claims));
        }
        if time::Duration::seconds(exp.saturating_sub(iat)) > MAX_TOKEN_LIFETIME {
            return Err(Refusal::TokenTooLongLived {
                seconds: Some(exp.saturating_sub(iat)),
            });
        }
    } else {
        return Err(Refusal::TokenTooLongLived { seconds: None });
    }
    Ok(())
}

/// What the API server's error text for a token it did not accept says was wrong.
fn rejected(why: &str) -> Refusal {
    let lower = why.to_ascii_lowercase();
    let r = Rejection {
        why: why.to_string(),
    };
    if lower.contains("audience") {
        Refusal::WrongAudience(WrongAudience::Rejected(r))
    } else if lower.contains("expired") {
        Refusal::TokenExpired(TokenExpired::Rejected(r))
    } else {
        Refusal::TokenInvalid(TokenInvalid::Rejected(r))
    }
}

/// The decision. Every refusal is its own `Refusal`; its message quotes what came from the
/// request or the API escaped, and never holds the token.
pub fn decide(facts: &Facts, policy: &KubePolicy) -> Result<Grant, Refusal> {
    if !facts.token_present {
        return Err(Refusal::NoToken);
    }
    check_claims(facts.claims, facts.now)?;
    let Some(review) = &facts.review else {
        return Err(Refusal::TokenInvalid(TokenInvalid::NotReviewed));
    };
    let (username, extra, audiences) = match review {
        Review::Rejected(why) => return Err(rejected(why)),
        Review::Authenticated {
            username,
            extra,
            audiences,
        } => (username, extra, audiences),
    };
    if !audiences.iter().any(|a| a == AUDIENCE) {
        return Err(Refusal::WrongAudience(WrongAudience::NotInReview));
    }
    let Some((namespace, account)) = service_account(username) else {
        return Err(Refusal::NotServiceAccount {
            username: username.clone(),
        });
    };
    let (Some(pod_name), Some(pod_uid)) = (extra.get(EXTRA_POD_NAME), extra.get(EXTRA_POD_UID))
    else {
        return Err(Refusal::NotPodBound);
    };
    if let Some(selector) = &policy.namespaces {
        let allowed = facts
            .namespace_labels
            .as_ref()
            .is_some_and(|labels| selector.matches(labels));
        if !allowed {
            return Err(Refusal::NamespaceNotAllowed {
                namespace: namespace.to_string(),
                selector: selector.clone(),
            });
        }
    }
    if !policy.accounts.is_empty()
        && !policy
            .accounts
            .iter()
            .any(|p| p.matches(namespace, account))
    {
        return Err(Refusal::ServiceAccountNotAllowed {
            namespace: namespace.to_string(),
            account: account.to_string(),
        });
    }
    let pod_ref = || PodRef {
        namespace: namespace.to_string(),
        name: pod_name.clone(),
    };
    let pod = match &facts.pod {
        None => {
            return Err(Refusal::PodNotFound(PodNotFound::Deleted {
                pod: pod_ref(),
            }))
        }
        Some(p) if p.uid != *pod_uid => {
            return Err(Refusal::PodNotFound(PodNotFound::Replaced {
                pod: pod_ref(),
                uid: p.uid.clone(),
                token_uid: pod_uid.clone(),
            }))
        }
        Some(p) => p,
    };
    if pod.terminating {
        return Err(Refusal::PodTerminating { pod: pod_ref() });
    }
    // A finished pod keeps its last IP in status while the network may give that address to
    // another pod (EndpointSlices leave such pods out for the same reason). Pending stays:
    // init containers run then.
    if let Some(phase @ ("Succeeded" | "Failed")) = pod.phase.as_deref() {
        return Err(Refusal::PodFinished {
            pod: pod_ref(),
            phase: phase.to_string(),
        });
    }
    if pod.host_network && !policy.allow_host_network {
        return Err(Refusal::HostNetwork { pod: pod_ref() });
    }
    let peer = facts.peer.to_canonical();
    if !pod.pod_ips.contains(&peer) {
        return Err(Refusal::AddressMismatch {
            pod: pod_ref(),
            peer,
            ips: pod.pod_ips.clone(),
        });
    }
    let role = match pod.labels.get(NODE_TYPE_LABEL).map(String::as_str) {
        Some("head") => Role::Head,
        Some("worker") => Role::Worker,
        other => {
            return Err(Refusal::NotARayPod {
                pod: pod_ref(),
                node_type: other.map(String::from),
            })
        }
    };
    let cluster = match (&pod.controller, &facts.cluster) {
        (Some(o), Some(c))
            if o.kind == "RayCluster"
                && o.api_version.starts_with("ray.io/")
                && o.uid == c.uid
                && o.name == c.name =>
        {
            c.clone()
        }
        (Some(o), _) if o.kind == "RayCluster" && o.api_version.starts_with("ray.io/") => {
            return Err(Refusal::NoRayClusterOwner(NoRayClusterOwner::ClusterGone {
                pod: pod_ref(),
                name: o.name.clone(),
                uid: o.uid.clone(),
            }))
        }
        (owner, _) => {
            return Err(Refusal::NoRayClusterOwner(
                NoRayClusterOwner::NotARayCluster {
                    pod: pod_ref(),
                    controller: owner.as_ref().map(|o| (o.kind.clone(), o.name.clone())),
                },
            ))
        }
    };
    // The pod's creator chose its labels; KubeRay sets ray.io/cluster to the owner's name, so a
    // pod that says otherwise was not made by KubeRay for this cluster.
    let label = pod.labels.get(CLUSTER_LABEL);
    if label != Some(&cluster.name) {
        return Err(Refusal::ClusterLabelMismatch {
            pod: pod_ref(),
            cluster: cluster.name.clone(),
            label: label.cloned(),
        });
    }
    if facts.asked_role != role {
        return Err(Refusal::RoleNotAllowed(RoleNotAllowed::Pod {
            pod: pod_ref(),
            is: role,
            asked: facts.asked_role,
        }));
    }
    // KubeRay makes one head per RayCluster: a second live one is a pod someone else made (or
    // a forged first one), and certifying either would hand out the head's names.
    if role == Role::Head && !facts.other_heads.is_empty() {
        return Err(Refusal::DuplicateHead {
            cluster: cluster.name.clone(),
            others: facts.other_heads.clone(),
        });
    }
    let sans = names(
        role,
        pod,
        namespace,
        &cluster,
        &facts.services,
        &policy.cluster_domain,
    );
    let bytes: usize = sans.iter().map(|s| s.to_string().len()).sum();
    if sans.len() > MAX_LEAF_NAMES || bytes > MAX_LEAF_NAME_BYTES {
        return Err(Refusal::TooManyNames {
            pod: pod_ref(),
            names: sans.len(),
            bytes,
        });
    }
    for text in &facts.asked_names {
        let granted = match San::parse("name", text) {
            Ok(San::Ip(ip)) => sans.contains(&San::Ip(ip.to_canonical())),
            Ok(s) => sans.contains(&s),
            Err(_) => false,
        };
        if !granted {
            return Err(Refusal::NameNotAllowed(NameNotAllowed::NotOfPod {
                name: text.clone(),
                pod: pod_ref(),
                granted: sans,
            }));
        }
    }
    Ok(Grant {
        role,
        namespace: namespace.to_string(),
        pod: pod_name.clone(),
        pod_uid: pod_uid.clone(),
        service_account: account.to_string(),
        cluster,
        sans,
    })
}

/// The names of a granted pod: `localhost`; for a head, every Service of its namespace whose
/// selector selects it and that its RayCluster owns (or names in `HEAD_SERVICES_ANNOTATION`),
/// as `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.DOMAIN`; then 127.0.0.1 (and ::1 with an
/// IPv6 pod IP) and the pod's IPs. Only those Services: anyone who may create a Service could
/// otherwise add names to the head's certificate (or, with hundreds, stop it being issued).
fn names(
    role: Role,
    pod: &PodFacts,
    namespace: &str,
    cluster: &ClusterFacts,
    services: &[ServiceFacts],
    domain: &str,
) -> Vec<San> {
    let mut sans = vec![San::localhost()];
    if role == Role::Head {
        let mut selecting: Vec<&str> = services
            .iter()
            .filter(|s| {
                !s.selector.is_empty()
                    && s.selector.iter().all(|(k, v)| pod.labels.get(k) == Some(v))
                    && (s.owner_clusters.contains(&cluster.uid)
                        || cluster.head_services.contains(&s.name))
            })
            .map(|s| s.name.as_str())
            .collect();
        selecting.sort_unstable();
        for svc in selecting {
            for name in [
                svc.to_string(),
                format!("{svc}.{namespace}"),
                format!("{svc}.{namespace}.svc"),
                format!("{svc}.{namespace}.svc.{domain}"),
            ] {
                if let Ok(d) = DnsName::parse("service", &name) {
                    push_unique(&mut sans, San::Dns(d));
                }
            }
        }
    }
    push_unique(&mut sans, San::Ip(IpAddr::from([127, 0, 0, 1])));
    if pod.pod_ips.iter().any(IpAddr::is_ipv6) {
        push_unique(
            &mut sans,
            San::Ip(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])),
        );
    }
    for ip in &pod.pod_ips {
        push_unique(&mut sans, San::Ip(ip.to_canonical()));
    }
    sans
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A head pod of RayCluster rc in namespace ray, asking from its own IP, fully valid.
    fn head_facts() -> Facts {
        let extra = labels(&[(EXTRA_POD_NAME, "rc-head-x"), (EXTRA_POD_UID, "pod-uid-1")]);
        Facts {
            peer: "10.0.0.5".parse().unwrap(),
            asked_role: Role::Head,
            asked_names: vec!["rc-head-svc.ray.svc.cluster.local".into()],
            token_present: true,
            claims: Some(Claims {
                issued_at: Some(NOW - 60),
                expires: Some(NOW + 3540),
            }),
            review: Some(Review::Authenticated {
                username: "system:serviceaccount:ray:rc-sa".into(),
                extra,
                audiences: vec![AUDIENCE.into()],
            }),
            namespace_labels: Some(labels(&[("raytls", "on")])),
            pod: Some(PodFacts {
                namespace: "ray".into(),
                name: "rc-head-x".into(),
                uid: "pod-uid-1".into(),
                terminating: false,
                phase: Some("Running".into()),
                host_network: false,
                labels: labels(&[
                    (NODE_TYPE_LABEL, "head"),
                    ("ray.io/cluster", "rc"),
                    ("ray.io/identifier", "rc-head"),
                ]),
                pod_ips: vec!["10.0.0.5".parse().unwrap()],
                controller: Some(OwnerRef {
                    api_version: "ray.io/v1".into(),
                    kind: "RayCluster".into(),
                    name: "rc".into(),
                    uid: "rc-uid-1".into(),
                }),
            }),
            cluster: Some(ClusterFacts {
                name: "rc".into(),
                uid: "rc-uid-1".into(),
                created: OffsetDateTime::from_unix_timestamp(NOW - 86400).unwrap(),
                head_services: Vec::new(),
            }),
            services: vec![
                ServiceFacts {
                    name: "rc-head-svc".into(),
                    selector: labels(&[("ray.io/cluster", "rc"), (NODE_TYPE_LABEL, "head")]),
                    owner_clusters: vec!["rc-uid-1".into()],
                },
                ServiceFacts {
                    name: "rc-workers".into(),
                    selector: labels(&[(NODE_TYPE_LABEL, "worker")]),
                    owner_clusters: vec!["rc-uid-1".into()],
                },
                // No selector: selects nothing (endpoints by hand).
                ServiceFacts {
                    name: "manual".into(),
                    selector: BTreeMap::new(),
                    owner_clusters: vec!["rc-uid-1".into()],
                },
                // Selects the head, but the RayCluster does not own it: someone else's.
                ServiceFacts {
                    name: "not-ours".into(),
                    selector: labels(&[(NODE_TYPE_LABEL, "head")]),
                    owner_clusters: Vec::new(),
                },
            ],
            other_heads: Vec::new(),
            now: OffsetDateTime::from_unix_timestamp(NOW).unwrap(),
        }
    }

    fn worker_facts() -> Facts {
        let mut f = head_facts();
        f.asked_role = Role::Worker;
        f.asked_names.clear();
        let pod = f.pod.as_mut().unwrap();
        pod.labels.insert(NODE_TYPE_LABEL.into(), "worker".into());
        f
    }

    fn policy() -> KubePolicy {
        KubePolicy {
            namespaces: Some(Selector::parse("--namespace-selector", "raytls=on").unwrap()),
            accounts: vec![AccountPattern::parse("t", "ray/*").unwrap()],
            cluster_domain: "cluster.local".into(),
            allow_host_network: false,
        }
    }

    fn refused(f: &Facts) -> Refusal {
        let e = decide(f, &policy()).expect_err("refused");
        assert!(!e.to_string().contains('\n'), "{e}");
        e
    }

    /// A refusal of these facts, and its message.
    fn refused_saying(f: &Facts) -> (Refusal, String) {
        let e = refused(f);
        let message = e.to_string();
        (e, message)
    }

    fn texts(s: &[San]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn head_gets_its_services_ips_and_cluster() {
        let g = decide(&head_facts(), &policy()).unwrap();
        assert_eq!(g.role, Role::Head);
        assert_eq!((g.namespace.as_str(), g.pod.as_str()), ("ray", "rc-head-x"));
        assert_eq!(g.cluster.uid, "rc-uid-1");
        assert_eq!(
            texts(&g.sans),
            [
                "localhost",
                "rc-head-svc",
                "rc-head-svc.ray",
                "rc-head-svc.ray.svc",
                "rc-head-svc.ray.svc.cluster.local",
                "127.0.0.1",
                "10.0.0.5"
            ]
        );
    }

    #[test]
    fn worker_gets_localhost_and_its_ips_only() {
        let mut f = worker_facts();
        f.pod.as_mut().unwrap().pod_ips =
            vec!["10.0.0.5".parse().unwrap(), "fd00::5".parse().unwrap()];
        let g = decide(&f, &policy()).unwrap();
        assert_eq!(
            texts(&g.sans),
            ["localhost", "127.0.0.1", "::1", "10.0.0.5", "fd00::5"]
        );
        // A dual-stack socket reports the IPv4 peer as ::ffff:10.0.0.5.
        f.peer = "::ffff:10.0.0.5".parse().unwrap();
        assert!(decide(&f, &policy()).is_ok());
    }

    #[test]
    fn refusal_no_token() {
        let mut f = head_facts();
        f.token_present = false;
        f.review = None;
        assert!(matches!(refused(&f), Refusal::NoToken));
        assert_eq!(refused(&f).status(), 401);
    }

    #[test]
    fn refusal_not_a_jwt() {
        let mut f = head_facts();
        f.review = None;
        assert!(matches!(
            refused(&f),
            Refusal::TokenInvalid(TokenInvalid::NotReviewed)
        ));
        f.claims = None;
        let (e, msg) = refused_saying(&f);
        assert!(matches!(e, Refusal::TokenInvalid(TokenInvalid::NotJwt)));
        assert_eq!(e.status(), 401);
        assert!(msg.contains("not a JWT"), "{msg}");
    }

    /// Expired or too long-lived tokens are refused from their claims alone, before any
    /// TokenReview (no API request for them).
    #[test]
    fn claims_refuse_before_any_review() {
        let now = OffsetDateTime::from_unix_timestamp(NOW).unwrap();
        let c = |iat, exp| {
            Some(Claims {
                issued_at: iat,
                expires: exp,
            })
        };
        assert!(check_claims(c(Some(NOW - 60), Some(NOW + 3540)), now).is_ok());
        assert!(matches!(
            check_claims(None, now),
            Err(Refusal::TokenInvalid(TokenInvalid::NotJwt))
        ));
        assert!(matches!(
            check_claims(c(Some(NOW - 7200), Some(NOW - 1)), now),
            Err(Refusal::TokenExpired(TokenExpired::Claims))
        ));
        assert!(matches!(
            check_claims(c(Some(NOW), Some(NOW + 7200)), now),
            Err(Refusal::TokenTooLongLived {
                seconds: Some(7200)
            })
        ));
        assert!(matches!(
            check_claims(c(None, Some(NOW + 60)), now),
            Err(Refusal::TokenTooLongLived { seconds: None })
        ));
    }

    #[test]
    fn refusal_wrong_audience() {
        let mut f = head_facts();
        f.review = Some(Review::Rejected(
            "[invalid bearer token, token audiences [\"vault\"] is invalid for the target audiences [\"raytls\"]]".into(),
        ));
        let (e, msg) = refused_saying(&f);
        assert!(matches!(
            e,
            Refusal::WrongAudience(WrongAudience::Rejected(_))
        ));
        assert_eq!(e.status(), 401);
        assert!(msg.contains("vault"), "{msg}");
        // An authenticated review for other audiences (a misconfigured review) too.
        let mut f = head_facts();
        if let Some(Review::Authenticated { audiences, .. }) = &mut f.review {
            *audiences = vec!["https://kubernetes.default.svc".into()];
        }
        assert!(matches!(
            refused(&f),
            Refusal::WrongAudience(WrongAudience::NotInReview)
        ));
    }

    #[test]
    fn refusal_expired() {
        let mut f = head_facts();
        f.review = Some(Review::Rejected(
            "[invalid bearer token, square/go-jose/jwt: validation failed, token is expired (exp)]"
                .into(),
        ));
        assert!(matches!(
            refused(&f),
            Refusal::TokenExpired(TokenExpired::Rejected(_))
        ));
        // What kube-apiserver v1.36.3 answers for an expired pod-bound token
        // (scripts/kube-signer-interop.sh asks it).
        let mut f = head_facts();
        f.review = Some(Review::Rejected(
            "[invalid bearer token, service account token has expired]".into(),
        ));
        assert!(matches!(
            refused(&f),
            Refusal::TokenExpired(TokenExpired::Rejected(_))
        ));
        let mut f = head_facts();
        f.claims = Some(Claims {
            issued_at: Some(NOW - 3600),
            expires: Some(NOW),
        });
        assert!(matches!(
            refused(&f),
            Refusal::TokenExpired(TokenExpired::Claims)
        ));
    }

    #[test]
    fn refusal_token_lives_longer_than_an_hour() {
        let mut f = head_facts();
        f.claims = Some(Claims {
            issued_at: Some(NOW - 60),
            expires: Some(NOW + 86400),
        });
        assert!(matches!(
            refused(&f),
            Refusal::TokenTooLongLived {
                seconds: Some(86460)
            }
        ));
        f.claims = Some(Claims {
            issued_at: None,
            expires: None,
        });
        assert!(matches!(
            refused(&f),
            Refusal::TokenTooLongLived { seconds: None }
        ));
    }

    #[test]
    fn refusal_not_pod_bound_or_not_a_service_account() {
        let mut f = head_facts();
        if let Some(Review::Authenticated { extra, .. }) = &mut f.review {
            extra.clear();
        }
        assert!(matches!(refused(&f), Refusal::NotPodBound));
        let mut f = head_facts();
        if let Some(Review::Authenticated { username, .. }) = &mut f.review {
            *username = "alice".into();
        }
        assert!(
            matches!(refused(&f), Refusal::NotServiceAccount { username } if username == "alice")
        );
    }

    #[test]
    fn refusal_deleted_pod() {
        let mut f = head_facts();
        f.pod = None;
        let (e, msg) = refused_saying(&f);
        assert!(matches!(
            e,
            Refusal::PodNotFound(PodNotFound::Deleted { .. })
        ));
        assert_eq!(e.status(), 403);
        assert!(msg.contains("ray/") && msg.contains("rc-head-x"), "{msg}");
        assert!(e.may_be_stale_cache());
        // Deleted and recreated under the same name: another UID.
        let mut f = head_facts();
        f.pod.as_mut().unwrap().uid = "pod-uid-2".into();
        assert!(matches!(
            refused(&f),
            Refusal::PodNotFound(PodNotFound::Replaced { uid, token_uid, .. })
                if uid == "pod-uid-2" && token_uid == "pod-uid-1"
        ));
        // The API server itself invalidates the token of a deleted pod.
        let mut f = head_facts();
        f.review = Some(Review::Rejected(
            "[invalid bearer token, service account token has been invalidated]".into(),
        ));
        assert!(matches!(
            refused(&f),
            Refusal::TokenInvalid(TokenInvalid::Rejected(_))
        ));
    }

    #[test]
    fn refusal_terminating_pod() {
        let mut f = head_facts();
        f.pod.as_mut().unwrap().terminating = true;
        assert!(matches!(refused(&f), Refusal::PodTerminating { .. }));
    }

    #[test]
    fn refusal_pod_ip_not_the_peer() {
        let mut f = head_facts();
        f.peer = "10.0.0.99".parse().unwrap();
        let (e, msg) = refused_saying(&f);
        assert!(matches!(
            &e,
            Refusal::AddressMismatch { peer, ips, .. }
                if peer.to_string() == "10.0.0.99" && ips.len() == 1
        ));
        assert_eq!(e.status(), 403);
        assert!(e.may_be_stale_cache());
        assert!(
            msg.contains("10.0.0.99") && msg.contains("10.0.0.5"),
            "{msg}"
        );
        f.pod.as_mut().unwrap().pod_ips.clear();
        assert!(refused(&f).to_string().contains("none yet"));
    }

    #[test]
    fn refusal_pod_without_node_type() {
        let mut f = head_facts();
        f.pod.as_mut().unwrap().labels.remove(NODE_TYPE_LABEL);
        assert!(matches!(
            refused(&f),
            Refusal::NotARayPod {
                node_type: None,
                ..
            }
        ));
        f.pod
            .as_mut()
            .unwrap()
            .labels
            .insert(NODE_TYPE_LABEL.into(), "redis\u{1b}".into());
        let (e, msg) = refused_saying(&f);
        assert!(matches!(
            e,
            Refusal::NotARayPod {
                node_type: Some(_),
                ..
            }
        ));
        assert!(!msg.contains('\u{1b}'), "{msg}");
    }

    #[test]
    fn refusal_ray_labels_but_no_raycluster_owner() {
        let mut f = head_facts();
        f.pod.as_mut().unwrap().controller = None;
        assert!(matches!(
            refused(&f),
            Refusal::NoRayClusterOwner(NoRayClusterOwner::NotARayCluster {
                controller: None,
                ..
            })
        ));
        f.pod.as_mut().unwrap().controller = Some(OwnerRef {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "fake".into(),
            uid: "x".into(),
        });
        assert!(refused(&f).to_string().contains("ReplicaSet"));
        // Owned by a RayCluster that was deleted (or recreated with another UID).
        let mut f = head_facts();
        f.cluster = None;
        assert!(matches!(
            refused(&f),
            Refusal::NoRayClusterOwner(NoRayClusterOwner::ClusterGone { .. })
        ));
        let mut f = head_facts();
        f.cluster.as_mut().unwrap().uid = "rc-uid-2".into();
        let e = refused(&f);
        assert!(matches!(
            e,
            Refusal::NoRayClusterOwner(NoRayClusterOwner::ClusterGone { .. })
        ));
        assert!(e.may_be_stale_cache());
    }

    #[test]
    fn refusal_worker_asking_for_head() {
        let mut f = worker_facts();
        f.asked_role = Role::Head;
        let (e, msg) = refused_saying(&f);
        assert!(matches!(
            e,
            Refusal::RoleNotAllowed(RoleNotAllowed::Pod {
                is: Role::Worker,
                asked: Role::Head,
                ..
            })
        ));
        assert_eq!(e.status(), 403);
        assert!(!e.may_be_stale_cache());
        assert!(msg.contains("is a Ray worker"), "{msg}");
        let mut f = head_facts();
        f.asked_role = Role::Client;
        assert!(matches!(
            refused(&f),
            Refusal::RoleNotAllowed(RoleNotAllowed::Pod {
                is: Role::Head,
                asked: Role::Client,
                ..
            })
        ));
    }

    #[test]
    fn refusal_namespace_outside_selector() {
        let mut f = head_facts();
        f.namespace_labels = Some(labels(&[("raytls", "off")]));
        let (e, msg) = refused_saying(&f);
        assert!(matches!(&e, Refusal::NamespaceNotAllowed { namespace, .. } if namespace == "ray"));
        assert_eq!(e.status(), 403);
        assert!(msg.contains("raytls=on"), "{msg}");
        f.namespace_labels = None;
        assert!(matches!(refused(&f), Refusal::NamespaceNotAllowed { .. }));
        // Without a selector every namespace is allowed.
        let open = KubePolicy {
            namespaces: None,
            ..policy()
        };
        assert!(decide(&f, &open).is_ok());
    }

    #[test]
    fn refusal_service_account_outside_policy() {
        let mut f = head_facts();
        if let Some(Review::Authenticated { username, .. }) = &mut f.review {
            *username = "system:serviceaccount:other:rc-sa".into();
        }
        f.namespace_labels = Some(labels(&[("raytls", "on")]));
        assert!(matches!(
            refused(&f),
            Refusal::ServiceAccountNotAllowed { namespace, account }
                if namespace == "other" && account == "rc-sa"
        ));
        let p = AccountPattern::parse("t", "ray/rc-sa").unwrap();
        assert!(p.matches("ray", "rc-sa") && !p.matches("ray", "default"));
        let any_ns = AccountPattern::parse("t", "rc-sa").unwrap();
        assert!(any_ns.matches("other", "rc-sa"));
        assert!(AccountPattern::parse("t", "Ray/x").is_err());
        assert!(AccountPattern::parse("t", "").is_err());
    }

    #[test]
    fn refusal_name_outside_the_grant() {
        let mut f = head_facts();
        f.asked_names = vec!["evil.example.com".into()];
        let (e, msg) = refused_saying(&f);
        assert!(matches!(
            &e,
            Refusal::NameNotAllowed(NameNotAllowed::NotOfPod { name, .. })
                if name == "evil.example.com"
        ));
        assert!(msg.contains("rc-head-svc.ray.svc.cluster.local"), "{msg}");
        let mut f = worker_facts();
        f.asked_names = vec!["rc-head-svc".into()];
        assert!(matches!(
            refused(&f),
            Refusal::NameNotAllowed(NameNotAllowed::NotOfPod { .. })
        ));
        f.asked_names = vec!["localhost".into(), "10.0.0.5".into()];
        assert!(decide(&f, &policy()).is_ok());
    }

    #[test]
    fn audit_identity_names_pod_and_cluster_never_a_token() {
        let who = Who::of(&head_facts());
        let line = serde_json::to_string(&who).unwrap();
        assert_eq!(
            line,
            r#"{"namespace":"ray","pod":"rc-head-x","pod_uid":"pod-uid-1","service_account":"rc-sa","cluster":"ray/rc","cluster_uid":"rc-uid-1","api_requests":0}"#
        );
    }

    #[test]
    fn refusal_finished_pod_but_pending_is_granted() {
        for phase in ["Succeeded", "Failed"] {
            let mut f = worker_facts();
            f.pod.as_mut().unwrap().phase = Some(phase.into());
            let (e, msg) = refused_saying(&f);
            assert!(
                matches!(&e, Refusal::PodFinished { phase: p, .. } if p == phase),
                "{phase}"
            );
            assert_eq!(e.status(), 403);
            assert!(msg.contains(phase), "{msg}");
        }
        let mut f = worker_facts();
        f.pod.as_mut().unwrap().phase = Some("Pending".into());
        assert!(
            decide(&f, &policy()).is_ok(),
            "init containers run while Pending"
        );
    }

    #[test]
    fn refusal_host_network_unless_allowed() {
        let mut f = worker_facts();
        f.pod.as_mut().unwrap().host_network = true;
        assert!(matches!(refused(&f), Refusal::HostNetwork { .. }));
        let allowing = KubePolicy {
            allow_host_network: true,
            ..policy()
        };
        assert!(decide(&f, &allowing).is_ok());
    }

    /// The forged-pod defences the signer has itself (the pod guard is the API server's):
    /// a ray.io/cluster label that is not the owner's name, and a second head.
    #[test]
    fn refusal_cluster_label_not_the_owner_and_a_second_head() {
        let mut f = worker_facts();
        f.pod
            .as_mut()
            .unwrap()
            .labels
            .insert(CLUSTER_LABEL.into(), "victim".into());
        let (e, msg) = refused_saying(&f);
        assert!(matches!(
            &e,
            Refusal::ClusterLabelMismatch { cluster, label: Some(l), .. }
                if cluster == "rc" && l == "victim"
        ));
        assert!(msg.contains("ray.io/cluster=\"victim\""), "{msg}");
        f.pod.as_mut().unwrap().labels.remove(CLUSTER_LABEL);
        assert!(matches!(
            refused(&f),
            Refusal::ClusterLabelMismatch { label: None, .. }
        ));

        let mut f = head_facts();
        f.other_heads = vec!["forged-head".into()];
        let (e, msg) = refused_saying(&f);
        assert!(matches!(
            &e,
            Refusal::DuplicateHead { others, .. } if others == &["forged-head"]
        ));
        assert_eq!(e.status(), 403);
        assert!(msg.contains("forged-head"), "{msg}");
        // A worker of that cluster is unaffected.
        let mut w = worker_facts();
        w.other_heads = vec!["forged-head".into()];
        assert!(decide(&w, &policy()).is_ok());
    }

    /// Names come only from Services the RayCluster owns or its annotation names; a head that
    /// too many of them select is refused with a code that says so, not signed.
    #[test]
    fn head_names_only_from_owned_or_named_services_and_capped() {
        let g = decide(&head_facts(), &policy()).unwrap();
        assert!(!texts(&g.sans).iter().any(|s| s.starts_with("not-ours")));
        let mut f = head_facts();
        f.cluster.as_mut().unwrap().head_services = vec!["not-ours".into()];
        let g = decide(&f, &policy()).unwrap();
        assert!(texts(&g.sans).contains(&"not-ours.ray.svc.cluster.local".to_string()));

        // 215 Services of 63-character names, as the reproduction had: only owned ones count,
        // so foreign ones add nothing; owned ones past the cap are refused.
        let many = |owned: bool| -> Vec<ServiceFacts> {
            (0..215)
                .map(|i| ServiceFacts {
                    name: format!("{i:03}{}", "s".repeat(60)),
                    selector: labels(&[(NODE_TYPE_LABEL, "head")]),
                    owner_clusters: if owned {
                        vec!["rc-uid-1".into()]
                    } else {
                        vec![]
                    },
                })
                .collect()
        };
        let mut f = head_facts();
        f.services.extend(many(false));
        assert_eq!(decide(&f, &policy()).unwrap().sans.len(), 7);
        let mut f = head_facts();
        f.services.extend(many(true));
        let (e, msg) = refused_saying(&f);
        assert!(
            matches!(e, Refusal::TooManyNames { names, .. } if names > MAX_LEAF_NAMES),
            "{msg}"
        );
    }
}
