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

use super::credentials::Credentials;
use super::failure::{Cause, Failure, Phase};
use super::target::{Host, Target};
use crate::pki::certinfo::{datetime, CertInfo};
use crate::text::hex;

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

/// Enough for an HTTP/1 status line or an SSH banner in a message.
const KEEP_FIRST: usize = 64;

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
    /// [`Verify::Observe`]: record the verdict but finish the handshake anyway.
    observe: bool,
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
        if self.observe {
            // The handshake signature is still checked against this certificate's key
            // (verify_tls1x_signature below): the peer does hold it.
            return Ok(ServerCertVerified::assertion());
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
    /// The certificate the server presented (its leaf).
    pub server_cert: Option<CertificateDer<'static>>,
    /// The whole chain it presented (leaf first).
    pub server_chain: Vec<CertificateDer<'static>>,
    /// [`Verify::Observe`]: why rustls would have refused the server's certificate (None:
    /// it accepts it). Always None under [`Verify::Strict`], which refuses instead.
    pub refused: Option<rustls::Error>,
}

/// How the handshake treats the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Refuse a certificate rustls refuses (name, chain, dates, EKU): a failed handshake.
    Strict,
    /// Finish the handshake whatever rustls thinks of the certificate, and say what it
    /// thinks ([`TlsConn::refused`]): to report on a peer's certificate (the cluster view
    /// reads every node's, including the ones the GCS cannot accept). Send nothing over such
    /// a connection whose certificate was refused.
    Observe,
}

fn fail(cause: Cause, phase: Phase, message: String) -> Failure {
    Failure::new(cause, phase, message)
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
                Ok(Err(e)) if is_out_of_descriptors(&e) => {
                    return Err(out_of_descriptors(&e, &format!("resolve {name}")));
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
            Ok(Err(e)) if is_out_of_descriptors(&e) => {
                return Err(out_of_descriptors(&e, &format!("check {}", via(addr))));
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

/// EMFILE (this process) or ENFILE (the whole system): no descriptor for a new socket.
fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// Our problem, not the peer's (no socket was even created): `local_config`, exit 2.
fn out_of_descriptors(e: &io::Error, to_do: &str) -> Failure {
    fail(
        Cause::LocalConfig,
        Phase::Connect,
        format!(
            "cannot open a socket to {to_do} ({e}): this machine is out of file descriptors \
             (ulimit -n); raise the limit or check fewer addresses at once"
        ),
    )
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
    handshake_with(Verify::Strict, target, creds, tcp, peer, deadline, budget).await
}

/// As [`handshake`], with the server's certificate treated as `verify` says.
pub async fn handshake_with(
    verify: Verify,
    target: &Target,
    creds: &Credentials,
    tcp: TcpStream,
    peer: SocketAddr,
    deadline: Instant,
    budget: Duration,
) -> Result<TlsConn, Failure> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let config = client_config(creds, seen.clone(), verify == Verify::Observe)?;
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
            let mut seen = lock(&seen);
            if verify == Verify::Observe {
                // We accepted the certificate: whatever failed, it was not our refusal.
                seen.error = None;
            }
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
    let server_cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.clone().into_owned());
    let plain = WireLog::default();
    let (server_chain, refused) = {
        let mut seen = lock(&seen);
        (std::mem::take(&mut seen.chain), seen.error.take())
    };
    Ok(TlsConn {
        stream: Observed::new(stream, plain.clone()),
        plain,
        peer,
        tls_version,
        alpn,
        server_cert,
        server_chain,
        refused,
    })
}

fn client_config(
    creds: &Credentials,
    seen: Arc<Mutex<Seen>>,
    observe: bool,
) -> Result<ClientConfig, Failure> {
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
        .with_custom_certificate_verifier(Arc::new(RecordingVerifier {
            inner,
            seen,
            observe,
        }))
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

/// An alert by its name in the TLS RFCs (`unknown_ca`), as openssl and Ray's logs print it.
pub fn alert_name(a: AlertDescription) -> String {
    let name = match a {
        AlertDescription::CloseNotify => "close_notify",
        AlertDescription::UnexpectedMessage => "unexpected_message",
        AlertDescription::BadRecordMac => "bad_record_mac",
        AlertDescription::HandshakeFailure => "handshake_failure",
        AlertDescription::BadCertificate => "bad_certificate",
        AlertDescription::UnsupportedCertificate => "unsupported_certificate",
        AlertDescription::CertificateRevoked => "certificate_revoked",
        AlertDescription::CertificateExpired => "certificate_expired",
        AlertDescription::CertificateUnknown => "certificate_unknown",
        AlertDescription::IllegalParameter => "illegal_parameter",
        AlertDescription::UnknownCA => "unknown_ca",
        AlertDescription::AccessDenied => "access_denied",
        AlertDescription::DecodeError => "decode_error",
        AlertDescription::DecryptError => "decrypt_error",
        AlertDescription::ProtocolVersion => "protocol_version",
        AlertDescription::InsufficientSecurity => "insufficient_security",
        AlertDescription::InternalError => "internal_error",
        AlertDescription::UserCanceled => "user_canceled",
        AlertDescription::MissingExtension => "missing_extension",
        AlertDescription::UnsupportedExtension => "unsupported_extension",
        AlertDescription::UnrecognisedName => "unrecognized_name",
        AlertDescription::CertificateRequired => "certificate_required",
        AlertDescription::NoApplicationProtocol => "no_application_protocol",
        other => return format!("{other:?}"),
    };
    name.to_string()
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
        if *alert == AlertDescription::NoApplicationProtocol {
            return fail(
                Cause::NotRayGcs,
                Phase::Tls,
                format!(
                    "{peer} is not a Ray GCS: it refused HTTP/2 (TLS alert \
                     no_application_protocol to our ALPN h2), which every Ray GCS speaks; \
                     another service's port?"
                ),
            );
        }
        return if is_client_cert_alert(*alert) {
            fail(
                Cause::ClientCertRejected,
                Phase::Tls,
                format!(
                    "server rejected our client certificate {} (TLS alert {} during the handshake): \
                     is it signed by the CA the head trusts (the head's RAY_TLS_CA_CERT)?",
                    creds.cert_path.display(),
                    alert_name(*alert)
                ),
            )
        } else {
            fail(
                Cause::TlsHandshakeFailed,
                Phase::Tls,
                format!(
                    "{peer} ended the TLS handshake with alert {}",
                    alert_name(*alert)
                ),
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
        return hung_up_after_our_certificate(&creds.cert_path, peer);
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

fn hung_up_after_our_certificate(cert: &std::path::Path, peer: SocketAddr) -> Failure {
    fail(
        Cause::ClientCertRejected,
        Phase::Tls,
        format!(
            "server rejected our client certificate {}: {peer} hung up during the handshake \
             right after we sent it; is it signed by the CA the head trusts (the head's \
             RAY_TLS_CA_CERT)?",
            cert.display()
        ),
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

/// Do these first bytes start an HTTP/2 SETTINGS frame (the first frame of every HTTP/2
/// server)?
pub fn is_h2_settings(first: &[u8]) -> bool {
    first.len() >= 9 && first[3] == 0x04 && first[0] == 0
}

/// A few words for what a peer sent: `an HTTP/2 SETTINGS frame`, `"HTTP/1.1 400 ..."`, hex.
pub fn describe_bytes(first: &[u8]) -> String {
    if is_h2_settings(first) {
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
    let shown = &first[..first.len().min(8)];
    format!(
        "non-TLS bytes {}",
        hex::encode(shown, " ", hex::Case::Lower)
    )
}

/// Explain why rustls refused the server's certificate, showing what it holds: one check
/// per kind of refusal, from the certificate as the one certificate model reads it.
fn diagnose_server_cert(
    err: &rustls::Error,
    chain: &[CertificateDer<'static>],
    target: &Target,
    peer: SocketAddr,
    creds: &Credentials,
) -> Failure {
    let server = ServerCert {
        peer,
        info: chain.first().and_then(|der| CertInfo::parse(der).ok()),
        now: time::OffsetDateTime::now_utc(),
    };
    let rustls::Error::InvalidCertificate(ce) = err else {
        return server.refused(err);
    };
    match ce {
        CertificateError::UnknownIssuer => server.not_signed_by_our_ca(creds, false),
        CertificateError::BadSignature => server.not_signed_by_our_ca(creds, true),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            server.does_not_cover_the_dialed_name(target)
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => server.expired(),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            server.not_valid_yet()
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            server.lacks_server_auth_eku()
        }
        other => server.refused_as(other),
    }
}

/// The server certificate rustls refused (None if it does not even parse), where it came
/// from, and the time it was judged at.
struct ServerCert {
    peer: SocketAddr,
    info: Option<CertInfo>,
    now: time::OffsetDateTime,
}

impl ServerCert {
    fn fail(&self, cause: Cause, message: String) -> Failure {
        fail(cause, Phase::Tls, message)
    }

    /// `subject "CN=ray-head", issuer "CN=raytls CA"`, for messages.
    fn presents(&self) -> String {
        match &self.info {
            Some(c) => format!("subject {:?}, issuer {:?}", c.subject, c.issuer),
            None => "unparseable certificate".into(),
        }
    }

    fn refused(&self, err: &rustls::Error) -> Failure {
        self.fail(
            Cause::BadServerCert,
            format!(
                "the server certificate of {} ({}) was refused: {err}",
                self.peer,
                self.presents()
            ),
        )
    }

    fn refused_as(&self, err: &CertificateError) -> Failure {
        self.fail(
            Cause::BadServerCert,
            format!(
                "the server certificate of {} ({}) was refused: {err:?}",
                self.peer,
                self.presents()
            ),
        )
    }

    /// Unknown issuer, or (`same_name`) an issuer with our CA's name but another key.
    fn not_signed_by_our_ca(&self, creds: &Credentials, same_name: bool) -> Failure {
        let same_name = if same_name {
            " (its issuer has the same name as our CA but another key: a re-created CA, or two \
             CAs with one subject?)"
        } else {
            ""
        };
        self.fail(
            Cause::UnknownCa,
            format!(
                "server certificate of {} is not signed by the CA in {} ({}){same_name}; the \
                 server presents {}: pass the CA that issued it (--ca / RAY_TLS_CA_CERT), or \
                 re-issue that server's certificate from this CA",
                self.peer,
                creds.ca_path.display(),
                creds.ca_subjects.join("; "),
                self.presents()
            ),
        )
    }

    fn does_not_cover_the_dialed_name(&self, target: &Target) -> Failure {
        let sans = self
            .info
            .as_ref()
            .map(|c| c.labeled_sans().join(", "))
            .unwrap_or_default();
        let wanted = match target.host {
            Host::Ip(_) => format!("IP:{}", target.host_text()),
            Host::Dns(_) => format!("DNS:{}", target.host_text()),
        };
        self.fail(
            Cause::NameMismatch,
            format!(
                "server certificate of {} does not cover {}; it covers [{sans}]; re-issue it \
                 with that SAN ({wanted}) or dial one of these",
                self.peer,
                target.host_text()
            ),
        )
    }

    /// The server certificate, or (when it is still in its dates) one above it.
    fn expired(&self) -> Failure {
        let (peer, now) = (self.peer, datetime(self.now));
        let message = match &self.info {
            Some(c) if self.now > c.not_after => format!(
                "server certificate of {peer} ({}) expired on {} (valid from {}; now {now}); \
                 renew it (raytls renew) and restart that Ray, which reads its certificate \
                 only at start",
                c.subject,
                datetime(c.not_after),
                datetime(c.not_before)
            ),
            Some(c) => format!(
                "a certificate in {peer}'s chain has expired (the server certificate {} is \
                 valid until {}; now {now}): renew the intermediate CA",
                c.subject,
                datetime(c.not_after)
            ),
            None => format!("server certificate of {peer} has expired (now {now})"),
        };
        self.fail(Cause::Expired, message)
    }

    fn not_valid_yet(&self) -> Failure {
        let (peer, now) = (self.peer, datetime(self.now));
        let message = match &self.info {
            Some(c) => format!(
                "server certificate of {peer} ({}) is not valid until {} (now {now}); check \
                 the clocks of this machine and of the issuer",
                c.subject,
                datetime(c.not_before)
            ),
            None => format!("server certificate of {peer} is not valid yet (now {now})"),
        };
        self.fail(Cause::NotYetValid, message)
    }

    /// Ray uses one certificate both ways, so a serverAuth-less EKU breaks the head as server.
    fn lacks_server_auth_eku(&self) -> Failure {
        let eku = self
            .info
            .as_ref()
            .and_then(|c| c.eku.as_ref())
            .map(|e| e.names().join(", "))
            .unwrap_or_else(|| "?".into());
        self.fail(
            Cause::NoServerAuthEku,
            format!(
                "server certificate of {} ({}) has extended key usage [{eku}] without \
                 serverAuth; Ray uses one certificate as server and client: re-issue it with \
                 EKU serverAuth and clientAuth (or no EKU)",
                self.peer,
                self.presents()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_hung_up_message_has_no_runs_of_spaces() {
        // The message once lost its line continuations and showed 18 spaces mid-sentence.
        let f = hung_up_after_our_certificate(
            std::path::Path::new("client/tls.crt"),
            "10.0.0.5:6379".parse().unwrap(),
        );
        assert_eq!(f.cause, Cause::ClientCertRejected);
        assert!(!f.message.contains("  "), "{:?}", f.message);
        assert!(f.message.contains(
            "10.0.0.5:6379 hung up during the handshake right after we sent it; is it signed"
        ));
    }

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
