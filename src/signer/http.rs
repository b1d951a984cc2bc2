//! The signer's HTTP layer: the listening socket, the accept loop with its caps on
//! connections (in all and per source address; at the cap in all an idle connection is
//! closed for a newcomer), each connection's TLS handshake, HTTP/1.1 limits and lifetime,
//! routing by `api::Endpoint`, the request body under its size and time limits, and the JSON
//! answers. On shutdown it stops accepting and lets requests in flight finish.
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls_pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::api::{ApiError, Endpoint, MAX_BODY};
use super::limits::{Connections, Registered, SourceCap};
use super::refusal::Refusal;
use super::server::State;
use super::tls::HandshakeBudget;
use super::{issue, server};

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
//   in the TLS handshake: at most HANDSHAKE_BYTES (32 KiB, tls.rs) read from the peer, so
//     rustls' record buffer (~36 KiB), the handshake transcript and the parsed ClientHello or
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

/// The listening socket, with an accept queue as deep as the kernel allows
/// (net.core.somaxconn, as Go's net.Listen has): TcpListener::bind's 128 overflows when a
/// cluster's pods start at once, and each SYN dropped then costs its pod a 1 s retransmit.
pub(super) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
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

/// Serve on `listener` until `shutdown` completes; then stop accepting and give the
/// connections in flight `drain` to finish. Returns how many connections were still open at
/// shutdown.
pub(super) async fn run(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) -> usize {
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
pub(super) struct ConnInfo {
    pub(super) peer: IpAddr,
    /// Its entry among the open connections: a request marks it authenticated, so that it is
    /// not evicted while that request is answered.
    pub(super) registered: Arc<Registered>,
    /// The client certificate chain the handshake verified (leaf first), if any. Its role is
    /// read, and the chain verified again, at each request that relies on it
    /// (`tls::client_cert`).
    pub(super) client_chain: Option<Vec<CertificateDer<'static>>>,
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

/// Route a request by its endpoint: 404 for an unknown path, 405 (with `Allow`) for another
/// method.
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
        Endpoint::Healthz => server::healthz(&state),
        Endpoint::Metrics => server::metrics(&state),
        Endpoint::Sign => issue::sign(&state, &conn, req).await,
    })
}

pub(super) fn json_response(status: u16, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// The answer to a refusal: its wire error, `Retry-After` for a 429, `Allow` for a 405.
pub(super) fn error_response(refusal: &Refusal) -> Response<Full<Bytes>> {
    refused(refusal, &ApiError::from(refusal))
}

/// `error_response` with the wire error already made (for the audit line).
pub(super) fn refused(refusal: &Refusal, e: &ApiError) -> Response<Full<Bytes>> {
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

/// The body of `req`, refused before any of it is read when its Content-Length is over
/// `MAX_BODY`.
pub(super) async fn read_body(
    req: Request<Incoming>,
    limit: Duration,
) -> std::result::Result<Bytes, Refusal> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = req.into_body();
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        drain_in_background(body, limit);
        return Err(Refusal::TooLarge);
    }
    read_at_most(body, limit).await
}

/// Read at most `MAX_BODY` bytes of a body within `limit`: 408 when it is slow, 413 (and
/// the rest discarded in the background) when it is longer.
async fn read_at_most(mut body: Incoming, limit: Duration) -> std::result::Result<Bytes, Refusal> {
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
