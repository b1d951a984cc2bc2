//! `raytls renew`: replace a pod's certificate before it expires, once or as a sidecar.
//!
//! Ray reads its certificate only when a process starts, and an init container runs only
//! when the pod starts: `renew --watch` in a native sidecar keeps the files fresh, and
//! `health-check --expect-cert` tells the kubelet when Ray still serves the old one.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use time::OffsetDateTime;

use crate::cli::args::SignerArgs;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::pki::authority::{Authority, CaFiles, Lifetime};
use crate::pki::csr::role_in_subject;
use crate::pki::keys::KeyType;
use crate::pki::leafcheck::RenewWhen;
use crate::pki::role::{LeafIdentity, Role};
use crate::provision::ray_env::{CA_FILE, CERT_FILE};
use crate::provision::renewal::{
    chosen_lifetime, current_certificate, dir_config, Names, Pass, Renewer, Served, ServedCheck,
};
use crate::provision::signer::SignerJob;
use crate::provision::watch_metrics::{self, WatchMetrics};
use crate::provision::{self, Action, Outcome, Renewal, Source};

const RENEW_EXAMPLES: &str = "\
What it does:
  reads DIR/tls.crt: its role (recorded in the certificate; --role overrides) and its names
  (the pod IP from POD_IP when set). One pass replaces the certificate, the key and ca.crt
  together when a check fails, when less than --renew-before is left (default: a third of
  its lifetime), or with --force, and otherwise keeps it, saying which. It makes sure DIR
  takes the new files before it asks the signer or the CA. DIR keeps its layout: one
  `init` wrote is swapped through ..data, one `issue` wrote stays regular files. With --ca
  the new certificate lives as long as the one it replaces unless --days/--valid-for say
  otherwise. Through a signer it authenticates with the certificate it renews (mutual TLS,
  no token). Ray loads its certificate only at start: pair this with
  `raytls health-check --expect-cert DIR/tls.crt` as the Ray container's liveness probe.

EXIT CODES:
  0  renewed, or nothing to do
  1  the renewal failed (once; --watch retries and keeps running)
  2  configuration error (no certificate in DIR, DIR read-only or not writable, no CA or
     signer, bad flags): --watch exits

EXAMPLES:
  # A worker pod's native sidecar, through the signer
  raytls renew --dir /etc/ray/tls --signer https://raytls-signer.ray.svc:8443 \\
      --signer-ca /etc/ca/ca.crt --watch

  # The head's sidecar without GCS fault tolerance: renew early, restart Ray only when
  # planned, and log from the renewal on that Ray still serves the previous certificate
  raytls renew --dir /etc/ray/tls --signer https://raytls-signer.ray.svc:8443 \\
      --signer-ca /etc/ca/ca.crt --renew-before 90d --check-served 127.0.0.1:6379 --watch

  # A sidecar Prometheus scrapes: certificate expiry, renewals, failures by reason,
  # restart due, CA expiry (alert rules: examples/monitoring/)
  raytls renew --dir /etc/ray/tls --signer https://raytls-signer.ray.svc:8443 \\
      --signer-ca /etc/ca/ca.crt --watch --metrics-listen 0.0.0.0:9109

  # By hand, with a local CA, now
  raytls renew --dir ./head --ca ./ca --force";

#[derive(Debug, Args)]
#[command(after_help = RENEW_EXAMPLES)]
pub struct RenewArgs {
    /// The directory `raytls init` wrote (tls.crt, tls.key, ca.crt, ray-tls.env)
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/etc/ray/tls",
        env = "RAYTLS_OUT_DIR"
    )]
    pub dir: PathBuf,
    /// Sign with a local CA: a directory with ca.crt and ca.key (instead of --signer)
    #[arg(
        long,
        value_name = "DIR",
        env = "RAYTLS_CA_DIR",
        conflicts_with = "signer"
    )]
    pub ca: Option<PathBuf>,
    #[command(flatten)]
    pub signer: SignerArgs,
    /// head or worker; default: the role recorded in the certificate
    #[arg(long, value_enum)]
    pub role: Option<Role>,
    /// Renew when less than this is left (default: a third of the certificate's lifetime)
    #[arg(
        long,
        value_name = "DURATION",
        env = "RAYTLS_RENEW_BEFORE",
        value_parser = crate::text::duration::parse
    )]
    pub renew_before: Option<Duration>,
    /// Renew now, whatever the certificate's state
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub validity: crate::cli::args::ValidityArgs,
    /// Keep running: check again before the renewal point (at least hourly), retry
    /// failures with backoff; exit only on a configuration error
    #[arg(long)]
    pub watch: bool,
    /// After each pass, ask the Ray process at HOST:PORT (e.g. 127.0.0.1:6379, the head's
    /// GCS) which certificate it serves, and say whether it still runs on an older one than
    /// DIR/tls.crt: the log line of a planned restart, without restarting anything
    #[arg(long, value_name = "HOST:PORT", env = "RAYTLS_CHECK_SERVED")]
    pub check_served: Option<String>,
    /// With --watch: serve Prometheus metrics on plain HTTP at ADDR:PORT (GET /metrics,
    /// GET /healthz): the certificate's and the CA's expiry, when it renews, the last
    /// success, failures by reason, restart due (with --check-served)
    #[arg(
        long,
        value_name = "ADDR:PORT",
        env = "RAYTLS_METRICS_LISTEN",
        requires = "watch"
    )]
    pub metrics_listen: Option<SocketAddr>,
    /// Print each outcome as one JSON object
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: RenewArgs) -> Result<ExitCode> {
    let renewal = Renewal {
        when: match a.renew_before {
            Some(d) => {
                RenewWhen::Within(time::Duration::try_from(d).unwrap_or(time::Duration::MAX))
            }
            None => Renewal::INIT.when,
        },
        force: a.force,
    };
    if let Some(addr) = &a.check_served {
        // A bad address is a configuration error now, not a log line on every pass.
        crate::probe::target::parse(addr).map_err(|why| Error::InvalidValue {
            source_name: "--check-served".into(),
            value: addr.clone(),
            what: "address",
            why,
        })?;
    }
    if !a.watch {
        let outcome = pass(&a, renewal)?;
        let served = a
            .check_served
            .as_deref()
            .map(|addr| ServedCheck::new(addr).check(&a.dir));
        if a.json {
            super::outcome::print_notes(&outcome);
            crate::outln!("{}", outcome_json(&outcome, served.as_ref(), None));
        } else {
            super::outcome::print(&outcome, false);
            if let Some(s) = &served {
                crate::outln!("{}", s.line());
            }
        }
        return Ok(ExitCode::Ok);
    }
    let metrics = match a.metrics_listen {
        Some(addr) => {
            let m = Arc::new(WatchMetrics::new(
                &a.dir.join(CERT_FILE),
                &a.dir.join(CA_FILE),
            ));
            let local = watch_metrics::serve(addr, m.clone())?;
            eprintln!("raytls: renew: serving metrics on http://{local}/metrics");
            Some(m)
        }
        None => None,
    };
    let Err(e) = Renewer::new(&a.dir, renewal)
        .check_served(a.check_served.as_deref())
        .metrics(metrics)
        .run(|| pass(&a, renewal), |p| log_pass(p, a.json));
    Err(e)
}

/// One pass: what the directory holds decides what to ask for.
fn pass(a: &RenewArgs, renewal: Renewal) -> Result<Outcome> {
    let now = super::now();
    let current = current_certificate(&a.dir)?;
    let role = match a.role.or_else(|| role_in_subject(&current.certs[0])) {
        Some(r @ (Role::Head | Role::Worker)) => r,
        _ => {
            return Err(Error::Usage(format!(
                "cannot tell which pod {} belongs to (no head/worker role recorded in it): pass --role head|worker",
                a.dir.join(CERT_FILE).display()
            )))
        }
    };
    let names = Names::of(&current.info, crate::cli::args::pod_ip(&None, Some(role))?);
    if let Some(client) = a.signer.client(&a.dir)? {
        a.validity.refuse_with_signer()?;
        let job = SignerJob {
            client: &client,
            role,
            names: names.signer_dns(role),
            pod_ip: names.pod_ip,
            key_type: KeyType::default(),
            wait: a.signer.wait,
        };
        return provision::renew_dir(&a.signer.source(&job)?, &a.dir, renewal, now)
            .map_err(dir_config);
    }
    let Some(ca_dir) = &a.ca else {
        return Err(Error::Usage(
            "renew needs a signer (--signer URL --signer-ca FILE) or a local CA (--ca DIR)".into(),
        ));
    };
    let ca = Authority::load(&CaFiles::in_dir(ca_dir), now)?;
    let identity = LeafIdentity::new(role, names.pod_ip, None, None, names.other)?;
    let source = Source::Local {
        ca: &ca,
        identity: &identity,
        key_type: KeyType::default(),
        // A renewal keeps the lifetime the operator chose when the certificate was made.
        lifetime: a
            .validity
            .lifetime_or(Lifetime::Default(chosen_lifetime(&current.info))),
    };
    provision::renew_dir(&source, &a.dir, renewal, now).map_err(dir_config)
}

/// A sidecar's log: one line per pass, on stdout when it kept or renewed, on stderr with
/// the next try when it failed.
fn log_pass(p: Pass<'_>, json: bool) {
    match p {
        Pass::Done {
            outcome,
            served,
            next,
        } => watch_line(outcome, served, next, json),
        Pass::Failed { error, next } => eprintln!(
            "raytls: renew failed: {}; next try in {}",
            crate::text::escape::escape(&error.to_string()),
            crate::text::duration::format(next)
        ),
    }
}

/// A pass that kept or renewed: the time, what was done and when it looks next.
fn watch_line(o: &Outcome, served: Option<&Served>, next: Duration, json: bool) {
    super::outcome::print_notes(o);
    if json {
        crate::outln!("{}", outcome_json(o, served, Some(next)));
        return;
    }
    let verb = match o.action {
        Action::Issued => "renewed",
        Action::Kept => "kept",
    };
    let served = served
        .map(|s| format!("; {}", s.line()))
        .unwrap_or_default();
    crate::outln!(
        "{} {verb} {} certificate {}: expires {} ({}){served}; next check in {}",
        crate::text::output::rfc3339(OffsetDateTime::now_utc()),
        o.role,
        o.cert.display(),
        o.expires_at,
        o.reason,
        crate::text::duration::format_left(Duration::from_secs(next.as_secs()))
    );
}

/// The outcome as one JSON object, with the time, `served` and `next_check_in_s` when known.
fn outcome_json(o: &Outcome, served: Option<&Served>, next: Option<Duration>) -> String {
    let mut v = serde_json::to_value(o).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "time".into(),
            crate::text::output::rfc3339(OffsetDateTime::now_utc()).into(),
        );
        if let Some(s) = served {
            m.insert(
                "served".into(),
                serde_json::json!({
                    "address": s.address,
                    "current": s.current,
                    "cause": s.cause,
                    "message": s.message,
                }),
            );
        }
        if let Some(next) = next {
            m.insert("next_check_in_s".into(), next.as_secs().into());
        }
    }
    v.to_string()
}
