//! Putting a leaf into an output directory: `issue` (refuses to overwrite without --force)
//! and `init` (idempotent: keeps a certificate that still passes every check).
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::error::Result;
use crate::pki::authority::{Authority, IssuedLeaf, Lifetime};
use crate::pki::certinfo::{date, CertFile, CertInfo};
use crate::pki::keys::{self, KeyType};
use crate::pki::leafcheck::{self, Expectations, Leaf, RenewWhen};
use crate::pki::role::LeafIdentity;
use crate::pki::san::San;
use crate::provision::files::{self, OutFile, Overwrite};
use crate::provision::ray_env::{EnvFormat, RayTlsEnv, CA_FILE, CERT_FILE, ENV_FILE, KEY_FILE};

/// `init` re-issues when less than this fraction of the lifetime is left.
pub const INIT_RENEW_FRACTION: f64 = 1.0 / 3.0;

/// What happened to the leaf in an output directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Issued,
    Kept,
}

/// The result of `issue` or `init`, printed as lines or JSON.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub action: Action,
    /// Why a certificate was kept or (re-)issued.
    pub reason: String,
    pub role: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub env_file: Option<PathBuf>,
    /// The files this run actually wrote (a kept certificate's directory may need none).
    pub written: Vec<PathBuf>,
    pub sans: Vec<String>,
    pub key_type: String,
    pub serial: String,
    pub not_after: String,
    pub ca_subject: String,
    pub ca_not_after: String,
    /// Things the user should know, e.g. a validity shortened to the CA's expiry.
    pub notes: Vec<String>,
}

/// Issue a new leaf into `out` (tls.crt, tls.key, ca.crt).
pub fn issue_to_dir(
    ca: &Authority,
    identity: &LeafIdentity,
    key_type: KeyType,
    lifetime: Lifetime,
    out: &Path,
    overwrite: Overwrite,
    now: OffsetDateTime,
) -> Result<Outcome> {
    let leaf_files = [
        OutFile::public(CERT_FILE, ""),
        OutFile::secret(KEY_FILE, ""),
        OutFile::public(CA_FILE, ""),
    ];
    // Refuse before the (comparatively slow) signing if we could not write anyway.
    files::check_targets(out, &leaf_files, overwrite)?;
    let leaf = ca.issue(identity, key_type, lifetime, now)?;
    let written = files::write_files(out, &leaf_files_for(&leaf, ca), overwrite)?;
    Ok(outcome(
        Action::Issued,
        "new certificate".into(),
        identity,
        ca,
        out,
        &leaf.info,
        false, // issue writes no ray-tls.env
        written,
        leaf.clamped.into_iter().collect(),
    ))
}

/// The init-container flow: keep a good certificate, otherwise issue one; always make sure
/// ca.crt and ray-tls.env are current.
pub fn init_dir(
    ca: &Authority,
    identity: &LeafIdentity,
    key_type: KeyType,
    lifetime: Lifetime,
    out: &Path,
    now: OffsetDateTime,
) -> Result<Outcome> {
    let env = RayTlsEnv::for_dir(out)?;
    let env_file = OutFile::public(ENV_FILE, env.render(EnvFormat::Dotenv));
    let ca_file = OutFile::public(CA_FILE, ca.cert_file_bytes.clone());

    let sans = identity.required_sans();
    match existing_leaf_verdict((&ca.anchor_der, &ca.anchor_info), out, &sans, now) {
        Ok(info) => {
            let mut support = Vec::new();
            for f in [ca_file, env_file] {
                if std::fs::read(out.join(&f.name)).ok().as_deref() != Some(f.contents.as_slice()) {
                    support.push(f);
                }
            }
            let written = files::write_files(out, &support, Overwrite::Replace)?;
            let mut notes = Vec::new();
            if let Some(old) = files::ensure_mode(&out.join(KEY_FILE), files::Mode::Secret)? {
                notes.push(format!(
                    "{} was mode {old:o}; set it back to 600",
                    out.join(KEY_FILE).display()
                ));
            }
            let reason = format!(
                "existing certificate is valid until {} ({} days left) and covers every required name",
                date(info.not_after),
                info.days_left(now)
            );
            Ok(outcome(
                Action::Kept,
                reason,
                identity,
                ca,
                out,
                &info,
                true,
                written,
                notes,
            ))
        }
        Err(why) => {
            let leaf = ca.issue(identity, key_type, lifetime, now)?;
            let mut all = leaf_files_for(&leaf, ca);
            all.push(env_file);
            let written = files::write_files(out, &all, Overwrite::Replace)?;
            Ok(outcome(
                Action::Issued,
                why,
                identity,
                ca,
                out,
                &leaf.info,
                true,
                written,
                leaf.clamped.into_iter().collect(),
            ))
        }
    }
}

/// Ok(info) if the certificate in `out` can be kept; Err(reason to re-issue) otherwise.
/// `anchor` is the CA certificate peers trust (the root above an intermediate).
pub(crate) fn existing_leaf_verdict(
    anchor: (&CertificateDer<'_>, &CertInfo),
    out: &Path,
    sans: &[San],
    now: OffsetDateTime,
) -> std::result::Result<CertInfo, String> {
    let cert_path = out.join(CERT_FILE);
    let key_path = out.join(KEY_FILE);
    if !cert_path.exists() {
        return Err("no certificate yet".into());
    }
    let unreadable = |what: &str, e: String| format!("existing {what} is unusable ({e})");
    let CertFile { certs, info, .. } =
        CertInfo::read_first(&cert_path).map_err(|e| unreadable("tls.crt", e.to_string()))?;
    let der = &certs[0];
    let key = keys::load(&key_path).map_err(|e| unreadable("tls.key", e.to_string()))?;
    let checks = leafcheck::check_leaf(
        anchor.0,
        anchor.1,
        &Leaf {
            der,
            intermediates: &certs[1..],
            info: &info,
            key: Some(&key),
        },
        &Expectations {
            sans,
            renew: RenewWhen::FractionLeft(INIT_RENEW_FRACTION),
        },
        now,
    );
    match leafcheck::first_problem(&checks) {
        None => Ok(info),
        Some(c) => Err(format!("existing certificate {}", c.message)),
    }
}

fn leaf_files_for(leaf: &IssuedLeaf, ca: &Authority) -> Vec<OutFile> {
    vec![
        OutFile::public(CERT_FILE, leaf.cert_pem.clone()),
        OutFile::secret(KEY_FILE, leaf.key.pem()),
        OutFile::public(CA_FILE, ca.cert_file_bytes.clone()),
    ]
}

#[allow(clippy::too_many_arguments)]
fn outcome(
    action: Action,
    reason: String,
    identity: &LeafIdentity,
    ca: &Authority,
    out: &Path,
    info: &CertInfo,
    with_env_file: bool,
    written: Vec<PathBuf>,
    notes: Vec<String>,
) -> Outcome {
    let out = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    Outcome {
        action,
        reason,
        role: identity.role.to_string(),
        cert: out.join(CERT_FILE),
        key: out.join(KEY_FILE),
        ca: out.join(CA_FILE),
        env_file: with_env_file.then(|| out.join(ENV_FILE)),
        written: written
            .iter()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .collect(),
        sans: info.san_strings(),
        key_type: info.public_key.to_string(),
        serial: info.serial.clone(),
        not_after: date(info.not_after),
        ca_subject: ca.anchor_info.display_name().to_string(),
        ca_not_after: date(ca.anchor_info.not_after),
        notes: identity.warnings().into_iter().chain(notes).collect(),
    }
}
