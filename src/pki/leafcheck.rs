//! Is an existing leaf certificate one Ray will accept? A list of named checks, each pass,
//! fail, warn or "renew", shared by `init` (keep or re-issue) and `verify` (print them).
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use crate::pki::certinfo::{date, CertInfo, PublicKeyKind};
use crate::pki::chain::{self, Usage};
use crate::pki::keys::Key;
use crate::pki::san::San;
use crate::pki::trust::TrustBundle;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    /// Valid, but inside the renewal window.
    Renew,
}

/// What a check looks at: its stable code for scripts (`verify --json`, the `verify` lines)
/// is `as_str()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckCode {
    /// The leaf verifies against the CA as a TLS server certificate.
    ChainServer,
    /// ... and as a TLS client certificate.
    ChainClient,
    KeyMatch,
    LeafNotCa,
    Sans,
    Eku,
    RayCompat,
    OutlivesCa,
    Validity,
    /// `verify`: the CA itself.
    Ca,
    /// `verify`: two roots with one subject.
    CaSubjects,
    /// `verify`: the CA-rotation step.
    Rotation,
    /// `verify`: notes for what was not checked.
    PodIpUnchecked,
    FqdnUnchecked,
}

impl CheckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckCode::ChainServer => "chain_server",
            CheckCode::ChainClient => "chain_client",
            CheckCode::KeyMatch => "key_match",
            CheckCode::LeafNotCa => "leaf_not_ca",
            CheckCode::Sans => "sans",
            CheckCode::Eku => "eku",
            CheckCode::RayCompat => "ray_compat",
            CheckCode::OutlivesCa => "outlives_ca",
            CheckCode::Validity => "validity",
            CheckCode::Ca => "ca",
            CheckCode::CaSubjects => "ca_subjects",
            CheckCode::Rotation => "rotation",
            CheckCode::PodIpUnchecked => "pod_ip_unchecked",
            CheckCode::FqdnUnchecked => "fqdn_unchecked",
        }
    }

    /// One of the chain checks.
    pub fn is_chain(self) -> bool {
        matches!(self, CheckCode::ChainServer | CheckCode::ChainClient)
    }
}

/// Padded as a string (`verify` prints `{:<16}`).
impl std::fmt::Display for CheckCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl serde::Serialize for CheckCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One check: a stable code for scripts, and a message for people.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub code: CheckCode,
    pub status: Status,
    pub message: String,
}

impl Check {
    fn new(code: CheckCode, status: Status, message: impl Into<String>) -> Self {
        Check {
            code,
            status,
            message: message.into(),
        }
    }
}

/// When a still-valid certificate counts as due for renewal.
#[derive(Debug, Clone, Copy)]
pub enum RenewWhen {
    /// Less than this fraction of its total lifetime left (`init`: one third).
    FractionLeft(f64),
    /// Less than this much time left (`verify --renew-before 30d`).
    Within(Duration),
}

/// What the leaf must satisfy.
pub struct Expectations<'a> {
    pub sans: &'a [San],
    pub renew: RenewWhen,
}

/// The leaf under test: its DER, parsed form, any intermediates that came with it (a
/// cert-manager tls.crt is leaf + intermediate), and (if given) its private key.
pub struct Leaf<'a> {
    pub der: &'a CertificateDer<'a>,
    pub intermediates: &'a [CertificateDer<'a>],
    pub info: &'a CertInfo,
    pub key: Option<&'a Key>,
}

/// Run every check of `leaf` against the roots in `trust` (one, or several during a CA
/// rotation), in the order `verify` prints.
pub fn check_leaf(
    trust: &TrustBundle,
    leaf: &Leaf<'_>,
    expect: &Expectations<'_>,
    now: OffsetDateTime,
) -> Vec<Check> {
    let info = leaf.info;
    let roots = trust.ders();
    let mut checks = chain(&roots, leaf, now);
    checks.extend(leaf.key.map(|key| key_match(key, info)));
    checks.push(leaf_not_ca(info));
    checks.push(sans(leaf, expect.sans));
    checks.push(eku(info));
    checks.push(ray_compatibility(info));
    // The root the leaf chains to, for the expiry comparison (none: the chain check failed).
    let at = now.clamp(info.not_before, info.not_after.max(info.not_before));
    if let Some(root) = trust.issuer_of(leaf.der, leaf.intermediates, at) {
        checks.extend(outlives_ca(info, &root.info));
    }
    checks.push(validity(info, expect.renew, now));
    checks
}

/// `chain_server` and `chain_client`: does the leaf verify against the CA for each use?
fn chain(roots: &[CertificateDer<'_>], leaf: &Leaf<'_>, now: OffsetDateTime) -> Vec<Check> {
    let info = leaf.info;
    // Evaluated inside the leaf's validity window, so that an expired certificate is
    // reported once, by the validity check, not as a chain failure too.
    let window =
        (info.not_before <= info.not_after).then(|| now.clamp(info.not_before, info.not_after));
    [
        (Usage::Server, CheckCode::ChainServer, "TLS server"),
        (Usage::Client, CheckCode::ChainClient, "TLS client"),
    ]
    .into_iter()
    .map(|(usage, code, what)| {
        let verdict = window.map(|at| chain::verify_leaf(roots, leaf.intermediates, leaf.der, usage, at));
        match verdict {
            // notBefore after notAfter: there is no moment at which it could verify.
            None => Check::new(
                code,
                Status::Fail,
                format!("does not verify as a {what} certificate: it is never valid (notBefore is after notAfter)"),
            ),
            Some(Ok(())) => Check::new(
                code,
                Status::Pass,
                format!("verifies against the CA as a {what} certificate"),
            ),
            Some(Err(e)) => Check::new(
                code,
                Status::Fail,
                format!(
                    "does not verify as a {what} certificate: {}",
                    chain::explain(&e)
                ),
            ),
        }
    })
    .collect()
}

fn key_match(key: &Key, info: &CertInfo) -> Check {
    if key.matches_public_key(&info.spki_bits) {
        Check::new(
            CheckCode::KeyMatch,
            Status::Pass,
            "the private key matches the certificate",
        )
    } else {
        Check::new(
            CheckCode::KeyMatch,
            Status::Fail,
            "the private key does not belong to this certificate",
        )
    }
}

fn leaf_not_ca(info: &CertInfo) -> Check {
    if info.is_ca {
        Check::new(
            CheckCode::LeafNotCa,
            Status::Fail,
            "the certificate is a CA (CA:TRUE); Ray needs a leaf certificate",
        )
    } else {
        Check::new(
            CheckCode::LeafNotCa,
            Status::Pass,
            "the certificate is a leaf (not a CA)",
        )
    }
}

/// Every name someone dials must be in the certificate, matched the way rustls matches.
fn sans(leaf: &Leaf<'_>, expected: &[San]) -> Check {
    let covered = join_or_none(&leaf.info.san_strings());
    let missing: Vec<String> = expected
        .iter()
        .filter(|s| !chain::covers(leaf.der, s))
        .map(|s| s.to_string())
        .collect();
    if missing.is_empty() {
        Check::new(CheckCode::Sans, Status::Pass, format!("covers {covered}"))
    } else {
        Check::new(
            CheckCode::Sans,
            Status::Fail,
            format!("does not cover {}; it covers {covered}", missing.join(", ")),
        )
    }
}

/// Ray uses one certificate both ways: EKU must allow both, or be absent.
fn eku(info: &CertInfo) -> Check {
    match &info.eku {
        None => Check::new(
            CheckCode::Eku,
            Status::Pass,
            "no EKU extension: usable as server and client",
        ),
        Some(_) if info.eku_fits_ray() => Check::new(
            CheckCode::Eku,
            Status::Pass,
            "EKU has serverAuth and clientAuth",
        ),
        Some(e) => {
            let missing = match (e.server_auth, e.client_auth) {
                (false, false) => "serverAuth and clientAuth",
                (false, true) => "serverAuth (Ray's servers will be refused)",
                _ => "clientAuth (Ray's clients will be refused)",
            };
            Check::new(
                CheckCode::Eku,
                Status::Fail,
                format!("EKU lacks {missing}; Ray uses one certificate both ways"),
            )
        }
    }
}

/// A warning only: the leaf stops working when the CA does, whatever it says itself.
fn outlives_ca(info: &CertInfo, ca_info: &CertInfo) -> Option<Check> {
    (info.not_after > ca_info.not_after).then(|| {
        Check::new(
            CheckCode::OutlivesCa,
            Status::Warn,
            format!(
                "valid until {} but the CA expires on {}",
                date(info.not_after),
                date(ca_info.not_after)
            ),
        )
    })
}

/// Ray's TLS stack refuses some keys and signatures outright.
pub fn ray_compatibility(info: &CertInfo) -> Check {
    let sig = info.signature_algorithm.to_ascii_lowercase();
    match &info.public_key {
        PublicKeyKind::Ed25519 | PublicKeyKind::Ed448 => Check::new(
            CheckCode::RayCompat,
            Status::Fail,
            format!("{} key: Ray cannot use it (NO_COMMON_SIGNATURE_ALGORITHMS); use RSA or ECDSA P-256/P-384", info.public_key),
        ),
        PublicKeyKind::Rsa { bits } if *bits < 2048 => Check::new(
            CheckCode::RayCompat,
            Status::Fail,
            format!("RSA {bits} key: Ray (gRPC/BoringSSL) and rustls need at least 2048 bits"),
        ),
        PublicKeyKind::Other { .. } => Check::new(
            CheckCode::RayCompat,
            Status::Fail,
            format!("{}: Ray supports RSA and ECDSA P-256/P-384 keys", info.public_key),
        ),
        _ if sig.contains("sha1") || sig.contains("md5") => Check::new(
            CheckCode::RayCompat,
            Status::Fail,
            format!("signed with {}: Ray's TLS rejects SHA-1/MD5 signatures; re-issue with SHA-256", info.signature_algorithm),
        ),
        _ => Check::new(
            CheckCode::RayCompat,
            Status::Pass,
            format!("{} key, {} signature: usable by Ray", info.public_key, info.signature_algorithm),
        ),
    }
}

/// Inside its dates, and (per `renew`) not yet due for renewal.
pub fn validity(info: &CertInfo, renew: RenewWhen, now: OffsetDateTime) -> Check {
    if info.not_before > info.not_after {
        return Check::new(
            CheckCode::Validity,
            Status::Fail,
            format!(
                "never valid: notBefore {} is after notAfter {}",
                crate::pki::certinfo::datetime(info.not_before),
                crate::pki::certinfo::datetime(info.not_after)
            ),
        );
    }
    if now < info.not_before {
        return Check::new(
            CheckCode::Validity,
            Status::Fail,
            format!(
                "not valid until {} (check the clocks)",
                crate::pki::certinfo::datetime(info.not_before)
            ),
        );
    }
    if now > info.not_after {
        return Check::new(
            CheckCode::Validity,
            Status::Fail,
            format!(
                "expired on {}",
                crate::pki::certinfo::datetime(info.not_after)
            ),
        );
    }
    let left = info.not_after - now;
    let due = match renew {
        RenewWhen::FractionLeft(f) => {
            let total = info.not_after - info.not_before;
            left.as_seconds_f64() < total.as_seconds_f64() * f
        }
        RenewWhen::Within(d) => left < d,
    };
    let msg = crate::pki::certinfo::valid_until(info.not_after, now);
    if due {
        Check::new(
            CheckCode::Validity,
            Status::Renew,
            format!("{msg}: due for renewal"),
        )
    } else {
        Check::new(CheckCode::Validity, Status::Pass, msg)
    }
}

fn join_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "no names".into()
    } else {
        v.join(", ")
    }
}

/// The first problem, for a one-line "re-issued because ..." message.
pub fn first_problem(checks: &[Check]) -> Option<&Check> {
    checks
        .iter()
        .find(|c| c.status == Status::Fail)
        .or_else(|| checks.iter().find(|c| c.status == Status::Renew))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `verify --json` and the `verify` lines show the code as the string it always was.
    #[test]
    fn check_codes_print_and_serialize_as_their_strings() {
        let c = Check::new(CheckCode::ChainServer, Status::Pass, "ok");
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"code":"chain_server","status":"pass","message":"ok"}"#
        );
        assert_eq!(format!("[{:<8}]", CheckCode::Eku), "[eku     ]");
        assert!(CheckCode::ChainClient.is_chain() && !CheckCode::Sans.is_chain());
    }
}
