//! The signer's TLS: the serving configuration (TLS 1.3 and 1.2, optional client
//! certificates from this CA, no session ever resumed), the byte budget of a handshake, and
//! the check of a client certificate again at each request that relies on it.
use std::sync::Arc;

use rustls::server::danger::ClientCertVerifier;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use time::OffsetDateTime;
use tokio::net::TcpStream;

use super::auth::ClientCert;
use super::refusal::{Refusal, Unauthorized};
use super::server::State;
use crate::error::{Error, Result};
use crate::pki::authority::Authority;
use crate::pki::certinfo::CertInfo;
use crate::pki::chain::{self, Usage};
use crate::pki::csr::role_in_subject;

/// The cipher suites the signer prefers, for TLS 1.3 and 1.2.
const AES_128_GCM_SHA256: [rustls::CipherSuite; 2] = [
    rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
    rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
];

/// The serving configuration for `chain` and `key`, and its client certificate verifier (asked
/// again at each request that relies on a client certificate).
pub(super) fn serving_config(
    ca: &Authority,
    chain: Vec<CertificateDer<'static>>,
    key_der: PrivateKeyDer<'static>,
) -> Result<(ServerConfig, Arc<dyn ClientCertVerifier>)> {
    let mut provider = rustls::crypto::ring::default_provider();
    // AES-128-GCM with SHA-256 first, whatever order the client lists (as Go's crypto/tls
    // does): SHA-256 runs on the CPU's SHA instructions where SHA-384 has none, and the
    // handshake's key schedule hashes a great deal.
    provider
        .cipher_suites
        .sort_by_key(|s| !AES_128_GCM_SHA256.contains(&s.suite()));
    let provider = Arc::new(provider);
    // Every root pods trust (trust.crt during a CA rotation): in step 2 a pod renews with
    // the certificate the old CA gave it, and gets one from the new CA.
    let mut roots = RootCertStore::empty();
    for der in ca.trust.ders() {
        roots.add(der).map_err(|e| Error::Internal {
            what: "make the CA a trust anchor",
            why: e.to_string(),
        })?;
    }
    // Client certificates are optional: a pod with a token needs none; one that renews
    // shows the certificate this CA gave it.
    let client_verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| Error::Internal {
                what: "build the client certificate verifier",
                why: e.to_string(),
            })?;
    let mut tls = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Internal {
            what: "set the TLS versions",
            why: e.to_string(),
        })?
        .with_client_cert_verifier(client_verifier.clone())
        .with_single_cert(chain, key_der)
        .map_err(|e| Error::Internal {
            what: "use the serving certificate",
            why: e.to_string(),
        })?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    // No session resumption, ever: a resumed session skips the client certificate check, so
    // a certificate that has since expired (or whose root left the trust) kept renewing
    // through a session ticket (issue 19). No TLS 1.3 tickets, no TLS 1.2 session IDs (no
    // session cache; the default ticketer makes no TLS 1.2 tickets), no 0-RTT data. Each
    // pod asks once or twice a year; a full handshake costs it ~1 ms.
    tls.send_tls13_tickets = 0;
    tls.session_storage = Arc::new(NoServerSessionStorage {});
    tls.max_early_data_size = 0;
    tls.ignore_client_order = true;
    Ok((tls, client_verifier))
}

/// `Absent`: no client certificate. Otherwise a certificate from this CA, valid now and
/// chaining to a root the signer trusts, issued by this CA itself (or by another root of its
/// trust bundle), and the role its subject records (if any). `chain` is what the handshake
/// verified (leaf first): the handshake is no proof for later requests on a keep-alive
/// connection (the certificate may have expired since), so it is verified again here.
pub(super) fn client_cert(
    state: &State,
    chain: Option<&[CertificateDer<'static>]>,
    now: UnixTime,
) -> std::result::Result<ClientCert, Refusal> {
    let Some((leaf, intermediates)) = chain.and_then(|c| c.split_first()) else {
        return Ok(ClientCert::Absent);
    };
    state
        .client_verifier
        .verify_client_cert(leaf, intermediates, now)
        .map_err(|e| Refusal::Unauthorized(Unauthorized::CertNotAccepted { why: e.to_string() }))?;
    // The handshake's verifier builds a path through whatever intermediates the client
    // sends, so a leaf of any CA below a trusted root passes it: a role-token signer on
    // the root of `serve --kubernetes` renewed a cluster CA's leaf as a head certificate
    // of the root (issue 24). The leaf alone, against the CAs whose leaves renew.
    let when = i64::try_from(now.as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or_else(OffsetDateTime::now_utc);
    if chain::verify_leaf(&state.renewal_issuers, &[], leaf, Usage::Client, when).is_err() {
        let issuer = CertInfo::parse(leaf)
            .map(|i| i.issuer_display_name().to_string())
            .unwrap_or_else(|_| "an unreadable issuer".into());
        return Err(Refusal::ForeignIssuer {
            issuer,
            ca: state.ca.info.display_name().to_string(),
        });
    }
    Ok(role_in_subject(leaf).map_or(ClientCert::NoRole, ClientCert::Role))
}

/// The most the signer reads from a peer before its TLS handshake is done. A real client's
/// handshake is under 8 KiB (a ClientHello is ~2 KiB with a post-quantum key share; a client
/// certificate flight with a chain of three RSA-4096 certificates ~5 KiB), and rustls may
/// read up to one record (~18 KiB) of the request sent right behind the client's Finished
/// in the same go. rustls itself joins a handshake message of up to 64 KiB: a peer stalled
/// inside one held that much per connection until the handshake timeout.
const HANDSHAKE_BYTES: usize = 32 * 1024;

/// The TCP stream under the TLS handshake, allowed to read `left` bytes (None: no limit,
/// once the handshake is done); past that a read fails and the handshake with it.
pub(super) struct HandshakeBudget {
    inner: TcpStream,
    left: Option<usize>,
}

impl HandshakeBudget {
    pub(super) fn new(inner: TcpStream) -> Self {
        HandshakeBudget {
            inner,
            left: Some(HANDSHAKE_BYTES),
        }
    }

    /// The handshake is done: reads are no longer counted.
    pub(super) fn lift(&mut self) {
        self.left = None;
    }
}

impl tokio::io::AsyncRead for HandshakeBudget {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let Some(left) = this.left else {
            return std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        if left == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the TLS handshake is over {HANDSHAKE_BYTES} bytes"),
            )));
        }
        // Through a small buffer of our own: only the handshake's few reads pay the copy.
        let mut chunk = [0u8; 4096];
        let want = left.min(buf.remaining()).min(chunk.len());
        let mut limited = tokio::io::ReadBuf::new(&mut chunk[..want]);
        std::task::ready!(std::pin::Pin::new(&mut this.inner).poll_read(cx, &mut limited))?;
        let n = limited.filled().len();
        buf.put_slice(limited.filled());
        this.left = Some(left - n);
        std::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for HandshakeBudget {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
