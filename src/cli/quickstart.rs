//! Flags of `raytls quickstart`.
use std::path::PathBuf;

use clap::Args;

const QUICKSTART_EXAMPLES: &str = "\
Makes DIR/ca (a new CA, or the one already there), then runs `init head` into DIR/head and
`init worker` into DIR/worker. Safe to run again: valid certificates are kept.

EXAMPLES:
  raytls quickstart
  raytls quickstart --out /tmp/rt --head-ip 10.0.0.5 --worker-ip 10.0.0.6";

#[derive(Debug, Args)]
#[command(after_help = QUICKSTART_EXAMPLES)]
pub struct QuickstartArgs {
    /// Output directory
    #[arg(long, value_name = "DIR", default_value = "raytls-quickstart")]
    pub out: PathBuf,
    /// The head pod's IP (default: a documentation address, 192.0.2.10)
    #[arg(long, value_name = "IP", default_value = "192.0.2.10")]
    pub head_ip: String,
    /// The worker pod's IP (default: a documentation address, 192.0.2.11)
    #[arg(long, value_name = "IP", default_value = "192.0.2.11")]
    pub worker_ip: String,
    /// The head service FQDN
    #[arg(
        long,
        value_name = "NAME",
        default_value = "raycluster-head-svc.default.svc.cluster.local"
    )]
    pub fqdn: String,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}
