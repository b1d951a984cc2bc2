//! `raytls verify`: offline checks of a CA, certificate and key, one line per check.
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::pki::leafcheck::{CheckCode, Status};
use crate::pki::role::{LeafIdentity, Role};
use crate::pki::san::{self, San};
use crate::pki::verify::{self, Inputs, Verification};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

const VERIFY_EXAMPLES: &str = "\
Checks (one line each): the CA is a valid CA; the certificate verifies against it as a TLS
server and as a TLS client (rustls' own verifier); the key matches; the leaf is not a CA;
the SANs cover what the role needs (head: localhost, 127.0.0.1, POD_IP, FQDN; worker:
localhost, 127.0.0.1, POD_IP) and every --san; EKU has serverAuth+clientAuth or none; Ray
can use the key and signature (no Ed25519, RSA >= 2048, no SHA-1); validity and renewal.

CA rotation: the CA file may hold several roots (old + new); the certificate must chain to
one of them. With several roots (or --current-ca), a `rotation` line says the step
(JSON: \"rotation\": {\"step\": \"none\" | \"trusts_both_leaf_old\" | \"trusts_both_leaf_new\" |
\"leaf_not_trusted\" | \"current_not_trusted\", \"roots\", \"current_root\", \"leaf_root\", \"next\"}):
  step 1 done   trusts old + new, the certificate is still from the old CA: re-issue next
  step 2 done   the certificate is from the new CA: drop the old root once every pod is here
  none          one root and the certificate from it (no rotation, or one finished)
The rotation line is a warning while a rotation is in progress: it changes no exit code.

EXIT CODES:
  0  every check passed (warnings allowed)
  1  a check failed
  2  usage error, or an input file is missing or unreadable
  3  valid, but expires within --renew-before (renew it)

EXAMPLES:
  # In a Ray pod: the files Ray itself will load
  raytls verify --from-env --role worker --pod-ip $POD_IP

  # KubeRay with cert-manager: wait until the mounted Secret holds this pod's IP
  raytls verify --from-env --role worker --pod-ip $POD_IP --wait 120s

  # An ops engineer with three files
  raytls verify --ca ca.crt --cert tls.crt --key tls.key --role head \\
      --fqdn raycluster-head-svc.default.svc.cluster.local --pod-ip 10.0.0.5

  # Mid CA rotation: which step is this pod at, rotating to the root in ca-new.crt?
  raytls verify --dir /etc/ray/tls --current-ca ca-new.crt --json | jq .rotation.step

  # A cron job: renew when less than 30 days are left, alert when something is wrong
  raytls verify --dir /etc/ray/tls --renew-before 30d >/dev/null
  case $? in 0) ;; 3) renew ;; *) alert ;; esac";

#[derive(Debug, Args)]
#[command(after_help = VERIFY_EXAMPLES)]
pub struct VerifyArgs {
    /// The CA certificate
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// The certificate to check
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Its private key
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// A directory with ca.crt, tls.crt and tls.key (what raytls issue/init write)
    #[arg(long, value_name = "DIR", conflicts_with = "from_env")]
    pub dir: Option<PathBuf>,
    /// Read RAY_TLS_CA_CERT, RAY_TLS_SERVER_CERT, RAY_TLS_SERVER_KEY, as a Ray pod has them
    #[arg(long)]
    pub from_env: bool,
    /// Check the SANs this role needs
    #[arg(long, value_enum)]
    pub role: Option<Role>,
    /// The pod IP the certificate must hold (head and worker) [env: POD_IP]
    #[arg(long, value_name = "IP")]
    pub pod_ip: Option<String>,
    /// The head service FQDN the certificate must hold [env: FQ_RAY_IP, read for --role head]
    #[arg(long, value_name = "NAME")]
    pub fqdn: Option<String>,
    /// Another name or IP the certificate must hold (repeatable)
    #[arg(long = "san", value_name = "NAME_OR_IP")]
    pub sans: Vec<String>,
    /// Exit 3 ("needs renewal") when the certificate expires within this time
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = crate::text::duration::parse)]
    pub renew_before: std::time::Duration,
    /// Re-read the files and repeat the checks until they pass or this time is up (at most 24h)
    #[arg(long, value_name = "DURATION", value_parser = parse_wait)]
    pub wait: Option<std::time::Duration>,
    /// During a CA rotation: the root new leaves come from (default: the newest root in
    /// the CA file, by notBefore)
    #[arg(long, value_name = "FILE")]
    pub current_ca: Option<PathBuf>,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
}

fn parse_wait(s: &str) -> std::result::Result<std::time::Duration, String> {
    crate::text::duration::parse_at_most(s, std::time::Duration::from_secs(86_400))
}

pub fn run(a: VerifyArgs) -> Result<ExitCode> {
    let inputs = inputs(&a)?;
    let (sans, mut notes) = expected_sans(&a)?;
    let renew = time::Duration::try_from(a.renew_before).unwrap_or(time::Duration::MAX);
    let deadline = a.wait.and_then(|w| Instant::now().checked_add(w));
    let mut last_problem = String::new();
    let outcome = loop {
        let attempt = verify::check_files(&inputs, &sans, renew, super::now());
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
    let mut report = outcome.map_err(|e| Error::LocalConfig(Box::new(e)))?;
    report.checks.append(&mut notes);
    print(&report, a.json);
    Ok(report.exit_code())
}

fn inputs(a: &VerifyArgs) -> Result<Inputs> {
    let from_env = |var: &'static str| -> Result<std::path::PathBuf> {
        match std::env::var_os(var) {
            Some(v) if !v.is_empty() => Ok(v.into()),
            _ => Err(Error::FromEnvUnset { var }),
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
        (Some(ca), Some(cert)) => Ok(Inputs {
            ca,
            cert,
            key,
            current_ca: a.current_ca.clone(),
        }),
        _ => Err(Error::NothingToVerify),
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
    let pod_ip = crate::cli::args::pod_ip(&a.pod_ip, a.role)?;
    // --fqdn is checked for any role; FQ_RAY_IP only for the head (see head_name).
    let fqdn = crate::cli::args::head_name(&a.fqdn, "--fqdn", "FQ_RAY_IP", a.role)?;
    let mut notes = Vec::new();
    let role = a.role.unwrap_or(Role::Client);
    if role.needs_pod_ip() && pod_ip.is_none() {
        notes.push(note(
            CheckCode::PodIpUnchecked,
            "no --pod-ip or POD_IP: the pod IP SAN, which Ray dials between pods, was not checked",
        ));
    }
    if role == Role::Head && fqdn.is_none() {
        notes.push(note(
            CheckCode::FqdnUnchecked,
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

fn note(code: CheckCode, message: &str) -> crate::pki::leafcheck::Check {
    crate::pki::leafcheck::Check {
        code,
        status: Status::Warn,
        message: message.into(),
    }
}

fn print(r: &Verification, json: bool) {
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
        crate::outln!(
            "{tag} {:<16} {}",
            c.code,
            crate::text::escape::escape(&c.message)
        );
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
