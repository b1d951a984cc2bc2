//! `raytls serve --kubernetes`: the signer attests each pod through the API server and gives
//! every RayCluster its own trust domain, with nothing set up per cluster.
//!
//! A pod sends its projected ServiceAccount token (audience `raytls`, at most 1 h, bound to
//! the pod). The signer reviews it (TokenReview: the one API request per certificate), reads
//! the pod, its controller RayCluster, its namespace and the namespace's Services from watch
//! caches (`attest`), and decides (`decide`, a pure function). A granted pod gets a leaf from
//! its RayCluster's own CA, derived from the signer's master key and the RayCluster's UID
//! (`pki::cluster_ca`), and that CA as `ca.crt`: pods of one cluster trust each other and no
//! other cluster.
//!
//! - `decide`: `Facts` -> `Grant` or a `Refusal`.
//! - `attest`: TokenReview, reflectors, GET on a cache miss.
//! - `selector`: `--namespace-selector`.
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::pki::authority::{Authority, LeafSubject};
use crate::pki::cluster_ca::{self, ClusterCa, ClusterRef, MasterKey};
use crate::pki::role::Role;
use crate::signer::api::{self, Endpoint, SignRequest};
use crate::signer::issue::{Issuance, IssuingCa};
use crate::signer::limits::InFlight;
use crate::signer::refusal::{Refusal, Unauthorized};

pub mod attest;
pub mod decide;
pub mod guard;
pub mod issuer;
pub mod jwt;
pub mod selector;

pub use decide::{AccountPattern, KubePolicy, Who};

/// Where `raytls init --k8s-token` looks without a FILE: the projected token volume of
/// `examples/kubernetes/`.
pub const DEFAULT_TOKEN_PATH: &str = "/var/run/secrets/raytls/token";

/// A sign request as the server read it.
pub struct KubeRequest<'a> {
    /// The TCP peer address.
    pub peer: IpAddr,
    /// The Authorization header, if any.
    pub authorization: Option<&'a [u8]>,
    /// The role the body asks for.
    pub role: Role,
    pub body: SignRequest,
    /// Marked once the API server authenticated the token, so that the connection is not
    /// evicted while the pod and its cluster are read and the certificate is signed.
    pub in_flight: &'a InFlight<'a>,
}

/// Services a RayCluster names in `raytls.io/head-services` read by GET per head request, at
/// most (more names are ignored).
const MAX_NAMED_SERVICES: usize = 8;

/// Cluster CAs kept per replica (a CA is cheap to derive again; the cap bounds memory).
const MAX_CACHED_CAS: usize = 4096;

/// How pods' tokens are checked (`--token-review`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenReview {
    /// Against the issuer's keys only.
    Never,
    /// Against the issuer's keys; a TokenReview when they cannot settle it.
    OnMiss,
    /// A TokenReview for every request.
    Always,
}

impl TokenReview {
    pub fn name(self) -> &'static str {
        match self {
            TokenReview::Never => "never",
            TokenReview::OnMiss => "on-miss",
            TokenReview::Always => "always",
        }
    }
}

/// How the signer treats the API server and the pod guard.
#[derive(Debug, Clone, Copy)]
pub struct KubeOptions {
    /// The global budget of TokenReviews per second (`--token-review-rate`).
    pub reviews_per_second: u32,
    /// Sign nothing while the pod guard is not in place (`--require-pod-guard`).
    pub require_pod_guard: bool,
    /// `--token-review`.
    pub token_review: TokenReview,
}

impl Default for KubeOptions {
    fn default() -> Self {
        KubeOptions {
            reviews_per_second: 500,
            require_pod_guard: false,
            token_review: TokenReview::OnMiss,
        }
    }
}

/// How many tokens were settled where, for `/metrics`.
#[derive(Debug, Default)]
struct TokenCounts {
    local: std::sync::atomic::AtomicUsize,
    reviewed: std::sync::atomic::AtomicUsize,
}

/// The Kubernetes side of a signer: the API client's caches, the policy, the master key and
/// the cluster CAs derived so far.
pub struct KubeSigner {
    attestor: Arc<attest::Attestor>,
    /// The issuer's keys, unless every token is reviewed.
    issuer: Option<Arc<issuer::Issuer>>,
    tokens: TokenCounts,
    guard: Arc<guard::Guard>,
    options: KubeOptions,
    policy: KubePolicy,
    master: MasterKey,
    cas: Mutex<HashMap<String, Arc<ClusterCa>>>,
}

/// Build the Kubernetes client: `--kubeconfig` when given, else what kubectl would use
/// (in-cluster config in a pod, `KUBECONFIG` or `~/.kube/config` elsewhere).
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client> {
    // kube's rustls client takes the process's default provider: ring, as everywhere here.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let failed = |why: String| Error::Usage(format!("--kubernetes: {why}"));
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| failed(format!("cannot read --kubeconfig {}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| failed(format!("--kubeconfig {}: {e}", path.display())))?
        }
        None => kube::Config::infer().await.map_err(|e| {
            failed(format!(
                "no in-cluster config and no kubeconfig ({e}); run in a pod or pass --kubeconfig"
            ))
        })?,
    };
    kube::Client::try_from(config).map_err(|e| failed(format!("cannot make the client: {e}")))
}

impl KubeSigner {
    /// Start the watches. `signer` is the CA that issues the cluster CAs: it must allow a
    /// CA below it (pathlen absent or at least 1).
    pub fn start(
        client: kube::Client,
        signer: &Authority,
        policy: KubePolicy,
        master: MasterKey,
        options: KubeOptions,
    ) -> Result<Arc<Self>> {
        if signer.info.path_len == Some(0) {
            return Err(Error::Usage(format!(
                "--kubernetes gives each RayCluster a CA issued by --ca, but {} has pathLenConstraint 0 (an intermediate made by `ca create --intermediate`); give a root made by `raytls ca create`",
                signer.files.cert.display()
            )));
        }
        let guard = guard::Guard::start(client.clone());
        let issuer = (options.token_review != TokenReview::Always)
            .then(|| issuer::Issuer::start(client.clone()));
        let attestor = attest::Attestor::start(
            client,
            policy.namespaces.is_some(),
            options.reviews_per_second,
        );
        Ok(Arc::new(KubeSigner {
            attestor,
            issuer,
            tokens: TokenCounts::default(),
            guard,
            options,
            policy,
            master,
            cas: Mutex::new(HashMap::new()),
        }))
    }

    /// The caches have listed once: the signer can decide without asking for every pod.
    /// With `--token-review never` the issuer's keys must have been read too.
    pub fn ready(&self) -> bool {
        self.attestor.ready()
            && (self.options.token_review != TokenReview::Never
                || self.issuer.as_ref().is_some_and(|i| i.ready()))
    }

    /// `--token-review`, and the issuer's keys as last read (None when every token is
    /// reviewed).
    pub fn token_check(&self) -> (TokenReview, Option<issuer::IssuerStatus>) {
        (
            self.options.token_review,
            self.issuer.as_ref().map(|i| i.status()),
        )
    }

    /// Check a token: here against the issuer's keys, or by a TokenReview (`--token-review`).
    async fn check_token(
        &self,
        token: &str,
        now: OffsetDateTime,
        requests: &mut u32,
    ) -> std::result::Result<(decide::Review, &'static str), Refusal> {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(issuer) = &self.issuer {
            match issuer
                .verify(token, decide::AUDIENCE, now.unix_timestamp())
                .await
            {
                Ok(verified) => {
                    self.tokens.local.fetch_add(1, Relaxed);
                    return Ok((verified.review(), "local"));
                }
                Err(e)
                    if self.options.token_review == TokenReview::OnMiss
                        && e.review_could_differ() => {}
                Err(e) => {
                    self.tokens.local.fetch_add(1, Relaxed);
                    return Err(e.into());
                }
            }
        }
        let review = self.attestor.review(token, requests).await?;
        self.tokens.reviewed.fetch_add(1, Relaxed);
        Ok((review, "review"))
    }

    /// API requests made for decisions since start.
    pub fn api_requests(&self) -> usize {
        self.attestor.requests()
    }

    /// The pod guard as last seen.
    pub fn guard(&self) -> guard::GuardStatus {
        self.guard.status()
    }

    /// Whether requests are refused while the guard is not in place.
    pub fn requires_guard(&self) -> bool {
        self.options.require_pod_guard
    }

    /// The Kubernetes side's metrics: API requests made for decisions, and the pod guard.
    pub fn metrics(&self) -> String {
        use crate::text::prometheus::{Exposition, Kind};
        let mut e = Exposition::default();
        e.family(
            "raytls_signer_kubernetes_api_requests_total",
            Kind::Counter,
            "Requests to the Kubernetes API made for decisions (TokenReviews, GETs on a cache miss).",
        );
        e.sample(
            "raytls_signer_kubernetes_api_requests_total",
            &[],
            self.api_requests() as f64,
        );
        e.family(
            "raytls_signer_kubernetes_pod_guard",
            Kind::Gauge,
            "1 when the pod guard (ValidatingAdmissionPolicy raytls-ray-pod-guard) is in place.",
        );
        e.sample(
            "raytls_signer_kubernetes_pod_guard",
            &[],
            f64::from(u8::from(self.guard() == guard::GuardStatus::InPlace)),
        );
        e.family(
            "raytls_signer_kubernetes_tokens_total",
            Kind::Counter,
            "Pod tokens settled, by how: against the issuer's keys here (local) or by a TokenReview (review).",
        );
        for (how, n) in [
            ("local", &self.tokens.local),
            ("review", &self.tokens.reviewed),
        ] {
            e.sample(
                "raytls_signer_kubernetes_tokens_total",
                &[("how", how)],
                n.load(std::sync::atomic::Ordering::Relaxed) as f64,
            );
        }
        e.family(
            "raytls_signer_kubernetes_issuer_keys",
            Kind::Gauge,
            "Keys in the ServiceAccount issuer's key set as last read (0: not read; tokens are reviewed).",
        );
        e.sample(
            "raytls_signer_kubernetes_issuer_keys",
            &[],
            self.issuer.as_ref().map_or(0, |i| i.status().keys) as f64,
        );
        e.finish()
    }

    /// Gather the facts for a request and decide; on a refusal that a stale cache could
    /// explain (the pod or its IP not there yet), read the pod and cluster again by GET and
    /// decide once more.
    async fn attest(
        &self,
        token: Option<&str>,
        peer: IpAddr,
        role: Role,
        asked_names: Vec<String>,
        who: &mut Who,
        in_flight: &InFlight<'_>,
    ) -> std::result::Result<decide::Grant, Refusal> {
        let mut facts = decide::Facts {
            peer,
            asked_role: role,
            asked_names,
            token_present: token.is_some(),
            claims: None,
            review: None,
            namespace_labels: None,
            pod: None,
            cluster: None,
            services: Vec::new(),
            other_heads: Vec::new(),
            now: OffsetDateTime::now_utc(),
        };
        let mut requests = 0u32;
        let mut token_check = None;
        if let Some(token) = token {
            facts.claims = attest::claims(token);
            if decide::check_claims(facts.claims, facts.now).is_ok() {
                let (review, how) = self.check_token(token, facts.now, &mut requests).await?;
                facts.review = Some(review);
                token_check = Some(how);
            }
        }
        if matches!(facts.review, Some(decide::Review::Authenticated { .. })) {
            in_flight.authenticated();
        }
        let target = match &facts.review {
            Some(r @ decide::Review::Authenticated { username, .. }) => {
                decide::service_account(username)
                    .zip(attest::pod_name(r))
                    .map(|((ns, _), pod)| (ns.to_string(), pod.to_string()))
            }
            _ => None,
        };
        let mut result = decide::decide(&facts, &self.policy);
        // The token's check may have cost a request (a TokenReview) or none (local).
        let for_token = requests;
        // GETs of Services a RayCluster names (not cache misses: they do not end the retry).
        let mut lookups = 0u32;
        if let Some((ns, pod)) = &target {
            for fresh in [false, true] {
                facts.namespace_labels = self.attestor.namespace_labels(ns);
                facts.pod = self.attestor.pod(ns, pod, fresh, &mut requests).await?;
                facts.cluster = match facts.pod.as_ref().and_then(|p| p.controller.clone()) {
                    Some(owner) => {
                        self.attestor
                            .cluster(ns, &owner, fresh, &mut requests)
                            .await?
                    }
                    None => None,
                };
                facts.services = self.attestor.services(ns);
                let head_of = match (&facts.pod, &facts.cluster) {
                    (Some(p), Some(c))
                        if p.labels.get(decide::NODE_TYPE_LABEL).map(String::as_str)
                            == Some("head") =>
                    {
                        Some(c.clone())
                    }
                    _ => None,
                };
                facts.other_heads = match &head_of {
                    Some(c) => self.attestor.other_heads(ns, &c.uid, pod),
                    None => Vec::new(),
                };
                // Services the RayCluster names that the watch (ray.io/cluster-labelled
                // Services only) does not hold: by GET, a few at most.
                for name in head_of
                    .iter()
                    .flat_map(|c| c.head_services.iter())
                    .take(MAX_NAMED_SERVICES)
                {
                    if !facts.services.iter().any(|s| &s.name == name) {
                        if let Some(s) = self.attestor.service(ns, name, &mut lookups).await? {
                            facts.services.push(s);
                        }
                    }
                }
                result = decide::decide(&facts, &self.policy);
                let stale_cache_could_explain = matches!(&result, Err(e) if e.may_be_stale_cache());
                // A GET already happened on a miss: no second look.
                if !stale_cache_could_explain || requests > for_token {
                    break;
                }
            }
        }
        *who = Who::of(&facts);
        who.api_requests = requests + lookups;
        who.token_check = token_check;
        result
    }

    /// The CA of a granted pod's RayCluster: derived once per replica, then cached.
    fn cluster_ca(
        &self,
        signer: &Authority,
        namespace: &str,
        cluster: &decide::ClusterFacts,
    ) -> std::result::Result<Arc<ClusterCa>, Refusal> {
        let mut cas = crate::probe::tls::lock(&self.cas);
        if let Some(ca) = cas.get(&cluster.uid) {
            return Ok(ca.clone());
        }
        let ca = cluster_ca::issue(
            signer,
            &self.master,
            &ClusterRef {
                namespace,
                name: &cluster.name,
                uid: &cluster.uid,
                created: cluster.created,
            },
        )
        .map_err(|e| Refusal::CaUnavailable { why: e.to_string() })?;
        if cas.len() >= MAX_CACHED_CAS {
            cas.clear();
        }
        let ca = Arc::new(ca);
        cas.insert(cluster.uid.clone(), ca.clone());
        Ok(ca)
    }

    /// Decide a request, and the CA of its pod's RayCluster (from `signer`): the Kubernetes
    /// counterpart of the token/policy path, signed by `issue`. `who` is filled for the audit
    /// line as far as the request got.
    pub(crate) async fn grant(
        &self,
        signer: &Authority,
        request: KubeRequest<'_>,
        who: &mut Who,
    ) -> std::result::Result<Issuance, Refusal> {
        let KubeRequest {
            peer,
            authorization,
            role,
            body: request,
            in_flight,
        } = request;
        let token = match authorization {
            None => None,
            Some(h) => Some(
                h.strip_prefix(b"Bearer ")
                    .or_else(|| h.strip_prefix(b"bearer "))
                    .and_then(|t| std::str::from_utf8(t.trim_ascii()).ok())
                    .filter(|t| !t.is_empty())
                    .ok_or(Refusal::Unauthorized(Unauthorized::NotBearerServiceAccount))?,
            ),
        };
        if self.options.require_pod_guard {
            let status = self.guard();
            if status != guard::GuardStatus::InPlace {
                return Err(Refusal::PodGuardMissing {
                    guard: status,
                    endpoint: Endpoint::Sign,
                });
            }
        }
        let decoded = api::decode_csr(role, request)?;
        let mut asked = decoded.fqdn.clone();
        asked.extend(decoded.csr.requested_names.iter().cloned());
        let grant = self
            .attest(token, peer, role, asked, who, in_flight)
            .await?;
        let ca = self.cluster_ca(signer, &grant.namespace, &grant.cluster)?;
        let cn: String = format!("ray {} {}/{}", grant.role, grant.namespace, grant.pod)
            .chars()
            .take(64)
            .collect();
        Ok(Issuance {
            csr: decoded.csr,
            role: grant.role,
            subject: LeafSubject {
                holder: crate::pki::role::Holder::Ray(grant.role),
                common_name: cn,
            },
            from: IssuingCa::Cluster {
                ca,
                cluster: format!(
                    "{}/{} (uid {})",
                    grant.namespace, grant.cluster.name, grant.cluster.uid
                ),
            },
            sans: grant.sans,
        })
    }
}
