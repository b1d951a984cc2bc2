//! `verify`: will Ray accept this CA, certificate and key? The CA checks here, the leaf
//! checks in `pki::leafcheck` (the same ones `init` uses to keep or re-issue).
use std::path::PathBuf;

use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::pki::authority::check_is_usable_ca;
use crate::pki::certinfo::{date, CertInfo};
use crate::pki::keys::{self, Key};
use crate::pki::leafcheck::{self, Check, Expectations, Leaf, RenewWhen, Status};
use crate::pki::san::San;

/// The three files, as a Ray pod names them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inputs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: Option<PathBuf>,
}

/// All checks of one run and the exit code they add up to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    #[serde(flatten)]
    pub inputs: Inputs,
    pub ok: bool,
    pub needs_renewal: bool,
    pub checks: Vec<Check>,
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
    let ca = CertInfo::read_first(&inputs.ca)?;
    let (ca_der, ca_info) = (&ca.certs[0], &ca.info);
    let leaf = CertInfo::read_first(&inputs.cert)?;
    let (leaf_der, leaf_info, certs) = (&leaf.certs[0], &leaf.info, &leaf.certs);

    let mut checks = vec![ca_check(inputs, ca_info, now)];
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
            code: "key_match",
            status: Status::Fail,
            message: format!("the private key cannot be used: {why}"),
        });
    }
    checks.extend(leafcheck::check_leaf(
        ca_der,
        ca_info,
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
    let ok = !checks.iter().any(|c| c.status == Status::Fail);
    let needs_renewal = checks.iter().any(|c| c.status == Status::Renew);
    Ok(Verification {
        inputs: inputs.clone(),
        ok,
        needs_renewal,
        checks,
    })
}

fn ca_check(inputs: &Inputs, ca: &CertInfo, now: OffsetDateTime) -> Check {
    match check_is_usable_ca(&inputs.ca, ca, now) {
        Ok(()) => Check {
            code: "ca",
            status: Status::Pass,
            message: format!(
                "CA \"{}\" ({}) is a CA, valid until {}",
                ca.display_name(),
                ca.public_key,
                date(ca.not_after)
            ),
        },
        Err(e) => Check {
            code: "ca",
            status: Status::Fail,
            message: e.to_string(),
        },
    }
}
