//! `raytls health-check` (issue 4): read the flags, load our credentials (a problem there is
//! a local configuration error, exit 2, before anything is dialed), check every address
//! concurrently on a tokio runtime built here (the rest of raytls is synchronous), print one
//! line (or JSON object) per address, then a summary.
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::probe::cluster::{self, NodeOptions, NodeReport, Verdict};
use crate::probe::credentials::{self, Credentials, Token};
use crate::probe::failure::Cause;
use crate::probe::health::{self, Options, Report};
use crate::probe::target::{self, Target};
use crate::text::number::grouped;
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

  Every node as the GCS sees it (runbook: is every node's TLS right, and when does it
  expire?): the GCS lists its nodes, each raylet is dialed where the GCS dials it for its
  health checks (node IP, node-manager port), one line per node; dead nodes are listed with
  Ray's death reason. A worker whose certificate lacks its own IP registers, then is marked
  dead ~20 s later: this names it, and the IP, while it is still alive:
    raytls health-check --address $FQ_RAY_IP:6379 --all-nodes --min-days-left 14
    raytls health-check --address 10.0.0.5:6379 --all-nodes --json |
      jq -c 'select(.kind == \"node\") | {address, verdict, cause, days_left}'
  The node checks end 4 x --timeout after they start (20 s by default); nodes not reached by
  then are `not_checked` (exit 1). A GCS listing more than --max-nodes (default 10,000)
  fails at once (too_many_nodes), nothing dialed. A larger cluster:
    raytls health-check --address $FQ_RAY_IP:6379 --all-nodes --max-nodes 20000 --timeout 10s

CAUSES (--json `cause`; exit 1 unless noted):
  ok, resolve_failed, connection_refused, connect_failed, timeout, not_tls,
  closed_during_handshake, tls_handshake_failed, unknown_ca, name_mismatch, expired,
  not_yet_valid, no_server_auth_eku, bad_server_cert, client_cert_rejected,
  unauthenticated, not_ray_gcs, not_serving, grpc_error, version_mismatch,
  stale_certificate (--expect-cert),
  expires_soon, node_dead, bad_node_address, not_checked (--all-nodes; node lines also use
  name_mismatch, unknown_ca, expired, ... for the node's certificate), too_many_nodes (the
  GCS lists more than --max-nodes),
  local_config (exit 2: our own CA/cert/key/token unusable, nothing was dialed; or this
  machine ran out of file descriptors)

EXIT CODES:
  0  every address is healthy (--all-nodes: the GCS and every node)
  1  at least one address is unhealthy; --all-nodes: the GCS, or a node whose certificate
     the GCS cannot accept (or that fails --min-days-left), or a node the GCS marked dead
     after failed health checks (nodes dead for other reasons, e.g. `ray stop`, are listed
     as DEAD and do not fail), a node not checked by the deadline, or more nodes than
     --max-nodes
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

    /// With --expect-cert on the GCS port: once the certificate matches, run the GCS checks
    /// too (one liveness probe for a head with GCS fault tolerance: a stale certificate or a
    /// GCS that does not answer)
    #[arg(long, requires = "expect_cert")]
    pub and_gcs: bool,

    /// One JSON object per address (address, healthy, cause, message, ray_version,
    /// cluster_id, tls_version, latency_ms, ...) instead of text; --all-nodes adds one per
    /// node ("kind": "node", node_id, address, state, verdict, cause, covers_address,
    /// chains_to, not_after, days_left, death_reason, ...)
    #[arg(long)]
    pub json: bool,

    /// Also check every node the GCS at --address (one address) knows: dial each node's
    /// raylet where the GCS does (node IP and node-manager port, the IP as TLS server name)
    /// and report its certificate: covers that IP? chains to which CA of --ca? expiry?
    #[arg(long, conflicts_with = "expect_cert")]
    pub all_nodes: bool,

    /// With --all-nodes: a node whose certificate has fewer whole days left fails
    /// (expires_soon). 0 (default): only an expired certificate fails
    #[arg(
        long,
        value_name = "DAYS",
        default_value_t = 0,
        requires = "all_nodes",
        value_parser = clap::value_parser!(u32).range(0..=3650)
    )]
    pub min_days_left: u32,

    /// With --all-nodes: a node the GCS marked dead after failed health checks fails the run
    /// only if it died within this long (e.g. 1h); older deaths are listed as history. The
    /// GCS keeps dead nodes until the head restarts. Default: any such death fails
    #[arg(
        long,
        value_name = "DURATION",
        requires = "all_nodes",
        value_parser = crate::text::duration::parse
    )]
    pub dead_within: Option<Duration>,

    /// With --all-nodes: a GCS that lists more nodes than this (alive and dead) fails the run
    /// (too_many_nodes) before any node is dialed; at most 100000
    #[arg(
        long,
        value_name = "N",
        env = "RAYTLS_MAX_NODES",
        default_value_t = cluster::DEFAULT_MAX_NODES,
        value_parser = parse_max_nodes
    )]
    pub max_nodes: usize,
}

/// `--max-nodes`: 1 to [`cluster::MAX_MAX_NODES`].
fn parse_max_nodes(s: &str) -> Result<usize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number of nodes"))?;
    if n == 0 || n > cluster::MAX_MAX_NODES {
        return Err(format!(
            "{n} is not between 1 and {}",
            cluster::MAX_MAX_NODES
        ));
    }
    Ok(n)
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
    if args.all_nodes && targets.len() != 1 {
        return Err(Error::Usage(format!(
            "--all-nodes asks one GCS for its nodes: give one --address, not {}",
            targets.len()
        )));
    }
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
        and_gcs: args.and_gcs,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal {
            what: "start the async runtime",
            why: e.to_string(),
        })?;
    if args.all_nodes {
        let node_opts = NodeOptions {
            min_days_left: args.min_days_left,
            dead_within: args.dead_within,
            max_nodes: args.max_nodes,
        };
        // parse_targets returned exactly one (checked above).
        let gcs = targets.into_iter().next().ok_or_else(|| {
            Error::Usage("give one --address HOST[:PORT] with --all-nodes".into())
        })?;
        let (report, nodes) = runtime.block_on(cluster::check_cluster(
            gcs,
            Arc::new(creds),
            token,
            opts,
            node_opts,
        ));
        runtime.shutdown_background();
        return Ok(print_cluster(&report, &nodes, args.json, args.timeout));
    }
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

/// `--all-nodes`: the GCS's line, one line per node checked (at most --max-nodes), a
/// summary; the exit code. `--json`: one object per node, the unchecked ones too.
fn print_cluster(gcs: &Report, nodes: &[NodeReport], json: bool, timeout: Duration) -> ExitCode {
    if json {
        print_json(gcs);
        for n in nodes {
            match serde_json::to_string(n) {
                Ok(s) => crate::outln!("{s}"),
                Err(e) => eprintln!("raytls: cannot render JSON for node {}: {e}", n.address),
            }
        }
    } else {
        crate::outln!("{}", gcs.line());
        // Not-checked nodes say nothing but their address: the summary counts them.
        for n in nodes.iter().filter(|n| n.verdict != Verdict::NotChecked) {
            crate::outln!("{}", n.line());
        }
        crate::outln!("{}", cluster_summary(gcs, nodes, timeout));
    }
    let failed = nodes
        .iter()
        .any(|n| matches!(n.verdict, Verdict::Fail | Verdict::NotChecked));
    if gcs.cause == Cause::LocalConfig {
        ExitCode::Usage
    } else if !gcs.healthy || failed {
        ExitCode::Failure
    } else {
        ExitCode::Ok
    }
}

/// The summary names at most this many failing nodes, and counts the rest.
const SUMMARY_NAMES: usize = 10;

/// `2 nodes (2 alive): all healthy`, or `3 nodes (1 alive, 2 dead): 2 failing: ...`, naming
/// the first [`SUMMARY_NAMES`] failing nodes (`... and 12,345 more`) and counting those not
/// checked: one line of bounded length, however many nodes.
fn cluster_summary(gcs: &Report, nodes: &[NodeReport], timeout: Duration) -> String {
    if !gcs.healthy {
        let what = if gcs.cause == Cause::TooManyNodes {
            "lists more nodes than --max-nodes"
        } else {
            "is unhealthy"
        };
        return format!(
            "the GCS at {} {what} ({}): no nodes checked",
            gcs.address,
            gcs.cause.code()
        );
    }
    let n = |v: usize| grouped(v as u64);
    let alive = nodes.iter().filter(|n| n.state == "alive").count();
    let dead = nodes.len() - alive;
    let mut s = format!("{} nodes ({} alive", n(nodes.len()), n(alive));
    if dead > 0 {
        s += &format!(", {} dead", n(dead));
    }
    s += ")";
    let failing = nodes.iter().filter(|r| r.verdict == Verdict::Fail);
    let failing_count = failing.clone().count();
    let not_checked = nodes
        .iter()
        .filter(|r| r.verdict == Verdict::NotChecked)
        .count();
    if failing_count == 0 && not_checked == 0 {
        return s + ": all healthy";
    }
    if failing_count > 0 {
        let which: Vec<String> = failing
            .take(SUMMARY_NAMES)
            .map(|r| format!("{} ({})", r.address, r.cause.code()))
            .collect();
        // Addresses come from the GCS: escaped as every node line is.
        let mut which = crate::text::escape::escape(&which.join(", ")).into_owned();
        if failing_count > SUMMARY_NAMES {
            which += &format!(" and {} more", n(failing_count - SUMMARY_NAMES));
        }
        s += &format!(": {} failing: {which}", n(failing_count));
    }
    if not_checked > 0 {
        s += &format!(
            "{} {} not checked: the node checks' deadline ({} x --timeout {} = {}) passed first",
            if failing_count > 0 { ";" } else { ":" },
            n(not_checked),
            cluster::NODE_CHECKS_TIMEOUTS,
            crate::text::duration::format(timeout),
            crate::text::duration::format(cluster::node_checks_budget(timeout))
        );
    }
    s
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
