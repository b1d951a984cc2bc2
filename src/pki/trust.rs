//! Trust bundles: the roots a Ray pod trusts (its `ca.crt`), which may be several during a
//! CA rotation. A CA directory may hold `trust.crt`, the bundle every pod gets as `ca.crt`
//! (`raytls ca trust`); without it pods trust the CA's own root alone.
//!
//! The rotation has three steps, and the bundle is what moves between them:
//! 1. every pod trusts old + new (the bundle holds both; leaves still from the old CA);
//! 2. leaves are re-issued from the new CA (the bundle still holds both);
//! 3. the old root is dropped (the bundle holds the new root alone).
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::pki::authority::check_is_usable_ca;
use crate::pki::certinfo::{date, CertInfo};
use crate::pki::chain::{self, Usage};
use crate::pki::pem;

/// The trust bundle's name inside a CA directory.
pub const TRUST_FILE: &str = "trust.crt";

/// One trusted root.
#[derive(Debug, Clone)]
pub struct Root {
    pub der: CertificateDer<'static>,
    pub info: CertInfo,
}

/// The roots a pod trusts, kept in one order (oldest notBefore first, then fingerprint), so
/// that the same set always makes the same bytes: a pod's `ca.crt` then changes only when
/// the set does, not when another CA directory lists the same roots the other way round.
#[derive(Debug, Clone, Default)]
pub struct TrustBundle {
    roots: Vec<Root>,
}

/// What `add` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Added,
    AlreadyTrusted,
}

impl TrustBundle {
    /// A bundle of exactly these certificates, read from `path` (named in errors). Each
    /// must be a CA; two with the same subject are refused (see `add`).
    pub fn from_certs(path: &Path, certs: Vec<CertificateDer<'static>>) -> Result<Self> {
        let mut bundle = TrustBundle::default();
        for (i, der) in certs.into_iter().enumerate() {
            let info = CertInfo::parse(&der).map_err(|why| Error::BadCertificate {
                path: path.to_path_buf(),
                why: format!("certificate {}: {why}", i + 1),
            })?;
            if !info.is_ca {
                return Err(Error::NotACa {
                    path: path.to_path_buf(),
                    why: format!(
                        "certificate {} \"{}\" has no basicConstraints CA:TRUE",
                        i + 1,
                        info.display_name()
                    ),
                });
            }
            bundle.add(path, Root { der, info })?;
        }
        Ok(bundle)
    }

    /// The roots as they are, for checking a file someone else made (`verify`'s ca.crt):
    /// nothing refused, the same order as a bundle of ours.
    pub fn checked_elsewhere(mut roots: Vec<Root>) -> Self {
        roots.sort_by(|a, b| {
            (a.info.not_before, &a.info.sha256_fingerprint)
                .cmp(&(b.info.not_before, &b.info.sha256_fingerprint))
        });
        TrustBundle { roots }
    }

    /// The certificates of a file someone else made that parse (`--signer-ca`), as they are
    /// (see `checked_elsewhere`).
    pub fn of_parseable(certs: &[CertificateDer<'static>]) -> Self {
        TrustBundle::checked_elsewhere(
            certs
                .iter()
                .filter_map(|der| {
                    CertInfo::parse(der).ok().map(|info| Root {
                        der: der.clone(),
                        info,
                    })
                })
                .collect(),
        )
    }

    /// Read a bundle file: certificates only. A file that also holds a private key is
    /// refused: the bundle is copied to every pod, and a CA key must never travel with it.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = pem::read(path)?;
        refuse_key_in_file(path, &bytes)?;
        TrustBundle::from_certs(path, pem::certificates(path, &bytes)?)
    }

    /// The roots, oldest first.
    pub fn roots(&self) -> &[Root] {
        &self.roots
    }

    pub fn ders(&self) -> Vec<CertificateDer<'static>> {
        self.roots.iter().map(|r| r.der.clone()).collect()
    }

    pub fn contains(&self, der: &CertificateDer<'_>) -> bool {
        self.roots.iter().any(|r| r.der.as_ref() == der.as_ref())
    }

    /// Add `root`. The same certificate again is no change; another certificate with the
    /// same subject is refused: with two CAs of one name in play, Ray's TLS reports a bad
    /// signature instead of an unknown CA (RAY_TLS_NOTES), and path building picks one by
    /// name.
    pub fn add(&mut self, source: &Path, root: Root) -> Result<Added> {
        if self.contains(&root.der) {
            return Ok(Added::AlreadyTrusted);
        }
        if let Some(twin) = self
            .roots
            .iter()
            .find(|r| r.info.subject_raw == root.info.subject_raw)
        {
            return Err(Error::TrustSameSubject {
                path: source.to_path_buf(),
                subject: root.info.subject.clone(),
                other_fingerprint: twin.info.sha256_fingerprint.clone(),
            });
        }
        self.roots.push(root);
        self.roots.sort_by(|a, b| {
            (a.info.not_before, &a.info.sha256_fingerprint)
                .cmp(&(b.info.not_before, &b.info.sha256_fingerprint))
        });
        Ok(Added::Added)
    }

    /// Remove `der`; false if it was not there.
    pub fn remove(&mut self, der: &CertificateDer<'_>) -> bool {
        let before = self.roots.len();
        self.roots.retain(|r| r.der.as_ref() != der.as_ref());
        self.roots.len() != before
    }

    /// The bundle as PEM, in its one order.
    pub fn pem(&self) -> String {
        self.roots
            .iter()
            .map(|r| pem::encode("CERTIFICATE", &r.der))
            .collect()
    }

    /// The root `leaf` (with `intermediates`) chains to, for both TLS uses at `at`.
    pub fn issuer_of(
        &self,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        at: OffsetDateTime,
    ) -> Option<&Root> {
        self.roots.iter().find(|r| {
            [Usage::Server, Usage::Client].iter().all(|u| {
                chain::verify_leaf(std::slice::from_ref(&r.der), intermediates, leaf, *u, at)
                    .is_ok()
            })
        })
    }

    /// The root new leaves should come from when nobody says: the newest by notBefore.
    pub fn newest(&self) -> Option<&Root> {
        self.roots.last()
    }
}

/// A file someone wants to trust: `--add FILE`, or a CA directory (its `root.crt` above an
/// intermediate, else its `ca.crt`). Every certificate in it must be a root (a self-signed
/// CA, valid now): an intermediate as a trust anchor is accepted by some TLS stacks and not
/// by others, so the bundle holds roots only.
pub fn read_roots_to_add(path: &Path, now: OffsetDateTime) -> Result<(PathBuf, Vec<Root>)> {
    let file = if path.is_dir() {
        let root = path.join(crate::pki::authority::ROOT_FILE);
        if root.exists() {
            root
        } else {
            path.join("ca.crt")
        }
    } else {
        path.to_path_buf()
    };
    let bytes = pem::read(&file)?;
    refuse_key_in_file(&file, &bytes)?;
    let mut roots = Vec::new();
    for (i, der) in pem::certificates(&file, &bytes)?.into_iter().enumerate() {
        let info = CertInfo::parse(&der).map_err(|why| Error::BadCertificate {
            path: file.clone(),
            why: format!("certificate {}: {why}", i + 1),
        })?;
        check_is_usable_ca(&file, &info, now)?;
        if !info.self_signed {
            let hint = file
                .parent()
                .map(|d| d.join(crate::pki::authority::ROOT_FILE))
                .filter(|r| r.exists())
                .map(|r| format!(" (here: {})", r.display()))
                .unwrap_or_default();
            return Err(Error::NotARoot {
                path: file.clone(),
                subject: info.subject.clone(),
                issuer: info.issuer.clone(),
                hint,
            });
        }
        roots.push(Root { der, info });
    }
    Ok((file, roots))
}

fn refuse_key_in_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if pem::is_encrypted_key(bytes)
        || pem::labels(bytes)
            .iter()
            .any(|l| l.ends_with("PRIVATE KEY"))
    {
        return Err(Error::KeyInTrustFile {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// One root, for people: `"raytls CA 3f9c1a2b" (not before 2026-01-01, expires 2036-01-01)`.
pub fn describe(root: &Root) -> String {
    format!(
        "\"{}\" (from {}, expires {})",
        root.info.display_name(),
        date(root.info.not_before),
        date(root.info.not_after)
    )
}

/// Where a pod is in a CA rotation, from its `ca.crt` and its leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationStep {
    /// One root, and the leaf from it: no rotation in progress (or one finished).
    None,
    /// Several roots, the leaf from one that is not the current: step 1 done.
    TrustsBothLeafOld,
    /// Several roots, the leaf from the current one: step 2 done.
    TrustsBothLeafNew,
    /// The leaf chains to no root in ca.crt (the chain checks say why).
    LeafNotTrusted,
    /// `--current-ca` names a root ca.crt does not hold: step 1 not done on this pod.
    CurrentNotTrusted,
}

/// `verify`'s rotation verdict, a line for people and a field of `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotation {
    pub step: RotationStep,
    /// Subjects of the roots in ca.crt, oldest first.
    pub roots: Vec<String>,
    /// The root new leaves come from (the newest, or `--current-ca`).
    pub current_root: Option<String>,
    /// The root the leaf chains to.
    pub leaf_root: Option<String>,
    /// What to do next, in the runbook's words.
    pub next: String,
}

/// Tell the step: which root of `bundle` the leaf chains to, against `current` (the root
/// the operator rotates to; by default the newest).
pub fn rotation_step(
    bundle: &TrustBundle,
    current: Option<&Root>,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    at: OffsetDateTime,
) -> Rotation {
    let current = current.or_else(|| bundle.newest());
    let leaf_root = bundle.issuer_of(leaf, intermediates, at);
    let name = |r: &Root| r.info.display_name().to_string();
    let is_current = |r: &Root| current.is_some_and(|c| c.der.as_ref() == r.der.as_ref());
    let several = bundle.roots().len() > 1;
    let current_missing = current.is_some_and(|c| !bundle.contains(&c.der));
    let (step, next) = match leaf_root {
        _ if current_missing => (
            RotationStep::CurrentNotTrusted,
            format!(
                "rotation step 1 of 3 not done: ca.crt does not trust the new CA \"{}\"; next: give this pod the bundle of old and new roots as ca.crt (raytls renew/init with the CA's trust.crt) and restart Ray",
                current.map(name).unwrap_or_default()
            ),
        ),
        None => (
            RotationStep::LeafNotTrusted,
            "the certificate chains to no root in ca.crt: re-issue it from a CA the pod trusts"
                .to_string(),
        ),
        Some(_) if !several => (
            RotationStep::None,
            "no CA rotation in progress (ca.crt holds one root, the certificate is from it)"
                .to_string(),
        ),
        Some(r) if !is_current(r) => (
            RotationStep::TrustsBothLeafOld,
            format!(
                "rotation step 1 of 3 done: ca.crt trusts {} roots, the certificate is still from the old CA \"{}\"; next: re-issue leaves from the new CA \"{}\" (step 2), after every pod trusts both and has restarted Ray",
                bundle.roots().len(),
                name(r),
                current.map(name).unwrap_or_default()
            ),
        ),
        Some(r) => (
            RotationStep::TrustsBothLeafNew,
            format!(
                "rotation step 2 of 3 done: the certificate is from the new CA \"{}\", ca.crt still trusts {} roots; next: drop the old root (step 3) once every pod is here and has restarted Ray",
                name(r),
                bundle.roots().len()
            ),
        ),
    };
    Rotation {
        step,
        roots: bundle.roots().iter().map(name).collect(),
        current_root: current.map(name),
        leaf_root: leaf_root.map(name),
        next,
    }
}

/// A CA directory's bundle after `--drop` and `--add`, and what changed.
pub struct BundleChange {
    pub bundle: TrustBundle,
    /// The directory's own root (the anchor of the leaves it signs).
    pub own_root: Root,
    pub changed: bool,
    /// Subjects, for the report.
    pub added: Vec<String>,
    pub dropped: Vec<String>,
    pub already: Vec<String>,
    pub absent: Vec<String>,
}

/// `raytls ca trust`: start from `dir`'s trust.crt (or its own root alone), drop, then add.
/// Nothing is written here; every input is checked before the caller writes.
pub fn change_bundle(
    dir: &Path,
    add: &[PathBuf],
    drop: &[PathBuf],
    now: OffsetDateTime,
) -> Result<BundleChange> {
    let files = crate::pki::authority::CaFiles::in_dir(dir);
    if !dir.is_dir() {
        return Err(Error::NoCaDir {
            dir: dir.to_path_buf(),
        });
    }
    // The root pods must trust for this CA's leaves: root.crt above an intermediate.
    let own_path = files.root.clone().unwrap_or_else(|| files.cert.clone());
    let own = crate::pki::certinfo::CertInfo::read_first(&own_path)?;
    check_is_usable_ca(&own_path, &own.info, now)?;
    let own_root = Root {
        der: own.certs[0].clone(),
        info: own.info,
    };
    let mut bundle = match &files.trust {
        Some(path) => {
            let b = TrustBundle::read(path)?;
            if !b.contains(&own_root.der) {
                return Err(Error::TrustLacksOwnRoot {
                    trust: path.clone(),
                    root: own_root.info.display_name().to_string(),
                    root_path: own_path,
                });
            }
            b
        }
        None => TrustBundle::from_certs(&own_path, vec![own_root.der.clone()])?,
    };
    let trust_path = dir.join(TRUST_FILE);
    let mut change = BundleChange {
        bundle: TrustBundle::default(),
        own_root,
        changed: false,
        added: Vec::new(),
        dropped: Vec::new(),
        already: Vec::new(),
        absent: Vec::new(),
    };
    for path in drop {
        // Dropping needs no validity: an expired old root is exactly what gets dropped.
        let file = if path.is_dir() {
            let f = crate::pki::authority::CaFiles::in_dir(path);
            f.root.unwrap_or(f.cert)
        } else {
            path.clone()
        };
        let bytes = pem::read(&file)?;
        refuse_key_in_file(&file, &bytes)?;
        for der in pem::certificates(&file, &bytes)? {
            let subject = CertInfo::parse(&der)
                .map(|i| i.display_name().to_string())
                .unwrap_or_else(|_| file.display().to_string());
            if der.as_ref() == change.own_root.der.as_ref() {
                return Err(Error::DropOwnRoot {
                    trust: trust_path.clone(),
                    root: subject,
                });
            }
            if bundle.remove(&der) {
                change.changed = true;
                change.dropped.push(subject);
            } else {
                change.absent.push(subject);
            }
        }
    }
    for path in add {
        let (file, roots) = read_roots_to_add(path, now)?;
        for root in roots {
            let subject = root.info.display_name().to_string();
            match bundle.add(&file, root)? {
                Added::Added => {
                    change.changed = true;
                    change.added.push(subject);
                }
                Added::AlreadyTrusted => change.already.push(subject),
            }
        }
    }
    change.bundle = bundle;
    Ok(change)
}
