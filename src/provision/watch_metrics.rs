//! What `renew --watch --metrics-listen` exports: the sidecar that must never stop silently
//! says, in Prometheus' text format, when its certificate expires and when it will be
//! renewed (the shape of cert-manager's `certmanager_certificate_expiration_timestamp_seconds`),
//! when a pass last succeeded, why passes fail, whether Ray still serves an older
//! certificate (restart due) and when the CA expires. Labels are bounded: one role and one
//! path per sidecar, failure reasons from a fixed vocabulary.
//!
//! The endpoint is plain HTTP on the address given (the pod network; Prometheus scrapes it as
//! it scrapes any exporter): `GET /metrics`, `GET /healthz`. It is bounded against hostile
//! clients like the signer: a few connections at once (more are closed), an 8 KiB request
//! buffer, a 5 s header timeout and a 30 s connection lifetime.
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::text::prometheus::{Exposition, Kind, CONTENT_TYPE};

/// Connections served at once; a scrape needs one.
const MAX_CONNECTIONS: usize = 8;
/// hyper's read buffer: a scrape's request is a few hundred bytes.
const MAX_BUF: usize = 8 * 1024;
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// The certificate in the directory, as the last pass left it.
#[derive(Debug, Clone, Copy)]
pub struct CertState {
    pub not_after: OffsetDateTime,
    /// When the sidecar renews it (start of the renewal window).
    pub renew_at: OffsetDateTime,
    /// The root it chains to in the directory's ca.crt, if it does.
    pub ca_not_after: Option<OffsetDateTime>,
}

#[derive(Default)]
struct State {
    role: Option<String>,
    cert: Option<CertState>,
    last_success: Option<OffsetDateTime>,
    last_renewal: Option<OffsetDateTime>,
    consecutive_failures: u64,
    failures: BTreeMap<&'static str, u64>,
    passes: BTreeMap<&'static str, u64>,
    /// Some(true): Ray serves an older certificate than the one on disk.
    restart_due: Option<bool>,
    served_check_errors: u64,
}

/// The sidecar's metrics, shared by the watch loop (writer) and the endpoint (reader).
pub struct WatchMetrics {
    cert_path: String,
    ca_path: String,
    state: Mutex<State>,
}

fn secs(t: OffsetDateTime) -> f64 {
    t.unix_timestamp() as f64
}

impl WatchMetrics {
    pub fn new(cert_path: &std::path::Path, ca_path: &std::path::Path) -> Self {
        WatchMetrics {
            cert_path: cert_path.display().to_string(),
            ca_path: ca_path.display().to_string(),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain counters: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pass that ended with a valid certificate on disk, renewed or kept.
    pub fn pass_ok(&self, role: &str, renewed: bool, cert: Option<CertState>, at: OffsetDateTime) {
        let mut s = self.lock();
        s.role = Some(role.to_string());
        s.cert = cert.or(s.cert);
        s.last_success = Some(at);
        if renewed {
            s.last_renewal = Some(at);
        }
        s.consecutive_failures = 0;
        *s.passes
            .entry(if renewed { "renewed" } else { "kept" })
            .or_default() += 1;
    }

    /// A pass that failed, with its reason (`Error::reason`); the certificate on disk, if
    /// still readable, is what Prometheus should judge.
    pub fn pass_failed(&self, reason: &'static str, cert: Option<CertState>) {
        let mut s = self.lock();
        s.cert = cert.or(s.cert);
        s.consecutive_failures += 1;
        *s.failures.entry(reason).or_default() += 1;
        *s.passes.entry("failed").or_default() += 1;
    }

    /// What `--check-served` found: Some(true) restart due, Some(false) Ray serves the
    /// certificate on disk, None: Ray could not be asked (the last answer stands).
    pub fn served(&self, restart_due: Option<bool>) {
        let mut s = self.lock();
        match restart_due {
            Some(due) => s.restart_due = Some(due),
            None => s.served_check_errors += 1,
        }
    }

    pub fn render(&self) -> String {
        let s = self.lock();
        let role = s.role.as_deref().unwrap_or("unknown");
        let cert = [("role", role), ("path", self.cert_path.as_str())];
        let mut e = Exposition::default();
        e.family(
            "raytls_build_info",
            Kind::Gauge,
            "raytls version (always 1).",
        )
        .sample(
            "raytls_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
        if let Some(c) = s.cert {
            e.family(
                "raytls_certificate_expiration_timestamp_seconds",
                Kind::Gauge,
                "The certificate's notAfter, as a Unix time.",
            )
            .sample(
                "raytls_certificate_expiration_timestamp_seconds",
                &cert,
                secs(c.not_after),
            );
            e.family(
                "raytls_certificate_renewal_timestamp_seconds",
                Kind::Gauge,
                "When the sidecar renews the certificate (start of its renewal window), as a Unix time.",
            )
            .sample(
                "raytls_certificate_renewal_timestamp_seconds",
                &cert,
                secs(c.renew_at),
            );
            if let Some(ca) = c.ca_not_after {
                e.family(
                    "raytls_ca_expiration_timestamp_seconds",
                    Kind::Gauge,
                    "notAfter of the CA the certificate chains to, as a Unix time.",
                )
                .sample(
                    "raytls_ca_expiration_timestamp_seconds",
                    &[("path", self.ca_path.as_str())],
                    secs(ca),
                );
            }
        }
        e.family(
            "raytls_renew_last_success_timestamp_seconds",
            Kind::Gauge,
            "When a pass last ended with a valid certificate on disk (renewed or kept); 0: never.",
        )
        .sample(
            "raytls_renew_last_success_timestamp_seconds",
            &cert,
            s.last_success.map(secs).unwrap_or(0.0),
        );
        e.family(
            "raytls_renew_last_renewal_timestamp_seconds",
            Kind::Gauge,
            "When this sidecar last replaced the certificate; 0: not since it started.",
        )
        .sample(
            "raytls_renew_last_renewal_timestamp_seconds",
            &cert,
            s.last_renewal.map(secs).unwrap_or(0.0),
        );
        e.family(
            "raytls_renew_consecutive_failures",
            Kind::Gauge,
            "Passes that failed since the last one that succeeded.",
        )
        .sample(
            "raytls_renew_consecutive_failures",
            &cert,
            s.consecutive_failures as f64,
        );
        e.family(
            "raytls_renew_passes_total",
            Kind::Counter,
            "Renewal passes by result: renewed, kept, failed.",
        );
        for result in ["renewed", "kept", "failed"] {
            let n = s.passes.get(result).copied().unwrap_or(0);
            e.sample("raytls_renew_passes_total", &[("result", result)], n as f64);
        }
        e.family(
            "raytls_renew_failures_total",
            Kind::Counter,
            "Failed renewal passes by reason.",
        );
        for (reason, n) in &s.failures {
            e.sample(
                "raytls_renew_failures_total",
                &[("reason", reason)],
                *n as f64,
            );
        }
        if let Some(due) = s.restart_due {
            e.family(
                "raytls_renew_restart_due",
                Kind::Gauge,
                "1 while Ray serves an older certificate than the one on disk (--check-served).",
            )
            .sample(
                "raytls_renew_restart_due",
                &cert,
                if due { 1.0 } else { 0.0 },
            );
        }
        e.family(
            "raytls_renew_served_check_errors_total",
            Kind::Counter,
            "--check-served passes that could not ask Ray which certificate it serves.",
        )
        .sample(
            "raytls_renew_served_check_errors_total",
            &[],
            s.served_check_errors as f64,
        );
        e.finish()
    }
}

/// Listen on `addr` now (a taken port is a configuration error, before any pass) and serve
/// the metrics from a thread of its own until the process exits.
pub fn serve(addr: SocketAddr, metrics: Arc<WatchMetrics>) -> Result<SocketAddr> {
    let listen_error = |why: String| {
        Error::LocalConfig(Box::new(Error::Listen {
            addr: format!("--metrics-listen {addr}"),
            why,
        }))
    };
    let std_listener =
        std::net::TcpListener::bind(addr).map_err(|e| listen_error(e.to_string()))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| listen_error(e.to_string()))?;
    let local = std_listener
        .local_addr()
        .map_err(|e| listen_error(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| listen_error(format!("cannot start the async runtime: {e}")))?;
    std::thread::Builder::new()
        .name("raytls-metrics".into())
        .spawn(move || runtime.block_on(accept_loop(std_listener, metrics)))
        .map_err(|e| listen_error(format!("cannot start the metrics thread: {e}")))?;
    Ok(local)
}

async fn accept_loop(std_listener: std::net::TcpListener, metrics: Arc<WatchMetrics>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
        eprintln!("raytls: metrics endpoint could not start");
        return;
    };
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                // Out of file descriptors and the like: back off, go on.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue; // over the cap: closed at once rather than queued
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| answer(metrics.clone(), req));
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_BUF)
                .serve_connection(TokioIo::new(tcp), svc);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
            drop(slot);
        });
    }
}

async fn answer(
    metrics: Arc<WatchMetrics>,
    req: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => (StatusCode::OK, CONTENT_TYPE, metrics.render()),
        (&Method::GET, "/healthz") => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        (_, "/metrics" | "/healthz") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "use GET\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "the renewal sidecar serves GET /metrics and GET /healthz\n".to_string(),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(s).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn passes_failures_and_restart_due() {
        let m = WatchMetrics::new(
            std::path::Path::new("/etc/ray/tls/tls.crt"),
            std::path::Path::new("/etc/ray/tls/ca.crt"),
        );
        let cert = CertState {
            not_after: at(2_000),
            renew_at: at(1_500),
            ca_not_after: Some(at(9_000)),
        };
        m.pass_ok("worker", true, Some(cert), at(1_000));
        m.pass_failed("signer_unavailable", None);
        m.pass_failed("signer_unavailable", None);
        m.served(Some(true));
        let t = m.render();
        for want in [
            "raytls_certificate_expiration_timestamp_seconds{role=\"worker\",path=\"/etc/ray/tls/tls.crt\"} 2000",
            "raytls_certificate_renewal_timestamp_seconds{role=\"worker\",path=\"/etc/ray/tls/tls.crt\"} 1500",
            "raytls_ca_expiration_timestamp_seconds{path=\"/etc/ray/tls/ca.crt\"} 9000",
            "raytls_renew_last_success_timestamp_seconds{role=\"worker\",path=\"/etc/ray/tls/tls.crt\"} 1000",
            "raytls_renew_last_renewal_timestamp_seconds{role=\"worker\",path=\"/etc/ray/tls/tls.crt\"} 1000",
            "raytls_renew_consecutive_failures{role=\"worker\",path=\"/etc/ray/tls/tls.crt\"} 2",
            "raytls_renew_failures_total{reason=\"signer_unavailable\"} 2",
            "raytls_renew_passes_total{result=\"renewed\"} 1",
            "raytls_renew_passes_total{result=\"failed\"} 2",
            "raytls_renew_restart_due{role=\"worker\",path=\"/etc/ray/tls/tls.crt\"} 1",
        ] {
            assert!(t.contains(want), "missing {want} in\n{t}");
        }
        m.pass_ok("worker", false, None, at(1_100));
        let t = m.render();
        assert!(t.contains("raytls_renew_consecutive_failures{role=\"worker\",path=\"/etc/ray/tls/tls.crt\"} 0"), "{t}");
        assert!(t.contains("raytls_renew_last_renewal_timestamp_seconds{role=\"worker\",path=\"/etc/ray/tls/tls.crt\"} 1000"), "{t}");
        assert!(
            t.contains("raytls_renew_passes_total{result=\"kept\"} 1"),
            "{t}"
        );
    }
}
