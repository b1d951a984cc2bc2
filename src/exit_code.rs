//! The exit codes raytls documents in `--help`, in one place (fd and step do this).

/// What a script can test with `$?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for was done, or every check passed.
    Ok = 0,
    /// A certificate problem, a file problem, or an unhealthy peer.
    Failure = 1,
    /// Bad usage: unknown flag, malformed value, or unusable local input.
    Usage = 2,
    /// `verify`: everything is valid but the certificate is due for renewal.
    NeedsRenewal = 3,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// The EXAMPLES and EXIT CODES sections appended to the top-level `--help`.
pub const TOP_LEVEL_HELP: &str = "\
EXAMPLES:
  raytls quickstart                                   # a demo CA, head and worker cert
  raytls ca create --out ./ca                         # a CA for a cluster
  raytls issue head --ca ./ca --out ./head --pod-ip 10.0.0.5 \\
      --fqdn raycluster-head-svc.default.svc.cluster.local
  raytls init worker                                  # in a KubeRay init container
  raytls health-check --address $FQ_RAY_IP:6379       # in a Ray pod: is the GCS healthy?
  raytls verify --from-env --role worker --pod-ip $POD_IP
  raytls inspect /etc/ray/tls/tls.crt /etc/ray/tls/tls.key
Each command's --help has its own examples.

EXIT CODES:
  0  success: files written, or every check passed
  1  failure: a CA/certificate/file problem, or an unhealthy endpoint
  2  usage: unknown flag, malformed value (IP, DNS name, duration); for verify,
     inspect and health-check also an unreadable input file
  3  verify only: valid, but due for renewal (see --renew-before)";
