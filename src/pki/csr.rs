//! Certificate signing requests (PKCS#10): read one a peer sent, check its signature and key,
//! and list the names it asks for; make one for our own key. The signer decides the names of
//! the certificate itself, so a CSR contributes only its public key (and its wishes, which
//! the policy may refuse).
//!
//! Also here, because it reads X.509: the role raytls records in the subject of every leaf
//! (`OU=head`), which lets a holder renew over mutual TLS.
use std::fmt;

use rcgen::{CertificateParams, DistinguishedName, DnType};
use rustls_pki_types::pem::SectionKind;
use x509_parser::prelude::*;

use crate::error::{Error, Result};
use crate::pki::certinfo::{public_key_kind, PublicKeyKind};
use crate::pki::keys::{Key, KeyAlgorithm};
use crate::pki::role::{Holder, Role};

/// The smallest RSA key the signer certifies.
pub const MIN_RSA_BITS: usize = 2048;

/// A parsed CSR whose signature verified and whose key Ray can use.
pub struct Csr {
    spki: rcgen::SubjectPublicKeyInfo,
    pub key: KeyAlgorithm,
    /// The subjectAltName entries of its extensionRequest, as text (`DNS`/IP plain, others
    /// prefixed `email:`, `URI:`...), for the policy to judge.
    pub requested_names: Vec<String>,
}

impl Csr {
    /// The public key to certify.
    pub fn public_key(&self) -> &rcgen::SubjectPublicKeyInfo {
        &self.spki
    }
}

/// Why a CSR is refused. Every message is one line; peer-supplied text in it is escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsrError {
    /// Not a PEM `CERTIFICATE REQUEST`.
    NotPem(String),
    /// PEM, but the DER inside is not a PKCS#10 request.
    Malformed(String),
    /// The request is not signed by the key it carries.
    BadSignature,
    /// A key Ray cannot use, or one too weak.
    UnsupportedKey(String),
}

impl fmt::Display for CsrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsrError::NotPem(why) => write!(
                f,
                "csr is not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----): {why}"
            ),
            CsrError::Malformed(why) => write!(f, "csr is not a valid PKCS#10 request: {why}"),
            CsrError::BadSignature => f.write_str(
                "csr signature does not verify with the public key it carries (altered, or signed with another key)",
            ),
            CsrError::UnsupportedKey(why) => write!(f, "csr key: {why}"),
        }
    }
}

/// Parse a PEM CSR: exactly one `CERTIFICATE REQUEST` block (other PEM blocks are refused,
/// so a private key pasted by mistake is never accepted or echoed).
pub fn parse_pem(text: &str) -> std::result::Result<Csr, CsrError> {
    let mut reader = text.as_bytes();
    let mut found: Option<Vec<u8>> = None;
    loop {
        match rustls_pki_types::pem::from_buf(&mut reader) {
            Ok(Some((SectionKind::Csr, der))) => {
                if found.is_some() {
                    return Err(CsrError::NotPem("it holds more than one request".into()));
                }
                found = Some(der);
            }
            Ok(Some((kind, _))) => {
                return Err(CsrError::NotPem(format!(
                    "it holds a {} block",
                    section_name(kind)
                )))
            }
            Ok(None) => break,
            Err(e) => {
                return Err(CsrError::NotPem(format!(
                    "broken PEM ({})",
                    crate::pki::pem::explain_error(&e)
                )))
            }
        }
    }
    let der = found.ok_or_else(|| CsrError::NotPem("no PEM block found".into()))?;
    parse_der(&der)
}

/// Parse a DER CSR, check its key, then its signature.
pub fn parse_der(der: &[u8]) -> std::result::Result<Csr, CsrError> {
    let (rest, csr) =
        X509CertificationRequest::from_der(der).map_err(|e| CsrError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CsrError::Malformed(format!(
            "{} bytes after the request",
            rest.len()
        )));
    }
    let info = &csr.certification_request_info;
    // The key first: an Ed25519 request should hear that Ray cannot use Ed25519, whatever
    // else is wrong with it.
    let key = match public_key_kind(&info.subject_pki) {
        PublicKeyKind::Ec { curve, .. } if curve == "P-256" => KeyAlgorithm::EcdsaP256,
        PublicKeyKind::Ec { curve, .. } if curve == "P-384" => KeyAlgorithm::EcdsaP384,
        PublicKeyKind::Ec { curve, .. } => {
            return Err(CsrError::UnsupportedKey(format!(
                "an EC key on {curve}; use ECDSA P-256 or P-384 (or RSA >= {MIN_RSA_BITS})"
            )))
        }
        PublicKeyKind::Rsa { bits } if bits >= MIN_RSA_BITS => KeyAlgorithm::Rsa { bits },
        PublicKeyKind::Rsa { bits } => {
            return Err(CsrError::UnsupportedKey(format!(
                "an RSA key of {bits} bits; RSA keys must have at least {MIN_RSA_BITS} bits"
            )))
        }
        PublicKeyKind::Ed25519 | PublicKeyKind::Ed448 => {
            return Err(CsrError::UnsupportedKey(
                "an Ed25519/Ed448 key: Ray cannot use Ed25519 (its TLS fails with NO_COMMON_SIGNATURE_ALGORITHMS); use ECDSA P-256/P-384 or RSA >= 2048".into(),
            ))
        }
        PublicKeyKind::Other { oid } => {
            return Err(CsrError::UnsupportedKey(format!(
                "unknown key type {oid}; use ECDSA P-256/P-384 or RSA >= {MIN_RSA_BITS}"
            )))
        }
    };
    csr.verify_signature().map_err(|_| CsrError::BadSignature)?;
    let spki = rcgen::SubjectPublicKeyInfo::from_der(info.subject_pki.raw)
        .map_err(|e| CsrError::UnsupportedKey(format!("its public key cannot be used ({e})")))?;
    let mut requested_names = Vec::new();
    if let Some(exts) = csr.requested_extensions() {
        for ext in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                requested_names.extend(san.general_names.iter().map(general_name_text));
            }
        }
    }
    Ok(Csr {
        spki,
        key,
        requested_names,
    })
}

fn general_name_text(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::DNSName(d) => d.to_string(),
        GeneralName::IPAddress(b) => match b.len() {
            4 => <[u8; 4]>::try_from(*b)
                .map(|a| std::net::IpAddr::from(a).to_string())
                .unwrap_or_default(),
            16 => <[u8; 16]>::try_from(*b)
                .map(|a| std::net::IpAddr::from(a).to_string())
                .unwrap_or_default(),
            _ => format!("IP:{}", crate::text::hex::lower(b)),
        },
        GeneralName::RFC822Name(e) => format!("email:{e}"),
        GeneralName::URI(u) => format!("URI:{u}"),
        other => format!("{other}"),
    }
}

fn section_name(kind: SectionKind) -> &'static str {
    match kind {
        SectionKind::Certificate => "CERTIFICATE",
        SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey => {
            "private key (never send a private key)"
        }
        SectionKind::PublicKey => "PUBLIC KEY",
        SectionKind::Crl => "X509 CRL",
        SectionKind::EchConfigList => "ECHCONFIG",
        _ => "non-CSR",
    }
}

/// A CSR for our own key, asking for no names: the signer decides them.
pub fn make_csr_pem(key: &Key, role: Role) -> Result<String> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("ray-{role} request"));
    params.distinguished_name = dn;
    params
        .serialize_request(&key.pair)
        .and_then(|csr| csr.pem())
        .map_err(|e| Error::Signing(format!("cannot make a certificate request: {e}")))
}

/// Who raytls recorded a leaf is for in its subject (`OU=head`, `OU=signer`), if the
/// certificate has exactly one OU and it names one.
pub fn holder_in_subject(cert_der: &[u8]) -> Option<Holder> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let mut ous = cert.subject().iter_organizational_unit();
    let ou = ous.next()?.as_str().ok()?;
    if ous.next().is_some() {
        return None; // two OUs: not one of ours
    }
    Holder::from_label(ou)
}

/// The role raytls recorded in a leaf's subject (`OU=head`), if the certificate has one
/// that names a role.
pub fn role_in_subject(cert_der: &[u8]) -> Option<Role> {
    match holder_in_subject(cert_der)? {
        Holder::Ray(role) => Some(role),
        Holder::Signer => None,
    }
}

/// Is this the signer's own serving certificate (`OU=signer`)? Only meaningful for a
/// certificate already verified to chain to a CA whose leaves raytls makes.
pub fn is_signer_certificate(cert_der: &[u8]) -> bool {
    holder_in_subject(cert_der) == Some(Holder::Signer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::keys::{self, KeyType};

    #[test]
    fn own_csr_round_trips_with_no_names() {
        let key = keys::generate(KeyType::EcdsaP384).unwrap();
        let pem = make_csr_pem(&key, Role::Worker).unwrap();
        let csr = parse_pem(&pem).unwrap();
        assert_eq!(csr.key, KeyAlgorithm::EcdsaP384);
        assert!(csr.requested_names.is_empty());
        assert_eq!(
            rcgen::PublicKeyData::der_bytes(csr.public_key()),
            rcgen::PublicKeyData::der_bytes(&key.pair)
        );
    }

    #[test]
    fn names_in_the_csr_are_listed() {
        let key = keys::generate(KeyType::EcdsaP256).unwrap();
        let mut params = CertificateParams::new(vec!["evil.example".to_string()]).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("10.9.9.9".parse().unwrap()));
        let pem = params.serialize_request(&key.pair).unwrap().pem().unwrap();
        let csr = parse_pem(&pem).unwrap();
        assert_eq!(csr.requested_names, ["evil.example", "10.9.9.9"]);
    }

    #[test]
    fn garbage_and_tampering_are_refused_without_panic() {
        for input in [
            "",
            "hello",
            "-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----\n",
            "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n",
        ] {
            let e = parse_pem(input).err().expect("refused");
            assert!(
                matches!(e, CsrError::NotPem(_) | CsrError::Malformed(_)),
                "{input:?}: {e}"
            );
        }
        let key = keys::generate(KeyType::EcdsaP256).unwrap();
        let pem = make_csr_pem(&key, Role::Worker).unwrap();
        let der = rustls_pki_types::pem::from_buf(&mut pem.as_bytes())
            .unwrap()
            .unwrap()
            .1;
        // Flip a byte of the CN ("ray-worker request") inside the signed part.
        let mut bad = der.clone();
        let at = bad
            .windows(6)
            .position(|w| w == b"worker")
            .expect("CN in DER");
        bad[at] = b'W';
        assert_eq!(parse_der(&bad).err(), Some(CsrError::BadSignature));
    }

    #[test]
    fn role_is_read_back_from_the_subject() {
        let key = keys::generate(KeyType::EcdsaP256).unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationalUnitName, "head");
        params.distinguished_name = dn;
        let cert = params.self_signed(&key.pair).unwrap();
        assert_eq!(role_in_subject(cert.der()), Some(Role::Head));
        let plain = CertificateParams::default().self_signed(&key.pair).unwrap();
        assert_eq!(role_in_subject(plain.der()), None);
        assert_eq!(role_in_subject(b"junk"), None);
    }
}
