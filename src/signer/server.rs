//! `raytls serve`: its configuration (per-role lifetimes, the limits a hostile client meets),
//! the bound server (serving certificate, listener, shared state) and the signer's own
//! answers, `/healthz` and `/metrics`. The pieces:
//! - `tls`: rustls (TLS 1.3 and 1.2, optional client certificates from this CA, no session
//!   ever resumed), the handshake's byte budget, a client certificate checked again at every
//!   request that relies on it;
//! - `http`: HTTP/1.1 (hyper) and its limits: a TLS handshake timeout, a header read timeout,
//!   a body read timeout, a 16 KiB body, 4 KiB of request headers, a cap on connections (in
//!   all and per source address; at the cap in all an idle connection is closed for a
//!   newcomer) and on each connection's lifetime; on shutdown it stops accepting and lets
//!   requests in flight finish;
//! - `issue`: `POST /v1/sign`, with a per-peer rate limit, authorization, issuance and audit.
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Response};
use http_body_util::Full;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::audit::Audit;
use super::auth::Tokens;
use super::http::{error_response, json_response};
use super::kubernetes::guard::GuardStatus;
use super::kubernetes::KubeSigner;
use super::limits::{PeerLimiter, RateLimit};
use super::metrics::{ca_expiry, Metrics};
use super::policy::Policy;
use super::refusal::Refusal;
use super::{http as signer_http, tls};
use crate::error::{Error, Result};
use crate::pki::authority::{Authority, LeafSubject, Lifetime};
use crate::pki::certinfo::CertInfo;
use crate::pki::keys::{self, KeyType};
use crate::pki::pem;
use crate::pki::role::Role;
use crate::pki::san::San;

pub use super::http::MAX_HEADER_BYTES;

/// Longest validity per role (clamped to the CA's own expiry): whole days for real clusters,
/// minutes for a renewal drill.
#[derive(Debug, Clone, Copy)]
pub struct MaxLifetime {
    pub head: time::Duration,
    pub worker: time::Duration,
    pub client: time::Duration,
}

impl Default for MaxLifetime {
    fn default() -> Self {
        MaxLifetime {
            head: time::Duration::days(365),
            worker: time::Duration::days(365),
            client: time::Duration::days(30),
        }
    }
}

impl MaxLifetime {
    /// `serve --kubernetes`: a day for workers and clients, 30 days for the head. The renewal
    /// sidecar re-attests the pod at each renewal, so a worker's access ends within a day of
    /// its pod's. Ray reads its certificate only at start, so each renewal costs a restart of
    /// that node's Ray (the liveness probe of examples/kubernetes/raycluster.yaml): cheap for a
    /// worker, a restart of the whole cluster for a head without GCS fault tolerance, hence
    /// the month (`--max-days head=24h` for a cluster with GCS fault tolerance).
    pub fn kubernetes() -> Self {
        let day = time::Duration::hours(24);
        MaxLifetime {
            head: time::Duration::days(30),
            worker: day,
            client: day,
        }
    }

    pub fn get(&self, role: Role) -> time::Duration {
        match role {
            Role::Head => self.head,
            Role::Worker => self.worker,
            Role::Client => self.client,
        }
    }

    pub fn set(&mut self, role: Role, length: time::Duration) {
        match role {
            Role::Head => self.head = length,
            Role::Worker => self.worker = length,
            Role::Client => self.client = length,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    /// Open connections from one source address at most, so one peer (or one pod's retry
    /// loop) cannot hold every slot of `max_connections`.
    pub max_connections_per_source: usize,
    /// TLS handshake, then request headers, then body: each must arrive within this.
    pub read_timeout: Duration,
    /// A connection (keep-alive included) is closed after this, so idle ones free their slot.
    pub connection_lifetime: Duration,
    pub rate: RateLimit,
    /// How long requests in flight get to finish after SIGTERM.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_connections_per_source: 32,
            read_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(60),
            rate: RateLimit {
                per_second: 5.0,
                burst: 20.0,
            },
            drain: Duration::from_secs(20),
        }
    }
}

/// Everything `raytls serve` needs, already checked.
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub ca: Authority,
    pub tokens: Tokens,
    pub policy: Policy,
    /// Extra names for the serving certificate (its listen address is added).
    pub serving_sans: Vec<San>,
    pub max_lifetime: MaxLifetime,
    pub audit: Audit,
    pub limits: Limits,
    /// `--kubernetes`: pods attested through the API server, one CA per RayCluster (the
    /// role tokens and names policy above are then unused).
    pub kubernetes: Option<Arc<KubeSigner>>,
}

/// What every connection and request of the server shares.
pub(super) struct State {
    pub(super) ca: Authority,
    /// The handshake's verifier, asked again at each request that relies on a client
    /// certificate (its validity now, its chain to the roots the signer trusts).
    pub(super) client_verifier: Arc<dyn ClientCertVerifier>,
    /// The CAs whose own leaves renew over mutual TLS (`Authority::renewal_issuers`).
    pub(super) renewal_issuers: Vec<CertificateDer<'static>>,
    pub(super) ca_pem: String,
    pub(super) tokens: Tokens,
    pub(super) policy: Policy,
    pub(super) max_lifetime: MaxLifetime,
    pub(super) audit: Audit,
    pub(super) metrics: Metrics,
    pub(super) limiter: PeerLimiter,
    pub(super) limits: Limits,
    pub(super) draining: AtomicBool,
    pub(super) kubernetes: Option<Arc<KubeSigner>>,
}

/// A bound server, not yet serving.
pub struct Bound {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<State>,
    pub local_addr: SocketAddr,
    /// The serving certificate, for the start-up line.
    pub serving: CertInfo,
}

/// The serving certificate's names: the listen address (unless it is a wildcard address),
/// loopback for probes from inside the pod, and the `--san` names.
fn serving_names(listen: IpAddr, extra: &[San]) -> Vec<San> {
    let mut sans = vec![San::localhost(), San::Ip(IpAddr::from([127, 0, 0, 1]))];
    if listen.is_ipv6() {
        crate::pki::san::push_unique(
            &mut sans,
            San::Ip(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])),
        );
    }
    if !listen.is_unspecified() {
        crate::pki::san::push_unique(&mut sans, San::Ip(listen));
    }
    for s in extra {
        crate::pki::san::push_unique(&mut sans, s.clone());
    }
    sans
}

/// Bind the listener and issue the serving certificate from the CA (its key lives only in
/// this process's memory).
pub async fn bind(cfg: ServeConfig, now: OffsetDateTime) -> Result<Bound> {
    let key = keys::generate(KeyType::EcdsaP256)?;
    let names = serving_names(cfg.listen.ip(), &cfg.serving_sans);
    let signed = cfg.ca.sign_leaf(
        &key.pair,
        false,
        // OU=signer: the mark pods check before they send a token (pki::role::SIGNER_LABEL).
        &LeafSubject::signer(),
        &names,
        Lifetime::default_days(365),
        now,
    )?;
    let chain: Vec<CertificateDer<'static>> = pem::certificates(
        std::path::Path::new("the serving certificate"),
        signed.chain_pem.as_bytes(),
    )?;
    let key_der = PrivateKeyDer::Pkcs8(key.pair.serialize_der().into());

    let (tls, client_verifier) = tls::serving_config(&cfg.ca, chain, key_der)?;

    let listener = signer_http::listen(cfg.listen).map_err(|e| Error::Listen {
        addr: cfg.listen.to_string(),
        why: e.to_string(),
    })?;
    let local_addr = listener.local_addr().map_err(|e| Error::Listen {
        addr: cfg.listen.to_string(),
        why: e.to_string(),
    })?;
    // What pods write as ca.crt: the trust bundle (old + new roots during a CA rotation).
    let ca_pem = cfg.ca.trust.pem();
    let state = Arc::new(State {
        ca_pem,
        tokens: cfg.tokens,
        policy: cfg.policy,
        max_lifetime: cfg.max_lifetime,
        audit: cfg.audit,
        metrics: Metrics::default(),
        limiter: PeerLimiter::new(cfg.limits.rate),
        limits: cfg.limits,
        draining: AtomicBool::new(false),
        kubernetes: cfg.kubernetes,
        renewal_issuers: cfg.ca.renewal_issuers(),
        ca: cfg.ca,
        client_verifier,
    });
    Ok(Bound {
        listener,
        acceptor: TlsAcceptor::from(Arc::new(tls)),
        state,
        local_addr,
        serving: signed.info,
    })
}

impl Bound {
    /// Serve until `shutdown` completes; then stop accepting and give the connections in
    /// flight `drain` to finish. Returns how many connections were still open at shutdown.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> usize {
        signer_http::run(self.listener, self.acceptor, self.state, shutdown).await
    }
}

/// `GET /healthz`: 503 while draining or while the Kubernetes caches are not ready (or the
/// pod guard a `--require-pod-guard` signer needs is missing); with `--kubernetes` the pod
/// guard and the token check are reported.
pub(super) fn healthz(state: &State) -> Response<Full<Bytes>> {
    let endpoint = super::api::Endpoint::Healthz;
    if state.draining.load(Ordering::SeqCst) {
        error_response(&Refusal::ShuttingDown { endpoint })
    } else if state.kubernetes.as_ref().is_some_and(|k| !k.ready()) {
        error_response(&Refusal::CacheNotReady)
    } else if let Some(k) = &state.kubernetes {
        // The pod guard is reported, and with --require-pod-guard a signer without it
        // is not ready (it would refuse every request).
        let guard = k.guard();
        if k.requires_guard() && guard != GuardStatus::InPlace {
            error_response(&Refusal::PodGuardMissing { guard, endpoint })
        } else {
            let (mode, issuer) = k.token_check();
            let body = serde_json::json!({
                "status": "ok",
                "pod_guard": guard.name(),
                "pod_guard_detail": guard.describe(),
                "token_review": mode.name(),
                "issuer_keys": issuer.as_ref().map_or(0, |i| i.keys),
                "issuer_ready": issuer.as_ref().is_some_and(|i| i.ready),
            });
            json_response(200, body.to_string())
        }
    } else {
        json_response(200, "{\"status\":\"ok\"}".into())
    }
}

/// `GET /metrics`: the signer's counters, the CA's expiry and, with `--kubernetes`, the
/// caches' and the API server's.
pub(super) fn metrics(state: &State) -> Response<Full<Bytes>> {
    let mut body = state.metrics.render() + &ca_expiry(&state.ca);
    if let Some(k) = &state.kubernetes {
        body.push_str(&k.metrics());
    }
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(crate::text::prometheus::CONTENT_TYPE),
    );
    r
}
