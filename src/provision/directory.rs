//! Putting a leaf into an output directory: `issue` (refuses to overwrite without --force)
//! and `init` (idempotent: keeps a certificate that still passes every check), whether a
//! local CA key signs it or the signer does (`Source`): one flow, one writer, one outcome.
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::pki::authority::{Authority, Lifetime};
use crate::pki::certinfo::{date, CertFile, CertInfo};
use crate::pki::keys::{self, Key, KeyType};
use crate::pki::leafcheck::{self, Expectations, Leaf, RenewWhen};
use crate::pki::pem;
use crate::pki::role::{LeafIdentity, Role};
use crate::pki::san::San;
use crate::pki::trust::TrustBundle;
use crate::provision::files::{self, Layout, Mode, OutFile, Overwrite};
use crate::provision::ray_env::{EnvFormat, RayTlsEnv, CA_FILE, CERT_FILE, ENV_FILE, KEY_FILE};
use crate::provision::signer::SignerJob;

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
    /// `not_after` to the second (RFC 3339), for machines and short-lived certificates.
    pub expires_at: String,
    pub ca_subject: String,
    pub ca_not_after: String,
    /// Things the user should know, e.g. a validity shortened to the CA's expiry.
    pub notes: Vec<String>,
}

/// Where a new certificate for a directory comes from.
pub enum Source<'a> {
    /// A CA key on this machine signs (`--ca`).
    Local {
        ca: &'a Authority,
        identity: &'a LeafIdentity,
        key_type: KeyType,
        lifetime: Lifetime,
    },
    /// The signer (`raytls serve`) signs a CSR for a key made here (`--signer`); `anchor`
    /// is the CA its answers must chain to (`--signer-ca`), certificates only.
    Signer {
        job: &'a SignerJob<'a>,
        anchor: Box<CertFile>,
        on_retry: &'a dyn Fn(String),
        /// The root of `anchor` the signer signs under now (its serving certificate's),
        /// when it could be asked: a kept leaf from another root is re-issued (CA rotation,
        /// step 2).
        signing_root: Option<CertificateDer<'static>>,
    },
}

/// A new certificate and its key, checked, not yet on disk.
pub struct Fresh {
    /// The leaf, then any intermediate.
    pub chain_pem: String,
    pub key: Key,
    /// What goes to ca.crt: the CA certificates peers trust.
    pub ca_pem: String,
    pub info: CertInfo,
    pub ca_info: CertInfo,
    pub notes: Vec<String>,
}

impl Source<'_> {
    fn role(&self) -> Role {
        match self {
            Source::Local { identity, .. } => identity.role,
            Source::Signer { job, .. } => job.role,
        }
    }

    /// The CA certificate a kept leaf must chain to (the root above an intermediate).
    fn anchor(&self) -> (&CertificateDer<'static>, &CertInfo) {
        match self {
            Source::Local { ca, .. } => (&ca.anchor_der, &ca.anchor_info),
            Source::Signer { anchor, .. } => (&anchor.certs[0], &anchor.info),
        }
    }

    /// The roots a kept leaf may chain to, and that ca.crt holds: the CA directory's trust
    /// bundle (several roots during a CA rotation), or every certificate of `--signer-ca`.
    fn trust(&self) -> TrustBundle {
        match self {
            Source::Local { ca, .. } => ca.trust.clone(),
            Source::Signer { anchor, .. } => TrustBundle::of_parseable(&anchor.certs),
        }
    }

    /// The root new leaves come from, when this side knows it: a local CA's own root. A
    /// pod that asks a signer only knows the roots it trusts (`--signer-ca`), so any of
    /// them will do; step 2 of a rotation through a signer is `renew --force`.
    fn current_root(&self) -> Option<&CertificateDer<'static>> {
        match self {
            Source::Local { ca, .. } => Some(&ca.anchor_der),
            Source::Signer { signing_root, .. } => signing_root.as_ref(),
        }
    }

    /// What ca.crt should hold.
    fn anchor_pem(&self) -> String {
        match self {
            Source::Local { ca, .. } => ca.ca_bundle_pem.clone(),
            Source::Signer { anchor, .. } => anchor
                .certs
                .iter()
                .map(|c| pem::encode("CERTIFICATE", c))
                .collect(),
        }
    }

    /// The names a kept certificate must still cover.
    fn required_sans(&self) -> Vec<San> {
        match self {
            Source::Local { identity, .. } => identity.required_sans(),
            Source::Signer { job, .. } => job.required_sans(),
        }
    }

    /// Things to say whatever happens (a missing FQDN, a CA file that holds its key).
    fn notes(&self) -> Vec<String> {
        let Source::Local { ca, identity, .. } = self else {
            return Vec::new();
        };
        let mut notes = identity.warnings();
        if ca.cert_file_holds_key {
            notes.push(format!(
                "{} also holds a private key; only its certificates were copied to {CA_FILE}: keep the CA key in its own file",
                ca.files.cert.display()
            ));
        }
        notes
    }

    /// The volume Ray mounts must never hold the CA key: writing leaves into the directory
    /// that holds it (`init --ca X --out X`) would hand the key to every process in the pod.
    fn check_out_dir(&self, out: &Path) -> Result<()> {
        match self {
            Source::Local { ca, .. } => refuse_ca_key_dir(ca, out),
            Source::Signer { .. } => Ok(()),
        }
    }

    /// Sign a new certificate (locally, or by asking the signer).
    fn obtain(&self, now: OffsetDateTime) -> Result<Fresh> {
        match self {
            Source::Local {
                ca,
                identity,
                key_type,
                lifetime,
            } => {
                let leaf = ca.issue(identity, *key_type, *lifetime, now)?;
                Ok(Fresh {
                    chain_pem: leaf.cert_pem,
                    key: leaf.key,
                    ca_pem: ca.ca_bundle_pem.clone(),
                    info: leaf.info,
                    ca_info: ca.anchor_info.clone(),
                    notes: leaf.clamped.into_iter().collect(),
                })
            }
            Source::Signer { job, on_retry, .. } => super::signer::obtain(job, now, on_retry),
        }
    }

    /// `serve --kubernetes`: the pod's `ca.crt` in `out` is its RayCluster's own CA, which
    /// the signer root (`--signer-ca`) vouches for by having issued it. Then a kept leaf must
    /// chain to that CA, and ca.crt stays as it is. None otherwise (and for a local CA).
    fn cluster_ca(&self, out: &Path, now: OffsetDateTime) -> Option<CertFile> {
        let Source::Signer { anchor, .. } = self else {
            return None;
        };
        let on_disk = CertInfo::read_first(&out.join(CA_FILE)).ok()?;
        let ca = on_disk.certs.first()?;
        let is_signer_root = anchor.certs.iter().any(|r| r.as_ref() == ca.as_ref());
        (on_disk.certs.len() == 1
            && !is_signer_root
            && crate::pki::cluster_ca::vouched_by(ca, &[], &anchor.certs, now).is_ok())
        .then_some(on_disk)
    }

    /// Appended to the reason of a new certificate.
    fn signed_by(&self) -> String {
        match self {
            Source::Local { .. } => String::new(),
            Source::Signer { job, .. } => format!("; signed by {}", job.client.url.text),
        }
    }
}

/// The files of a leaf, in the order `fresh_files` gives them.
const LEAF_FILES: [(&str, Mode); 3] = [
    (CERT_FILE, Mode::Public),
    (KEY_FILE, Mode::Secret),
    (CA_FILE, Mode::Public),
];

/// Issue a new leaf into `out` (tls.crt, tls.key, ca.crt). A new directory gets regular
/// files (`Layout::Plain`: `issue` is a hand-off, to kubectl, zip or a person); one that
/// `init` wrote keeps its `..data` layout, since a running Ray may read it.
pub fn issue_to_dir(
    source: &Source<'_>,
    out: &Path,
    overwrite: Overwrite,
    now: OffsetDateTime,
) -> Result<Outcome> {
    source.check_out_dir(out)?;
    let layout = Layout::found_in(out, &[CERT_FILE, KEY_FILE, CA_FILE]).unwrap_or(Layout::Plain);
    // Refuse before the (comparatively slow) signing if we could not write anyway: the
    // targets are checked and the new files created, empty, under the directory's lock.
    let staged = files::stage(out, layout, &LEAF_FILES, overwrite)?;
    let fresh = source.obtain(now)?;
    let written = staged.commit(&fresh_files(&fresh), &[])?;
    Ok(OutcomeParts {
        action: Action::Issued,
        reason: format!("new certificate{}", source.signed_by()),
        info: &fresh.info,
        ca_info: &fresh.ca_info,
        with_env_file: false, // issue writes no ray-tls.env
        written,
        notes: fresh.notes.clone(),
    }
    .build(source, out))
}

/// When a directory's certificate is replaced although it still passes every check.
#[derive(Debug, Clone, Copy)]
pub struct Renewal {
    pub when: RenewWhen,
    /// Replace it whatever its state (`renew --force`).
    pub force: bool,
}

impl Renewal {
    /// `init`: re-issue when less than a third of the lifetime is left.
    pub const INIT: Renewal = Renewal {
        when: RenewWhen::FractionLeft(INIT_RENEW_FRACTION),
        force: false,
    };
}

/// The init-container flow: keep a good certificate, otherwise issue one; always make sure
/// ca.crt and ray-tls.env are current. The directory is the pod's, read by Ray: it gets
/// (or keeps) the `..data` layout; plain files someone put there are migrated to it.
pub fn init_dir(source: &Source<'_>, out: &Path, now: OffsetDateTime) -> Result<Outcome> {
    provision_dir(source, out, Renewal::INIT, Layout::Versioned, now)
}

/// `init_dir` with a renewal policy (`raytls renew`): keep the certificate unless a check
/// fails, it is inside the renewal window, or `force` is given. The directory keeps the
/// layout it has: a pod's (`init`, `..data`) stays pair-safe for the Ray reading it, and
/// one `issue` wrote stays regular files without a ray-tls.env, the hand-off it was (the
/// same Secret from `kubectl create secret --from-file`); converting it could not be
/// atomic anyway (each name changes by its own rename).
pub fn renew_dir(
    source: &Source<'_>,
    out: &Path,
    renewal: Renewal,
    now: OffsetDateTime,
) -> Result<Outcome> {
    let layout =
        Layout::found_in(out, &[CERT_FILE, KEY_FILE, CA_FILE]).unwrap_or(Layout::Versioned);
    provision_dir(source, out, renewal, layout, now)
}

fn provision_dir(
    source: &Source<'_>,
    out: &Path,
    renewal: Renewal,
    layout: Layout,
    now: OffsetDateTime,
) -> Result<Outcome> {
    source.check_out_dir(out)?;
    // A pod directory has its ray-tls.env; an issue-made one only if someone put it there.
    let with_env =
        layout == Layout::Versioned || std::fs::symlink_metadata(out.join(ENV_FILE)).is_ok();
    let env = RayTlsEnv::for_dir(out)?;
    let env_file = with_env.then(|| OutFile::public(ENV_FILE, env.render(EnvFormat::Dotenv)));
    // --kubernetes: the leaf chains to the RayCluster's CA in ca.crt, not to --signer-ca.
    let cluster_ca = source.cluster_ca(out, now);
    let trust = match &cluster_ca {
        Some(ca) => TrustBundle::of_parseable(&ca.certs),
        None => source.trust(),
    };
    let existing = existing_leaf(
        &trust,
        if cluster_ca.is_some() {
            None
        } else {
            source.current_root()
        },
        out,
        &source.required_sans(),
        renewal.when,
        now,
    );
    let why = match existing {
        Existing::Keep(_) if renewal.force => "renewal forced (--force)".to_string(),
        Existing::Keep(info) => return keep(source, out, layout, &info, env_file, cluster_ca, now),
        Existing::Reissue(why) => why,
    };
    // Before the signer or the CA is asked: a directory that cannot take the files (a
    // read-only volume) must not cost a certificate on every pass of `renew --watch`.
    let mut names = LEAF_FILES.to_vec();
    if with_env {
        names.push((ENV_FILE, Mode::Public));
    }
    let staged = files::stage(out, layout, &names, Overwrite::Replace)?;
    let fresh = source.obtain(now)?;
    let mut all = fresh_files(&fresh);
    all.extend(env_file);
    let written = staged.commit(&all, &[])?;
    Ok(OutcomeParts {
        action: Action::Issued,
        reason: format!("{why}{}", source.signed_by()),
        info: &fresh.info,
        ca_info: &fresh.ca_info,
        with_env_file: with_env,
        written,
        notes: fresh.notes.clone(),
    }
    .build(source, out))
}

/// Keep the certificate in `out`; bring ca.crt and ray-tls.env (when the directory has
/// one) up to date and the key's mode back to 0600.
fn keep(
    source: &Source<'_>,
    out: &Path,
    layout: Layout,
    info: &CertInfo,
    env_file: Option<OutFile>,
    cluster_ca: Option<CertFile>,
    now: OffsetDateTime,
) -> Result<Outcome> {
    let with_env = env_file.is_some();
    let ca_pem = match &cluster_ca {
        Some(ca) => ca
            .certs
            .iter()
            .map(|c| pem::encode("CERTIFICATE", c))
            .collect(),
        None => source.anchor_pem(),
    };
    let mut support = Vec::new();
    for f in std::iter::once(OutFile::public(CA_FILE, ca_pem)).chain(env_file) {
        let current = crate::fsio::read_input(&out.join(&f.name), crate::fsio::MAX_PEM_FILE).ok();
        if current.as_deref() != Some(f.contents.as_slice()) {
            support.push(f);
        }
    }
    // Unchanged support files need no new version (and no write at all).
    let written = if support.is_empty() {
        Vec::new()
    } else if layout == Layout::Plain {
        files::write_files(out, &support, Overwrite::Replace)?
    } else {
        // What is not in `support` is on disk with the right contents already.
        let keep: Vec<&str> = [CERT_FILE, KEY_FILE, CA_FILE, ENV_FILE]
            .into_iter()
            .filter(|n| !support.iter().any(|f| f.name == *n))
            .collect();
        files::write_set(out, &support, &keep, Overwrite::Replace)?
    };
    let mut notes = Vec::new();
    if written.iter().any(|p| p.ends_with(CA_FILE)) {
        let trust = source.trust();
        let names: Vec<String> = trust
            .roots()
            .iter()
            .map(|r| format!("\"{}\"", r.info.display_name()))
            .collect();
        notes.push(format!(
            "{} replaced: it now trusts {} root{} ({}); Ray reads it only at start, so restart Ray in this pod",
            out.join(CA_FILE).display(),
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        ));
    }
    if let Some(old) = files::ensure_mode(&out.join(KEY_FILE), files::Mode::Secret)? {
        notes.push(format!(
            "{} was mode {old:o}; set it back to 600",
            out.join(KEY_FILE).display()
        ));
    }
    let reason = format!(
        "existing certificate is {} and covers every required name",
        crate::pki::certinfo::valid_until(info.not_after, now)
    );
    Ok(OutcomeParts {
        action: Action::Kept,
        reason,
        info,
        ca_info: cluster_ca.as_ref().map_or(source.anchor().1, |c| &c.info),
        with_env_file: with_env,
        written,
        notes,
    }
    .build(source, out))
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
enum Existing {
    /// It passes every check: keep it.
    Keep(Box<CertInfo>),
    /// Issue a new one, for this reason (shown to the user).
    Reissue(String),
}

/// `trust` holds the roots peers trust (the root above an intermediate; several during a
/// CA rotation); `current`, when known, the one new leaves come from.
fn existing_leaf(
    trust: &TrustBundle,
    current: Option<&CertificateDer<'_>>,
    out: &Path,
    sans: &[San],
    renew: RenewWhen,
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
        trust,
        &Leaf {
            der: &certs[0],
            intermediates: &certs[1..],
            info: &info,
            key: Some(&key),
        },
        &Expectations { sans, renew },
        now,
    );
    if let Some(c) = leafcheck::first_problem(&checks) {
        // After a rotation's step 3 a leaf of the dropped CA lands here: name its issuer.
        let issuer = if c.code.is_chain() {
            format!(" (it was issued by \"{}\")", info.issuer_display_name())
        } else {
            String::new()
        };
        return Existing::Reissue(format!("existing certificate {}{issuer}", c.message));
    }
    // CA rotation step 2: the pod trusts both roots and its leaf is fine, but from the old CA.
    let at = now.clamp(info.not_before, info.not_after.max(info.not_before));
    let issuer = trust.issuer_of(&certs[0], &certs[1..], at);
    match (current, issuer) {
        (Some(cur), Some(root)) if root.der.as_ref() != cur.as_ref() => {
            let current_name = trust
                .roots()
                .iter()
                .find(|r| r.der.as_ref() == cur.as_ref())
                .map(|r| r.info.display_name().to_string())
                .unwrap_or_default();
            Existing::Reissue(format!(
                "existing certificate was issued by the old CA \"{}\", not the current CA \"{current_name}\" (CA rotation)",
                root.info.display_name()
            ))
        }
        _ => Existing::Keep(Box::new(info)),
    }
}

fn fresh_files(fresh: &Fresh) -> Vec<OutFile> {
    vec![
        OutFile::public(CERT_FILE, fresh.chain_pem.clone()),
        OutFile::secret(KEY_FILE, fresh.key.pem()),
        OutFile::public(CA_FILE, fresh.ca_pem.clone()),
    ]
}

/// What a run did, before it is laid out as an `Outcome` with absolute paths.
struct OutcomeParts<'a> {
    action: Action,
    reason: String,
    /// The certificate now in the directory, and the CA it chains to.
    info: &'a CertInfo,
    ca_info: &'a CertInfo,
    with_env_file: bool,
    written: Vec<PathBuf>,
    notes: Vec<String>,
}

impl OutcomeParts<'_> {
    fn build(self, source: &Source<'_>, out: &Path) -> Outcome {
        let out = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
        let mut notes = source.notes();
        notes.extend(self.notes);
        Outcome {
            action: self.action,
            reason: self.reason,
            role: source.role().to_string(),
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
            expires_at: crate::text::output::rfc3339(self.info.not_after),
            ca_subject: self.ca_info.display_name().to_string(),
            ca_not_after: date(self.ca_info.not_after),
            notes,
        }
    }
}
