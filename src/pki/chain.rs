//! Chain and name checks with rustls' own verifier (rustls-webpki, ring algorithms), so the
//! answer is what a real TLS peer would say, not a re-implementation of it.
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use time::OffsetDateTime;

use crate::pki::san::San;

/// Which side of the TLS handshake the certificate is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Usage {
    Server,
    Client,
}

impl Usage {
    fn webpki(self) -> webpki::KeyUsage {
        match self {
            Usage::Server => webpki::KeyUsage::server_auth(),
            Usage::Client => webpki::KeyUsage::client_auth(),
        }
    }
}

fn algorithms() -> &'static [&'static dyn rustls_pki_types::SignatureVerificationAlgorithm] {
    rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all
}

/// Does `leaf` chain to one of `roots` (a pod's ca.crt may hold several during a CA
/// rotation) for `usage` at `now`? The error is webpki's own, e.g. `UnknownIssuer`,
/// `CertExpired`, `RequiredEkuNotFound`; with two roots of one subject, a bad signature, as
/// Ray reports it.
pub fn verify_leaf(
    roots: &[CertificateDer<'_>],
    intermediates: &[CertificateDer<'_>],
    leaf: &CertificateDer<'_>,
    usage: Usage,
    now: OffsetDateTime,
) -> Result<(), webpki::Error> {
    let anchors = roots
        .iter()
        .map(webpki::anchor_from_trusted_cert)
        .collect::<Result<Vec<_>, _>>()?;
    let ee = webpki::EndEntityCert::try_from(leaf)?;
    let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    ee.verify_for_usage(
        algorithms(),
        &anchors,
        intermediates,
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs)),
        usage.webpki(),
        None,
        None,
    )
    .map(|_| ())
}

/// Would a client dialing `san` accept `leaf` by name (wildcards as rustls applies them)?
pub fn covers(leaf: &CertificateDer<'_>, san: &San) -> bool {
    let Ok(ee) = webpki::EndEntityCert::try_from(leaf) else {
        return false;
    };
    let name = match san {
        San::Ip(ip) => ServerName::IpAddress((*ip).into()),
        San::Dns(d) => match ServerName::try_from(d.as_str()) {
            Ok(n) => n,
            Err(_) => return false,
        },
    };
    ee.verify_is_valid_for_subject_name(&name).is_ok()
}

/// webpki's error in the words of a runbook.
pub fn explain(e: &webpki::Error) -> String {
    use webpki::Error as E;
    match e {
        E::UnknownIssuer => "not signed by this CA (unknown issuer)".into(),
        E::InvalidSignatureForPublicKey => {
            "the signature does not verify with this CA's key (a different CA with the same subject?)".into()
        }
        E::CertExpired { .. } => "expired".into(),
        E::CertNotValidYet { .. } => "not valid yet".into(),
        E::RequiredEkuNotFoundContext(_) => {
            "its extended key usage does not allow this use".into()
        }
        E::CaUsedAsEndEntity => "it is a CA certificate, not a leaf".into(),
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "signed with an algorithm TLS peers reject (e.g. SHA-1)".into()
        }
        E::CertNotValidForName(_) => "it does not cover this name".into(),
        other => format!("{other:?}"),
    }
}
