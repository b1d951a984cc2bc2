//! Flags of `raytls env`.
use std::path::PathBuf;

use clap::Args;

use crate::ray_env::EnvFormat;

const ENV_EXAMPLES: &str = "\
EXAMPLES:
  # Source it in a shell
  eval \"$(raytls env --dir /etc/ray/tls --format shell)\"

  # The env: list for a Ray container spec
  raytls env --dir /etc/ray/tls --format k8s

  # An env file for docker --env-file, with token auth
  raytls env --dir ./head --token-file ./token --out ./ray.env";

#[derive(Debug, Args)]
#[command(after_help = ENV_EXAMPLES)]
pub struct EnvArgs {
    /// Directory holding tls.crt, tls.key and ca.crt
    #[arg(long, value_name = "DIR", default_value = "/etc/ray/tls")]
    pub dir: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = EnvFormat::Dotenv)]
    pub format: EnvFormat,
    /// Write to FILE instead of standard output
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Add RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH=FILE (Ray token auth)
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Overwrite an existing --out file
    #[arg(long)]
    pub force: bool,
}
