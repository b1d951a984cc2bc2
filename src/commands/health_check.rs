//! `raytls health-check` (issue 4): read the flags, load our credentials (a problem there is
//! a local configuration error, exit 2, before anything is dialed), check every address
//! concurrently on a tokio runtime built here (the rest of raytls is synchronous), print one
//! line (or JSON object) per address, then a summary.
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::probe::credentials::{self, Credentials, Token};
use crate::probe::failure::Cause;
use crate::probe::health::{self, Options, Report};
use crate::probe::target::{self, Target};
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const EXAMPLES: &str = "\
EXAMPLES:
  Runbook, inside a Ray pod (credentials from RAY_TLS_CA_CERT, RAY_TLS_SERVER_CERT,
  RAY_TLS_SERVER_KEY, as Ray itself reads them):
    raytls health-check --address $FQ_RAY_IP:6379

  From an ops machine, with explicit files:
    raytls health-check --address raycluster-head-svc.default.svc.cluster.local:6379 \\
      --ca ca.crt --cert client/tls.crt --key client/tls.key --timeout 2s

  Several addresses at once (checked concurrently, one line each, then a summary):
    raytls health-check --address 10.0.0.5 --address 10.0.0.6:6379 --address [fd00::7]:6379

  For scripts: one JSON object per address; test `healthy` or the stable `cause` code:
    raytls health-check --address 10.0.0.5:6379 --json | jq -r .cause

  Token auth (RAY_AUTH_MODE=token, Ray >= 2.52): the token is read, in Ray's order, from
  --token-file, RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token:
    raytls health-check --address 10.0.0.5:6379 --token-file /var/run/secrets/ray/auth_token

  Check the cluster's Ray version as `ray health-check` does:
    raytls health-check --address 10.0.0.5:6379 --expect-ray-version 2.60.0

  Liveness probe of a Ray container whose certificate `raytls renew` keeps fresh: Ray
  loaded its certificate at start; fail (stale_certificate) once the file on disk differs,
  so that the kubelet restarts Ray into the renewed pair (head: the GCS port; worker: the
  raylet's --node-manager-port):
    raytls health-check --address 127.0.0.1:6379 --expect-cert /etc/ray/tls/tls.crt

CAUSES (--json `cause`; exit 1 unless noted):
  ok, resolve_failed, connection_refused, connect_failed, timeout, not_tls,
  closed_during_handshake, tls_handshake_failed, unknown_ca, name_mismatch, expired,
  not_yet_valid, no_server_auth_eku, bad_server_cert, client_cert_rejected,
  unauthenticated, not_ray_gcs, not_serving, grpc_error, version_mismatch,
  stale_certificate (--expect-cert),
  local_config (exit 2: our own CA/cert/key/token unusable, nothing was dialed; or this
  machine ran out of file descriptors)

EXIT CODES:
  0  every address is healthy
  1  at least one address is unhealthy
  2  usage or local configuration error";

/// Check a Ray GCS over mutual TLS, like `ray health-check`, and name what is wrong.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct HealthCheckArgs {
    /// GCS address: HOST, HOST:PORT, IP:PORT or [IPv6]:PORT (port 6379 if omitted).
    /// Repeat, or separate with commas, to check several at once.
    #[arg(
        long = "address",
        value_name = "HOST[:PORT]",
        required = true,
        value_delimiter = ','
    )]
    pub addresses: Vec<String>,

    /// CA certificate(s) the server's certificate must chain to
    #[arg(long, value_name = "FILE", env = "RAY_TLS_CA_CERT")]
    pub ca: Option<PathBuf>,

    /// Our certificate, presented to the server (Ray's node certificate works)
    #[arg(long, value_name = "FILE", env = "RAY_TLS_SERVER_CERT")]
    pub cert: Option<PathBuf>,

    /// The private key of --cert (never printed)
    #[arg(long, value_name = "FILE", env = "RAY_TLS_SERVER_KEY")]
    pub key: Option<PathBuf>,

    /// Deadline for each address, all phases included (connect, TLS, gRPC): 5s, 500ms, 1m
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// File holding the auth token for RAY_AUTH_MODE=token heads (first line). Without it:
    /// RAY_AUTH_TOKEN, then the file at RAY_AUTH_TOKEN_PATH, then ~/.ray/auth_token
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Fail unless the cluster runs this Ray version (as `ray health-check` compares its own)
    #[arg(long, value_name = "VERSION")]
    pub expect_ray_version: Option<String>,

    /// The certificate the server must present (e.g. /etc/ray/tls/tls.crt, what `raytls
    /// renew` keeps fresh): otherwise `stale_certificate`. The check then ends after the TLS
    /// handshake, so it works on any Ray gRPC port (GCS 6379, a raylet's node-manager port)
    #[arg(long, value_name = "FILE")]
    pub expect_cert: Option<PathBuf>,

    /// One JSON object per address (address, healthy, cause, message, ray_version,
    /// cluster_id, tls_version, latency_ms, ...) instead of text
    #[arg(long)]
    pub json: bool,
}

/// `--timeout`: a duration above zero and at most an hour.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = crate::text::duration::parse(s)?;
    if d.is_zero() {
        return Err(format!("{s:?} must be more than zero"));
    }
    if d > Duration::from_secs(3600) {
        return Err(format!("{s:?} is longer than an hour"));
    }
    Ok(d)
}

pub fn run(args: HealthCheckArgs) -> Result<ExitCode> {
    let targets = parse_targets(&args.addresses)?;
    let local = load_local(&args);
    let local = local.and_then(|ct| {
        let expect = match &args.expect_cert {
            Some(path) => {
                let mut f = crate::pki::certinfo::CertInfo::read_first(path)?;
                Some((path.clone(), f.certs.swap_remove(0)))
            }
            None => None,
        };
        Ok((ct, expect))
    });
    let ((creds, token), expect_cert) = match local {
        Ok(x) => x,
        Err(e) => {
            if args.json {
                for t in &targets {
                    print_json(&Report::local_config(t.to_string(), e.to_string()));
                }
            }
            return Err(Error::LocalConfig(Box::new(e)));
        }
    };
    let opts = Options {
        timeout: args.timeout,
        expect_ray_version: args.expect_ray_version.clone(),
        expect_cert,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal {
            what: "start the async runtime",
            why: e.to_string(),
        })?;
    let reports = runtime.block_on(health::check_all(targets, Arc::new(creds), token, opts));
    // A DNS lookup that outlived its deadline still sits in a blocking thread: do not wait.
    runtime.shutdown_background();

    for r in &reports {
        if args.json {
            print_json(r);
        } else {
            crate::outln!("{}", r.line());
        }
    }
    let unhealthy: Vec<&Report> = reports.iter().filter(|r| !r.healthy).collect();
    if !args.json {
        crate::outln!("{}", summary(reports.len(), &unhealthy));
    }
    Ok(if unhealthy.is_empty() {
        ExitCode::Ok
    } else if unhealthy.iter().any(|r| r.cause == Cause::LocalConfig) {
        // Out of local descriptors mid-run: our problem, as a bad local file is.
        ExitCode::Usage
    } else {
        ExitCode::Failure
    })
}

fn parse_targets(addresses: &[String]) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    for a in addresses {
        let t = target::parse(a).map_err(|why| Error::InvalidValue {
            source_name: "--address".into(),
            value: a.clone(),
            what: "address (HOST[:PORT] or [IPv6]:PORT)",
            why,
        })?;
        targets.push(t);
    }
    if targets.is_empty() {
        return Err(Error::Usage(
            "give at least one --address HOST[:PORT]".into(),
        ));
    }
    Ok(targets)
}

/// Our CA, certificate, key and token: everything checked before the first packet.
fn load_local(args: &HealthCheckArgs) -> Result<(Credentials, Option<Token>)> {
    let ca = required(&args.ca, "CA certificate", "--ca", "RAY_TLS_CA_CERT")?;
    let cert = required(
        &args.cert,
        "client certificate",
        "--cert",
        "RAY_TLS_SERVER_CERT",
    )?;
    let key = required(&args.key, "client key", "--key", "RAY_TLS_SERVER_KEY")?;
    let creds = credentials::load(ca, cert, key)?;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let token =
        credentials::find_token(args.token_file.as_deref(), &|k| std::env::var(k).ok(), home)?;
    Ok((creds, token))
}

fn required<'a>(v: &'a Option<PathBuf>, what: &str, flag: &str, env: &str) -> Result<&'a Path> {
    match v {
        Some(p) if !p.as_os_str().is_empty() => Ok(p),
        _ => Err(Error::Usage(format!(
            "no {what}: pass {flag} FILE or set {env} (Ray's own variable, set in Ray pods)"
        ))),
    }
}

fn print_json(r: &Report) {
    match serde_json::to_string(r) {
        Ok(s) => crate::outln!("{s}"),
        Err(e) => eprintln!("raytls: cannot render JSON for {}: {e}", r.address),
    }
}

fn summary(total: usize, unhealthy: &[&Report]) -> String {
    if unhealthy.is_empty() {
        return if total == 1 {
            "healthy".into()
        } else {
            format!("all {total} healthy")
        };
    }
    let which: Vec<String> = unhealthy
        .iter()
        .map(|r| format!("{} ({})", r.address, r.cause.code()))
        .collect();
    format!(
        "{} of {total} unhealthy: {}",
        unhealthy.len(),
        which.join(", ")
    )
}
