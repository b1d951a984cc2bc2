//! `raytls verify`: offline checks of a CA, certificate and key, one line per check.
use std::time::Instant;

use crate::cli::verify::VerifyArgs;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::pki::leafcheck::Status;
use crate::pki::role::{LeafIdentity, Role};
use crate::pki::san::{self, San};
use crate::verify::{self, Inputs, Report};

pub fn run(a: VerifyArgs) -> Result<ExitCode> {
    let inputs = inputs(&a)?;
    let (sans, mut notes) = expected_sans(&a)?;
    let renew = time::Duration::try_from(a.renew_before).unwrap_or(time::Duration::MAX);
    let deadline = a.wait.map(|w| Instant::now() + w);
    let mut last_problem = String::new();
    let outcome = loop {
        let attempt = verify::run(&inputs, &sans, renew, super::now());
        let done = match &attempt {
            Ok(r) => r.ok,
            Err(_) => false,
        };
        let Some(deadline) = deadline.filter(|d| !done && Instant::now() < *d) else {
            break attempt;
        };
        // Say what we are waiting for when it changes, not once a second.
        let problem = match &attempt {
            Ok(r) => r
                .checks
                .iter()
                .find(|c| c.status == Status::Fail)
                .map(|c| c.message.clone())
                .unwrap_or_default(),
            Err(e) => e.to_string(),
        };
        if problem != last_problem {
            let left = deadline.saturating_duration_since(Instant::now()).as_secs();
            eprintln!("raytls: waiting ({left}s left): {problem}");
            last_problem = problem;
        }
        std::thread::sleep(
            std::time::Duration::from_secs(1)
                .min(deadline.saturating_duration_since(Instant::now())),
        );
    };
    let report = match outcome {
        Ok(r) => r,
        Err(e) => {
            // Unreadable input: exit 2, as documented.
            eprintln!("raytls: error: {e}");
            return Ok(ExitCode::Usage);
        }
    };
    let mut report = report;
    report.checks.append(&mut notes);
    print(&report, a.json);
    Ok(report.exit_code())
}

fn inputs(a: &VerifyArgs) -> Result<Inputs> {
    let from_env = |var: &str| -> Result<std::path::PathBuf> {
        match std::env::var_os(var) {
            Some(v) if !v.is_empty() => Ok(v.into()),
            _ => Err(Error::Usage(format!(
                "--from-env: {var} is not set (is this a Ray container with RAY_USE_TLS=1?)"
            ))),
        }
    };
    let (mut ca, mut cert, mut key) = (None, None, None);
    if let Some(dir) = &a.dir {
        ca = Some(dir.join("ca.crt"));
        cert = Some(dir.join("tls.crt"));
        key = Some(dir.join("tls.key"));
    } else if a.from_env {
        ca = Some(from_env("RAY_TLS_CA_CERT")?);
        cert = Some(from_env("RAY_TLS_SERVER_CERT")?);
        key = Some(from_env("RAY_TLS_SERVER_KEY")?);
    }
    // Explicit files override the directory or the environment.
    ca = a.ca.clone().or(ca);
    cert = a.cert.clone().or(cert);
    key = a.key.clone().or(key);
    match (ca, cert) {
        (Some(ca), Some(cert)) => Ok(Inputs { ca, cert, key }),
        _ => Err(Error::Usage(
            "verify needs --ca FILE and --cert FILE (and --key FILE), or --dir DIR, or --from-env"
                .into(),
        )),
    }
}

/// The SANs to require, and notes for what could not be checked. `--pod-ip` and `--fqdn`
/// are required SANs with or without `--role`; the role adds what it needs on top.
fn expected_sans(a: &VerifyArgs) -> Result<(Vec<San>, Vec<crate::pki::leafcheck::Check>)> {
    let extra = a
        .sans
        .iter()
        .map(|s| San::parse("--san", s))
        .collect::<Result<Vec<_>>>()?;
    let pod_ip = match super::pod_ip_input(&a.pod_ip) {
        // POD_IP from the environment only matters for a role that is dialed at it.
        Some(("POD_IP", _)) if !a.role.is_some_and(Role::needs_pod_ip) => None,
        Some((source, v)) => Some(san::parse_pod_ip(source, &v)?),
        None => None,
    };
    // KubeRay sets FQ_RAY_IP in worker pods too, so the env var counts only for the head.
    let fqdn_raw = match &a.fqdn {
        Some(f) => Some(("--fqdn", f.clone())),
        None if a.role == Some(Role::Head) => std::env::var("FQ_RAY_IP")
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| ("FQ_RAY_IP", v)),
        None => None,
    };
    let fqdn = match fqdn_raw {
        Some((source, f)) => Some(San::parse(source, &f)?),
        None => None,
    };
    let mut notes = Vec::new();
    let role = a.role.unwrap_or(Role::Client);
    if role.needs_pod_ip() && pod_ip.is_none() {
        notes.push(note(
            "pod_ip_unchecked",
            "no --pod-ip or POD_IP: the pod IP SAN, which Ray dials between pods, was not checked",
        ));
    }
    if role == Role::Head && fqdn.is_none() {
        notes.push(note(
            "fqdn_unchecked",
            "no --fqdn or FQ_RAY_IP: the head service name, which workers dial, was not checked",
        ));
    }
    let identity = LeafIdentity {
        role,
        pod_ip,
        fqdn: fqdn.clone(),
        ray_ip: None,
        extra,
    };
    let mut sans = identity.required_sans();
    // A client's identity holds only --san; an explicit --pod-ip/--fqdn is still required.
    if role == Role::Client {
        if let Some(ip) = pod_ip {
            san::push_unique(&mut sans, San::Ip(ip));
        }
        if let Some(f) = fqdn {
            san::push_unique(&mut sans, f);
        }
    }
    Ok((sans, notes))
}

fn note(code: &'static str, message: &str) -> crate::pki::leafcheck::Check {
    crate::pki::leafcheck::Check {
        code,
        status: Status::Warn,
        message: message.into(),
    }
}

fn print(r: &Report, json: bool) {
    if json {
        crate::outln!("{}", serde_json::to_string(r).unwrap_or_default());
        return;
    }
    for c in &r.checks {
        let tag = match c.status {
            Status::Pass => "ok  ",
            Status::Fail => "FAIL",
            Status::Warn => "warn",
            Status::Renew => "RENEW",
        };
        crate::outln!("{tag} {:<16} {}", c.code, c.message);
    }
    let verdict = match r.exit_code() {
        ExitCode::Ok => "Ray will accept these files".to_string(),
        ExitCode::NeedsRenewal => "valid, but due for renewal".to_string(),
        _ => format!(
            "{} check(s) failed",
            r.checks.iter().filter(|c| c.status == Status::Fail).count()
        ),
    };
    crate::outln!("{}: {verdict}", r.inputs.cert.display());
}
