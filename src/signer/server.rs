//! The HTTPS server of `raytls serve`: rustls (TLS 1.3 and 1.2, optional client
//! certificates from this CA), HTTP/1.1 (hyper), and the limits a hostile client meets:
//! a TLS handshake timeout, a header read timeout, a body read timeout, a 16 KiB body,
//! 4 KiB of request headers, a cap on connections (in all and per source address; at the
//! cap in all an idle connection is closed for a newcomer) and on each connection's
//! lifetime, and a per-peer rate limit. No TLS session is ever resumed,
//! and a client certificate is checked again at every request that relies on it.
//! On shutdown it stops accepting and lets requests in flight finish.
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::api::{self, ApiError, Endpoint, SignResponse, MAX_BODY};
use super::audit::{Audit, Entry};
use super::auth::{self, ClientCert, Proof, Tokens};
use super::kubernetes::guard::GuardStatus;
use super::kubernetes::{KubeRequest, KubeSigner, Who};
use super::limits::{Connections, InFlight, PeerLimiter, RateLimit, Registered, SourceCap};
use super::metrics::Metrics;
use super::policy::Policy;
use super::refusal::{NameNotAllowed, Refusal, RoleNotAllowed};
use super::tls::{self, HandshakeBudget};
use crate::error::{Error, Result};
use crate::pki::authority::{Authority, LeafSubject, Lifetime};
use crate::pki::certinfo::CertInfo;
use crate::pki::keys::{self, KeyType};
use crate::pki::role::Role;
use crate::pki::san::San;
use crate::pki::{pem, role};

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

/// The most request-header bytes (request line included) the signer reads: 431 past this.
/// The largest request it expects is a POST of a CSR whose headers (Host, Authorization:
/// Bearer <64-character token>, Content-Type, Content-Length, User-Agent, Accept, Expect) are
/// under 512 bytes; a Prometheus scrape or a kubelet probe sends less.
pub const MAX_HEADER_BYTES: usize = 4096;
/// hyper's per-connection read (and write) buffer: the smallest hyper allows. Its default
/// (~400 KiB) let 330 connections with 400 KB headers take the signer to 148 MB (issue 19).
const HTTP_BUFFER_BYTES: usize = 8192;
/// Header lines at most (hyper's default is 100); a real client sends under 10.
const MAX_HEADERS: usize = 32;

// Worst-case memory of one connection, by what a peer can make the signer hold:
//   in the TLS handshake: at most HANDSHAKE_BYTES (32 KiB) read from the peer, so rustls'
//     record buffer (~36 KiB), the handshake transcript and the parsed ClientHello or
//     certificate chain (~32 KiB each): ~100 KiB in theory. (Without the budget rustls joins a
//     handshake message of up to 64 KiB: 1,024 peers stalled in one took 87 MB.)
//   past it: rustls' record buffer (~18 KiB) and decrypted data not yet read (~16 KiB,
//     plus one record), hyper's read buffer (HTTP_BUFFER_BYTES; headers at most
//     MAX_HEADER_BYTES) and write buffer (our answers are under 8 KiB), the body being
//     read (MAX_BODY, 16 KiB), the task and socket: ~90 KiB.
// So the default caps bound it: one address (32 connections) ~3 MiB; the whole signer
// (1,024) ~100 MiB in theory over ~10 MiB at rest, inside the 128 MiB of
// examples/raycluster-signer.yaml. Measured (scripts/signer-flood.py, debug build, glibc):
// ~25 KiB per connection flooding 400 KB headers; ~45 KiB per connection stalled in a
// 32 KB ClientHello (63 MB for 1,024 of them; 87 MB in 60 KB ones before the budget). Lower
// --max-connections where memory is tighter.

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

/// The listening socket, with an accept queue as deep as the kernel allows
/// (net.core.somaxconn, as Go's net.Listen has): TcpListener::bind's 128 overflows when a
/// cluster's pods start at once, and each SYN dropped then costs its pod a 1 s retransmit.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As TcpListener::bind: a restarted signer binds again at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    // The kernel caps this at net.core.somaxconn.
    socket.listen(u32::from(u16::MAX))
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

    let listener = listen(cfg.listen).map_err(|e| Error::Listen {
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
        let Bound {
            listener,
            acceptor,
            state,
            ..
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let slots = Arc::new(Semaphore::new(state.limits.max_connections));
        let per_source = SourceCap::new(state.limits.max_connections_per_source);
        let conns = Connections::new();
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        // Neither cap queues a connection: a queued one would hold its socket
                        // and wait for the peer that holds the slots. This source first, so
                        // that one peer at its cap cannot count against the global cap.
                        let source = peer.ip().to_canonical();
                        let Some(source_slot) = per_source.try_acquire(source) else {
                            state.metrics.connection("refused_source_cap");
                            drop(tcp);
                            continue;
                        };
                        let slot = match slots.clone().try_acquire_owned() {
                            Ok(slot) => slot,
                            Err(_) => match make_room(&slots, &conns, &state).await {
                                Some(slot) => slot,
                                None => {
                                    state.metrics.connection("refused_cap");
                                    drop(tcp);
                                    continue;
                                }
                            },
                        };
                        state.metrics.connection("accepted");
                        let _ = tcp.set_nodelay(true);
                        let registered = Arc::new(conns.register(source, Instant::now()));
                        let (state, acceptor, stop) = (state.clone(), acceptor.clone(), stop_rx.clone());
                        tasks.spawn(async move {
                            // Evicted: dropping the connection closes its socket, whatever
                            // phase it is in (handshake, idle, an unauthenticated request).
                            tokio::select! {
                                _ = serve_connection(state, acceptor, tcp, peer, stop, registered.clone()) => {}
                                _ = registered.evicted() => {}
                            }
                            drop((registered, slot, source_slot));
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: say so, back off, go on.
                        eprintln!("raytls serve: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(listener);
        state.draining.store(true, Ordering::SeqCst);
        let open = tasks.len();
        eprintln!(
            "raytls serve: shutting down: no new connections; finishing {open} open connection(s) (up to {})",
            crate::text::duration::format(state.limits.drain)
        );
        let _ = stop_tx.send(true);
        let deadline = tokio::time::sleep(state.limits.drain);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = tasks.join_next() => if next.is_none() { break },
                _ = &mut deadline => {
                    eprintln!("raytls serve: {} connection(s) did not finish in time; closing them", tasks.len());
                    tasks.abort_all();
                    break;
                }
            }
        }
        eprintln!("raytls serve: stopped");
        open
    }
}

/// How long the accept loop waits for the slot of a connection it evicted. Its task closes
/// it at once (a wake-up and a close), so this is only a bound, and the newcomer is closed
/// if it passes; while it waits, new connections wait in the kernel's accept queue.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// Every `--max-connections` slot is taken: close one connection without an authenticated
/// request in flight (`Connections::evict_one` says which, and why) and wait for a slot.
/// None when there is none to close, or no slot came free in time.
async fn make_room(
    slots: &Arc<Semaphore>,
    conns: &Connections,
    state: &State,
) -> Option<OwnedSemaphorePermit> {
    conns.evict_one()?;
    state.metrics.connection("evicted");
    tokio::time::timeout(EVICTION_WAIT, slots.clone().acquire_owned())
        .await
        .ok()?
        .ok()
}

/// What a request's connection tells about it.
struct ConnInfo {
    peer: IpAddr,
    /// Its entry among the open connections: a request marks it authenticated, so that it is
    /// not evicted while that request is answered.
    registered: Arc<Registered>,
    /// The client certificate chain the handshake verified (leaf first), if any. Its role is
    /// read, and the chain verified again, at each request that relies on it
    /// (`tls::client_cert`).
    client_chain: Option<Vec<CertificateDer<'static>>>,
}

async fn serve_connection(
    state: Arc<State>,
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
    registered: Arc<Registered>,
) {
    let limits = state.limits;
    let budgeted = HandshakeBudget::new(tcp);
    let mut tls = match tokio::time::timeout(limits.read_timeout, acceptor.accept(budgeted)).await {
        Ok(Ok(tls)) => tls,
        _ => {
            state.metrics.connection("tls_failed");
            return;
        }
    };
    tls.get_mut().0.lift();
    let client_chain = tls
        .get_ref()
        .1
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.clone().into_owned()).collect());
    let info = Arc::new(ConnInfo {
        peer: peer.ip().to_canonical(),
        registered,
        client_chain,
    });
    let svc_state = state.clone();
    let svc = service_fn(move |req| handle(svc_state.clone(), info.clone(), req));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout)
        .max_buf_size(HTTP_BUFFER_BYTES)
        .max_header_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS)
        .serve_connection(TokioIo::new(tls), svc);
    tokio::pin!(conn);
    let lifetime = tokio::time::sleep(limits.connection_lifetime);
    tokio::pin!(lifetime);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.changed() => {}
        _ = &mut lifetime => {}
    }
    // Finish the request in flight (if any), then close.
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(limits.drain, conn).await;
}

/// The signing CA's (and, above an intermediate, its root's) notAfter: the metric the
/// renewal sidecars export too, so one alert covers both (examples/monitoring/).
fn ca_expiry_metrics(ca: &Authority) -> String {
    use crate::text::prometheus::{Exposition, Kind};
    let name = "raytls_ca_expiration_timestamp_seconds";
    let mut e = Exposition::default();
    e.family(
        name,
        Kind::Gauge,
        "notAfter of the CA the signer signs with (ca) and of its root (anchor), as a Unix time.",
    )
    .sample(
        name,
        &[("ca", "signing")],
        ca.info.not_after.unix_timestamp() as f64,
    );
    if ca.anchor_der != ca.cert_der {
        e.sample(
            name,
            &[("ca", "anchor")],
            ca.anchor_info.not_after.unix_timestamp() as f64,
        );
    }
    e.finish()
}

fn json_response(status: u16, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// The answer to a refusal: its wire error, `Retry-After` for a 429, `Allow` for a 405.
fn error_response(refusal: &Refusal) -> Response<Full<Bytes>> {
    refused(refusal, &ApiError::from(refusal))
}

/// `error_response` with the wire error already made (for the audit line).
fn refused(refusal: &Refusal, e: &ApiError) -> Response<Full<Bytes>> {
    let mut r = json_response(e.status, e.body_json());
    if let Some(secs) = refusal.retry_after() {
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    if let Some(allow) = refusal.allow() {
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    }
    r
}

async fn handle(
    state: Arc<State>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, Infallible> {
    let Some(endpoint) = Endpoint::at(req.uri().path()) else {
        return Ok(error_response(&Refusal::NotFound));
    };
    if req.method().as_str() != endpoint.method() {
        return Ok(error_response(&Refusal::MethodNotAllowed { endpoint }));
    }
    Ok(match endpoint {
        Endpoint::Healthz => {
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
        Endpoint::Metrics => {
            let mut body = state.metrics.render() + &ca_expiry_metrics(&state.ca);
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
        Endpoint::Sign => sign(&state, &conn, req).await,
    })
}

/// Read at most `MAX_BODY` bytes of a body within `limit`: 408 when it is slow, 413 (and
/// the rest discarded in the background) when it is longer.
async fn read_body(mut body: Incoming, limit: Duration) -> std::result::Result<Bytes, Refusal> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(Refusal::Timeout { limit }),
            Ok(None) => return Ok(Bytes::from(buf)),
            Ok(Some(Err(e))) => return Err(Refusal::BadBody { why: e.to_string() }),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > MAX_BODY {
                        drain_in_background(body, limit);
                        return Err(Refusal::TooLarge);
                    }
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
}

/// Most a refused body is read and thrown away, so that the client (still sending) gets the
/// 413 instead of a reset connection; past this, or past the read timeout, the connection
/// closes as it is.
const DRAIN_AT_MOST: usize = 8 << 20;

fn drain_in_background(mut body: Incoming, limit: Duration) {
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + limit;
        let mut seen = 0usize;
        while seen < DRAIN_AT_MOST {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    seen += frame.data_ref().map_or(0, |d| d.len());
                }
                _ => break,
            }
        }
    });
}

/// What the audit line and metrics learn while a request is decided.
#[derive(Default)]
struct Seen {
    role: Option<Role>,
    proof: Option<Proof>,
    kubernetes: Option<Who>,
}

async fn sign(state: &State, conn: &ConnInfo, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let mut seen = Seen::default();
    // Held until the answer is made, so an authenticated request keeps its connection.
    let in_flight = conn.registered.request();
    let result = decide(state, conn, &in_flight, req, &mut seen).await;
    let role = seen.role.map(role::Role::name);
    let time = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let peer = conn.peer.to_string();
    match result {
        Ok(answer) => {
            state.audit.log(&Entry {
                time,
                peer,
                role,
                auth: seen.proof.map(Proof::name),
                sans: &answer.sans,
                serial: Some(&answer.serial),
                not_after: Some(&answer.not_after),
                result: "issued",
                status: 200,
                reason: None,
                message: None,
                kubernetes: seen.kubernetes.as_ref(),
            });
            state
                .metrics
                .record(role.unwrap_or("unknown"), None, started.elapsed());
            json_response(200, serde_json::to_string(&answer).unwrap_or_default())
        }
        Err(refusal) => {
            let e = ApiError::from(&refusal);
            state.audit.log(&Entry {
                time,
                peer,
                role,
                auth: seen.proof.map(Proof::name),
                sans: &[],
                serial: None,
                not_after: None,
                result: "refused",
                status: e.status,
                reason: Some(&e.code),
                message: Some(&e.message),
                kubernetes: seen.kubernetes.as_ref(),
            });
            state
                .metrics
                .record(role.unwrap_or("unknown"), Some(&refusal), started.elapsed());
            refused(&refusal, &e)
        }
    }
}

async fn decide(
    state: &State,
    conn: &ConnInfo,
    in_flight: &InFlight<'_>,
    req: Request<Incoming>,
    seen: &mut Seen,
) -> std::result::Result<SignResponse, Refusal> {
    if state.draining.load(Ordering::SeqCst) {
        return Err(Refusal::ShuttingDown {
            endpoint: Endpoint::Sign,
        });
    }
    if let Err(wait) = state.limiter.check(conn.peer, Instant::now()) {
        return Err(Refusal::RateLimited {
            peer: conn.peer,
            retry_in: wait.as_secs_f64().ceil().max(1.0) as u64,
        });
    }
    // Who is asking, before reading a body.
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let static_auth = match &state.kubernetes {
        // --kubernetes: the token is reviewed once the request is known to be well formed.
        Some(_) => None,
        None => {
            // A client certificate counts only without a token, and only if it passes the
            // handshake's check again now.
            let cert_role = match authorization {
                Some(_) => ClientCert::Absent,
                None => tls::client_cert(state, conn.client_chain.as_deref(), UnixTime::now())?,
            };
            let authenticated =
                auth::authenticate(&state.tokens, authorization.as_deref(), cert_role)?;
            in_flight.authenticated();
            Some(authenticated)
        }
    };
    seen.proof = Some(static_auth.map_or(Proof::ServiceAccountToken, |(_, p)| p));

    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = req.into_body();
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        drain_in_background(body, state.limits.read_timeout);
        return Err(Refusal::TooLarge);
    }
    let bytes = read_body(body, state.limits.read_timeout).await?;

    let (role, request) = api::decode_envelope(&bytes)?;
    seen.role = Some(role);
    let (granted, proof) = match (static_auth, &state.kubernetes) {
        (Some(a), _) => a,
        (None, Some(kube)) => {
            let who = seen.kubernetes.insert(Who::default());
            return kube
                .sign(
                    &state.ca,
                    state.max_lifetime.get(role),
                    KubeRequest {
                        peer: conn.peer,
                        authorization: authorization.as_deref(),
                        role,
                        body: request,
                        in_flight,
                    },
                    who,
                )
                .await;
        }
        (None, None) => return Err(Refusal::Unavailable),
    };
    if role != granted {
        return Err(Refusal::RoleNotAllowed(RoleNotAllowed::Proof {
            proof,
            granted,
            asked: role,
        }));
    }
    let decoded = api::decode_csr(role, request)?;
    if role != Role::Head && !decoded.fqdn.is_empty() {
        return Err(Refusal::NameNotAllowed(NameNotAllowed::FqdnNotHead {
            name: decoded.fqdn[0].clone(),
        }));
    }
    let mut asked = decoded.fqdn.clone();
    asked.extend(decoded.csr.requested_names.iter().cloned());
    let identity = state.policy.decide(role, conn.peer, &asked)?;
    let sans = identity.required_sans();
    // Unchecked: bind() checked a leaf of this CA and profile (the serving certificate),
    // and the pod verifies its chain before writing it; see sign_leaf_unchecked.
    let signed = state
        .ca
        .sign_leaf_unchecked(
            decoded.csr.public_key(),
            decoded.csr.key.is_rsa(),
            &LeafSubject::for_identity(&identity),
            &sans,
            Lifetime::Default(state.max_lifetime.get(role)),
            OffsetDateTime::now_utc(),
        )
        // The CA cannot sign now (e.g. it expired while we ran): not the client's fault.
        .map_err(|e| Refusal::CaUnavailable { why: e.to_string() })?;
    Ok(SignResponse {
        certificate: signed.chain_pem,
        ca: state.ca_pem.clone(),
        serial: signed.serial,
        not_after: signed
            .not_after
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        sans: sans.iter().map(|s| s.to_string()).collect(),
        role: role.name().to_string(),
        ca_chain: String::new(),
        cluster: None,
    })
}
