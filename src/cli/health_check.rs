//! Flags of `raytls health-check` (issue 4).
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

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

CAUSES (--json `cause`; exit 1 unless noted):
  ok, resolve_failed, connection_refused, connect_failed, timeout, not_tls,
  closed_during_handshake, tls_handshake_failed, unknown_ca, name_mismatch, expired,
  not_yet_valid, no_server_auth_eku, bad_server_cert, client_cert_rejected,
  unauthenticated, not_ray_gcs, not_serving, grpc_error, version_mismatch,
  local_config (exit 2: our own CA/cert/key/token unusable; nothing was dialed)

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

    /// One JSON object per address (address, healthy, cause, message, ray_version,
    /// cluster_id, tls_version, latency_ms, ...) instead of text
    #[arg(long)]
    pub json: bool,
}

/// `--timeout`: a duration above zero and at most an hour.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = crate::duration::parse(s)?;
    if d.is_zero() {
        return Err(format!("{s:?} must be more than zero"));
    }
    if d > Duration::from_secs(3600) {
        return Err(format!("{s:?} is longer than an hour"));
    }
    Ok(d)
}
