//! The signer's client, for `raytls init --signer` and `raytls issue client --signer`: one
//! HTTPS request per try, and retries with backoff until `--wait` is up, one line per failed
//! try naming its cause.
//!
//! Who the signer is: a server whose certificate chains to `--signer-ca` **and** is the
//! signer's own (`OU=signer`, `pki::role::SIGNER_LABEL`), checked in the TLS handshake,
//! before any byte of the request (and so the token) is sent. Chaining to `--signer-ca`
//! alone proves nothing: every pod holds a leaf of that CA. What an answer may name as the
//! cluster's CA is decided in one place, [`Client::answer_roots`].
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::api::{ApiError, SignRequest, SignResponse};
use super::printable;
use crate::error::{Error, Result};
use crate::probe::target::{self, Target};

/// The largest answer read (a chain and a CA in PEM are a few KiB).
const MAX_ANSWER: usize = 256 * 1024;
/// No single try waits longer than this for any phase.
const TRY_TIMEOUT: Duration = Duration::from_secs(10);

/// `https://HOST:PORT`, parsed at the edge.
#[derive(Debug, Clone)]
pub struct SignerUrl {
    pub target: Target,
    pub text: String,
}

impl SignerUrl {
    pub fn parse(source: &str, input: &str) -> Result<Self> {
        let bad = |why: &str| Error::InvalidValue {
            source_name: source.to_string(),
            value: input.to_string(),
            what: "signer URL",
            why: why.to_string(),
        };
        let trimmed = input.trim();
        let rest = trimmed
            .strip_prefix("https://")
            .ok_or_else(|| bad("it must start with https:// (the signer only speaks TLS)"))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') || authority.contains('?') || authority.contains('@') {
            return Err(bad(
                "give only https://HOST:PORT, without a path, query or user",
            ));
        }
        let has_port = match authority.rsplit_once(':') {
            Some((host, p)) => {
                !p.is_empty()
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && (!host.contains(':') || host.ends_with(']'))
            }
            None => false,
        };
        if !has_port {
            return Err(bad(
                "it has no port, e.g. https://raytls-signer.ray.svc:8443",
            ));
        }
        let target = target::parse(authority).map_err(|why| bad(&why))?;
        Ok(SignerUrl {
            text: format!("https://{target}"),
            target,
        })
    }
}

/// Why one try failed.
#[derive(Debug, Clone)]
pub enum Failure {
    Connect(String),
    Tls(String),
    Timeout(&'static str),
    /// The signer answered with an error.
    Refused {
        error: ApiError,
        retry_after: Option<u64>,
    },
    Protocol(String),
    /// The server's certificate chains to `--signer-ca` but is not the signer's: nothing
    /// was sent to it.
    NotTheSigner(String),
}

impl Failure {
    /// 4xx answers other than 408 and 429 will not change by asking again; nor will a
    /// server that is not the signer.
    pub fn is_final(&self) -> bool {
        match self {
            Failure::Refused { error, .. } => {
                (400..500).contains(&error.status) && error.status != 408 && error.status != 429
            }
            Failure::NotTheSigner(_) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(why) => write!(f, "cannot connect: {why}"),
            Failure::Tls(why) => write!(f, "TLS: {why}"),
            Failure::Timeout(phase) => write!(f, "timed out {phase}"),
            Failure::Refused { error, .. } => write!(
                f,
                "{} {}: {}",
                error.status,
                printable(&error.code),
                printable(&error.message)
            ),
            Failure::Protocol(why) => write!(f, "bad answer: {why}"),
            Failure::NotTheSigner(why) => f.write_str(why),
        }
    }
}

pub struct Client {
    pub url: SignerUrl,
    ca_file: PathBuf,
    /// Every certificate of `--signer-ca`, in file order.
    roots: Vec<CertificateDer<'static>>,
    tls: Arc<ClientConfig>,
    token: Option<String>,
}

/// Why a server's certificate, although it chains to `--signer-ca`, is refused as the
/// signer's: the subject it has instead of `OU=signer`.
#[derive(Debug)]
struct NotSignersCertificate {
    subject: String,
}

impl std::fmt::Display for NotSignersCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not the signer's certificate ({})", self.subject)
    }
}

impl std::error::Error for NotSignersCertificate {}

/// rustls' WebPKI verification against `--signer-ca`, then the signer's mark: a leaf of the
/// cluster's CA that is not the signer's (a pod's) fails the handshake, so the request and
/// its token are never sent to it.
#[derive(Debug)]
struct SignerOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for SignerOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        if !crate::pki::csr::is_signer_certificate(end_entity) {
            let subject = crate::pki::certinfo::CertInfo::parse(end_entity)
                .map(|i| i.subject)
                .unwrap_or_else(|why| why);
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(
                    NotSignersCertificate { subject },
                ))),
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The first line of a token file, trimmed (as Ray reads its own token file): the one token
/// reader of the signer and its clients. A regular file of at most 64 KiB.
pub fn read_token(path: &Path) -> Result<String> {
    let bytes = crate::fsio::read_input(path, 64 << 10)?;
    let text = String::from_utf8_lossy(&bytes);
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        return Err(Error::Usage(format!(
            "token file {} is empty (make one with `raytls token generate --out FILE`)",
            path.display()
        )));
    }
    Ok(token.to_string())
}

impl Client {
    /// `signer_ca`: the only CA the signer's certificate may chain to. `token`: the role
    /// token, or None to renew with `identity` (the certificate this CA gave us earlier).
    pub fn new(
        url: SignerUrl,
        signer_ca: &Path,
        token: Option<String>,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<Self> {
        let bytes = crate::pki::pem::read(signer_ca)?;
        let certs = crate::pki::pem::certificates(signer_ca, &bytes)?;
        let mut store = RootCertStore::empty();
        for c in &certs {
            store.add(c.clone()).map_err(|e| Error::BadCertificate {
                path: signer_ca.to_path_buf(),
                why: format!("cannot be a trust anchor ({e})"),
            })?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
            .build()
            .map_err(|e| Error::BadCertificate {
                path: signer_ca.to_path_buf(),
                why: format!("cannot verify servers with it ({e})"),
            })?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Internal {
                what: "set the TLS versions",
                why: e.to_string(),
            })?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SignerOnly { inner: webpki }));
        let mut tls = match identity {
            Some((certs, key)) => {
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| Error::Internal {
                        what: "use the client certificate",
                        why: e.to_string(),
                    })?
            }
            None => builder.with_no_client_auth(),
        };
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Client {
            url,
            ca_file: signer_ca.to_path_buf(),
            roots: certs,
            tls: Arc::new(tls),
            token,
        })
    }

    /// `--signer-ca`, the file the signer's certificate is checked against.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The one place that decides which CA certificates a signer's answer may name as the
    /// cluster's CA (what the pod writes as `ca.crt`, and what its new leaf must chain to):
    /// the certificates of `--signer-ca`, which the pod trusts before it asks. An
    /// authenticated signer cannot add a root of its choosing; during a CA rotation the
    /// pods' `--signer-ca` gets the bundle before the signer hands it out
    /// (docs/ca-rotation.md). A signer mode that vouches for a cluster root another way
    /// extends this answer, not its callers.
    pub fn answer_roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    /// Ask until granted, refused for good, or `wait` is up. `on_retry` hears one line per
    /// failed try.
    pub fn sign(
        &self,
        request: &SignRequest,
        wait: Duration,
        mut on_retry: impl FnMut(String),
    ) -> Result<SignResponse> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Internal {
                what: "start the network runtime",
                why: e.to_string(),
            })?;
        let body = serde_json::to_vec(request).map_err(|e| Error::Internal {
            what: "encode the request",
            why: e.to_string(),
        })?;
        let started = Instant::now();
        let mut backoff = Duration::from_millis(500);
        let mut attempt: u32 = 0;
        loop {
            attempt = attempt.saturating_add(1);
            let left = wait.saturating_sub(started.elapsed());
            let failure = match rt.block_on(
                self.try_once(&body, TRY_TIMEOUT.min(left.max(Duration::from_millis(500)))),
            ) {
                Ok(answer) => return Ok(answer),
                Err(f) => f,
            };
            if let Failure::NotTheSigner(why) = failure {
                return Err(Error::NotTheSigner {
                    signer: self.url.text.clone(),
                    why,
                });
            }
            if failure.is_final() {
                return Err(Error::SignerRefused {
                    signer: self.url.text.clone(),
                    why: failure.to_string(),
                });
            }
            let hint = match &failure {
                Failure::Refused {
                    retry_after: Some(s),
                    ..
                } => Duration::from_secs(*s),
                _ => backoff,
            };
            let left = wait.saturating_sub(started.elapsed());
            if left.is_zero() || hint > left {
                return Err(Error::SignerUnavailable {
                    signer: self.url.text.clone(),
                    waited: crate::text::duration::format(wait),
                    tries: attempt,
                    last: failure.to_string(),
                });
            }
            on_retry(format!(
                "signer {}: try {attempt} failed: {failure}; next try in {}",
                self.url.text,
                crate::text::duration::format(hint)
            ));
            std::thread::sleep(hint);
            backoff = (backoff * 2).min(Duration::from_secs(8));
        }
    }

    async fn try_once(
        &self,
        body: &[u8],
        limit: Duration,
    ) -> std::result::Result<SignResponse, Failure> {
        let t = &self.url.target;
        let tcp = tokio::time::timeout(limit, TcpStream::connect((t.host_text(), t.port)))
            .await
            .map_err(|_| Failure::Timeout("connecting"))?
            .map_err(|e| Failure::Connect(connect_error(&e)))?;
        let _ = tcp.set_nodelay(true);
        let tls = tokio::time::timeout(
            limit,
            TlsConnector::from(self.tls.clone()).connect(t.server_name(), tcp),
        )
        .await
        .map_err(|_| Failure::Timeout("in the TLS handshake"))?
        .map_err(|e| match self.not_the_signer(&e) {
            Some(why) => Failure::NotTheSigner(why),
            None => Failure::Tls(self.tls_error(&e)),
        })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| Failure::Protocol(e.to_string()))?;
        let driver = tokio::spawn(conn);
        let mut req = Request::post("/v1/sign")
            .header(header::HOST, t.to_string())
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| Failure::Protocol(e.to_string()))?;
        let result = async {
            let resp = tokio::time::timeout(limit, sender.send_request(req))
                .await
                .map_err(|_| Failure::Timeout("waiting for the answer"))?
                .map_err(|e| Failure::Protocol(format!("the connection failed: {e}")))?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| s.min(60));
            let bytes =
                tokio::time::timeout(limit, Limited::new(resp.into_body(), MAX_ANSWER).collect())
                    .await
                    .map_err(|_| Failure::Timeout("reading the answer"))?
                    .map_err(|e| Failure::Protocol(format!("cannot read the answer: {e}")))?
                    .to_bytes();
            if status == 200 {
                return serde_json::from_slice::<SignResponse>(&bytes).map_err(|e| {
                    Failure::Protocol(format!("the answer is not a sign response ({e})"))
                });
            }
            let mut error = serde_json::from_slice::<ApiError>(&bytes).unwrap_or_else(|_| {
                ApiError::new(
                    status,
                    "http_error",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]),
                )
            });
            error.status = status;
            Err(Failure::Refused { error, retry_after })
        }
        .await;
        driver.abort();
        result
    }

    /// The certificate chain the signer serves, verified against `--signer-ca` (a TLS
    /// handshake, nothing asked). Its issuer is the CA the signer signs with now: during a CA
    /// rotation that tells a pod whether its own certificate is from the old CA.
    pub fn serving_chain(
        &self,
        limit: Duration,
    ) -> std::result::Result<Vec<CertificateDer<'static>>, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the network runtime: {e}"))?;
        let t = &self.url.target;
        rt.block_on(async {
            let tcp = tokio::time::timeout(limit, TcpStream::connect((t.host_text(), t.port)))
                .await
                .map_err(|_| "timed out connecting".to_string())?
                .map_err(|e| connect_error(&e))?;
            let tls = tokio::time::timeout(
                limit,
                TlsConnector::from(self.tls.clone()).connect(t.server_name(), tcp),
            )
            .await
            .map_err(|_| "timed out in the TLS handshake".to_string())?
            .map_err(|e| self.tls_error(&e))?;
            Ok(tls
                .get_ref()
                .1
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default())
        })
    }

    /// The handshake failed because the server's certificate, although of `--signer-ca`,
    /// is not the signer's: one line saying so and how to fix a signer without the mark.
    fn not_the_signer(&self, e: &std::io::Error) -> Option<String> {
        let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) =
            crate::probe::tls::rustls_error(e)
        else {
            return None;
        };
        let refused = other.0.downcast_ref::<NotSignersCertificate>()?;
        Some(format!(
            "it serves a certificate of the CA in {} that is not the signer's: subject {} lacks OU={label} (a pod's certificate?), so nothing was sent to it; `raytls serve` makes its own certificate with OU={label} at start: point --signer at the signer's Service",
            self.ca_file.display(),
            super::escape(&refused.subject),
            label = crate::pki::role::SIGNER_LABEL,
        ))
    }

    fn tls_error(&self, e: &std::io::Error) -> String {
        use rustls::{CertificateError, Error as R};
        if let Some(why) = self.not_the_signer(e) {
            return why;
        }
        match crate::probe::tls::rustls_error(e) {
            Some(R::InvalidCertificate(CertificateError::UnknownIssuer))
            | Some(R::InvalidCertificate(CertificateError::BadSignature)) => format!(
                "the signer's certificate is not signed by the CA in {} (--signer-ca); pass the CA of the signer's --ca",
                self.ca_file.display()
            ),
            Some(R::InvalidCertificate(CertificateError::NotValidForName))
            | Some(R::InvalidCertificate(CertificateError::NotValidForNameContext { .. })) => format!(
                "the signer's certificate does not cover {} (add it to the signer's --san)",
                self.url.target.host_text()
            ),
            Some(other) => other.to_string(),
            None => e.to_string(),
        }
    }
}

fn connect_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            "connection refused (is the signer running?)".into()
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = SignerUrl::parse("--signer", "https://signer.ray.svc:8443/").unwrap();
        assert_eq!(u.text, "https://signer.ray.svc:8443");
        assert_eq!(
            SignerUrl::parse("--signer", "https://[::1]:9")
                .unwrap()
                .target
                .port,
            9
        );
        for (bad, why) in [
            ("http://x:1", "https://"),
            ("https://x", "no port"),
            ("https://[::1]", "no port"),
            ("https://x:1/v1/sign", "without a path"),
            ("", "https://"),
        ] {
            let e = SignerUrl::parse("--signer", bad).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("--signer"), "{bad}: {e}");
        }
    }
}
