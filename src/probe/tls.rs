//! Resolve, TCP connect and the rustls handshake, each bounded by the check's deadline.
//! Everything the peer sends and presents is kept (first bytes on the wire, EOF, alerts, the
//! server's certificate chain) so that a failure is explained with evidence, not guessed.
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::credentials::Credentials;
use super::health::{Cause, Failure, Phase};
use super::target::{Host, Target};

/// Lock a mutex even if another task panicked while holding it: the data is a log, and a
/// half-written log is better than a second panic.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What one side of a stream saw coming in.
#[derive(Debug, Default, Clone)]
pub struct Wire {
    /// The first bytes received (enough to tell TLS from HTTP/2 from anything else).
    pub first: Vec<u8>,
    pub total: u64,
    pub eof: bool,
    pub error_kind: Option<io::ErrorKind>,
    pub error: Option<String>,
    /// A TLS alert the peer sent, if reading failed because of one.
    pub alert: Option<AlertDescription>,
}

pub type WireLog = Arc<Mutex<Wire>>;

const KEEP_FIRST: usize = 16;

/// A stream that records what it reads into a shared [`Wire`] log.
pub struct Observed<S> {
    inner: S,
    log: WireLog,
}

impl<S> Observed<S> {
    pub fn new(inner: S, log: WireLog) -> Self {
        Observed { inner, log }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Observed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        let log = self.log.clone();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &poll {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                let mut w = lock(&log);
                if new.is_empty() && room {
                    w.eof = true;
                }
                let want = KEEP_FIRST.saturating_sub(w.first.len()).min(new.len());
                w.first.extend_from_slice(&new[..want]);
                w.total += new.len() as u64;
            }
            Poll::Ready(Err(e)) => {
                let mut w = lock(&log);
                w.error_kind = Some(e.kind());
                w.error = Some(e.to_string());
                if let Some(rustls::Error::AlertReceived(a)) = rustls_error(e) {
                    w.alert = Some(*a);
                }
            }
            Poll::Pending => {}
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Observed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The rustls error inside an io::Error from tokio-rustls, if there is one.
pub fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// What the server presented, and why rustls refused it.
#[derive(Debug, Default)]
struct Seen {
    chain: Vec<CertificateDer<'static>>,
    error: Option<rustls::Error>,
}

/// rustls' own WebPKI verification, unchanged, plus a copy of the chain and the verdict so a
/// refusal can be explained (subject, issuer, SANs, dates, EKU).
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    seen: Arc<Mutex<Seen>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let mut seen = lock(&self.seen);
        seen.chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        if let Err(e) = &verdict {
            seen.error = Some(e.clone());
        }
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A finished mutual-TLS connection, and the logs of both of its layers.
pub struct TlsConn {
    pub stream: Observed<TlsStream<Observed<TcpStream>>>,
    /// Plaintext (HTTP/2) bytes from the server: none at all after a completed handshake
    /// means the server dropped us right after it (Ray's refusal of a client cert).
    pub plain: WireLog,
    pub peer: SocketAddr,
    pub tls_version: Option<String>,
    pub alpn: Option<String>,
}

fn fail(cause: Cause, phase: Phase, message: String) -> Failure {
    Failure {
        cause,
        phase,
        message,
    }
}

/// Resolve the host (phase `resolve`), dial it (phase `connect`).
pub async fn dial(
    target: &Target,
    deadline: Instant,
    budget: Duration,
) -> Result<(TcpStream, SocketAddr), Failure> {
    let addrs: Vec<SocketAddr> = match &target.host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, target.port)],
        Host::Dns(name) => {
            match timeout_at(deadline, tokio::net::lookup_host((name.as_str(), target.port))).await
            {
                Err(_) => {
                    return Err(fail(
                        Cause::ResolveFailed,
                        Phase::Resolve,
                        format!(
                            "cannot resolve {name}: DNS gave no answer in {}; check the name and this pod's DNS",
                            crate::text::duration::format(budget)
                        ),
                    ))
                }
                Ok(Err(e)) => {
                    return Err(fail(
                        Cause::ResolveFailed,
                        Phase::Resolve,
                        format!(
                            "cannot resolve {name} ({e}); check the spelling (a head service is \
                             NAME.NAMESPACE.svc.cluster.local) or dial the head pod's IP"
                        ),
                    ))
                }
                Ok(Ok(it)) => it.collect(),
            }
        }
    };
    if addrs.is_empty() {
        return Err(fail(
            Cause::ResolveFailed,
            Phase::Resolve,
            format!("cannot resolve {}: no addresses", target.host_text()),
        ));
    }
    let via = |a: &SocketAddr| match target.host {
        Host::Dns(_) => format!("{a} ({target})"),
        Host::Ip(_) => a.to_string(),
    };
    let mut last: Option<Failure> = None;
    for addr in &addrs {
        match timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, *addr));
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                last = Some(fail(
                    Cause::ConnectionRefused,
                    Phase::Connect,
                    format!(
                        "connection refused at {}: is the Ray head up, is the port right? \
                         (the GCS listens on 6379 unless --port was given to ray start)",
                        via(addr)
                    ),
                ));
            }
            Ok(Err(e)) => {
                last = Some(fail(
                    Cause::ConnectFailed,
                    Phase::Connect,
                    format!("cannot connect to {} ({e})", via(addr)),
                ));
            }
            Err(_) => {
                // The deadline is spent: no point in trying the other addresses.
                return Err(fail(
                    Cause::Timeout,
                    Phase::Connect,
                    format!(
                        "no answer from {} in {}: firewall or NetworkPolicy? (TCP connect got neither \
                         an accept nor a refusal)",
                        via(addr),
                        crate::text::duration::format(budget)
                    ),
                ));
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        fail(
            Cause::ConnectFailed,
            Phase::Connect,
            format!("cannot connect to {target}"),
        )
    }))
}

/// The full client side of Ray's mutual TLS: ALPN h2, server name = the host as dialed,
/// our certificate presented. Phase `tls`.
pub async fn handshake(
    target: &Target,
    creds: &Credentials,
    tcp: TcpStream,
    peer: SocketAddr,
    deadline: Instant,
    budget: Duration,
) -> Result<TlsConn, Failure> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let config = client_config(creds, seen.clone())?;
    let tcp_log = WireLog::default();
    let connect = TlsConnector::from(Arc::new(config))
        .connect(target.server_name(), Observed::new(tcp, tcp_log.clone()));
    let result = timeout_at(deadline, connect).await;
    let wire = lock(&tcp_log).clone();
    let stream = match result {
        Err(_) => {
            let message = if wire.total == 0 {
                format!(
                    "{peer} accepted the TCP connection but sent nothing back to our TLS ClientHello \
                     in {}: not a TLS server (one waiting for its own protocol), or a stalled head",
                    crate::text::duration::format(budget)
                )
            } else {
                format!(
                    "{peer} stalled mid-handshake: {} bytes of TLS, then nothing for the rest of {}",
                    wire.total,
                    crate::text::duration::format(budget)
                )
            };
            return Err(fail(Cause::Timeout, Phase::Tls, message));
        }
        Ok(Err(e)) => {
            let seen = lock(&seen);
            return Err(diagnose_handshake(&e, target, peer, creds, &seen, &wire));
        }
        Ok(Ok(s)) => s,
    };
    let (_, conn) = stream.get_ref();
    let tls_version = conn.protocol_version().map(|v| match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLS1.3".to_string(),
        rustls::ProtocolVersion::TLSv1_2 => "TLS1.2".to_string(),
        other => format!("{other:?}"),
    });
    let alpn = conn
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let plain = WireLog::default();
    Ok(TlsConn {
        stream: Observed::new(stream, plain.clone()),
        plain,
        peer,
        tls_version,
        alpn,
    })
}

fn client_config(creds: &Credentials, seen: Arc<Mutex<Seen>>) -> Result<ClientConfig, Failure> {
    let local = |what: &str, e: String| {
        fail(
            Cause::LocalConfig,
            Phase::Tls,
            format!("cannot set up TLS with {what}: {e}"),
        )
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(creds.roots.clone(), provider.clone())
        .build()
        .map_err(|e| local(&creds.ca_path.display().to_string(), e.to_string()))?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| local("rustls", e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RecordingVerifier { inner, seen }))
        .with_client_auth_cert(creds.chain.clone(), creds.key.clone_key())
        .map_err(|e| local(&creds.cert_path.display().to_string(), e.to_string()))?;
    // Ray's gRPC servers drop a TLS client that does not offer h2.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Alerts a server sends when it does not accept the client's certificate.
pub fn is_client_cert_alert(a: AlertDescription) -> bool {
    matches!(
        a,
        AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::AccessDenied
    )
}

/// Name what went wrong in a failed handshake, from the strongest evidence down: the
/// server's certificate, an alert, the bytes it sent instead of TLS, EOF.
fn diagnose_handshake(
    e: &io::Error,
    target: &Target,
    peer: SocketAddr,
    creds: &Credentials,
    seen: &Seen,
    wire: &Wire,
) -> Failure {
    if let Some(err) = &seen.error {
        return diagnose_server_cert(err, &seen.chain, target, peer, creds);
    }
    if let Some(rustls::Error::AlertReceived(alert)) = rustls_error(e) {
        return if is_client_cert_alert(*alert) {
            fail(
                Cause::ClientCertRejected,
                Phase::Tls,
                format!(
                    "server rejected our client certificate {} (TLS alert {alert:?} during the handshake): \
                     is it signed by the CA the head trusts (the head's RAY_TLS_CA_CERT)?",
                    creds.cert_path.display()
                ),
            )
        } else {
            fail(
                Cause::TlsHandshakeFailed,
                Phase::Tls,
                format!("{peer} ended the TLS handshake with alert {alert:?}"),
            )
        };
    }
    if let Some(what) = not_tls_evidence(&wire.first) {
        return fail(
            Cause::NotTls,
            Phase::Tls,
            format!(
                "{peer} does not speak TLS: it answered our ClientHello with {what}; is the head \
                 running with RAY_USE_TLS=0, or is this another service's port?"
            ),
        );
    }
    let closed = wire.eof
        || matches!(
            e.kind(),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
        )
        || wire.error_kind == Some(io::ErrorKind::ConnectionReset);
    if closed && !seen.chain.is_empty() {
        // We had accepted the server's certificate and sent ours (TLS 1.2 sends it after the
        // server's), then the server hung up: it refused our certificate.
        return fail(
            Cause::ClientCertRejected,
            Phase::Tls,
            format!(
                "server rejected our client certificate {}: {peer} hung up during the handshake                  right after we sent it; is it signed by the CA the head trusts (the head's                  RAY_TLS_CA_CERT)?",
                creds.cert_path.display()
            ),
        );
    }
    if closed && wire.total == 0 {
        let how = if wire.eof || e.kind() == io::ErrorKind::UnexpectedEof {
            "closed"
        } else {
            "reset"
        };
        return fail(
            Cause::ClosedDuringHandshake,
            Phase::Tls,
            format!(
                "{peer} {how} the connection without answering our TLS ClientHello: not a TLS server \
                 (a RAY_USE_TLS=0 head?), or a TLS server that refused our hello"
            ),
        );
    }
    fail(
        Cause::TlsHandshakeFailed,
        Phase::Tls,
        format!("TLS handshake with {peer} failed: {e}"),
    )
}

/// If these first bytes from the peer cannot start a TLS record, say what they look like.
pub fn not_tls_evidence(first: &[u8]) -> Option<String> {
    let b0 = *first.first()?;
    if (0x14..=0x17).contains(&b0) && first.get(1).is_none_or(|&b| b == 0x03) {
        return None;
    }
    Some(describe_bytes(first))
}

/// A few words for what a peer sent: `an HTTP/2 SETTINGS frame`, `"HTTP/1.1 400 ..."`, hex.
pub fn describe_bytes(first: &[u8]) -> String {
    if first.len() >= 9 && first[3] == 0x04 && first[0] == 0 {
        return "an HTTP/2 SETTINGS frame (a plaintext gRPC/HTTP/2 server)".into();
    }
    let printable = first
        .iter()
        .take_while(|b| b.is_ascii_graphic() || **b == b' ')
        .count();
    if printable >= 4 {
        let text = String::from_utf8_lossy(&first[..printable]);
        let kind = if text.starts_with("HTTP/") {
            "a plaintext HTTP/1 response"
        } else if text.starts_with("SSH-") {
            "an SSH banner"
        } else {
            "plain text"
        };
        return format!("{kind} ({text:?}...)");
    }
    let hex: Vec<String> = first.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("non-TLS bytes {}", hex.join(" "))
}

/// The parts of a certificate a message needs.
struct CertFacts {
    subject: String,
    issuer: String,
    sans: Vec<String>,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
    eku: Option<Vec<&'static str>>,
}

fn cert_facts(der: &CertificateDer<'_>) -> Option<CertFacts> {
    let (_, c) = X509Certificate::from_der(der.as_ref()).ok()?;
    let sans = match c.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => format!("DNS:{d}"),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => format!("IP:{}", std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3])),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        format!("IP:{}", std::net::Ipv6Addr::from(a))
                    }
                    _ => "IP:?".into(),
                },
                other => format!("{other}"),
            })
            .collect(),
        _ => Vec::new(),
    };
    let eku = match c.extended_key_usage() {
        Ok(Some(ext)) => {
            let e = ext.value;
            let mut v = Vec::new();
            if e.any {
                v.push("any");
            }
            if e.server_auth {
                v.push("serverAuth");
            }
            if e.client_auth {
                v.push("clientAuth");
            }
            if e.code_signing {
                v.push("codeSigning");
            }
            if e.email_protection {
                v.push("emailProtection");
            }
            if !e.other.is_empty() {
                v.push("other");
            }
            Some(v)
        }
        _ => None,
    };
    Some(CertFacts {
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        sans,
        not_before: c.validity().not_before.to_datetime(),
        not_after: c.validity().not_after.to_datetime(),
        eku,
    })
}

/// Explain why rustls refused the server's certificate, showing what it holds.
fn diagnose_server_cert(
    err: &rustls::Error,
    chain: &[CertificateDer<'static>],
    target: &Target,
    peer: SocketAddr,
    creds: &Credentials,
) -> Failure {
    let facts = chain.first().and_then(cert_facts);
    let subject = facts
        .as_ref()
        .map(|f| format!("subject {:?}, issuer {:?}", f.subject, f.issuer))
        .unwrap_or_else(|| "unparseable certificate".into());
    let now = time::OffsetDateTime::now_utc();
    let ce = match err {
        rustls::Error::InvalidCertificate(ce) => ce,
        other => {
            return fail(
                Cause::BadServerCert,
                Phase::Tls,
                format!("the server certificate of {peer} ({subject}) was refused: {other}"),
            )
        }
    };
    let (cause, message) = match ce {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            let same_name = if matches!(ce, CertificateError::BadSignature) {
                " (its issuer has the same name as our CA but another key: a re-created CA, or two CAs with one subject?)"
            } else {
                ""
            };
            (
                Cause::UnknownCa,
                format!(
                    "server certificate of {peer} is not signed by the CA in {} ({}){same_name}; the server \
                     presents {subject}: pass the CA that issued it (--ca / RAY_TLS_CA_CERT), or re-issue \
                     the head's certificate from this CA",
                    creds.ca_path.display(),
                    creds.ca_subjects.join("; ")
                ),
            )
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            let sans = facts
                .as_ref()
                .map(|f| f.sans.join(", "))
                .unwrap_or_default();
            (
                Cause::NameMismatch,
                format!(
                    "server certificate of {peer} does not cover {}; it covers [{sans}]; re-issue it with \
                     that SAN ({}) or dial one of these",
                    target.host_text(),
                    match target.host {
                        Host::Ip(_) => format!("IP:{}", target.host_text()),
                        Host::Dns(_) => format!("DNS:{}", target.host_text()),
                    }
                ),
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            let msg = match &facts {
                Some(f) if now > f.not_after => format!(
                    "server certificate of {peer} ({}) expired on {} (valid from {}; now {}); re-issue \
                     the head's certificate",
                    f.subject,
                    crate::pki::certinfo::datetime(f.not_after),
                    crate::pki::certinfo::datetime(f.not_before),
                    crate::pki::certinfo::datetime(now)
                ),
                Some(f) => format!(
                    "a certificate in {peer}'s chain has expired (the server certificate {} is valid \
                     until {}; now {}): renew the intermediate CA",
                    f.subject,
                    crate::pki::certinfo::datetime(f.not_after),
                    crate::pki::certinfo::datetime(now)
                ),
                None => format!("server certificate of {peer} has expired (now {})", crate::pki::certinfo::datetime(now)),
            };
            (Cause::Expired, msg)
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            let msg = match &facts {
                Some(f) => format!(
                    "server certificate of {peer} ({}) is not valid until {} (now {}); check the \
                     clocks of this machine and of the issuer",
                    f.subject,
                    crate::pki::certinfo::datetime(f.not_before),
                    crate::pki::certinfo::datetime(now)
                ),
                None => format!(
                    "server certificate of {peer} is not valid yet (now {})",
                    crate::pki::certinfo::datetime(now)
                ),
            };
            (Cause::NotYetValid, msg)
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            let eku = facts
                .as_ref()
                .and_then(|f| f.eku.clone())
                .map(|v| v.join(", "))
                .unwrap_or_else(|| "?".into());
            (
                Cause::NoServerAuthEku,
                format!(
                    "server certificate of {peer} ({subject}) has extended key usage [{eku}] without \
                     serverAuth; Ray uses one certificate as server and client: re-issue it with EKU \
                     serverAuth and clientAuth (or no EKU)"
                ),
            )
        }
        other => (
            Cause::BadServerCert,
            format!("the server certificate of {peer} ({subject}) was refused: {other:?}"),
        ),
    };
    fail(cause, Phase::Tls, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_tls_from_other_protocols() {
        assert!(not_tls_evidence(&[0x16, 0x03, 0x03, 0, 10]).is_none());
        assert!(not_tls_evidence(&[0x15, 0x03, 0x03, 0, 2]).is_none());
        assert!(not_tls_evidence(&[]).is_none());
        let h2 = [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3];
        assert!(not_tls_evidence(&h2).unwrap().contains("HTTP/2 SETTINGS"));
        assert!(not_tls_evidence(b"HTTP/1.1 400 Bad")
            .unwrap()
            .contains("HTTP/1"));
        assert!(not_tls_evidence(b"SSH-2.0-OpenSSH")
            .unwrap()
            .contains("SSH"));
        assert!(not_tls_evidence(&[0xff, 0xfe]).unwrap().contains("ff fe"));
    }
}
