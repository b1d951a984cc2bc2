//! Flags of `raytls inspect`.
use std::path::PathBuf;

use clap::Args;

const INSPECT_EXAMPLES: &str = "\
EXAMPLES:
  # What is in a pod's TLS directory, and which key belongs to which certificate
  raytls inspect /etc/ray/tls/tls.crt /etc/ray/tls/tls.key /etc/ray/tls/ca.crt

  # Days left, for a script
  raytls inspect --json tls.crt | jq '.[0].items[0].expires_in_days'

Reads certificates (single or bundles) and private keys (PKCS#1, SEC1, PKCS#8); never prints
key material. Exit 2 if a file is unreadable or holds something else (a CSR, not PEM, an
encrypted key).";

#[derive(Debug, Args)]
#[command(after_help = INSPECT_EXAMPLES)]
pub struct InspectArgs {
    /// PEM files: certificates and private keys
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print a JSON array, one object per file
    #[arg(long)]
    pub json: bool,
}
