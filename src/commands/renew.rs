//! `raytls renew`: replace a pod's certificate before it expires, once or as a sidecar.
//!
//! Ray reads its certificate only when a process starts, and an init container runs only
//! when the pod starts: `renew --watch` in a native sidecar keeps the files fresh, and
//! `health-check --expect-cert` tells the kubelet when Ray still serves the old one.
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use time::OffsetDateTime;

use crate::cli::args::SignerArgs;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::pki::authority::{Authority, CaFiles, Lifetime, CLOCK_SKEW};
use crate::pki::certinfo::{CertFile, CertInfo};
use crate::pki::csr::role_in_subject;
use crate::pki::keys::KeyType;
use crate::pki::leafcheck::RenewWhen;
use crate::pki::role::{LeafIdentity, Role};
use crate::pki::san::San;
use crate::pki::trust::TrustBundle;
use crate::provision::ray_env::{CA_FILE, CERT_FILE};
use crate::provision::signer::SignerJob;
use crate::provision::watch_metrics::{self, CertState, WatchMetrics};
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
        let served = a.check_served.as_deref().map(|addr| served(&a.dir, addr));
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
    watch(&a, renewal)
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
    let names = Names::of(&current.info, role)?;
    if let Some(client) = a.signer.client(&a.dir)? {
        a.validity.refuse_with_signer()?;
        let job = SignerJob {
            client: &client,
            role,
            names: if role == Role::Head {
                names.dns
            } else {
                Vec::new()
            },
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

/// A `--dir` that does not take the files (a read-only volume, no permission, a `..data`
/// raytls did not make) is the sidecar's configuration, not a passing fault: exit 2, and
/// `--watch` stops instead of retrying it. Found before anything was asked of the signer
/// or the CA (`provision::files::stage`). Other write errors (a full disk) stay failures.
fn dir_config(e: Error) -> Error {
    use std::io::ErrorKind;
    let config = match &e {
        Error::NotWritable { source, .. } => matches!(
            source.kind(),
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
        ),
        Error::ForeignDataLink { .. } => true,
        _ => false,
    };
    if config {
        Error::LocalConfig(Box::new(e))
    } else {
        e
    }
}

/// The lifetime a certificate was asked for: raytls dates `notBefore` back by the allowed
/// clock skew, which is not part of it (else every renewal would add five minutes).
fn chosen_lifetime(info: &CertInfo) -> time::Duration {
    let span = info.not_after - info.not_before;
    if span > CLOCK_SKEW + Lifetime::SHORTEST {
        span - CLOCK_SKEW
    } else {
        span.max(Lifetime::SHORTEST)
    }
}

fn current_certificate(dir: &Path) -> Result<CertFile> {
    let path = dir.join(CERT_FILE);
    if std::fs::metadata(&path).is_err() {
        // A sidecar pointed at the wrong directory: configuration, not a passing fault.
        return Err(Error::LocalConfig(Box::new(Error::Missing {
            path,
            hint: "there is nothing to renew: run `raytls init` first".into(),
        })));
    }
    CertInfo::read_first(&path)
}

/// The names a renewed certificate keeps.
struct Names {
    /// POD_IP when the pod says so, else the certificate's own non-loopback address.
    pod_ip: Option<IpAddr>,
    /// DNS names other than localhost (the head's service names).
    dns: Vec<San>,
    /// Every name besides localhost, loopback and the pod IP (for a local CA).
    other: Vec<San>,
}

impl Names {
    fn of(info: &CertInfo, role: Role) -> Result<Names> {
        // The certificate's own pod IP is its first address that is not loopback.
        let cert_pod_ip = info
            .ip_addresses
            .iter()
            .copied()
            .find(|ip| !ip.is_loopback());
        let pod_ip = crate::cli::args::pod_ip(&None, Some(role))?.or(cert_pod_ip);
        let dns: Vec<San> = info
            .dns_names
            .iter()
            .filter(|n| n.as_str() != "localhost")
            .filter_map(|n| San::parse("tls.crt", n).ok())
            .collect();
        let mut other = dns.clone();
        other.extend(
            info.ip_addresses
                .iter()
                .filter(|ip| !ip.is_loopback() && Some(**ip) != pod_ip && Some(**ip) != cert_pod_ip)
                .map(|ip| San::Ip(*ip)),
        );
        Ok(Names { pod_ip, dns, other })
    }
}

/// `--watch`: one pass, then sleep until the next check; a failure is logged and retried
/// with backoff; only a configuration error (exit code 2) ends it.
fn watch(a: &RenewArgs, renewal: Renewal) -> Result<ExitCode> {
    const MIN_CHECK: Duration = Duration::from_secs(10);
    const MAX_CHECK: Duration = Duration::from_secs(3600);
    const MAX_BACKOFF: Duration = Duration::from_secs(300);
    let mut backoff = Duration::from_secs(2);
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
    loop {
        let next = match pass(a, renewal) {
            Ok(outcome) => {
                backoff = Duration::from_secs(2);
                let next = jitter(
                    until_renewal(&a.dir, renewal, super::now()).clamp(MIN_CHECK, MAX_CHECK),
                );
                let served = a.check_served.as_deref().map(|addr| served(&a.dir, addr));
                if let Some(m) = &metrics {
                    let renewed = matches!(outcome.action, Action::Issued);
                    m.pass_ok(
                        &outcome.role,
                        renewed,
                        cert_state(&a.dir, renewal),
                        super::now(),
                    );
                    if let Some(s) = &served {
                        m.served(s.restart_due());
                    }
                }
                watch_line(&outcome, served.as_ref(), next, a.json);
                next
            }
            Err(e) if e.exit_code() == ExitCode::Usage => return Err(e),
            Err(e) => {
                if let Some(m) = &metrics {
                    m.pass_failed(e.reason(), cert_state(&a.dir, renewal));
                }
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                eprintln!(
                    "raytls: renew failed: {}; next try in {}",
                    crate::text::escape::escape(&e.to_string()),
                    crate::text::duration::format(wait)
                );
                wait
            }
        };
        std::thread::sleep(next);
    }
}

/// A sidecar's log: one line per pass, with the time, what was done and when it looks next.
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

/// What the Ray process at an address serves, compared with the certificate on disk.
struct Served {
    address: String,
    /// It serves DIR/tls.crt.
    current: bool,
    /// `ok`, `stale_certificate`, or why it could not be asked (`connection_refused`...).
    cause: String,
    message: String,
}

impl Served {
    /// Some(true): Ray serves an older certificate; Some(false): the one on disk; None: Ray
    /// could not be asked.
    fn restart_due(&self) -> Option<bool> {
        if self.current {
            Some(false)
        } else if self.cause == "stale_certificate" {
            Some(true)
        } else {
            None
        }
    }

    fn line(&self) -> String {
        let message = crate::text::escape::escape(&self.message);
        if self.current {
            format!("Ray at {} serves it", self.address)
        } else if self.cause == "stale_certificate" {
            format!("RESTART DUE: {message}")
        } else {
            format!(
                "could not ask Ray at {} which certificate it serves ({}): {message}",
                self.address, self.cause
            )
        }
    }
}

/// Ask the Ray process at `address` which certificate it serves, with this pod's own
/// identity (DIR's tls.crt, tls.key, ca.crt), as `health-check --expect-cert` does.
fn served(dir: &Path, address: &str) -> Served {
    use crate::probe::{credentials, health, target};
    let fail = |cause: &str, message: String| Served {
        address: address.to_string(),
        current: false,
        cause: cause.to_string(),
        message,
    };
    let cert_path = dir.join(CERT_FILE);
    let (target, creds, want) = match (
        target::parse(address),
        credentials::load(
            &dir.join(crate::provision::ray_env::CA_FILE),
            &cert_path,
            &dir.join(crate::provision::ray_env::KEY_FILE),
        ),
        current_certificate(dir),
    ) {
        (Ok(t), Ok(c), Ok(w)) => (t, c, w),
        (Err(e), _, _) => return fail("local_config", e),
        (_, Err(e), _) | (_, _, Err(e)) => return fail("local_config", e.to_string()),
    };
    let opts = health::Options {
        timeout: Duration::from_secs(5),
        expect_ray_version: None,
        expect_cert: Some((cert_path, want.certs[0].clone())),
        and_gcs: false,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return fail(
                "local_config",
                format!("cannot start the async runtime: {e}"),
            )
        }
    };
    let report = runtime.block_on(health::check(&target, &creds, None, &opts));
    runtime.shutdown_background();
    Served {
        address: address.to_string(),
        current: report.healthy,
        cause: report.cause.code().to_string(),
        message: report.message,
    }
}

/// How long until the certificate in `dir` enters its renewal window.
fn until_renewal(dir: &Path, renewal: Renewal, now: OffsetDateTime) -> Duration {
    let Ok(current) = current_certificate(dir) else {
        return Duration::ZERO;
    };
    Duration::try_from(renewal_point(&current.info, renewal) - now).unwrap_or(Duration::ZERO)
}

/// When a certificate enters its renewal window.
fn renewal_point(info: &CertInfo, renewal: Renewal) -> OffsetDateTime {
    let window = match renewal.when {
        RenewWhen::Within(d) => d,
        RenewWhen::FractionLeft(f) => (info.not_after - info.not_before) * f,
    };
    info.not_after - window
}

/// What the metrics say about the directory: the certificate's expiry and renewal point,
/// and the expiry of the root in ca.crt it chains to. None when tls.crt is unreadable.
fn cert_state(dir: &Path, renewal: Renewal) -> Option<CertState> {
    let current = current_certificate(dir).ok()?;
    let ca_not_after = TrustBundle::read(&dir.join(CA_FILE))
        .ok()
        .and_then(|bundle| {
            bundle
                .issuer_of(&current.certs[0], &current.certs[1..], super::now())
                .map(|root| root.info.not_after)
        });
    Some(CertState {
        not_after: current.info.not_after,
        renew_at: renewal_point(&current.info, renewal),
        ca_not_after,
    })
}

/// Up to 10% less, so that a fleet started together does not renew together.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 1];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    d.mul_f64(1.0 - f64::from(b[0]) / 255.0 * 0.1)
}
