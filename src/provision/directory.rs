//! Putting a leaf into an output directory: `issue` (refuses to overwrite without --force)
//! and `init` (idempotent: keeps a certificate that still passes every check).
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::error::{Error, Result};
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
    refuse_ca_key_dir(ca, out)?;
    let leaf_files = [
        OutFile::public(CERT_FILE, ""),
        OutFile::secret(KEY_FILE, ""),
        OutFile::public(CA_FILE, ""),
    ];
    // Refuse before the (comparatively slow) signing if we could not write anyway.
    files::check_targets(out, &leaf_files, overwrite)?;
    let leaf = ca.issue(identity, key_type, lifetime, now)?;
    let written = files::write_set(out, &leaf_files_for(&leaf, ca), &[], overwrite)?;
    Ok(OutcomeParts {
        action: Action::Issued,
        reason: "new certificate".into(),
        info: &leaf.info,
        with_env_file: false, // issue writes no ray-tls.env
        written,
        notes: leaf.clamped.into_iter().collect(),
    }
    .build(identity, ca, out))
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
    refuse_ca_key_dir(ca, out)?;
    let env = RayTlsEnv::for_dir(out)?;
    let env_file = OutFile::public(ENV_FILE, env.render(EnvFormat::Dotenv));
    let ca_file = OutFile::public(CA_FILE, ca.ca_bundle_pem.clone());

    let sans = identity.required_sans();
    let parts = match existing_leaf((&ca.anchor_der, &ca.anchor_info), out, &sans, now) {
        Existing::Keep(info) => {
            let mut support = Vec::new();
            for f in [ca_file, env_file] {
                let current = files::read_input(&out.join(&f.name), files::MAX_PEM_FILE).ok();
                if current.as_deref() != Some(f.contents.as_slice()) {
                    support.push(f);
                }
            }
            // Unchanged support files need no new version (and no write at all).
            let written = if support.is_empty() {
                Vec::new()
            } else {
                // What is not in `support` is on disk with the right contents already.
                let keep: Vec<&str> = [CERT_FILE, KEY_FILE, CA_FILE, ENV_FILE]
                    .into_iter()
                    .filter(|n| !support.iter().any(|f| f.name == *n))
                    .collect();
                files::write_set(out, &support, &keep, Overwrite::Replace)?
            };
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
            return Ok(OutcomeParts {
                action: Action::Kept,
                reason,
                info: &info,
                with_env_file: true,
                written,
                notes,
            }
            .build(identity, ca, out));
        }
        Existing::Reissue(why) => why,
    };
    let leaf = ca.issue(identity, key_type, lifetime, now)?;
    let mut all = leaf_files_for(&leaf, ca);
    all.push(env_file);
    let written = files::write_set(out, &all, &[], Overwrite::Replace)?;
    Ok(OutcomeParts {
        action: Action::Issued,
        reason: parts,
        info: &leaf.info,
        with_env_file: true,
        written,
        notes: leaf.clamped.into_iter().collect(),
    }
    .build(identity, ca, out))
}

/// The volume Ray mounts must never hold the CA key: writing leaves into the directory
/// that holds it (`init --ca X --out X`) would hand the key to every process in the pod.
fn refuse_ca_key_dir(ca: &Authority, out: &Path) -> Result<()> {
    let key_dir = match ca.files.key.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let same = match (std::fs::canonicalize(key_dir), std::fs::canonicalize(out)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(Error::CaKeyInOutputDir {
            out: out.to_path_buf(),
            key: ca.files.key.clone(),
        });
    }
    Ok(())
}

/// What to do with the certificate already in an output directory.
pub(crate) enum Existing {
    /// It passes every check: keep it.
    Keep(Box<CertInfo>),
    /// Issue a new one, for this reason (shown to the user).
    Reissue(String),
}

/// `anchor` is the CA certificate peers trust (the root above an intermediate).
pub(crate) fn existing_leaf(
    anchor: (&CertificateDer<'_>, &CertInfo),
    out: &Path,
    sans: &[San],
    now: OffsetDateTime,
) -> Existing {
    let cert_path = out.join(CERT_FILE);
    let key_path = out.join(KEY_FILE);
    if std::fs::symlink_metadata(&cert_path).is_err() {
        return Existing::Reissue("no certificate yet".into());
    }
    let unreadable =
        |what: &str, e: Error| Existing::Reissue(format!("existing {what} is unusable ({e})"));
    let CertFile { certs, info, .. } = match CertInfo::read_first(&cert_path) {
        Ok(c) => c,
        Err(e) => return unreadable(CERT_FILE, e),
    };
    let key = match keys::load(&key_path) {
        Ok(k) => k,
        Err(e) => return unreadable(KEY_FILE, e),
    };
    let checks = leafcheck::check_leaf(
        anchor.0,
        anchor.1,
        &Leaf {
            der: &certs[0],
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
        None => Existing::Keep(Box::new(info)),
        Some(c) => Existing::Reissue(format!("existing certificate {}", c.message)),
    }
}

fn leaf_files_for(leaf: &IssuedLeaf, ca: &Authority) -> Vec<OutFile> {
    vec![
        OutFile::public(CERT_FILE, leaf.cert_pem.clone()),
        OutFile::secret(KEY_FILE, leaf.key.pem()),
        OutFile::public(CA_FILE, ca.ca_bundle_pem.clone()),
    ]
}

/// What a run did, before it is laid out as an `Outcome` with absolute paths.
struct OutcomeParts<'a> {
    action: Action,
    reason: String,
    /// The certificate now in the directory.
    info: &'a CertInfo,
    with_env_file: bool,
    written: Vec<PathBuf>,
    notes: Vec<String>,
}

impl OutcomeParts<'_> {
    fn build(self, identity: &LeafIdentity, ca: &Authority, out: &Path) -> Outcome {
        let out = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
        let mut notes = identity.warnings();
        if ca.cert_file_holds_key {
            notes.push(format!(
                "{} also holds a private key; only its certificates were copied to {CA_FILE}: keep the CA key in its own file",
                ca.files.cert.display()
            ));
        }
        notes.extend(self.notes);
        Outcome {
            action: self.action,
            reason: self.reason,
            role: identity.role.to_string(),
            cert: out.join(CERT_FILE),
            key: out.join(KEY_FILE),
            ca: out.join(CA_FILE),
            env_file: self.with_env_file.then(|| out.join(ENV_FILE)),
            written: self
                .written
                .iter()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
                .collect(),
            sans: self.info.san_strings(),
            key_type: self.info.public_key.to_string(),
            serial: self.info.serial.clone(),
            not_after: date(self.info.not_after),
            ca_subject: ca.anchor_info.display_name().to_string(),
            ca_not_after: date(ca.anchor_info.not_after),
            notes,
        }
    }
}
