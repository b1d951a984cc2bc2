//! What "healthy" means, as `ray health-check` has it: mutual TLS, then
//! `NodeInfoGcsService/GetClusterId`, then `InternalKVGcsService/InternalKVGet` of
//! `cluster`/`CLUSTER_METADATA` (JSON with `ray_version`); a server without those but with
//! `grpc.health.v1.Health/Check` = SERVING also passes. Every failure gets a [`Cause`] with a
//! stable code, and a message with the evidence and a fix.
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::{timeout_at, Instant};
use tonic::{Code, Status};

use super::credentials::{Credentials, Token};
use super::grpc::{self, GcsClient};
use super::target::Target;
use super::tls::{self, lock, TlsConn};

/// Why a check failed. The snake_case codes are a stable interface (`--json` `cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Ok,
    ResolveFailed,
    ConnectionRefused,
    ConnectFailed,
    Timeout,
    NotTls,
    ClosedDuringHandshake,
    TlsHandshakeFailed,
    UnknownCa,
    NameMismatch,
    Expired,
    NotYetValid,
    NoServerAuthEku,
    BadServerCert,
    ClientCertRejected,
    LocalConfig,
    Unauthenticated,
    NotRayGcs,
    NotServing,
    GrpcError,
    VersionMismatch,
}

impl Cause {
    pub fn code(self) -> &'static str {
        match self {
            Cause::Ok => "ok",
            Cause::ResolveFailed => "resolve_failed",
            Cause::ConnectionRefused => "connection_refused",
            Cause::ConnectFailed => "connect_failed",
            Cause::Timeout => "timeout",
            Cause::NotTls => "not_tls",
            Cause::ClosedDuringHandshake => "closed_during_handshake",
            Cause::TlsHandshakeFailed => "tls_handshake_failed",
            Cause::UnknownCa => "unknown_ca",
            Cause::NameMismatch => "name_mismatch",
            Cause::Expired => "expired",
            Cause::NotYetValid => "not_yet_valid",
            Cause::NoServerAuthEku => "no_server_auth_eku",
            Cause::BadServerCert => "bad_server_cert",
            Cause::ClientCertRejected => "client_cert_rejected",
            Cause::LocalConfig => "local_config",
            Cause::Unauthenticated => "unauthenticated",
            Cause::NotRayGcs => "not_ray_gcs",
            Cause::NotServing => "not_serving",
            Cause::GrpcError => "grpc_error",
            Cause::VersionMismatch => "version_mismatch",
        }
    }
}

/// Where a check stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Config,
    Resolve,
    Connect,
    Tls,
    Grpc,
    Done,
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub cause: Cause,
    pub phase: Phase,
    pub message: String,
}

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
    /// `FAIL 10.0.0.5:6379 unknown_ca: <message>`.
    pub fn line(&self) -> String {
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

/// What the user asked for beyond the credentials.
#[derive(Debug, Clone)]
pub struct Options {
    pub timeout: Duration,
    pub expect_ray_version: Option<String>,
}

/// At most this many checks run at once: each holds a socket, and 1,000 addresses at once
/// would exhaust a default `ulimit -n` of 1024 and report EMFILE as connect failures.
pub const MAX_CONCURRENT_CHECKS: usize = 256;

/// Check every target concurrently (up to [`MAX_CONCURRENT_CHECKS`] at a time); the reports
/// come back in the order given. A check's `--timeout` starts when it starts.
pub async fn check_all(
    targets: Vec<Target>,
    creds: Arc<Credentials>,
    token: Option<Token>,
    opts: Options,
) -> Vec<Report> {
    let opts = Arc::new(opts);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_CHECKS));
    let handles: Vec<_> = targets
        .into_iter()
        .map(|t| {
            let (creds, token, opts, slots) =
                (creds.clone(), token.clone(), opts.clone(), slots.clone());
            let address = t.to_string();
            (
                address,
                tokio::spawn(async move {
                    // The semaphore is never closed, so acquiring cannot fail.
                    let _slot = slots.acquire_owned().await.ok();
                    check(&t, &creds, token.as_ref(), &opts).await
                }),
            )
        })
        .collect();
    let mut reports = Vec::new();
    for (address, h) in handles {
        reports.push(h.await.unwrap_or_else(|e| {
            let mut r = Report::new(address, None);
            r.cause = Cause::GrpcError;
            r.message = format!("internal error in the check: {e}");
            r
        }));
    }
    reports
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
    let (tcp, peer) = tls::dial(target, deadline, budget).await?;
    report.peer = Some(peer.to_string());
    let conn = tls::handshake(target, creds, tcp, peer, deadline, budget).await?;
    report.tls_version = conn.tls_version.clone();
    report.alpn = conn.alpn.clone();
    let TlsConn {
        stream,
        plain,
        alpn,
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
                ctx.peer, st.code, st.message
            ),
        ));
    }
    report.cluster_id = (!reply.cluster_id.is_empty()).then(|| hex(&reply.cluster_id));

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
        serde_json::from_slice::<serde_json::Value>(&kv.value)
            .ok()
            .and_then(|v| v.get("ray_version")?.as_str().map(str::to_string))
    } else {
        None
    };
    check_version(report.ray_version.as_deref(), opts, &ctx.peer)
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
        // else speaking TLS, whatever it did next.
        if transport && self.alpn.as_deref() != Some("h2") {
            let then = if wire.first.is_empty() {
                "and closed the connection".to_string()
            } else {
                format!("and answered with {}", tls::describe_bytes(&wire.first))
            };
            return grpc_fail(
                Cause::NotRayGcs,
                format!(
                    "{} is not a Ray GCS: it speaks TLS but did not agree to HTTP/2 (ALPN h2), {then}",
                    self.peer
                ),
            );
        }
        if transport && wire.total == 0 {
            let how = match (wire.alert, wire.error_kind) {
                (Some(a), _) => format!("TLS alert {a:?}"),
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
        let msg = status.message();
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
                if msg.is_empty() { "(no message)" } else { msg }
            ),
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
