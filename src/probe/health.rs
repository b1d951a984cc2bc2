//! What "healthy" means, as `ray health-check` has it: mutual TLS, then
//! `NodeInfoGcsService/GetClusterId`, then `InternalKVGcsService/InternalKVGet` of
//! `cluster`/`CLUSTER_METADATA` (JSON with `ray_version`); a server without those but with
//! `grpc.health.v1.Health/Check` = SERVING also passes. Every failure gets a [`Cause`] with a
//! stable code, and a message with the evidence and a fix.
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};
use tonic::{Code, Status};

use super::credentials::{Credentials, Token};
pub use super::failure::{Cause, Failure, Phase};
use super::grpc::{self, GcsClient};
use super::target::Target;
use super::tls::{self, lock, TlsConn};
use crate::text::escape::clip;
use crate::text::hex;

/// The outcome for one address: one line of text, or one `--json` object.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub address: String,
    pub healthy: bool,
    pub cause: Cause,
    pub phase: Phase,
    pub message: String,
    pub ray_version: Option<String>,
    pub cluster_id: Option<String>,
    pub tls_version: Option<String>,
    pub alpn: Option<String>,
    pub peer: Option<String>,
    /// Where the auth token came from (never the token).
    pub token_source: Option<String>,
    pub latency_ms: u64,
}

impl Report {
    fn new(address: String, token: Option<&Token>) -> Self {
        Report {
            address,
            healthy: false,
            cause: Cause::Ok,
            phase: Phase::Config,
            message: String::new(),
            ray_version: None,
            cluster_id: None,
            tls_version: None,
            alpn: None,
            peer: None,
            token_source: token.map(|t| t.source.to_string()),
            latency_ms: 0,
        }
    }

    /// Every address of a run whose local inputs are unusable.
    pub fn local_config(address: String, message: String) -> Self {
        let mut r = Report::new(address, None);
        r.cause = Cause::LocalConfig;
        r.message = message;
        r
    }

    /// `OK 10.0.0.5:6379 ray 2.60.0 cluster 3f9c1a2b... TLS1.3 4 ms` or
    /// `FAIL 10.0.0.5:6379 unknown_ca: <message>`, with every control character escaped:
    /// the line carries what the peer sent (certificate subjects and SANs, a version string,
    /// HTTP and gRPC status text), and a server's CN of `"\x1b[2K\rOK ..."` must not print a
    /// fake verdict. `--json` carries the same text unescaped, encoded by JSON.
    pub fn line(&self) -> String {
        crate::text::escape::escape(&self.raw_line()).into_owned()
    }

    fn raw_line(&self) -> String {
        if self.healthy {
            let mut s = format!("OK {}", self.address);
            if let Some(v) = &self.ray_version {
                s += &format!(" ray {v}");
            }
            if let Some(id) = &self.cluster_id {
                let short: String = id.chars().take(8).collect();
                s += &format!(" cluster {short}...");
            }
            if let Some(t) = &self.tls_version {
                s += &format!(" {t}");
            }
            s += &format!(" {} ms", self.latency_ms);
            if !self.message.is_empty() {
                s += &format!(" ({})", self.message);
            }
            s
        } else {
            format!(
                "FAIL {} {}: {}",
                self.address,
                self.cause.code(),
                self.message
            )
        }
    }
}

/// Text from the peer that goes on one line is cut to this many bytes (a reply may be 4 MB):
/// a status message, a Ray version ("2.60.0"), the bytes of a cluster ID (28 in Ray).
const MAX_PEER_MESSAGE: usize = 1024;
const MAX_RAY_VERSION: usize = 128;
const MAX_CLUSTER_ID_BYTES: usize = 64;

/// What the user asked for beyond the credentials.
#[derive(Debug, Clone)]
pub struct Options {
    pub timeout: Duration,
    pub expect_ray_version: Option<String>,
    /// `--expect-cert`: the certificate the server must present (what is on disk now), and
    /// the file it came from. The check then ends after the TLS handshake, so it works on
    /// any Ray gRPC port (GCS, raylet).
    pub expect_cert: Option<(
        std::path::PathBuf,
        rustls_pki_types::CertificateDer<'static>,
    )>,
    /// `--and-gcs`: with `expect_cert`, go on with the GCS checks once the certificate
    /// matches (the GCS port only).
    pub and_gcs: bool,
}

/// How long a peer that did not agree to ALPN h2 gets to answer our HTTP/2 preface before it
/// is reported as `not_ray_gcs`: a fifth of `--timeout`, at least 1 s (1 s by default). A
/// refusing alert or an HTTP/1 error comes back well within it; a silent HTTP/1 server
/// (waiting for more of a request) never does, and need not cost the whole `--timeout`.
pub fn not_h2_grace(timeout: Duration) -> Duration {
    (timeout / 5).max(Duration::from_secs(1))
}

/// At most this many checks run at once, however many descriptors we may open.
pub const MAX_CONCURRENT_CHECKS: usize = 256;

/// Descriptors kept for everything that is not a check's socket: stdio, the runtime's epoll
/// and wake-up fds, DNS lookups (a socket each), the libraries' own.
const FDS_RESERVED: u64 = 32;

/// How many checks may run at once under `RLIMIT_NOFILE`: each holds one socket, and a check
/// that cannot get one would otherwise be reported as the peer's `connect_failed (Too many
/// open files)`. Between 1 and [`MAX_CONCURRENT_CHECKS`].
pub fn concurrency_limit() -> usize {
    concurrency_for(open_files_limit().unwrap_or(u64::MAX))
}

/// Checks at once for a soft descriptor limit: half of what is left after the reserve (room
/// for a socket and a DNS lookup each), at least 1, at most [`MAX_CONCURRENT_CHECKS`].
fn concurrency_for(soft_limit: u64) -> usize {
    let room = soft_limit.saturating_sub(FDS_RESERVED) / 2;
    usize::try_from(room)
        .unwrap_or(MAX_CONCURRENT_CHECKS)
        .clamp(1, MAX_CONCURRENT_CHECKS)
}

/// The soft `RLIMIT_NOFILE`, if it is finite.
fn open_files_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own, and nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (rc == 0 && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

/// Check every target concurrently (up to [`concurrency_limit`] at a time); the reports
/// come back in the order given. A check's `--timeout` starts when it starts.
pub async fn check_all(
    targets: Vec<Target>,
    creds: Arc<Credentials>,
    token: Option<Token>,
    opts: Options,
) -> Vec<Report> {
    let opts = Arc::new(opts);
    let targets: Arc<[Target]> = targets.into();
    // A fixed pool of workers, not a task per address: nothing is made for an address
    // before its turn. No overall deadline: each address asked for gets its --timeout.
    let outcomes = super::pool::run(
        targets.clone(),
        concurrency_limit(),
        None,
        None,
        move |targets, i| {
            let (creds, token, opts) = (creds.clone(), token.clone(), opts.clone());
            async move { check(&targets[i], &creds, token.as_ref(), &opts).await }
        },
    )
    .await;
    outcomes
        .into_iter()
        .zip(targets.iter())
        .map(|(outcome, t)| match outcome {
            super::pool::Outcome::Done(r) => r,
            // Only a check that panicked (there is no deadline here).
            _ => {
                let mut r = Report::new(t.to_string(), None);
                r.cause = Cause::GrpcError;
                r.message = "internal error in the check".into();
                r
            }
        })
        .collect()
}

/// Check one address. Each phase runs under the same deadline (start + `--timeout`), so
/// whichever phase stalls, the check ends on time and names that phase.
pub async fn check(
    target: &Target,
    creds: &Credentials,
    token: Option<&Token>,
    opts: &Options,
) -> Report {
    let start = Instant::now();
    let deadline = start + opts.timeout;
    let mut report = Report::new(target.to_string(), token);
    let outcome = run(target, creds, token, opts, deadline, &mut report).await;
    report.latency_ms = start.elapsed().as_millis() as u64;
    match outcome {
        Ok(()) => {
            report.healthy = true;
            report.cause = Cause::Ok;
            report.phase = Phase::Done;
        }
        Err(f) => {
            report.healthy = false;
            report.cause = f.cause;
            report.phase = f.phase;
            report.message = f.message;
        }
    }
    report
}

async fn run(
    target: &Target,
    creds: &Credentials,
    token: Option<&Token>,
    opts: &Options,
    deadline: Instant,
    report: &mut Report,
) -> Result<(), Failure> {
    let budget = opts.timeout;
    let mut conn = connect(target, creds, deadline, budget, report).await?;
    if let Some((file, want)) = &opts.expect_cert {
        check_served_cert(&conn, file, want)?;
        if !opts.and_gcs {
            return Ok(());
        }
    }
    if conn.alpn.as_deref() != Some("h2") {
        sniff_without_h2(conn, creds, deadline, budget).await?;
        // It answered in HTTP/2 all the same: check it over a fresh connection.
        conn = connect(target, creds, deadline, budget, report).await?;
    }
    let TlsConn {
        stream,
        plain,
        alpn,
        peer,
        ..
    } = conn;
    let ctx = RpcContext {
        peer: peer.to_string(),
        plain,
        alpn,
        creds,
        token,
        budget,
    };
    let mut gcs = match timeout_at(
        deadline,
        GcsClient::over(stream, &target.to_string(), token),
    )
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(grpc_fail(Cause::GrpcError, e)),
        Err(_) => return Err(ctx.timeout("HTTP/2 setup")),
    };

    // 1. GetClusterId, as Ray's GcsClient does on connect.
    let reply = match timeout_at(deadline, gcs.get_cluster_id()).await {
        Err(_) => return Err(ctx.timeout("GetClusterId")),
        Ok(Err(s)) if s.code() == Code::Unimplemented => {
            return health_fallback(&mut gcs, &ctx, deadline, "GetClusterId").await;
        }
        Ok(Err(s)) => return Err(ctx.diagnose("GetClusterId", &s)),
        Ok(Ok(r)) => r,
    };
    if let Some(st) = reply.status.as_ref().filter(|s| s.code != 0) {
        return Err(grpc_fail(
            Cause::GrpcError,
            format!(
                "the GCS at {} answered GetClusterId with status {}: {}",
                ctx.peer,
                st.code,
                clip(&st.message, MAX_PEER_MESSAGE)
            ),
        ));
    }
    // Ray's cluster ID is 28 bytes; a reply of up to 4 MB could make it anything.
    let id = &reply.cluster_id[..reply.cluster_id.len().min(MAX_CLUSTER_ID_BYTES)];
    report.cluster_id = (!id.is_empty()).then(|| hex::lower(id));

    // 2. The version check of `ray health-check`.
    let kv = match timeout_at(
        deadline,
        gcs.internal_kv_get(grpc::CLUSTER_NAMESPACE, grpc::CLUSTER_METADATA_KEY),
    )
    .await
    {
        Err(_) => return Err(ctx.timeout("InternalKVGet")),
        Ok(Err(s)) if s.code() == Code::Unimplemented => {
            health_fallback(&mut gcs, &ctx, deadline, "InternalKVGet").await?;
            return check_version(None, opts, &ctx.peer);
        }
        Ok(Err(s)) => return Err(ctx.diagnose("InternalKVGet", &s)),
        Ok(Ok(r)) => r,
    };
    // A missing key comes back as a non-OK GcsStatus (NotFound): like Ray, that is no version
    // to compare, not a failure.
    let kv_ok = kv.status.as_ref().is_none_or(|s| s.code == 0);
    report.ray_version = if kv_ok && !kv.value.is_empty() {
        grpc::ray_version(&kv.value).map(|v| clip(&v, MAX_RAY_VERSION).into_owned())
    } else {
        None
    };
    check_version(report.ray_version.as_deref(), opts, &ctx.peer)
}

/// Resolve, connect and handshake (phases `resolve`, `connect`, `tls`), noting in `report`
/// what the peer is and what it agreed to.
async fn connect(
    target: &Target,
    creds: &Credentials,
    deadline: Instant,
    budget: Duration,
    report: &mut Report,
) -> Result<TlsConn, Failure> {
    let (tcp, peer) = tls::dial(target, deadline, budget).await?;
    report.peer = Some(peer.to_string());
    let conn = tls::handshake(target, creds, tcp, peer, deadline, budget).await?;
    report.tls_version = conn.tls_version.clone();
    report.alpn = conn.alpn.clone();
    Ok(conn)
}

/// An HTTP/2 client connection preface and an empty SETTINGS frame (RFC 9113, 3.4): what a
/// gRPC client sends first, in one write.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// A Ray GCS always agrees to ALPN h2; a peer that did not is something else speaking TLS.
/// Send it an HTTP/2 preface and see what comes back within [`not_h2_grace`], not the rest
/// of `--timeout`: an alert refusing our certificate, an HTTP/1 status line, a close, or
/// silence is the verdict (Err). Ok only if it answers with an HTTP/2 frame: it speaks
/// HTTP/2 without ALPN, and the caller checks it over a fresh connection (this one carried
/// our probe). One write, then one read: a multi-write HTTP/2 client would make a peer that
/// answers and closes at once reset the connection, and its answer would be lost.
async fn sniff_without_h2(
    conn: TlsConn,
    creds: &Credentials,
    deadline: Instant,
    budget: Duration,
) -> Result<(), Failure> {
    let grace = not_h2_grace(budget);
    let (until, waited) = if Instant::now() + grace < deadline {
        (Instant::now() + grace, grace)
    } else {
        (deadline, budget)
    };
    let ctx = RpcContext {
        peer: conn.peer.to_string(),
        plain: conn.plain.clone(),
        alpn: conn.alpn.clone(),
        creds,
        token: None,
        budget: waited,
    };
    let mut stream = conn.stream;
    let answered = timeout_at(until, async {
        // A failed write shows again on the read, whose outcome the wire log records.
        let _ = stream.write_all(H2_PREFACE).await;
        let _ = stream.flush().await;
        let mut buf = [0u8; 256];
        let _ = stream.read(&mut buf).await;
    })
    .await
    .is_ok();
    let wire = lock(&ctx.plain).clone();
    if answered && tls::is_h2_settings(&wire.first) {
        return Ok(());
    }
    Err(ctx.not_h2(&wire, !answered))
}

/// `--expect-cert`: is the server presenting the certificate on disk? Ray reads its files
/// only when a process starts, so after a renewal it serves the old one until restarted.
fn check_served_cert(
    conn: &TlsConn,
    file: &std::path::Path,
    want: &rustls_pki_types::CertificateDer<'static>,
) -> Result<(), Failure> {
    let Some(served) = &conn.server_cert else {
        return Err(Failure::new(
            Cause::StaleCertificate,
            Phase::Tls,
            format!("{} presented no certificate", conn.peer),
        ));
    };
    if served.as_ref() == want.as_ref() {
        return Ok(());
    }
    let describe =
        |der: &rustls_pki_types::CertificateDer<'_>| match crate::pki::certinfo::CertInfo::parse(
            der,
        ) {
            Ok(i) => format!(
                "SHA-256 {}, expires {}",
                i.sha256_fingerprint,
                crate::pki::certinfo::datetime(i.not_after)
            ),
            Err(_) => "an unreadable certificate".to_string(),
        };
    Err(Failure::new(
        Cause::StaleCertificate,
        Phase::Tls,
        format!(
            "{} serves another certificate ({}) than {} ({}): Ray loaded its certificate when it started; restart it to load the renewed one",
            conn.peer,
            describe(served),
            file.display(),
            describe(want)
        ),
    ))
}

fn check_version(found: Option<&str>, opts: &Options, peer: &str) -> Result<(), Failure> {
    let Some(want) = opts.expect_ray_version.as_deref() else {
        return Ok(());
    };
    match found {
        Some(v) if v == want => Ok(()),
        Some(v) => Err(grpc_fail(
            Cause::VersionMismatch,
            format!(
                "{peer} runs Ray {v}, but --expect-ray-version is {want}: upgrade one side \
                 (Ray refuses to mix versions)"
            ),
        )),
        None => Err(grpc_fail(
            Cause::VersionMismatch,
            format!(
                "{peer} does not publish its Ray version (no cluster/CLUSTER_METADATA), so it \
                 cannot be checked against --expect-ray-version {want}"
            ),
        )),
    }
}

/// Not Ray's GCS methods: fall back to the standard gRPC health service.
async fn health_fallback(
    gcs: &mut GcsClient,
    ctx: &RpcContext<'_>,
    deadline: Instant,
    missing: &str,
) -> Result<(), Failure> {
    match timeout_at(deadline, gcs.health_check()).await {
        Err(_) => Err(ctx.timeout("grpc.health.v1.Health/Check")),
        Ok(Err(s)) if s.code() == Code::Unimplemented => Err(grpc_fail(
            Cause::NotRayGcs,
            format!(
                "{} is not a Ray GCS: it speaks gRPC but implements neither {missing} nor \
                 grpc.health.v1.Health; wrong port? (GCS 6379, Ray client 10001, dashboard 8265)",
                ctx.peer
            ),
        )),
        Ok(Err(s)) => Err(ctx.diagnose("grpc.health.v1.Health/Check", &s)),
        Ok(Ok(r)) if r.status == grpc::messages::SERVING => Ok(()),
        Ok(Ok(r)) => Err(grpc_fail(
            Cause::NotServing,
            format!(
                "{} reports grpc.health.v1 status {} (not SERVING)",
                ctx.peer,
                match r.status {
                    0 => "UNKNOWN".to_string(),
                    2 => "NOT_SERVING".to_string(),
                    3 => "SERVICE_UNKNOWN".to_string(),
                    n => n.to_string(),
                }
            ),
        )),
    }
}

fn grpc_fail(cause: Cause, message: String) -> Failure {
    Failure {
        cause,
        phase: Phase::Grpc,
        message,
    }
}

/// What the gRPC phase needs to explain a failed call.
struct RpcContext<'a> {
    peer: String,
    plain: tls::WireLog,
    alpn: Option<String>,
    creds: &'a Credentials,
    token: Option<&'a Token>,
    budget: Duration,
}

impl RpcContext<'_> {
    fn agreed_to_h2(&self) -> bool {
        self.alpn.as_deref() == Some("h2")
    }

    /// A peer that did not agree to ALPN h2, by what it did with our HTTP/2 preface: refused
    /// our certificate with an alert, answered in another protocol, hung up, or (`silent`)
    /// said nothing in `budget`.
    fn not_h2(&self, wire: &tls::Wire, silent: bool) -> Failure {
        let alpn = match self.alpn.as_deref() {
            None => "no ALPN".to_string(),
            Some(p) => format!("ALPN {p:?}"),
        };
        if let Some(a) = wire.alert.filter(|a| tls::is_client_cert_alert(*a)) {
            return grpc_fail(
                Cause::ClientCertRejected,
                format!(
                    "server rejected our client certificate {}: the TLS handshake completed, \
                     then {} sent TLS alert {} before any data; is it signed by the CA the \
                     server trusts (the head's RAY_TLS_CA_CERT)? (It also did not agree to \
                     HTTP/2, {alpn}: it may not be a Ray GCS at all.)",
                    self.creds.cert_path.display(),
                    self.peer,
                    tls::alert_name(a)
                ),
            );
        }
        let then = if !wire.first.is_empty() {
            format!("and answered with {}", tls::describe_bytes(&wire.first))
        } else if let Some(a) = wire.alert {
            format!("and sent TLS alert {}", tls::alert_name(a))
        } else if silent {
            format!(
                "and sent nothing back to our HTTP/2 preface in {}",
                crate::text::duration::format(self.budget)
            )
        } else {
            "and closed the connection".to_string()
        };
        grpc_fail(
            Cause::NotRayGcs,
            format!(
                "{} is not a Ray GCS: it speaks TLS but did not agree to HTTP/2 (ALPN h2; it \
                 chose {alpn}), {then}",
                self.peer
            ),
        )
    }

    fn timeout(&self, call: &str) -> Failure {
        let got = lock(&self.plain).total;
        let message = if got == 0 {
            format!(
                "{} completed the TLS handshake but sent nothing back in {} ({call}): a stalled \
                 server, or one that is not gRPC",
                self.peer,
                crate::text::duration::format(self.budget)
            )
        } else {
            format!(
                "{} gave no answer to {call} in {}: is the GCS overloaded or stuck?",
                self.peer,
                crate::text::duration::format(self.budget)
            )
        };
        Failure {
            cause: Cause::Timeout,
            phase: Phase::Grpc,
            message,
        }
    }

    /// Name a failed call: token refused, client certificate refused (the server dropped us
    /// right after the handshake), not gRPC, or a plain gRPC error.
    fn diagnose(&self, call: &str, status: &Status) -> Failure {
        let wire = lock(&self.plain).clone();
        if status.code() == Code::Unauthenticated {
            let whence = match self.token {
                Some(t) => format!("sent the token from {}", t.source),
                None => {
                    "no token sent: none of --token-file, RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, \
                         ~/.ray/auth_token is set"
                        .to_string()
                }
            };
            return grpc_fail(
                Cause::Unauthenticated,
                format!(
                    "{} answered {call} with UNAUTHENTICATED: token missing or wrong ({whence}); \
                     the head runs with RAY_AUTH_MODE=token: pass its token with --token-file or \
                     RAY_AUTH_TOKEN",
                    self.peer
                ),
            );
        }
        let transport = matches!(
            status.code(),
            Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled
        );
        // Every gRPC server agrees to ALPN h2 (Ray's GCS does): one that did not is something
        // else speaking TLS, whatever it did next (an alert refusing our certificate is
        // still named as such: it is the stronger evidence).
        if transport && !self.agreed_to_h2() {
            return self.not_h2(&wire, false);
        }
        if transport && wire.total == 0 {
            let how = match (wire.alert, wire.error_kind) {
                (Some(a), _) => format!("TLS alert {}", tls::alert_name(a)),
                (None, Some(std::io::ErrorKind::ConnectionReset)) => "connection reset".into(),
                _ => "connection closed without an alert".into(),
            };
            let likely = wire.alert.map(tls::is_client_cert_alert).unwrap_or(true);
            if likely {
                return grpc_fail(
                    Cause::ClientCertRejected,
                    format!(
                        "server rejected our client certificate {}: the TLS handshake completed, then \
                         {} dropped us before any HTTP/2 data ({how}), as Ray does under TLS 1.3; is \
                         it signed by the CA the head trusts (the head's RAY_TLS_CA_CERT)?",
                        self.creds.cert_path.display(),
                        self.peer
                    ),
                );
            }
            return grpc_fail(
                Cause::TlsHandshakeFailed,
                format!(
                    "{} ended the TLS session ({how}) before answering {call}",
                    self.peer
                ),
            );
        }
        let h2 = wire.first.len() >= 4 && wire.first[3] == 0x04;
        if transport && !wire.first.is_empty() && !h2 {
            return grpc_fail(
                Cause::NotRayGcs,
                format!(
                    "{} is not a Ray GCS: it speaks TLS but answered HTTP/2 with {}",
                    self.peer,
                    tls::describe_bytes(&wire.first)
                ),
            );
        }
        let msg = clip(status.message(), MAX_PEER_MESSAGE);
        if msg.contains("content-type") || msg.contains("HTTP status") {
            return grpc_fail(
                Cause::NotRayGcs,
                format!(
                    "{} is not a Ray GCS: it speaks HTTP/2 but not gRPC ({msg})",
                    self.peer
                ),
            );
        }
        grpc_fail(
            Cause::GrpcError,
            format!(
                "{call} on {} failed: {:?}: {}",
                self.peer,
                status.code(),
                if msg.is_empty() { "(no message)" } else { &msg }
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_follows_the_descriptor_limit() {
        assert_eq!(concurrency_for(64), 16);
        assert_eq!(concurrency_for(1024), 256);
        assert_eq!(concurrency_for(u64::MAX), MAX_CONCURRENT_CHECKS);
        assert_eq!(concurrency_for(10), 1);
        assert_eq!(concurrency_for(0), 1);
        let now = concurrency_limit();
        assert!((1..=MAX_CONCURRENT_CHECKS).contains(&now));
    }

    #[test]
    fn a_peer_without_h2_gets_a_fifth_of_the_timeout_at_least_a_second() {
        assert_eq!(not_h2_grace(Duration::from_secs(5)), Duration::from_secs(1));
        assert_eq!(
            not_h2_grace(Duration::from_secs(30)),
            Duration::from_secs(6)
        );
        assert_eq!(
            not_h2_grace(Duration::from_millis(300)),
            Duration::from_secs(1)
        );
    }

    fn creds() -> Credentials {
        Credentials {
            ca_path: "ca.crt".into(),
            ca_subjects: vec!["CN=test CA".into()],
            ca_certs: Vec::new(),
            roots: Arc::new(rustls::RootCertStore::empty()),
            cert_path: "client/tls.crt".into(),
            chain: Vec::new(),
            // Never used: the context only names the files.
            key: rustls::pki_types::PrivatePkcs8KeyDer::from(vec![0u8; 4]).into(),
        }
    }

    #[test]
    fn a_client_cert_alert_from_a_peer_without_h2_is_client_cert_rejected() {
        use rustls::AlertDescription as A;
        let creds = creds();
        let ctx = RpcContext {
            peer: "127.0.0.1:6379".into(),
            plain: tls::WireLog::default(),
            alpn: None,
            creds: &creds,
            token: None,
            budget: Duration::from_secs(1),
        };
        for (alert, name) in [
            (A::CertificateRequired, "certificate_required"),
            (A::UnknownCA, "unknown_ca"),
            (A::BadCertificate, "bad_certificate"),
        ] {
            let wire = tls::Wire {
                alert: Some(alert),
                error_kind: Some(std::io::ErrorKind::InvalidData),
                ..tls::Wire::default()
            };
            let f = ctx.not_h2(&wire, false);
            assert_eq!(f.cause, Cause::ClientCertRejected, "{}", f.message);
            assert!(
                f.message.contains(&format!("TLS alert {name}")),
                "{}",
                f.message
            );
            assert!(f.message.contains("client/tls.crt"), "{}", f.message);
        }
        // Anything else from such a peer is not_ray_gcs, with what it said.
        let http = tls::Wire {
            first: b"HTTP/1.1 400 Bad Request\r\n".to_vec(),
            eof: true,
            ..tls::Wire::default()
        };
        let f = ctx.not_h2(&http, false);
        assert_eq!(f.cause, Cause::NotRayGcs);
        assert!(
            f.message.contains("HTTP/1.1 400 Bad Request"),
            "{}",
            f.message
        );
        let f = ctx.not_h2(&tls::Wire::default(), true);
        assert!(f
            .message
            .contains("sent nothing back to our HTTP/2 preface in 1s"));
        let f = ctx.not_h2(&tls::Wire::default(), false);
        assert!(
            f.message.contains("and closed the connection"),
            "{}",
            f.message
        );
    }

    #[test]
    fn regression_peer_text_cannot_forge_an_ok_line() {
        let mut r = Report::new("127.0.0.1:6379".into(), None);
        r.cause = Cause::Expired;
        r.message = "server certificate of 127.0.0.1:6379 (CN=\x1b[2K\rOK 127.0.0.1:6379 ray \
                     2.60.0 healthy) expired"
            .into();
        let line = r.line();
        assert!(!line.contains(['\x1b', '\r']), "{line:?}");
        assert!(
            line.starts_with("FAIL 127.0.0.1:6379 expired: "),
            "{line:?}"
        );
        assert!(line.contains("\\x1b[2K\\x0dOK"), "{line:?}");

        let mut ok = Report::new("127.0.0.1:6379".into(), None);
        ok.healthy = true;
        ok.ray_version = Some("2.60.0\x1b]0;owned\x07".into());
        assert!(
            ok.line().contains("ray 2.60.0\\x1b]0;owned\\x07 "),
            "{}",
            ok.line()
        );
    }
}
