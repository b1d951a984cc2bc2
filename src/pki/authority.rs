//! The certificate authority: create a new one, or adopt an existing one (an openssl-made
//! RSA CA from a Kubernetes Secret, say), check it, and sign leaf certificates with it.
//!
//! `Authority` and `IssuedLeaf` are different types, so a leaf can never be used to sign.
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
use crate::pki::certinfo::{date, CertFile, CertInfo};
use crate::pki::chain::{self, Usage};
use crate::pki::keys::{self, Key, KeyType};
use crate::pki::role::{Holder, LeafIdentity};
use crate::pki::san::San;
use crate::pki::trust::{TrustBundle, TRUST_FILE};
use crate::pki::{der, pem};

/// Leaves start a few minutes in the past, so a peer whose clock is a little behind
/// does not reject a certificate issued a second ago.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);

/// A new CA's subject common name, before its random suffix.
pub const DEFAULT_CA_NAME: &str = "raytls CA";
/// A new CA's validity: ten years, so that leaves, not the CA, set the renewal rhythm.
pub const DEFAULT_CA_DAYS: u32 = 3650;
/// A leaf's validity unless `--days` says otherwise (shortened to the CA's expiry).
pub const DEFAULT_LEAF_DAYS: u32 = 365;

/// Where a CA's certificate and key live.
#[derive(Debug, Clone)]
pub struct CaFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The offline root above an intermediate CA (`DIR/root.crt`), when there is one.
    pub root: Option<PathBuf>,
    /// The roots pods trust (`DIR/trust.crt`, made by `raytls ca trust`), when a CA
    /// rotation has made it; without it pods trust this CA's root alone.
    pub trust: Option<PathBuf>,
}

impl CaFiles {
    /// `DIR/ca.crt` and `DIR/ca.key`, as `raytls ca create` and KubeRay's CA Secret lay them
    /// out, and `DIR/root.crt` if present (`raytls ca create --intermediate`).
    pub fn in_dir(dir: &Path) -> Self {
        let root = dir.join(ROOT_FILE);
        let trust = dir.join(TRUST_FILE);
        CaFiles {
            cert: dir.join("ca.crt"),
            key: dir.join("ca.key"),
            root: root.exists().then_some(root),
            trust: trust.exists().then_some(trust),
        }
    }
}

/// The root certificate next to an intermediate CA's ca.crt and ca.key.
pub const ROOT_FILE: &str = "root.crt";

/// A freshly made CA, not yet on disk.
pub struct NewCa {
    pub cert_pem: String,
    pub key: Key,
    pub info: CertInfo,
}

/// Make a self-signed CA. Its subject ends in a random suffix: two CAs with the same
/// subject in one Ray cluster make verification report a bad signature instead of an
/// unknown issuer, which sends people down the wrong path.
pub fn create_ca(name: &str, key_type: KeyType, days: u32, now: OffsetDateTime) -> Result<NewCa> {
    if days == 0 {
        return Err(Error::InvalidValue {
            source_name: "--days".into(),
            value: "0".into(),
            what: "validity",
            why: "a CA must be valid for at least one day".into(),
        });
    }
    let key = keys::generate(key_type)?;
    // pathlen 1: leaves, or one intermediate (`ca create --intermediate`) and its leaves.
    // A root with pathlen 0 makes every leaf under an intermediate fail with "path length
    // constraint exceeded".
    let mut params = ca_params(name, 1)?;
    params.not_before = now - CLOCK_SKEW;
    params.not_after = add_days(now, days)?;
    params.serial_number = Some(random_serial()?);
    let cert = params
        .self_signed(&key.pair)
        .map_err(|e| Error::Signing(e.to_string()))?;
    let info = CertInfo::parse(cert.der()).map_err(Error::Signing)?;
    Ok(NewCa {
        cert_pem: cert.pem(),
        key,
        info,
    })
}

/// What every CA raytls makes has: subject `O=raytls, CN=<name> <random suffix>` (unique,
/// see `create_ca`), CA:TRUE with `path_len`, keyCertSign and cRLSign.
fn ca_params(name: &str, path_len: u8) -> Result<CertificateParams> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::InvalidValue {
            source_name: "--name".into(),
            value: name.into(),
            what: "CA name",
            why: "it is empty".into(),
        });
    }
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "raytls");
    dn.push(DnType::CommonName, format!("{name} {}", random_hex(4)?));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

/// A new intermediate CA and the root above it, not yet on disk.
pub struct NewIntermediate {
    pub ca: NewCa,
    /// The root's certificate (no key), written next to the intermediate as `root.crt`.
    pub root_pem: String,
    /// Set when the validity was shortened to the root's expiry.
    pub clamped: Option<String>,
}

/// Make a signing CA under `root` (which may then stay offline): pathlen 0, so it signs
/// leaves only. Refused when the root's own pathLenConstraint allows no CA below it.
pub fn create_intermediate(
    root: &Authority,
    name: &str,
    key_type: KeyType,
    days: u32,
    now: OffsetDateTime,
) -> Result<NewIntermediate> {
    if let Some(0) = root.info.path_len {
        return Err(Error::RootForbidsIntermediate {
            root: root.files.cert.clone(),
        });
    }
    // pathlen 0: the intermediate signs leaves only.
    let mut params = ca_params(name, 0)?;
    let (not_after, clamped) = root.leaf_not_after(Lifetime::default_days(days), now)?;
    let key = keys::generate(key_type)?;
    params.not_before = (now - CLOCK_SKEW).max(root.info.not_before);
    params.not_after = not_after;
    let der = root.sign_params(params, &key.pair)?;
    let info = CertInfo::parse(&der).map_err(Error::Signing)?;
    check_signed_by(&der, &root.cert_der).map_err(|why| {
        Error::Signing(format!(
            "the new intermediate does not verify against {} ({why})",
            root.files.cert.display()
        ))
    })?;
    Ok(NewIntermediate {
        ca: NewCa {
            cert_pem: pem::encode("CERTIFICATE", &der),
            key,
            info,
        },
        root_pem: pem::encode("CERTIFICATE", &root.cert_der),
        // A default that ends a few minutes after the root (made moments before) is no news.
        clamped: clamped
            .filter(|_| {
                add_days(now, days).is_ok_and(|t| t - root.info.not_after > Duration::days(1))
            })
            .map(|c| c.replace("the CA's own expiry", "the root's expiry")),
    })
}

/// Does `issuer`'s key verify `cert`'s signature? (A CA certificate cannot be checked as an
/// end entity by webpki, so this one check is x509-parser's.)
fn check_signed_by(cert: &[u8], issuer: &[u8]) -> std::result::Result<(), String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, c) = X509Certificate::from_der(cert).map_err(|e| e.to_string())?;
    let (_, i) = X509Certificate::from_der(issuer).map_err(|e| e.to_string())?;
    c.verify_signature(Some(i.public_key()))
        .map_err(|e| e.to_string())
}

/// An adopted or loaded CA that passed every check and can sign.
///
/// A root signs as it is. An intermediate (a directory with `root.crt`) hands out leaf +
/// intermediate as the chain and the root as the `ca.crt` peers trust.
pub struct Authority {
    pub files: CaFiles,
    /// What pods trust, copied next to leaves as `ca.crt`: the trust bundle (`trust.crt`)
    /// when the directory has one, else the CA file's certificates, re-encoded as PEM.
    /// Only CERTIFICATE blocks: `cat ca.crt ca.key > ca.crt` is a common habit, and copying
    /// such a file whole put the CA key into every pod's volume.
    pub ca_bundle_pem: String,
    /// The CA certificate file also holds a private key (never copied; worth a warning).
    pub cert_file_holds_key: bool,
    pub cert_der: CertificateDer<'static>,
    pub info: CertInfo,
    /// The trust anchor peers check against: the root above an intermediate, else the CA.
    pub anchor_der: CertificateDer<'static>,
    pub anchor_info: CertInfo,
    /// Certificates between a leaf and the anchor (the intermediate), sent after the leaf.
    pub intermediates: Vec<CertificateDer<'static>>,
    /// The roots pods trust: `trust.crt`'s (which holds `anchor_der`), else the anchor alone.
    pub trust: TrustBundle,
    key: KeyPair,
    /// What rcgen needs of the issuer besides its name (key ids, key usage).
    issuer_params: CertificateParams,
}

/// Lets rcgen lay out a TBS without signing it: the CA's exact subject bytes then replace
/// rcgen's re-encoding of it, and the CA key signs once (`der::replace_issuer_and_sign`).
struct UnsignedBy<'a>(&'a KeyPair);

impl rcgen::PublicKeyData for UnsignedBy<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0.der_bytes()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        rcgen::PublicKeyData::algorithm(self.0)
    }
}

impl rcgen::SigningKey for UnsignedBy<'_> {
    fn sign(&self, _msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        Ok(Vec::new())
    }
}

impl Authority {
    /// Load and check a CA: the certificate must be a CA, valid now, and the key its own.
    pub fn load(files: &CaFiles, now: OffsetDateTime) -> Result<Self> {
        let dir = files.cert.parent().unwrap_or(Path::new("."));
        if !dir.as_os_str().is_empty() && !dir.is_dir() {
            return Err(Error::NoCaDir {
                dir: dir.to_path_buf(),
            });
        }
        // A bundle's first certificate is the CA we sign with.
        let CertFile {
            bytes: cert_file_bytes,
            mut certs,
            info,
        } = CertInfo::read_first(&files.cert)?;
        let cert_file_holds_key = pem::labels(&cert_file_bytes)
            .iter()
            .any(|l| l.ends_with("PRIVATE KEY"));
        let ca_bundle_pem: String = certs
            .iter()
            .map(|c| pem::encode("CERTIFICATE", c))
            .collect();
        let cert_der = certs.swap_remove(0);
        check_is_usable_ca(&files.cert, &info, now)?;

        let key = keys::load(&files.key)?;
        if !key.matches_public_key(&info.spki_bits) {
            return Err(Error::KeyDoesNotMatchCert {
                key: files.key.clone(),
                cert: files.cert.clone(),
            });
        }
        let mut issuer_params = CertificateParams::default();
        issuer_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        if let Some(ski) = &info.subject_key_id {
            issuer_params.key_identifier_method = KeyIdMethod::PreSpecified(ski.clone());
        }
        // Under an intermediate, pods trust the root: its certificates become ca.crt.
        let (ca_bundle_pem, anchor_der, anchor_info, intermediates) = match &files.root {
            None => (ca_bundle_pem, cert_der.clone(), info.clone(), Vec::new()),
            Some(root_path) => {
                let CertFile {
                    mut certs,
                    info: root_info,
                    ..
                } = CertInfo::read_first(root_path)?;
                check_is_usable_ca(root_path, &root_info, now)?;
                if info.issuer != root_info.subject {
                    return Err(Error::IntermediateNotFromRoot {
                        cert: files.cert.clone(),
                        root: root_path.to_path_buf(),
                        issuer: info.issuer.clone(),
                        root_subject: root_info.subject.clone(),
                    });
                }
                let root_pem: String = certs
                    .iter()
                    .map(|c| pem::encode("CERTIFICATE", c))
                    .collect();
                (
                    root_pem,
                    certs.swap_remove(0),
                    root_info,
                    vec![cert_der.clone()],
                )
            }
        };
        let (trust, ca_bundle_pem) = match &files.trust {
            None => (
                TrustBundle::from_certs(&files.cert, vec![anchor_der.clone()])?,
                ca_bundle_pem,
            ),
            Some(path) => {
                let trust = TrustBundle::read(path)?;
                if !trust.contains(&anchor_der) {
                    return Err(Error::TrustLacksOwnRoot {
                        trust: path.clone(),
                        root: anchor_info.display_name().to_string(),
                        root_path: files.root.clone().unwrap_or_else(|| files.cert.clone()),
                    });
                }
                let pem = trust.pem();
                (trust, pem)
            }
        };
        Ok(Authority {
            files: files.clone(),
            ca_bundle_pem,
            cert_file_holds_key,
            cert_der,
            info,
            anchor_der,
            anchor_info,
            intermediates,
            trust,
            key: key.pair,
            issuer_params,
        })
    }

    /// A CA that lives only in memory: a per-RayCluster CA (`pki::cluster_ca`). It is its
    /// own trust anchor (pods trust it alone, `ca.crt`), and `label` names it in messages.
    pub fn in_memory(label: &str, cert_der: CertificateDer<'static>, key: KeyPair) -> Result<Self> {
        let path = PathBuf::from(label);
        let info = CertInfo::parse(&cert_der).map_err(Error::Signing)?;
        let mut issuer_params = CertificateParams::default();
        issuer_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        if let Some(ski) = &info.subject_key_id {
            issuer_params.key_identifier_method = KeyIdMethod::PreSpecified(ski.clone());
        }
        let root = crate::pki::trust::Root {
            der: cert_der.clone(),
            info: info.clone(),
        };
        Ok(Authority {
            files: CaFiles {
                cert: path.clone(),
                key: path,
                root: None,
                trust: None,
            },
            ca_bundle_pem: pem::encode("CERTIFICATE", &cert_der),
            cert_file_holds_key: false,
            anchor_der: cert_der.clone(),
            anchor_info: info.clone(),
            cert_der,
            info,
            intermediates: Vec::new(),
            trust: TrustBundle::checked_elsewhere(vec![root]),
            key,
            issuer_params,
        })
    }

    /// The CAs whose leaves a signer on this CA renews over mutual TLS: this CA, and the
    /// other roots of its trust bundle (in step 2 of a CA rotation a pod renews with the leaf
    /// the old root gave it). A leaf counts only if one of these issued it itself: a CA below
    /// one of them (a `serve --kubernetes` cluster CA, another intermediate) is not a way in,
    /// whatever chain the client sends.
    pub fn renewal_issuers(&self) -> Vec<CertificateDer<'static>> {
        let mut issuers = vec![self.cert_der.clone()];
        for root in self.trust.roots() {
            if !issuers.iter().any(|c| c.as_ref() == root.der.as_ref()) {
                issuers.push(root.der.clone());
            }
        }
        issuers
    }

    /// Issue a leaf for `identity` with a new key: CA:FALSE, digitalSignature
    /// (+keyEncipherment for RSA keys), EKU serverAuth+clientAuth (Ray uses one certificate
    /// both ways), key ids, notBefore a few minutes back, never valid beyond the CA.
    pub fn issue(
        &self,
        identity: &LeafIdentity,
        key_type: KeyType,
        lifetime: Lifetime,
        now: OffsetDateTime,
    ) -> Result<IssuedLeaf> {
        let sans = identity.required_sans();
        let key = keys::generate(key_type)?;
        let signed = self.sign_leaf(
            &key.pair,
            key.algorithm.is_rsa(),
            &LeafSubject::for_identity(identity),
            &sans,
            lifetime,
            now,
        )?;
        Ok(IssuedLeaf {
            cert_pem: signed.chain_pem,
            key,
            info: signed.info,
            sans,
            clamped: signed.clamped,
        })
    }

    /// Sign a leaf for a public key that is not ours (a CSR's), with the subject and names
    /// the caller decided. The same profile and self-check as [`Authority::issue`].
    pub fn sign_leaf(
        &self,
        public_key: &impl rcgen::PublicKeyData,
        key_is_rsa: bool,
        subject: &LeafSubject,
        sans: &[San],
        lifetime: Lifetime,
        now: OffsetDateTime,
    ) -> Result<SignedLeaf> {
        let (cert, _, clamped) =
            self.leaf_der(public_key, key_is_rsa, subject, sans, lifetime, now)?;
        let info = CertInfo::parse(&cert).map_err(Error::Signing)?;
        // Check our own work as a peer would, before anything reaches disk or the wire: this
        // catches an adopted CA whose subject rcgen cannot reproduce byte for byte.
        // A CA made moments ago on a clock a little ahead starts after `now`; the leaf then
        // starts with it, and is checked at its own first valid second.
        let verify_at = now.max(info.not_before);
        for usage in [Usage::Server, Usage::Client] {
            chain::verify_leaf(
                std::slice::from_ref(&self.anchor_der),
                &self.intermediates,
                &cert,
                usage,
                verify_at,
            )
            .map_err(|e| {
                Error::Signing(format!(
                    "the new certificate does not verify against {} ({})",
                    self.files
                        .root
                        .as_ref()
                        .unwrap_or(&self.files.cert)
                        .display(),
                    chain::explain(&e)
                ))
            })?;
        }
        Ok(SignedLeaf {
            chain_pem: self.chain_pem(&cert),
            info,
            clamped,
        })
    }

    /// [`Authority::sign_leaf`] for the signer's hot path: no verification of the new leaf
    /// against the CA afterwards, and no parsing it back, only its serial and notAfter.
    /// The two chain verifications (two ECDSA verifications of a signature we just made)
    /// were 30% of the signer's CPU per certificate, the parse 4%. What the verification
    /// would catch is caught elsewhere: the signer's own serving certificate goes through
    /// [`Authority::sign_leaf`] with the same CA and profile at start, and a pod verifies
    /// the chain it receives for each usage before it writes it (provision::signer).
    pub fn sign_leaf_unchecked(
        &self,
        public_key: &impl rcgen::PublicKeyData,
        key_is_rsa: bool,
        subject: &LeafSubject,
        sans: &[San],
        lifetime: Lifetime,
        now: OffsetDateTime,
    ) -> Result<LeafSummary> {
        let (cert, not_after, _) =
            self.leaf_der(public_key, key_is_rsa, subject, sans, lifetime, now)?;
        let serial = der::certificate_serial(&cert)
            .ok_or_else(|| Error::Signing("the new certificate has no serial number".into()))?;
        Ok(LeafSummary {
            serial: crate::text::hex::encode(serial, ":", crate::text::hex::Case::Lower),
            // X.509 times are whole seconds.
            not_after: not_after.replace_nanosecond(0).unwrap_or(not_after),
            chain_pem: self.chain_pem(&cert),
        })
    }

    /// The leaf, then any intermediate, in PEM.
    fn chain_pem(&self, leaf: &CertificateDer<'_>) -> String {
        let mut chain_pem = pem::encode("CERTIFICATE", leaf);
        for c in &self.intermediates {
            chain_pem.push_str(&pem::encode("CERTIFICATE", c));
        }
        chain_pem
    }

    /// The leaf profile, signed: the DER, its notAfter, and why its lifetime was shortened,
    /// if it was.
    fn leaf_der(
        &self,
        public_key: &impl rcgen::PublicKeyData,
        key_is_rsa: bool,
        subject: &LeafSubject,
        sans: &[San],
        lifetime: Lifetime,
        now: OffsetDateTime,
    ) -> Result<(CertificateDer<'static>, OffsetDateTime, Option<String>)> {
        let (not_after, clamped) = self.leaf_not_after(lifetime, now)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "raytls");
        // The role, so that a renewal over mutual TLS can tell what the holder is.
        dn.push(DnType::OrganizationalUnitName, subject.holder.label());
        dn.push(DnType::CommonName, subject.common_name.as_str());
        params.distinguished_name = dn;
        params.subject_alt_names = sans.iter().map(rcgen::SanType::from).collect();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if key_is_rsa {
            params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = (now - CLOCK_SKEW).max(self.info.not_before);
        params.not_after = not_after;
        Ok((self.sign_params(params, public_key)?, not_after, clamped))
    }

    /// Sign `params` for `public_key` with the CA key. The issuer name is the CA's subject
    /// copied byte for byte; the serial is random; the authorityKeyIdentifier repeats the
    /// CA's subjectKeyIdentifier (a CA without one gets none: path building goes by name).
    pub(crate) fn sign_params(
        &self,
        mut params: CertificateParams,
        public_key: &impl rcgen::PublicKeyData,
    ) -> Result<CertificateDer<'static>> {
        params.use_authority_key_identifier_extension = self.info.subject_key_id.is_some();
        // A caller-chosen serial (a derived per-cluster CA's) stays; otherwise a random one.
        if params.serial_number.is_none() {
            params.serial_number = Some(random_serial()?);
        }
        let issuer = Issuer::from_params(&self.issuer_params, UnsignedBy(&self.key));
        let unsigned = params
            .signed_by(public_key, &issuer)
            .map_err(|e| Error::Signing(e.to_string()))?;
        let der = der::replace_issuer_and_sign(unsigned.der(), &self.info.subject_raw, |tbs| {
            rcgen::SigningKey::sign(&self.key, tbs).ok()
        })
        .ok_or_else(|| {
            Error::Signing(format!(
                "the CA key in {} could not sign",
                self.files.key.display()
            ))
        })?;
        Ok(CertificateDer::from(der))
    }

    fn leaf_not_after(
        &self,
        lifetime: Lifetime,
        now: OffsetDateTime,
    ) -> Result<(OffsetDateTime, Option<String>)> {
        let length = lifetime.length();
        if length < Lifetime::SHORTEST {
            return Err(Error::InvalidValue {
                source_name: lifetime.flag(),
                value: lifetime.value(),
                what: "validity",
                why: "a certificate must be valid for at least a minute".into(),
            });
        }
        let wanted = now
            .checked_add(length)
            .filter(|t| t.year() <= 9999)
            .ok_or_else(|| Error::InvalidValue {
                source_name: lifetime.flag(),
                value: lifetime.value(),
                what: "validity",
                why: "it ends after the year 9999, where X.509 dates end".into(),
            })?;
        if wanted <= self.info.not_after {
            return Ok((wanted, None));
        }
        match lifetime {
            Lifetime::Explicit(_) if (self.info.not_after - now).whole_days() < 1 => {
                Err(Error::CaExpiresWithinADay {
                    asked: lifetime.to_string(),
                    ca: self.files.cert.clone(),
                    ca_not_after: crate::pki::certinfo::datetime(self.info.not_after),
                })
            }
            Lifetime::Explicit(_) => Err(Error::OutlivesCa {
                asked: lifetime.to_string(),
                max_days: (self.info.not_after - now).whole_days(),
                ca: self.files.cert.clone(),
                ca_not_after: date(self.info.not_after),
            }),
            Lifetime::Default(_) => Ok((
                self.info.not_after,
                Some(format!(
                    "validity shortened from {} to the CA's own expiry, {}",
                    lifetime.value(),
                    date(self.info.not_after)
                )),
            )),
        }
    }
}

/// How long a leaf should live: an explicit `--days`/`--valid-for` that may not outlive the
/// CA (error), or a default that is quietly clamped to the CA's expiry (and the user is told).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    Explicit(Duration),
    Default(Duration),
}

impl Lifetime {
    /// Nothing shorter is worth a certificate (and a renewal loop needs room to act).
    pub const SHORTEST: Duration = Duration::minutes(1);

    /// `--days N`, or the default leaf lifetime.
    pub fn from_flag(days: Option<u32>) -> Self {
        match days {
            Some(d) => Lifetime::Explicit(Duration::days(d.into())),
            None => Lifetime::default_days(DEFAULT_LEAF_DAYS),
        }
    }

    /// A default of `days` days, clamped to the CA.
    pub fn default_days(days: u32) -> Self {
        Lifetime::Default(Duration::days(days.into()))
    }

    pub fn length(self) -> Duration {
        match self {
            Lifetime::Explicit(d) | Lifetime::Default(d) => d,
        }
    }

    /// The flag an explicit lifetime came from: whole days are `--days`.
    fn flag(self) -> String {
        if is_whole_days(self.length()) {
            "--days".into()
        } else {
            "--valid-for".into()
        }
    }

    /// The length as the flag takes it: `30` (days) or `10m`.
    fn value(self) -> String {
        let d = self.length();
        if is_whole_days(d) {
            d.whole_days().to_string()
        } else {
            crate::text::duration::format(std::time::Duration::from_secs(
                d.whole_seconds().max(0).unsigned_abs(),
            ))
        }
    }
}

/// `--days 30`, `--valid-for 10m`: how the user asked for it, in messages.
impl std::fmt::Display for Lifetime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.flag(), self.value())
    }
}

fn is_whole_days(d: Duration) -> bool {
    d.whole_seconds() % 86_400 == 0
}

/// A signed leaf and its new key, not yet on disk.
pub struct IssuedLeaf {
    /// The leaf, then any intermediate.
    pub cert_pem: String,
    pub key: Key,
    pub info: CertInfo,
    pub sans: Vec<San>,
    /// Set when the default lifetime was shortened to the CA's expiry.
    pub clamped: Option<String>,
}

/// The subject of a leaf: `O=raytls, OU=<holder>, CN=<common name>`.
pub struct LeafSubject {
    /// `head`, `worker`, `client`, or `signer` for the signer's own serving certificate:
    /// the mark a pod checks before it trusts a server as the signer.
    pub holder: Holder,
    pub common_name: String,
}

impl LeafSubject {
    pub fn for_identity(identity: &LeafIdentity) -> Self {
        LeafSubject {
            holder: Holder::Ray(identity.role),
            common_name: identity.common_name(),
        }
    }

    /// The signer's own serving certificate (`raytls serve` makes it at start).
    pub fn signer() -> Self {
        LeafSubject {
            holder: Holder::Signer,
            common_name: "raytls signer".into(),
        }
    }
}

/// A leaf signed for a key we do not hold.
/// What the signer answers about a leaf it signed (see [`Authority::sign_leaf_unchecked`]).
pub struct LeafSummary {
    /// The leaf, then any intermediate: what a peer presents as its certificate.
    pub chain_pem: String,
    /// As [`CertInfo::serial`]: hex bytes with colons.
    pub serial: String,
    pub not_after: OffsetDateTime,
}

pub struct SignedLeaf {
    /// The leaf, then any intermediate: what a peer presents as its certificate.
    pub chain_pem: String,
    pub info: CertInfo,
    /// Set when the default lifetime was shortened to the CA's expiry.
    pub clamped: Option<String>,
}

/// Is `info` a CA that may sign leaves now?
pub fn check_is_usable_ca(path: &Path, info: &CertInfo, now: OffsetDateTime) -> Result<()> {
    if !info.is_ca {
        return Err(Error::NotACa {
            path: path.to_path_buf(),
            why: format!(
                "\"{}\" has no basicConstraints CA:TRUE",
                info.display_name()
            ),
        });
    }
    if !info.key_cert_sign {
        return Err(Error::NotACa {
            path: path.to_path_buf(),
            why: "its keyUsage lacks keyCertSign".into(),
        });
    }
    if info.not_after < now {
        return Err(Error::CaExpired {
            path: path.to_path_buf(),
            not_after: date(info.not_after),
        });
    }
    if info.not_before > now + CLOCK_SKEW {
        return Err(Error::CaNotYetValid {
            path: path.to_path_buf(),
            not_before: date(info.not_before),
        });
    }
    Ok(())
}

/// `now + days`, or a usage error past the year 9999 (X.509 dates end there).
fn add_days(now: OffsetDateTime, days: u32) -> Result<OffsetDateTime> {
    now.checked_add(Duration::days(days.into()))
        .filter(|t| t.year() <= 9999)
        .ok_or_else(|| Error::InvalidValue {
            source_name: "--days".into(),
            value: days.to_string(),
            what: "validity",
            why: "it ends after the year 9999".into(),
        })
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| Error::Random)?;
    Ok(b)
}

fn random_hex(n_bytes: usize) -> Result<String> {
    let b = random_bytes::<16>()?;
    Ok(crate::text::hex::lower(&b[..n_bytes.min(16)]))
}

/// A random positive 16-byte serial (RFC 5280: positive, at most 20 octets). The top bit is
/// cleared so the INTEGER is positive, and the next one set so it is always 16 bytes long.
fn random_serial() -> Result<SerialNumber> {
    let mut b = random_bytes::<16>()?;
    b[0] = (b[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&b))
}
