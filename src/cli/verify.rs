//! Flags of `raytls verify`.
use std::path::PathBuf;

use clap::Args;

use crate::pki::role::Role;

const VERIFY_EXAMPLES: &str = "\
Checks (one line each): the CA is a valid CA; the certificate verifies against it as a TLS
server and as a TLS client (rustls' own verifier); the key matches; the leaf is not a CA;
the SANs cover what the role needs (head: localhost, 127.0.0.1, POD_IP, FQDN; worker:
localhost, 127.0.0.1, POD_IP) and every --san; EKU has serverAuth+clientAuth or none; Ray
can use the key and signature (no Ed25519, RSA >= 2048, no SHA-1); validity and renewal.

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

  # A cron job: renew when less than 30 days are left
  raytls verify --dir /etc/ray/tls --renew-before 30d || [ $? = 3 ] && renew";

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
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = crate::duration::parse)]
    pub renew_before: std::time::Duration,
    /// Re-read the files and repeat the checks until they pass or this time is up
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse)]
    pub wait: Option<std::time::Duration>,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
}
