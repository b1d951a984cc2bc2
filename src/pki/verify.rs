//! `verify`: will Ray accept this CA, certificate and key? The CA checks here, the leaf
//! checks in `pki::leafcheck` (the same ones `init` uses to keep or re-issue).
use std::path::PathBuf;

use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::pki::authority::check_is_usable_ca;
use crate::pki::certinfo::{date, CertInfo};
use crate::pki::keys::{self, Key};
use crate::pki::leafcheck::{self, Check, CheckCode, Expectations, Leaf, RenewWhen, Status};
use crate::pki::pem;
use crate::pki::san::San;
use crate::pki::trust::{rotation_step, Root, Rotation, RotationStep, TrustBundle};

/// The three files, as a Ray pod names them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inputs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: Option<PathBuf>,
    /// The root new leaves come from during a CA rotation (`--current-ca`); by default the
    /// newest root in `ca`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_ca: Option<PathBuf>,
}

/// All checks of one run and the exit code they add up to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    #[serde(flatten)]
    pub inputs: Inputs,
    pub ok: bool,
    pub needs_renewal: bool,
    pub checks: Vec<Check>,
    /// Where the pod is in a CA rotation (ca.crt may hold several roots).
    pub rotation: Rotation,
}

impl Verification {
    /// 0 all good (warnings allowed), 1 a check failed, 3 valid but due for renewal.
    pub fn exit_code(&self) -> ExitCode {
        if !self.ok {
            ExitCode::Failure
        } else if self.needs_renewal {
            ExitCode::NeedsRenewal
        } else {
            ExitCode::Ok
        }
    }
}

/// Read the files and run every check. Unreadable input is an `Err` (exit 2); a key that
/// Ray cannot use (Ed25519) is a failed check, not an unreadable file.
pub fn check_files(
    inputs: &Inputs,
    sans: &[San],
    renew_before: Duration,
    now: OffsetDateTime,
) -> Result<Verification> {
    let trust = read_roots(&inputs.ca)?;
    let current = match &inputs.current_ca {
        Some(path) => {
            let f = CertInfo::read_first(path)?;
            Some(Root {
                der: f.certs[0].clone(),
                info: f.info,
            })
        }
        None => None,
    };
    let leaf = CertInfo::read_first(&inputs.cert)?;
    let (leaf_der, leaf_info, certs) = (&leaf.certs[0], &leaf.info, &leaf.certs);

    let mut checks: Vec<Check> = trust
        .roots()
        .iter()
        .map(|r| ca_check(inputs, &r.info, now))
        .collect();
    checks.extend(same_subjects(&trust));
    let mut key_problem = None;
    let key: Option<Key> = match &inputs.key {
        None => None,
        Some(path) => match keys::load(path) {
            Ok(k) => Some(k),
            Err(Error::UnsupportedKey { why, .. }) => {
                key_problem = Some(why);
                None
            }
            Err(e) => return Err(e),
        },
    };
    if let Some(why) = key_problem {
        checks.push(Check {
            code: CheckCode::KeyMatch,
            status: Status::Fail,
            message: format!("the private key cannot be used: {why}"),
        });
    }
    checks.extend(leafcheck::check_leaf(
        &trust,
        &Leaf {
            der: leaf_der,
            intermediates: &certs[1..],
            info: leaf_info,
            key: key.as_ref(),
        },
        &Expectations {
            sans,
            renew: RenewWhen::Within(renew_before),
        },
        now,
    ));
    // Inside the leaf's dates, as the chain checks do: an expired leaf still has a step.
    let at = now.clamp(
        leaf_info.not_before,
        leaf_info.not_after.max(leaf_info.not_before),
    );
    let rotation = rotation_step(&trust, current.as_ref(), leaf_der, &certs[1..], at);
    // A bundle may still hold an old root that expired: harmless to Ray while the leaf
    // chains to another root, so a warning then (the failure stays when it is the only one,
    // or the leaf's own).
    if trust.roots().len() > 1 {
        if let Some(leaf_root) = trust.issuer_of(leaf_der, &certs[1..], at) {
            for (check, root) in checks.iter_mut().zip(trust.roots()) {
                if check.status == Status::Fail && root.der.as_ref() != leaf_root.der.as_ref() {
                    check.status = Status::Warn;
                    check.message = format!(
                        "{} (another root in the CA file; the certificate chains to \"{}\")",
                        check.message,
                        leaf_root.info.display_name()
                    );
                }
            }
        }
    }
    if trust.roots().len() > 1 || current.is_some() {
        checks.push(rotation_check(&rotation));
    }
    let ok = !checks.iter().any(|c| c.status == Status::Fail);
    let needs_renewal = checks.iter().any(|c| c.status == Status::Renew);
    Ok(Verification {
        inputs: inputs.clone(),
        ok,
        needs_renewal,
        checks,
        rotation,
    })
}

/// Every certificate of the CA file, as roots (a pod's ca.crt holds several during a CA
/// rotation). Errors name the file and the certificate.
fn read_roots(path: &std::path::Path) -> Result<TrustBundle> {
    let bytes = pem::read(path)?;
    let roots = pem::certificates(path, &bytes)?
        .into_iter()
        .enumerate()
        .map(|(i, der)| {
            let info = CertInfo::parse(&der).map_err(|why| Error::BadCertificate {
                path: path.to_path_buf(),
                why: if i == 0 {
                    why
                } else {
                    format!("certificate {}: {why}", i + 1)
                },
            })?;
            Ok(Root { der, info })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TrustBundle::checked_elsewhere(roots))
}

/// Two roots of one subject: Ray's TLS then reports a bad signature for leaves of one of
/// them (RAY_TLS_NOTES), whichever it tries first.
fn same_subjects(trust: &TrustBundle) -> Option<Check> {
    let roots = trust.roots();
    let twin = roots.iter().enumerate().find_map(|(i, a)| {
        roots[i + 1..]
            .iter()
            .find(|b| b.info.subject_raw == a.info.subject_raw)
            .map(|_| a)
    })?;
    Some(Check {
        code: CheckCode::CaSubjects,
        status: Status::Fail,
        message: format!(
            "two roots in the CA file have the subject \"{}\": Ray's TLS then reports a bad signature instead of an unknown CA; make each CA's subject unique",
            twin.info.subject
        ),
    })
}

/// The rotation line: a warning while a rotation is in progress (it changes no exit code),
/// a failure when the pod does not trust the CA it is being rotated to.
fn rotation_check(r: &Rotation) -> Check {
    let status = match r.step {
        RotationStep::None => Status::Pass,
        RotationStep::TrustsBothLeafOld | RotationStep::TrustsBothLeafNew => Status::Warn,
        // The chain checks already fail for a leaf no root accepts.
        RotationStep::LeafNotTrusted => Status::Warn,
        RotationStep::CurrentNotTrusted => Status::Warn,
    };
    Check {
        code: CheckCode::Rotation,
        status,
        message: r.next.clone(),
    }
}

fn ca_check(inputs: &Inputs, ca: &CertInfo, now: OffsetDateTime) -> Check {
    match check_is_usable_ca(&inputs.ca, ca, now) {
        Ok(()) => Check {
            code: CheckCode::Ca,
            status: Status::Pass,
            message: format!(
                "CA \"{}\" ({}) is a CA, valid until {}",
                ca.display_name(),
                ca.public_key,
                date(ca.not_after)
            ),
        },
        Err(e) => Check {
            code: CheckCode::Ca,
            status: Status::Fail,
            message: e.to_string(),
        },
    }
}
