//! One file per subcommand: read the flags, call the library, print one line per outcome.
//! No crypto or parsing of certificates here; the shared translation from flags to domain
//! types (pod IP, SANs, CA location) lives below.
use std::path::Path;

use time::OffsetDateTime;

use crate::cli::args::{CaSourceArgs, LeafArgs};
use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::pki::authority::CaFiles;
use crate::pki::role::{LeafIdentity, Role};
use crate::pki::san::{self, San};
use crate::provision::ray_env::{CA_FILE, ENV_FILE, KEY_FILE};
use crate::provision::{Action, Outcome};

pub mod ca;
pub mod completions;
pub mod env;
pub mod health_check;
pub mod init;
pub mod inspect;
pub mod issue;
pub mod lint_uri;
pub mod man;
pub mod netrc;
pub mod quickstart;
pub mod token;
pub mod verify;

/// Run the chosen command; its `ExitCode` is what the process exits with.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Ca(args) => ca::run(args),
        Command::Issue(args) => issue::run(args),
        Command::Init(args) => init::run(args),
        Command::Env(args) => env::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Quickstart(args) => quickstart::run(args),
        Command::HealthCheck(args) => health_check::run(args),
        Command::Token(args) => token::run(args),
        Command::Netrc(args) => netrc::run(args),
        Command::LintUri(args) => lint_uri::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `--ca DIR`, or `--ca-cert FILE --ca-key FILE`.
pub(crate) fn ca_files(args: &CaSourceArgs) -> Result<CaFiles> {
    match (&args.ca, &args.ca_cert, &args.ca_key) {
        (Some(dir), _, _) => Ok(CaFiles::in_dir(dir)),
        (None, Some(cert), Some(key)) => Ok(CaFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => Err(Error::NoCa),
    }
}

/// `--pod-ip`, else the POD_IP env var, with where it came from (named in errors). Read by
/// hand because clap treats an empty env var as unset, and an empty POD_IP in a pod is a
/// broken downward-API mapping that must be an error, not a silently missing SAN.
pub(crate) fn pod_ip_input(flag: &Option<String>) -> Option<(&'static str, String)> {
    match flag {
        Some(v) => Some(("--pod-ip", v.clone())),
        None => std::env::var("POD_IP").ok().map(|v| ("POD_IP", v)),
    }
}

/// The identity a head/worker/client certificate is for, from flags and the pod's env.
pub(crate) fn leaf_identity(role: Role, args: &LeafArgs) -> Result<LeafIdentity> {
    let pod_ip = match pod_ip_input(&args.pod_ip) {
        Some((source, v)) if role.needs_pod_ip() || !v.is_empty() => {
            Some(san::parse_pod_ip(source, &v)?)
        }
        _ => None,
    };
    // KubeRay's FQ_RAY_IP is a name, but RAY_IP may be an address (127.0.0.1 in the head's
    // own container): both are parsed IP first, like --san.
    let name_or_ip = |flag: &str, v: &Option<String>| -> Result<Option<San>> {
        match v {
            Some(v) if role == Role::Head => San::parse(flag, v).map(Some),
            _ => Ok(None),
        }
    };
    let fqdn = name_or_ip("--fqdn/FQ_RAY_IP", &args.fqdn)?;
    let ray_ip = name_or_ip("--ray-ip/RAY_IP", &args.ray_ip)?;
    let extra = args
        .sans
        .iter()
        .map(|s| San::parse("--san", s))
        .collect::<Result<Vec<_>>>()?;
    LeafIdentity::new(role, pod_ip, fqdn, ray_ip, extra)
}

/// One line per outcome, as mkcert does; or one JSON object.
pub(crate) fn print_outcome(o: &Outcome, json: bool) {
    for note in &o.notes {
        eprintln!("raytls: note: {note}");
    }
    if json {
        crate::outln!("{}", serde_json::to_string(o).unwrap_or_default());
        return;
    }
    let verb = match o.action {
        Action::Issued => "issued",
        Action::Kept => "kept",
    };
    crate::outln!(
        "{verb} {} certificate {}: SANs {}; {}; expires {} ({})",
        o.role,
        o.cert.display(),
        if o.sans.is_empty() {
            "none".to_string()
        } else {
            o.sans.join(", ")
        },
        o.key_type,
        o.not_after,
        o.reason
    );
    for path in o.written.iter().filter(|p| **p != o.cert) {
        let what = match path.file_name().and_then(|n| n.to_str()) {
            Some(KEY_FILE) => "private key, mode 0600".to_string(),
            Some(CA_FILE) => format!("CA \"{}\", expires {}", o.ca_subject, o.ca_not_after),
            Some(ENV_FILE) => "RAY_USE_TLS=1 and the RAY_TLS_* paths".to_string(),
            _ => "".to_string(),
        };
        crate::outln!("wrote {} ({what})", path.display());
    }
}

pub(crate) fn display(p: &Path) -> String {
    p.display().to_string()
}
