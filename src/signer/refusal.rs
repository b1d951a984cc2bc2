//! Why the signer says no: one `Refusal` per cause, carrying the data of what went wrong (the
//! peer, the pod, the name asked for). Its code and HTTP status come from one table below,
//! its message from `Display`, and the wire error (`ApiError`) from one `From`, the way
//! rustls maps its errors to alerts in one place. Nothing else in the signer writes a code.
//!
//! Messages quote what came from a request or from the API server escaped (`escape`,
//! `printable`), so each stays one line without control characters, and never hold a token.
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::api::{ApiError, Endpoint, MAX_BODY};
use super::auth::Proof;
use super::kubernetes::decide::{
    AUDIENCE, CLUSTER_LABEL, MAX_LEAF_NAMES, MAX_LEAF_NAME_BYTES, NODE_TYPE_LABEL,
};
use super::kubernetes::guard::GuardStatus;
use super::kubernetes::selector::Selector;
use super::{escape, printable};
use crate::pki::csr::CsrError;
use crate::pki::role::Role;
use crate::pki::san::San;

/// A refused request (or a `/healthz` that is not ready). `#[non_exhaustive]`: a new cause is
/// a new variant, and with it a row of the table.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Refusal {
    // The request itself.
    /// The body is not the JSON of a sign request (serde_json's words).
    BadJson {
        why: String,
    },
    /// `role` is not head, worker or client.
    BadRole {
        asked: String,
    },
    /// The CSR: not PEM or PKCS#10, a bad signature, or a key Ray cannot use.
    Csr(CsrError),
    /// The body could not be read.
    BadBody {
        why: String,
    },
    /// The body is over `MAX_BODY`.
    TooLarge,
    /// The body did not arrive within the read timeout.
    Timeout {
        limit: Duration,
    },
    /// No such path.
    NotFound,
    /// A known path with the wrong method; `Allow` is the endpoint's method.
    MethodNotAllowed {
        endpoint: Endpoint,
    },

    // The signer's own state.
    ShuttingDown {
        endpoint: Endpoint,
    },
    /// The per-peer rate limit.
    RateLimited {
        peer: IpAddr,
        retry_in: u64,
    },
    /// Neither role tokens nor `--kubernetes`.
    Unavailable,
    /// The CA cannot sign now (e.g. it expired while the signer ran): not the client's fault.
    CaUnavailable {
        why: String,
    },
    /// `--kubernetes`: the watch caches have not listed yet.
    CacheNotReady,
    /// `--require-pod-guard` and the guard is not in place.
    PodGuardMissing {
        guard: GuardStatus,
        endpoint: Endpoint,
    },
    /// An API request for a decision failed: `doing` is what the signer tried.
    KubernetesUnavailable {
        doing: &'static str,
        why: KubeFailure,
    },
    /// The global TokenReview budget (`--token-review-rate`).
    ReviewBudgetExceeded {
        per_second: f64,
        retry_in: u64,
    },

    // Who is asking: role tokens and client certificates.
    Unauthorized(Unauthorized),
    /// A client certificate of this CA whose subject records no role.
    NoRoleInCertificate,
    /// A client certificate that chains to a trusted root but was not issued by this CA.
    ForeignIssuer {
        issuer: String,
        ca: String,
    },
    RoleNotAllowed(RoleNotAllowed),
    NameNotAllowed(NameNotAllowed),

    // `--kubernetes`: the token.
    NoToken,
    TokenInvalid(TokenInvalid),
    TokenExpired(TokenExpired),
    /// Valid for longer than an hour (`seconds`), or no iat/exp at all (None).
    TokenTooLongLived {
        seconds: Option<i64>,
    },
    WrongAudience(WrongAudience),
    NotServiceAccount {
        username: String,
    },
    NotPodBound,
    NamespaceNotAllowed {
        namespace: String,
        selector: Selector,
    },
    ServiceAccountNotAllowed {
        namespace: String,
        account: String,
    },

    // `--kubernetes`: the pod and its RayCluster.
    PodNotFound(PodNotFound),
    PodTerminating {
        pod: PodRef,
    },
    PodFinished {
        pod: PodRef,
        phase: String,
    },
    HostNetwork {
        pod: PodRef,
    },
    /// The request did not come from an IP of the pod.
    AddressMismatch {
        pod: PodRef,
        peer: IpAddr,
        ips: Vec<IpAddr>,
    },
    /// No (or another) `ray.io/node-type` label.
    NotARayPod {
        pod: PodRef,
        node_type: Option<String>,
    },
    NoRayClusterOwner(NoRayClusterOwner),
    /// `ray.io/cluster` is not the controlling RayCluster's name.
    ClusterLabelMismatch {
        pod: PodRef,
        cluster: String,
        label: Option<String>,
    },
    /// Another live head pod in the same RayCluster.
    DuplicateHead {
        cluster: String,
        others: Vec<String>,
    },
    /// More names (or bytes of names) than a leaf may carry.
    TooManyNames {
        pod: PodRef,
        names: usize,
        bytes: usize,
    },
}

/// The table: each row a cause, its stable code, its HTTP status. `code()`, `status()` and
/// `ALL_CODES` come from it, and the match is exhaustive, so a variant without a row does not
/// compile. A code appears in one row only (a test holds it so).
macro_rules! table {
    ($($cause:pat => $code:literal, $status:literal;)*) => {
        impl Refusal {
            /// Every code the signer can answer with (the `enum` of the OpenAPI `Error.error`).
            pub const ALL_CODES: &'static [&'static str] = &[$($code),*];

            /// The stable code: the `error` of the JSON answer, the audit line's `reason`.
            pub fn code(&self) -> &'static str {
                match self {
                    $($cause => $code,)*
                }
            }

            /// The HTTP status of the answer.
            pub fn status(&self) -> u16 {
                match self {
                    $($cause => $status,)*
                }
            }
        }
    };
}

table! {
    Self::BadJson { .. } => "bad_json", 400;
    Self::BadRole { .. } => "bad_role", 400;
    Self::Csr(CsrError::NotPem(_) | CsrError::Malformed(_)) => "bad_csr", 400;
    Self::Csr(CsrError::BadSignature) => "bad_csr_signature", 400;
    Self::Csr(CsrError::UnsupportedKey(_)) => "unsupported_key", 400;
    Self::BadBody { .. } => "bad_body", 400;
    Self::TooLarge => "too_large", 413;
    Self::Timeout { .. } => "timeout", 408;
    Self::NotFound => "not_found", 404;
    Self::MethodNotAllowed { .. } => "method_not_allowed", 405;
    Self::ShuttingDown { .. } => "shutting_down", 503;
    Self::RateLimited { .. } => "rate_limited", 429;
    Self::Unavailable => "unavailable", 503;
    Self::CaUnavailable { .. } => "ca_unavailable", 503;
    Self::CacheNotReady => "cache_not_ready", 503;
    Self::PodGuardMissing { .. } => "pod_guard_missing", 503;
    Self::KubernetesUnavailable { .. } => "kubernetes_unavailable", 503;
    Self::ReviewBudgetExceeded { .. } => "review_budget_exceeded", 429;
    Self::Unauthorized(_) => "unauthorized", 401;
    Self::NoRoleInCertificate => "no_role_in_certificate", 403;
    Self::ForeignIssuer { .. } => "foreign_issuer", 403;
    Self::RoleNotAllowed(_) => "role_not_allowed", 403;
    Self::NameNotAllowed(_) => "name_not_allowed", 403;
    Self::NoToken => "no_token", 401;
    Self::TokenInvalid(_) => "token_invalid", 401;
    Self::TokenExpired(_) => "token_expired", 401;
    Self::TokenTooLongLived { .. } => "token_too_long_lived", 401;
    Self::WrongAudience(_) => "wrong_audience", 401;
    Self::NotServiceAccount { .. } => "not_service_account", 401;
    Self::NotPodBound => "not_pod_bound", 401;
    Self::NamespaceNotAllowed { .. } => "namespace_not_allowed", 403;
    Self::ServiceAccountNotAllowed { .. } => "service_account_not_allowed", 403;
    Self::PodNotFound(_) => "pod_not_found", 403;
    Self::PodTerminating { .. } => "pod_terminating", 403;
    Self::PodFinished { .. } => "pod_finished", 403;
    Self::HostNetwork { .. } => "host_network", 403;
    Self::AddressMismatch { .. } => "address_mismatch", 403;
    Self::NotARayPod { .. } => "not_a_ray_pod", 403;
    Self::NoRayClusterOwner(_) => "no_raycluster_owner", 403;
    Self::ClusterLabelMismatch { .. } => "cluster_label_mismatch", 403;
    Self::DuplicateHead { .. } => "duplicate_head", 403;
    Self::TooManyNames { .. } => "too_many_names", 403;
}

impl Refusal {
    /// Seconds for the `Retry-After` header (the 429s).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Refusal::RateLimited { retry_in, .. }
            | Refusal::ReviewBudgetExceeded { retry_in, .. } => Some(*retry_in),
            _ => None,
        }
    }

    /// The method for the `Allow` header of a 405: the endpoint's own.
    pub fn allow(&self) -> Option<&'static str> {
        match self {
            Refusal::MethodNotAllowed { endpoint } => Some(endpoint.method()),
            _ => None,
        }
    }

    /// A refusal a watch cache that lags the API server could explain (the pod, its IP or its
    /// owner not there yet): worth one more look by GET before it is final.
    pub fn may_be_stale_cache(&self) -> bool {
        matches!(
            self,
            Refusal::PodNotFound(_)
                | Refusal::AddressMismatch { .. }
                | Refusal::NoRayClusterOwner(_)
                | Refusal::NotARayPod { .. }
        )
    }
}

impl From<CsrError> for Refusal {
    fn from(e: CsrError) -> Self {
        Refusal::Csr(e)
    }
}

/// The wire error: the one place a refusal becomes status, code and message.
impl From<&Refusal> for ApiError {
    fn from(r: &Refusal) -> Self {
        ApiError::new(r.status(), r.code(), r.to_string())
    }
}

/// `pod "NAMESPACE/NAME"`, as messages name a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pod {}",
            escape(&format!("{}/{}", self.namespace, self.name))
        )
    }
}

/// Why the Kubernetes API did not answer.
#[derive(Debug, Clone)]
pub enum KubeFailure {
    /// kube-rs's error text.
    Error(String),
    /// Every try timed out.
    NoAnswer { seconds: u64, tries: u32 },
}

/// `401 unauthorized`: no credentials, or ones that are not this signer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unauthorized {
    /// The Authorization header is not `Bearer <token>`.
    NotBearer,
    /// `--kubernetes`: the Authorization header is not `Bearer <ServiceAccount token>`.
    NotBearerServiceAccount,
    /// A bearer token that is none of the role tokens.
    UnknownToken,
    /// Neither a token nor a client certificate.
    NoCredentials,
    /// The client certificate no longer verifies (expired, or its root left the trust).
    CertNotAccepted { why: String },
}

/// `403 role_not_allowed`: the proof is for another role than the one asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleNotAllowed {
    /// A role token or client certificate for `granted`.
    Proof {
        proof: Proof,
        granted: Role,
        asked: Role,
    },
    /// `--kubernetes`: the pod is a Ray `is`.
    Pod { pod: PodRef, is: Role, asked: Role },
}

/// `403 name_not_allowed`: a name outside what the request may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameNotAllowed {
    /// `fqdn` in a request for another role than head.
    FqdnNotHead { name: String },
    /// Outside the names policy of a role-token signer.
    Policy {
        name: String,
        role: Role,
        why: PolicyWhy,
    },
    /// `--kubernetes`: not one of the names the pod gets.
    NotOfPod {
        name: String,
        pod: PodRef,
        granted: Vec<San>,
    },
}

/// Why the names policy refuses a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyWhy {
    NotAName,
    NoHeadNames,
    NoPatternMatches { patterns: String },
    HeadNamesOnlyForHead,
    ClientHoldsNoNames,
    NotThePeer { peer: IpAddr },
    WorkerDnsIsLocalhost,
}

/// What the API server answered a token it did not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenInvalid {
    NotJwt,
    NotReviewed,
    Rejected(Rejection),
    /// Verified here against the issuer's keys (`--token-review never|on-miss`), and found
    /// wanting: `why` is the verifier's (already escaped) account.
    NotVerified {
        why: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenExpired {
    /// Its own exp is past.
    Claims,
    Rejected(Rejection),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrongAudience {
    Rejected(Rejection),
    /// Authenticated, but the review's audiences lack `raytls`.
    NotInReview,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodNotFound {
    Deleted {
        pod: PodRef,
    },
    /// A pod of that name with another UID: the token's pod was deleted and recreated.
    Replaced {
        pod: PodRef,
        uid: String,
        token_uid: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRayClusterOwner {
    /// Controlled by a RayCluster that no longer exists (or has another UID).
    ClusterGone {
        pod: PodRef,
        name: String,
        uid: String,
    },
    /// Controlled by something else (kind, name), or by nothing.
    NotARayCluster {
        pod: PodRef,
        controller: Option<(String, String)>,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::BadJson { why } => write!(
                f,
                "the body is not the JSON of a sign request: {}",
                // serde_json quotes an unknown field's name, which is the peer's text.
                printable(why)
            ),
            Refusal::BadRole { asked } => write!(
                f,
                "role {} is not one of head, worker, client",
                escape(asked)
            ),
            Refusal::Csr(e) => e.fmt(f),
            Refusal::BadBody { why } => write!(f, "cannot read the body: {why}"),
            Refusal::TooLarge => write!(
                f,
                "the body is larger than {MAX_BODY} bytes; a CSR in PEM is about 1 KiB"
            ),
            Refusal::Timeout { limit } => write!(
                f,
                "the body did not arrive within {}",
                crate::text::duration::format(*limit)
            ),
            Refusal::NotFound => f.write_str(
                "no such endpoint: the signer serves POST /v1/sign, GET /healthz, GET /metrics",
            ),
            Refusal::MethodNotAllowed { endpoint } => {
                write!(f, "use {} {}", endpoint.method(), endpoint.path())
            }
            Refusal::ShuttingDown { endpoint } => {
                f.write_str("the signer is shutting down")?;
                if *endpoint == Endpoint::Sign {
                    f.write_str("; try another replica or again shortly")?;
                }
                Ok(())
            }
            Refusal::RateLimited { peer, retry_in } => {
                write!(f, "too many requests from {peer}; retry in {retry_in}s")
            }
            Refusal::Unavailable => f.write_str("no authenticator configured"),
            Refusal::CaUnavailable { why } => f.write_str(why),
            Refusal::CacheNotReady => {
                f.write_str("the signer's Kubernetes watch caches have not listed yet")
            }
            Refusal::PodGuardMissing { guard, endpoint } => match endpoint {
                Endpoint::Healthz | Endpoint::Metrics => write!(
                    f,
                    "--require-pod-guard: the pod guard is {}",
                    guard.describe()
                ),
                Endpoint::Sign => write!(
                    f,
                    "the signer runs with --require-pod-guard and the pod guard is {}",
                    guard.describe()
                ),
            },
            Refusal::KubernetesUnavailable { doing, why } => {
                write!(
                    f,
                    "the signer could not {doing} through the Kubernetes API: "
                )?;
                match why {
                    KubeFailure::Error(e) => f.write_str(&printable(e)),
                    KubeFailure::NoAnswer { seconds, tries } => {
                        write!(f, "no answer in {seconds} s, {tries} tries")
                    }
                }
            }
            Refusal::ReviewBudgetExceeded {
                per_second,
                retry_in,
            } => write!(
                f,
                "the signer is at its budget of {per_second} TokenReviews per second (serve --token-review-rate); retry in {retry_in}s"
            ),
            Refusal::Unauthorized(u) => match u {
                Unauthorized::NotBearer => {
                    f.write_str("the Authorization header is not \"Bearer <token>\"")
                }
                Unauthorized::NotBearerServiceAccount => f.write_str(
                    "the Authorization header is not \"Bearer <ServiceAccount token>\"",
                ),
                Unauthorized::UnknownToken => {
                    f.write_str("the token is not one of this signer's role tokens")
                }
                Unauthorized::NoCredentials => f.write_str(
                    "no token: send Authorization: Bearer <role token>, or renew with a client certificate from this CA",
                ),
                Unauthorized::CertNotAccepted { why } => write!(
                    f,
                    "the client certificate is no longer accepted ({}); send a role token",
                    printable(why)
                ),
            },
            Refusal::NoRoleInCertificate => f.write_str(
                "the client certificate is from this CA but records no role (OU=head/worker/client); send a role token",
            ),
            Refusal::ForeignIssuer { issuer, ca } => write!(
                f,
                "the client certificate was issued by {}, not by this signer's CA {}: only leaves of this signer's CA are renewed (not those of a CA below it, such as a `serve --kubernetes` cluster CA); send a role token",
                escape(issuer),
                escape(ca)
            ),
            Refusal::RoleNotAllowed(RoleNotAllowed::Proof {
                proof,
                granted,
                asked,
            }) => write!(
                f,
                "this {} is for role {granted}; it cannot ask for a {asked} certificate",
                match proof {
                    Proof::Token => "token",
                    Proof::ClientCert | Proof::ServiceAccountToken => "client certificate",
                }
            ),
            Refusal::RoleNotAllowed(RoleNotAllowed::Pod { pod, is, asked }) => write!(
                f,
                "{pod} is a Ray {is} ({NODE_TYPE_LABEL}={is}); it cannot ask for a {asked} certificate"
            ),
            Refusal::NameNotAllowed(n) => n.fmt(f),
            Refusal::NoToken => write!(
                f,
                "no token: send the pod's projected ServiceAccount token (audience {AUDIENCE}) as Authorization: Bearer <token> (raytls init --k8s-token FILE)"
            ),
            Refusal::TokenInvalid(t) => match t {
                TokenInvalid::NotJwt => f.write_str(
                    "the token is not a Kubernetes ServiceAccount token (not a JWT)",
                ),
                TokenInvalid::NotReviewed => {
                    f.write_str("the token was not reviewed by the API server")
                }
                TokenInvalid::Rejected(r) => r.fmt(f),
                TokenInvalid::NotVerified { why } => f.write_str(why),
            },
            Refusal::TokenExpired(t) => match t {
                TokenExpired::Claims => f.write_str("the token has expired"),
                TokenExpired::Rejected(r) => r.fmt(f),
            },
            Refusal::TokenTooLongLived { seconds } => match seconds {
                Some(s) => write!(
                    f,
                    "the token is valid for {s}s; a projected token for {AUDIENCE} may last at most 1h (expirationSeconds: 3600)"
                ),
                None => f.write_str(
                    "the token carries no iat/exp, so its lifetime is unknown; use a projected token (at most 1h)",
                ),
            },
            Refusal::WrongAudience(w) => match w {
                WrongAudience::Rejected(r) => r.fmt(f),
                WrongAudience::NotInReview => {
                    write!(f, "the token is not for audience {AUDIENCE}")
                }
            },
            Refusal::NotServiceAccount { username } => {
                write!(f, "{} is not a ServiceAccount", escape(username))
            }
            Refusal::NotPodBound => f.write_str(
                "the token is not bound to a pod (a projected serviceAccountToken volume is; `kubectl create token` needs --bound-object-kind Pod)",
            ),
            Refusal::NamespaceNotAllowed {
                namespace,
                selector,
            } => write!(
                f,
                "namespace {} does not match the signer's namespace selector ({selector})",
                escape(namespace)
            ),
            Refusal::ServiceAccountNotAllowed { namespace, account } => write!(
                f,
                "ServiceAccount {} is not one the signer allows (--service-account)",
                escape(&format!("{namespace}/{account}"))
            ),
            Refusal::PodNotFound(PodNotFound::Deleted { pod }) => {
                write!(f, "{pod} does not exist (deleted?)")
            }
            Refusal::PodNotFound(PodNotFound::Replaced {
                pod,
                uid,
                token_uid,
            }) => write!(
                f,
                "{pod} is another pod now (uid {}, the token is for {}): the token's pod was deleted",
                escape(uid),
                escape(token_uid)
            ),
            Refusal::PodTerminating { pod } => write!(f, "{pod} is terminating"),
            Refusal::PodFinished { pod, phase } => write!(
                f,
                "{pod} has finished (phase {phase}); its address may be another pod's now"
            ),
            Refusal::HostNetwork { pod } => write!(
                f,
                "{pod} uses hostNetwork: its IP is its node's, so any process on that node could ask as it (serve --allow-host-network accepts that)"
            ),
            Refusal::AddressMismatch { pod, peer, ips } => write!(
                f,
                "the request came from {peer}, which is not an IP of {pod} ({}): the signer must see the pod's own address (no proxy or NAT in between)",
                if ips.is_empty() {
                    "it has none yet".to_string()
                } else {
                    ips.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
                }
            ),
            Refusal::NotARayPod { pod, node_type } => write!(
                f,
                "{pod} has {}; a Ray pod is labelled {NODE_TYPE_LABEL}=head or worker",
                match node_type {
                    Some(v) => format!("{NODE_TYPE_LABEL}={}", escape(v)),
                    None => format!("no {NODE_TYPE_LABEL} label"),
                }
            ),
            Refusal::NoRayClusterOwner(NoRayClusterOwner::ClusterGone { pod, name, uid }) => {
                write!(
                    f,
                    "{pod} is owned by RayCluster {} (uid {}), which no longer exists",
                    escape(name),
                    escape(uid)
                )
            }
            Refusal::NoRayClusterOwner(NoRayClusterOwner::NotARayCluster { pod, controller }) => {
                write!(
                    f,
                    "{pod} has Ray labels but its controller is {}, not a RayCluster",
                    match controller {
                        Some((kind, name)) => format!("{} {}", escape(kind), escape(name)),
                        None => "nothing".into(),
                    }
                )
            }
            Refusal::ClusterLabelMismatch {
                pod,
                cluster,
                label,
            } => write!(
                f,
                "{pod} is controlled by RayCluster {} but labelled {}",
                escape(cluster),
                match label {
                    Some(v) => format!("{CLUSTER_LABEL}={}", escape(v)),
                    None => format!("with no {CLUSTER_LABEL}"),
                }
            ),
            Refusal::DuplicateHead { cluster, others } => write!(
                f,
                "RayCluster {} has another live head pod ({}); KubeRay makes one, so neither is certified as head until the extra one is gone",
                escape(cluster),
                others.iter().map(|h| escape(h)).collect::<Vec<_>>().join(", ")
            ),
            Refusal::TooManyNames { pod, names, bytes } => write!(
                f,
                "{pod} would get {names} names ({bytes} bytes; at most {MAX_LEAF_NAMES} and {MAX_LEAF_NAME_BYTES}): too many Services name its head"
            ),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the API server did not accept the token (audience {AUDIENCE}): {}",
            escape(&self.why)
        )
    }
}

impl fmt::Display for NameNotAllowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameNotAllowed::FqdnNotHead { name } => {
                write!(f, "fqdn {} is only for role head", escape(name))
            }
            NameNotAllowed::Policy { name, role, why } => write!(
                f,
                "{} is not allowed in a {role} certificate: {why}",
                escape(name)
            ),
            NameNotAllowed::NotOfPod { name, pod, granted } => write!(
                f,
                "{} is not a name of {pod}; it may have {}",
                escape(name),
                granted
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl fmt::Display for PolicyWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyWhy::NotAName => f.write_str("it is not a DNS name or IP address"),
            PolicyWhy::NoHeadNames => {
                f.write_str("this signer allows no head names (no --head-name)")
            }
            PolicyWhy::NoPatternMatches { patterns } => {
                write!(f, "it matches no --head-name pattern ({patterns})")
            }
            PolicyWhy::HeadNamesOnlyForHead => f.write_str("head names are only for role head"),
            PolicyWhy::ClientHoldsNoNames => f.write_str("a client certificate holds no names"),
            PolicyWhy::NotThePeer { peer } => write!(
                f,
                "the only addresses are the one the request came from ({peer}) and loopback"
            ),
            PolicyWhy::WorkerDnsIsLocalhost => {
                f.write_str("the only DNS name of a worker is localhost")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The `enum:` list under `Error.properties.error` of docs/signer-openapi.yaml.
    fn documented_codes() -> BTreeSet<String> {
        let doc = include_str!("../../docs/signer-openapi.yaml");
        let mut lines = doc.lines().skip_while(|l| l.trim_end() != "    Error:");
        let mut lines = lines
            .by_ref()
            .skip_while(|l| l.trim_end() != "        error:")
            .skip(1);
        let mut codes = BTreeSet::new();
        let mut in_enum = false;
        for line in lines.by_ref() {
            let indent = line.len() - line.trim_start().len();
            if indent <= 8 {
                break;
            }
            if line.trim() == "enum:" {
                in_enum = true;
            } else if in_enum {
                match line.trim().strip_prefix("- ") {
                    Some(code) => {
                        codes.insert(code.trim().to_string());
                    }
                    None => in_enum = false,
                }
            }
        }
        codes
    }

    #[test]
    fn every_code_is_documented_and_every_documented_code_is_ours() {
        let ours: BTreeSet<String> = Refusal::ALL_CODES.iter().map(|c| c.to_string()).collect();
        assert_eq!(ours.len(), Refusal::ALL_CODES.len(), "a code in two rows");
        assert_eq!(
            ours,
            documented_codes(),
            "Refusal::ALL_CODES and the enum of Error.error in docs/signer-openapi.yaml"
        );
    }

    #[test]
    fn wire_error_is_status_code_and_message() {
        let r = Refusal::RateLimited {
            peer: "10.0.0.5".parse().unwrap(),
            retry_in: 3,
        };
        let e = ApiError::from(&r);
        assert_eq!((e.status, e.code.as_str()), (429, "rate_limited"));
        assert_eq!(
            e.body_json(),
            r#"{"error":"rate_limited","message":"too many requests from 10.0.0.5; retry in 3s"}"#
        );
        assert_eq!(r.retry_after(), Some(3));
        assert_eq!(
            Refusal::MethodNotAllowed {
                endpoint: Endpoint::Sign
            }
            .to_string(),
            "use POST /v1/sign"
        );
        assert_eq!(
            Refusal::MethodNotAllowed {
                endpoint: Endpoint::Metrics
            }
            .allow(),
            Some("GET")
        );
        assert_eq!(
            Refusal::Csr(CsrError::BadSignature).code(),
            "bad_csr_signature"
        );
    }
}
