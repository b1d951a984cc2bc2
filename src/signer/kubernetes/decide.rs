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
use crate::signer::api::ApiError;
use crate::signer::escape;

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

fn unauthorized(code: &str, message: String) -> ApiError {
    ApiError::new(401, code, message)
}

fn forbidden(code: &str, message: String) -> ApiError {
    ApiError::forbidden(code, message)
}

/// What the token's own (unverified) claims already refuse: not a JWT, expired, or valid
/// for more than an hour. Checked before the TokenReview, so such a token costs no API
/// request; the claims only ever refuse, the API server alone accepts.
pub fn check_claims(claims: Option<Claims>, now: OffsetDateTime) -> Result<(), ApiError> {
    let Some(claims) = claims else {
        return Err(unauthorized(
            "token_invalid",
            "the token is not a Kubernetes ServiceAccount token (not a JWT)".into(),
        ));
    };
    if let Claims {
        issued_at: Some(iat),
        expires: Some(exp),
    } = claims
    {
        if exp <= now.unix_timestamp() {
            return Err(unauthorized(
                "token_expired",
                "the token has expired".into(),
            ));
        }
        if time::Duration::seconds(exp.saturating_sub(iat)) > MAX_TOKEN_LIFETIME {
            return Err(unauthorized(
                "token_too_long_lived",
                format!(
                    "the token is valid for {}s; a projected token for {AUDIENCE} may last at most 1h (expirationSeconds: 3600)",
                    exp.saturating_sub(iat)
                ),
            ));
        }
    } else {
        return Err(unauthorized(
            "token_too_long_lived",
            "the token carries no iat/exp, so its lifetime is unknown; use a projected token (at most 1h)".into(),
        ));
    }
    Ok(())
}

/// The decision. Every refusal has its own code; messages quote what came from the
/// request or the API escaped, and never hold the token.
pub fn decide(facts: &Facts, policy: &KubePolicy) -> Result<Grant, ApiError> {
    if !facts.token_present {
        return Err(unauthorized(
            "no_token",
            format!("no token: send the pod's projected ServiceAccount token (audience {AUDIENCE}) as Authorization: Bearer <token> (raytls init --k8s-token FILE)"),
        ));
    }
    check_claims(facts.claims, facts.now)?;
    let Some(review) = &facts.review else {
        return Err(unauthorized(
            "token_invalid",
            "the token was not reviewed by the API server".into(),
        ));
    };
    let (username, extra, audiences) = match review {
        Review::Rejected(why) => {
            let lower = why.to_ascii_lowercase();
            let code = if lower.contains("audience") {
                "wrong_audience"
            } else if lower.contains("expired") {
                "token_expired"
            } else {
                "token_invalid"
            };
            return Err(unauthorized(
                code,
                format!(
                    "the API server did not accept the token (audience {AUDIENCE}): {}",
                    escape(why)
                ),
            ));
        }
        Review::Authenticated {
            username,
            extra,
            audiences,
        } => (username, extra, audiences),
    };
    if !audiences.iter().any(|a| a == AUDIENCE) {
        return Err(unauthorized(
            "wrong_audience",
            format!("the token is not for audience {AUDIENCE}"),
        ));
    }
    let Some((namespace, account)) = service_account(username) else {
        return Err(unauthorized(
            "not_service_account",
            format!("{} is not a ServiceAccount", escape(username)),
        ));
    };
    let (Some(pod_name), Some(pod_uid)) = (extra.get(EXTRA_POD_NAME), extra.get(EXTRA_POD_UID))
    else {
        return Err(unauthorized(
            "not_pod_bound",
            "the token is not bound to a pod (a projected serviceAccountToken volume is; `kubectl create token` needs --bound-object-kind Pod)".into(),
        ));
    };
    if let Some(selector) = &policy.namespaces {
        let allowed = facts
            .namespace_labels
            .as_ref()
            .is_some_and(|labels| selector.matches(labels));
        if !allowed {
            return Err(forbidden(
                "namespace_not_allowed",
                format!(
                    "namespace {} does not match the signer's namespace selector ({selector})",
                    escape(namespace)
                ),
            ));
        }
    }
    if !policy.accounts.is_empty()
        && !policy
            .accounts
            .iter()
            .any(|p| p.matches(namespace, account))
    {
        return Err(forbidden(
            "service_account_not_allowed",
            format!(
                "ServiceAccount {} is not one the signer allows (--service-account)",
                escape(&format!("{namespace}/{account}"))
            ),
        ));
    }
    let pod_ref = format!("pod {}", escape(&format!("{namespace}/{pod_name}")));
    let pod = match &facts.pod {
        None => {
            return Err(forbidden(
                "pod_not_found",
                format!("{pod_ref} does not exist (deleted?)"),
            ))
        }
        Some(p) if p.uid != *pod_uid => {
            return Err(forbidden(
                "pod_not_found",
                format!(
                    "{pod_ref} is another pod now (uid {}, the token is for {}): the token's pod was deleted",
                    escape(&p.uid),
                    escape(pod_uid)
                ),
            ))
        }
        Some(p) => p,
    };
    if pod.terminating {
        return Err(forbidden(
            "pod_terminating",
            format!("{pod_ref} is terminating"),
        ));
    }
    // A finished pod keeps its last IP in status while the network may give that address to
    // another pod (EndpointSlices leave such pods out for the same reason). Pending stays:
    // init containers run then.
    if let Some(phase @ ("Succeeded" | "Failed")) = pod.phase.as_deref() {
        return Err(forbidden(
            "pod_finished",
            format!("{pod_ref} has finished (phase {phase}); its address may be another pod's now"),
        ));
    }
    if pod.host_network && !policy.allow_host_network {
        return Err(forbidden(
            "host_network",
            format!("{pod_ref} uses hostNetwork: its IP is its node's, so any process on that node could ask as it (serve --allow-host-network accepts that)"),
        ));
    }
    let peer = facts.peer.to_canonical();
    if !pod.pod_ips.contains(&peer) {
        let ips: Vec<String> = pod.pod_ips.iter().map(|i| i.to_string()).collect();
        return Err(forbidden(
            "address_mismatch",
            format!(
                "the request came from {peer}, which is not an IP of {pod_ref} ({}): the signer must see the pod's own address (no proxy or NAT in between)",
                if ips.is_empty() { "it has none yet".to_string() } else { ips.join(", ") }
            ),
        ));
    }
    let role = match pod.labels.get(NODE_TYPE_LABEL).map(String::as_str) {
        Some("head") => Role::Head,
        Some("worker") => Role::Worker,
        other => {
            return Err(forbidden(
                "not_a_ray_pod",
                format!(
                    "{pod_ref} has {}; a Ray pod is labelled {NODE_TYPE_LABEL}=head or worker",
                    match other {
                        Some(v) => format!("{NODE_TYPE_LABEL}={}", escape(v)),
                        None => format!("no {NODE_TYPE_LABEL} label"),
                    }
                ),
            ))
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
            return Err(forbidden(
                "no_raycluster_owner",
                format!(
                    "{pod_ref} is owned by RayCluster {} (uid {}), which no longer exists",
                    escape(&o.name),
                    escape(&o.uid)
                ),
            ))
        }
        (owner, _) => {
            return Err(forbidden(
                "no_raycluster_owner",
                format!(
                    "{pod_ref} has Ray labels but its controller is {}, not a RayCluster",
                    match owner {
                        Some(o) => format!("{} {}", escape(&o.kind), escape(&o.name)),
                        None => "nothing".into(),
                    }
                ),
            ))
        }
    };
    // The pod's creator chose its labels; KubeRay sets ray.io/cluster to the owner's name, so a
    // pod that says otherwise was not made by KubeRay for this cluster.
    let label = pod.labels.get(CLUSTER_LABEL);
    if label != Some(&cluster.name) {
        return Err(forbidden(
            "cluster_label_mismatch",
            format!(
                "{pod_ref} is controlled by RayCluster {} but labelled {}",
                escape(&cluster.name),
                match label {
                    Some(v) => format!("{CLUSTER_LABEL}={}", escape(v)),
                    None => format!("with no {CLUSTER_LABEL}"),
                }
            ),
        ));
    }
    if facts.asked_role != role {
        return Err(forbidden(
            "role_not_allowed",
            format!(
                "{pod_ref} is a Ray {role} ({NODE_TYPE_LABEL}={role}); it cannot ask for a {} certificate",
                facts.asked_role
            ),
        ));
    }
    // KubeRay makes one head per RayCluster: a second live one is a pod someone else made (or
    // a forged first one), and certifying either would hand out the head's names.
    if role == Role::Head && !facts.other_heads.is_empty() {
        return Err(forbidden(
            "duplicate_head",
            format!(
                "RayCluster {} has another live head pod ({}); KubeRay makes one, so neither is certified as head until the extra one is gone",
                escape(&cluster.name),
                facts.other_heads.iter().map(|h| escape(h)).collect::<Vec<_>>().join(", ")
            ),
        ));
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
        return Err(forbidden(
            "too_many_names",
            format!(
                "{pod_ref} would get {} names ({bytes} bytes; at most {MAX_LEAF_NAMES} and {MAX_LEAF_NAME_BYTES}): too many Services name its head",
                sans.len()
            ),
        ));
    }
    for text in &facts.asked_names {
        let granted = match San::parse("name", text) {
            Ok(San::Ip(ip)) => sans.contains(&San::Ip(ip.to_canonical())),
            Ok(s) => sans.contains(&s),
            Err(_) => false,
        };
        if !granted {
            let list: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
            return Err(forbidden(
                "name_not_allowed",
                format!(
                    "{} is not a name of {pod_ref}; it may have {}",
                    escape(text),
                    list.join(", ")
                ),
            ));
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

    fn refused(f: &Facts) -> (u16, String, String) {
        let e = decide(f, &policy()).expect_err("refused");
        assert!(!e.message.contains('\n'), "{}", e.message);
        (e.status, e.code, e.message)
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
        assert_eq!(refused(&f).0, 401);
        assert_eq!(refused(&f).1, "no_token");
    }

    #[test]
    fn refusal_not_a_jwt() {
        let mut f = head_facts();
        f.review = None;
        assert_eq!(refused(&f).1, "token_invalid");
        f.claims = None;
        let (status, code, msg) = refused(&f);
        assert_eq!((status, code.as_str()), (401, "token_invalid"));
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
        for (claims, code) in [
            (None, "token_invalid"),
            (c(Some(NOW - 7200), Some(NOW - 1)), "token_expired"),
            (c(Some(NOW), Some(NOW + 7200)), "token_too_long_lived"),
            (c(None, Some(NOW + 60)), "token_too_long_lived"),
        ] {
            assert_eq!(check_claims(claims, now).unwrap_err().code, code);
        }
    }

    #[test]
    fn refusal_wrong_audience() {
        let mut f = head_facts();
        f.review = Some(Review::Rejected(
            "[invalid bearer token, token audiences [\"vault\"] is invalid for the target audiences [\"raytls\"]]".into(),
        ));
        let (status, code, msg) = refused(&f);
        assert_eq!((status, code.as_str()), (401, "wrong_audience"));
        assert!(msg.contains("vault"), "{msg}");
        // An authenticated review for other audiences (a misconfigured review) too.
        let mut f = head_facts();
        if let Some(Review::Authenticated { audiences, .. }) = &mut f.review {
            *audiences = vec!["https://kubernetes.default.svc".into()];
        }
        assert_eq!(refused(&f).1, "wrong_audience");
    }

    #[test]
    fn refusal_expired() {
        let mut f = head_facts();
        f.review = Some(Review::Rejected(
            "[invalid bearer token, square/go-jose/jwt: validation failed, token is expired (exp)]"
                .into(),
        ));
        assert_eq!(refused(&f).1, "token_expired");
        // What kube-apiserver v1.36.3 answers for an expired pod-bound token
        // (scripts/kube-signer-interop.sh asks it).
        let mut f = head_facts();
        f.review = Some(Review::Rejected(
            "[invalid bearer token, service account token has expired]".into(),
        ));
        assert_eq!(refused(&f).1, "token_expired");
        let mut f = head_facts();
        f.claims = Some(Claims {
            issued_at: Some(NOW - 3600),
            expires: Some(NOW),
        });
        assert_eq!(refused(&f).1, "token_expired");
    }

    #[test]
    fn refusal_token_lives_longer_than_an_hour() {
        let mut f = head_facts();
        f.claims = Some(Claims {
            issued_at: Some(NOW - 60),
            expires: Some(NOW + 86400),
        });
        assert_eq!(refused(&f).1, "token_too_long_lived");
        f.claims = Some(Claims {
            issued_at: None,
            expires: None,
        });
        assert_eq!(refused(&f).1, "token_too_long_lived");
    }

    #[test]
    fn refusal_not_pod_bound_or_not_a_service_account() {
        let mut f = head_facts();
        if let Some(Review::Authenticated { extra, .. }) = &mut f.review {
            extra.clear();
        }
        assert_eq!(refused(&f).1, "not_pod_bound");
        let mut f = head_facts();
        if let Some(Review::Authenticated { username, .. }) = &mut f.review {
            *username = "alice".into();
        }
        assert_eq!(refused(&f).1, "not_service_account");
    }

    #[test]
    fn refusal_deleted_pod() {
        let mut f = head_facts();
        f.pod = None;
        let (status, code, msg) = refused(&f);
        assert_eq!((status, code.as_str()), (403, "pod_not_found"));
        assert!(msg.contains("ray/") && msg.contains("rc-head-x"), "{msg}");
        // Deleted and recreated under the same name: another UID.
        let mut f = head_facts();
        f.pod.as_mut().unwrap().uid = "pod-uid-2".into();
        assert_eq!(refused(&f).1, "pod_not_found");
        // The API server itself invalidates the token of a deleted pod.
        let mut f = head_facts();
        f.review = Some(Review::Rejected(
            "[invalid bearer token, service account token has been invalidated]".into(),
        ));
        assert_eq!(refused(&f).1, "token_invalid");
    }

    #[test]
    fn refusal_terminating_pod() {
        let mut f = head_facts();
        f.pod.as_mut().unwrap().terminating = true;
        assert_eq!(refused(&f).1, "pod_terminating");
    }

    #[test]
    fn refusal_pod_ip_not_the_peer() {
        let mut f = head_facts();
        f.peer = "10.0.0.99".parse().unwrap();
        let (status, code, msg) = refused(&f);
        assert_eq!((status, code.as_str()), (403, "address_mismatch"));
        assert!(
            msg.contains("10.0.0.99") && msg.contains("10.0.0.5"),
            "{msg}"
        );
        f.pod.as_mut().unwrap().pod_ips.clear();
        assert!(refused(&f).2.contains("none yet"));
    }

    #[test]
    fn refusal_pod_without_node_type() {
        let mut f = head_facts();
        f.pod.as_mut().unwrap().labels.remove(NODE_TYPE_LABEL);
        assert_eq!(refused(&f).1, "not_a_ray_pod");
        f.pod
            .as_mut()
            .unwrap()
            .labels
            .insert(NODE_TYPE_LABEL.into(), "redis\u{1b}".into());
        let (_, code, msg) = refused(&f);
        assert_eq!(code, "not_a_ray_pod");
        assert!(!msg.contains('\u{1b}'), "{msg}");
    }

    #[test]
    fn refusal_ray_labels_but_no_raycluster_owner() {
        let mut f = head_facts();
        f.pod.as_mut().unwrap().controller = None;
        assert_eq!(refused(&f).1, "no_raycluster_owner");
        f.pod.as_mut().unwrap().controller = Some(OwnerRef {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "fake".into(),
            uid: "x".into(),
        });
        assert!(refused(&f).2.contains("ReplicaSet"));
        // Owned by a RayCluster that was deleted (or recreated with another UID).
        let mut f = head_facts();
        f.cluster = None;
        assert_eq!(refused(&f).1, "no_raycluster_owner");
        let mut f = head_facts();
        f.cluster.as_mut().unwrap().uid = "rc-uid-2".into();
        assert_eq!(refused(&f).1, "no_raycluster_owner");
    }

    #[test]
    fn refusal_worker_asking_for_head() {
        let mut f = worker_facts();
        f.asked_role = Role::Head;
        let (status, code, msg) = refused(&f);
        assert_eq!((status, code.as_str()), (403, "role_not_allowed"));
        assert!(msg.contains("is a Ray worker"), "{msg}");
        let mut f = head_facts();
        f.asked_role = Role::Client;
        assert_eq!(refused(&f).1, "role_not_allowed");
    }

    #[test]
    fn refusal_namespace_outside_selector() {
        let mut f = head_facts();
        f.namespace_labels = Some(labels(&[("raytls", "off")]));
        let (status, code, msg) = refused(&f);
        assert_eq!((status, code.as_str()), (403, "namespace_not_allowed"));
        assert!(msg.contains("raytls=on"), "{msg}");
        f.namespace_labels = None;
        assert_eq!(refused(&f).1, "namespace_not_allowed");
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
        assert_eq!(refused(&f).1, "service_account_not_allowed");
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
        let (_, code, msg) = refused(&f);
        assert_eq!(code, "name_not_allowed");
        assert!(msg.contains("rc-head-svc.ray.svc.cluster.local"), "{msg}");
        let mut f = worker_facts();
        f.asked_names = vec!["rc-head-svc".into()];
        assert_eq!(refused(&f).1, "name_not_allowed");
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
            let (status, code, msg) = refused(&f);
            assert_eq!((status, code.as_str()), (403, "pod_finished"), "{phase}");
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
        assert_eq!(refused(&f).1, "host_network");
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
        let (_, code, msg) = refused(&f);
        assert_eq!(code, "cluster_label_mismatch");
        assert!(msg.contains("ray.io/cluster=\"victim\""), "{msg}");
        f.pod.as_mut().unwrap().labels.remove(CLUSTER_LABEL);
        assert_eq!(refused(&f).1, "cluster_label_mismatch");

        let mut f = head_facts();
        f.other_heads = vec!["forged-head".into()];
        let (status, code, msg) = refused(&f);
        assert_eq!((status, code.as_str()), (403, "duplicate_head"));
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
        let (status, code, msg) = refused(&f);
        assert_eq!((status, code.as_str()), (403, "too_many_names"), "{msg}");
    }
}
