//! What a certificate says, read once with x509-parser into plain data: used by `init`'s
//! keep-or-reissue decision, by the CA loader, and by the reports of `inspect`/`verify`.
use std::net::IpAddr;

use ::time::OffsetDateTime;
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::*;

use crate::text::hex;

/// The public key of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PublicKeyKind {
    Rsa { bits: usize },
    Ec { curve: String, bits: usize },
    Ed25519,
    Ed448,
    Other { oid: String },
}

impl std::fmt::Display for PublicKeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublicKeyKind::Rsa { bits } => write!(f, "RSA {bits}"),
            PublicKeyKind::Ec { curve, .. } => write!(f, "ECDSA {curve}"),
            PublicKeyKind::Ed25519 => f.write_str("Ed25519"),
            PublicKeyKind::Ed448 => f.write_str("Ed448"),
            PublicKeyKind::Other { oid } => write!(f, "unknown key type {oid}"),
        }
    }
}

/// Extended key usage, as Ray cares about it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Eku {
    pub server_auth: bool,
    pub client_auth: bool,
    pub any: bool,
    /// Every other purpose: the standard ones by name (`codeSigning`), the rest as OIDs.
    pub other: Vec<String>,
}

impl Eku {
    /// The usages by their usual names (`serverAuth, clientAuth`), in one order everywhere.
    pub fn names(&self) -> Vec<String> {
        let known = [
            (self.server_auth, "serverAuth"),
            (self.client_auth, "clientAuth"),
            (self.any, "any"),
        ];
        known
            .into_iter()
            .filter(|(has, _)| *has)
            .map(|(_, name)| name.to_string())
            .chain(self.other.iter().cloned())
            .collect()
    }
}

/// Everything raytls reads from a certificate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    #[serde(with = "::time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "::time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// DNS and IP SANs as written, in certificate order.
    pub sans: Vec<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    /// basicConstraints CA flag (false if the extension is absent).
    pub is_ca: bool,
    pub path_len: Option<u32>,
    pub key_usage: Vec<&'static str>,
    pub key_cert_sign: bool,
    /// None when the certificate has no EKU extension (= any usage).
    pub eku: Option<Eku>,
    pub public_key: PublicKeyKind,
    pub signature_algorithm: String,
    pub self_signed: bool,
    pub sha256_fingerprint: String,
    /// The subjectPublicKey BIT STRING contents, to match against a private key.
    #[serde(skip)]
    pub spki_bits: Vec<u8>,
    #[serde(skip)]
    pub subject_raw: Vec<u8>,
    /// subjectKeyIdentifier, which a leaf's authorityKeyIdentifier must repeat.
    #[serde(skip)]
    pub subject_key_id: Option<Vec<u8>>,
}

impl CertInfo {
    /// Parse DER; the error says what x509-parser could not read.
    pub fn parse(der: &CertificateDer<'_>) -> Result<Self, String> {
        let (_, cert) = X509Certificate::from_der(der.as_ref())
            .map_err(|e| format!("not a valid X.509 certificate ({e})"))?;
        let ts = |t: ASN1Time| {
            OffsetDateTime::from_unix_timestamp(t.timestamp()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
        };

        let mut sans = Vec::new();
        let mut dns_names = Vec::new();
        let mut ip_addresses = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => {
                        sans.push(d.to_string());
                        dns_names.push(d.to_string());
                    }
                    GeneralName::IPAddress(bytes) => {
                        if let Some(ip) = ip_from_bytes(bytes) {
                            sans.push(ip.to_string());
                            ip_addresses.push(ip);
                        }
                    }
                    _ => {}
                }
            }
        }
        let (is_ca, path_len) = match cert.basic_constraints() {
            Ok(Some(bc)) => (bc.value.ca, bc.value.path_len_constraint),
            _ => (false, None),
        };
        let (key_usage, key_cert_sign) = match cert.key_usage() {
            Ok(Some(ku)) => (key_usage_names(ku.value), ku.value.key_cert_sign()),
            // No keyUsage extension: any usage is allowed.
            _ => (Vec::new(), true),
        };
        let eku = match cert.extended_key_usage() {
            Ok(Some(e)) => {
                let v = e.value;
                // x509-parser keeps these as flags, not in `other`: name them, or a
                // codeSigning-only EKU would read as empty.
                let named = [
                    (v.code_signing, "codeSigning"),
                    (v.email_protection, "emailProtection"),
                    (v.time_stamping, "timeStamping"),
                    (v.ocsp_signing, "OCSPSigning"),
                ];
                Some(Eku {
                    server_auth: v.server_auth,
                    client_auth: v.client_auth,
                    any: v.any,
                    other: named
                        .into_iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, n)| n.to_string())
                        .chain(v.other.iter().map(|o| o.to_id_string()))
                        .collect(),
                })
            }
            _ => None,
        };
        let signature_algorithm = {
            let oid = &cert.signature_algorithm.algorithm;
            oid2sn(oid, oid_registry())
                .map(str::to_string)
                .unwrap_or_else(|_| oid.to_id_string())
        };
        let subject_key_id = cert
            .iter_extensions()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            });
        let digest = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
        Ok(CertInfo {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: hex::encode(cert.raw_serial(), ":", hex::Case::Lower),
            not_before: ts(cert.validity().not_before),
            not_after: ts(cert.validity().not_after),
            sans,
            dns_names,
            ip_addresses,
            is_ca,
            path_len,
            key_usage,
            key_cert_sign,
            eku,
            public_key: public_key_kind(cert.public_key()),
            signature_algorithm,
            self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
            sha256_fingerprint: hex::encode(digest.as_ref(), ":", hex::Case::Upper),
            spki_bits: cert.public_key().subject_public_key.data.to_vec(),
            subject_raw: cert.subject().as_raw().to_vec(),
            subject_key_id,
        })
    }

    /// Read a PEM file of one or more certificates: the file's bytes, every certificate
    /// (the first is the one that matters, the rest a chain), and the first one parsed.
    /// Errors name the file.
    pub fn read_first(path: &std::path::Path) -> crate::Result<CertFile> {
        let bytes = crate::pki::pem::read(path)?;
        let certs: Vec<CertificateDer<'static>> = crate::pki::pem::certificates(path, &bytes)?
            .into_iter()
            .map(|c| c.into_owned())
            .collect();
        // pem::certificates errs rather than return an empty list, so [0] exists.
        let info = CertInfo::parse(&certs[0]).map_err(|why| crate::Error::BadCertificate {
            path: path.to_path_buf(),
            why,
        })?;
        Ok(CertFile { bytes, certs, info })
    }

    /// DNS and IP SANs as strings, in certificate order, for messages.
    pub fn san_strings(&self) -> Vec<String> {
        self.sans.clone()
    }

    /// The SANs with their kind, in certificate order: `IP:10.0.0.5`, `DNS:head.example`.
    pub fn labeled_sans(&self) -> Vec<String> {
        self.sans
            .iter()
            .map(|s| {
                // `sans` holds only DNS names and IPs; a DNS name is kept as written.
                if self.dns_names.contains(s) {
                    format!("DNS:{s}")
                } else {
                    format!("IP:{s}")
                }
            })
            .collect()
    }

    /// The subject's common name, or the whole subject if it has none.
    pub fn display_name(&self) -> &str {
        self.subject
            .split(", ")
            .find_map(|part| part.strip_prefix("CN="))
            .unwrap_or(&self.subject)
    }

    /// The issuer's common name, or the whole issuer if it has none.
    pub fn issuer_display_name(&self) -> &str {
        self.issuer
            .split(", ")
            .find_map(|part| part.strip_prefix("CN="))
            .unwrap_or(&self.issuer)
    }

    /// Ray uses one certificate as server and client: EKU must hold both, or be absent.
    pub fn eku_fits_ray(&self) -> bool {
        match &self.eku {
            None => true,
            Some(e) => e.any || (e.server_auth && e.client_auth),
        }
    }

    /// Whole days from `now` until notAfter (negative once expired).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }
}

/// A certificate file as read by [`CertInfo::read_first`].
pub struct CertFile {
    pub bytes: Vec<u8>,
    pub certs: Vec<CertificateDer<'static>>,
    pub info: CertInfo,
}

/// `2027-11-23` style date for one-line outputs.
pub fn date(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// `valid until 2027-11-23 (359 days left)`; within two days the time and what is left to
/// the second, since a short-lived certificate's "0 days left" says nothing.
pub fn valid_until(not_after: OffsetDateTime, now: OffsetDateTime) -> String {
    let left = not_after - now;
    if left.whole_days() >= 2 {
        return format!(
            "valid until {} ({} days left)",
            date(not_after),
            left.whole_days()
        );
    }
    let left = std::time::Duration::try_from(left).unwrap_or_default();
    format!(
        "valid until {} ({} left)",
        datetime(not_after),
        crate::text::duration::format_left(left)
    )
}

/// `2027-11-23 08:57:00 UTC` for messages where the hour matters.
pub fn datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(::time::UtcOffset::UTC);
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        date(t),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

fn key_usage_names(ku: &KeyUsage) -> Vec<&'static str> {
    let all = [
        (ku.digital_signature(), "digitalSignature"),
        (ku.non_repudiation(), "nonRepudiation"),
        (ku.key_encipherment(), "keyEncipherment"),
        (ku.data_encipherment(), "dataEncipherment"),
        (ku.key_agreement(), "keyAgreement"),
        (ku.key_cert_sign(), "keyCertSign"),
        (ku.crl_sign(), "cRLSign"),
        (ku.encipher_only(), "encipherOnly"),
        (ku.decipher_only(), "decipherOnly"),
    ];
    all.into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| n)
        .collect()
}

pub(crate) fn public_key_kind(spki: &SubjectPublicKeyInfo<'_>) -> PublicKeyKind {
    let oid = spki.algorithm.algorithm.to_id_string();
    match oid.as_str() {
        "1.3.101.112" => PublicKeyKind::Ed25519,
        "1.3.101.113" => PublicKeyKind::Ed448,
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => PublicKeyKind::Rsa {
            bits: spki.parsed().map(|k| k.key_size()).unwrap_or(0),
        },
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let (name, bits) = match curve.as_str() {
                "1.2.840.10045.3.1.7" => ("P-256".to_string(), 256),
                "1.3.132.0.34" => ("P-384".to_string(), 384),
                "1.3.132.0.35" => ("P-521".to_string(), 521),
                other => (format!("curve {other}"), 0),
            };
            PublicKeyKind::Ec { curve: name, bits }
        }
        _ => PublicKeyKind::Other { oid },
    }
}
