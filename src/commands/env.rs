//! `raytls env`: print or write the RAY_TLS_* environment.
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::provision::files::{self, Mode, Overwrite};
use crate::provision::ray_env::EnvFormat;
use crate::provision::ray_env::{RayTlsEnv, CA_FILE, CERT_FILE, KEY_FILE};
use clap::Args;
use std::path::PathBuf;

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

pub fn run(a: EnvArgs) -> Result<ExitCode> {
    // First: a path no format can carry is wrong whether or not the files exist.
    let mut env = RayTlsEnv::for_dir(&a.dir)?;
    for f in [CERT_FILE, KEY_FILE, CA_FILE] {
        let p = a.dir.join(f);
        if !p.is_file() {
            return Err(Error::Missing {
                path: p,
                hint: format!(
                    "make the files first (raytls issue ... --out {} or raytls init)",
                    a.dir.display()
                ),
            });
        }
    }
    if let Some(t) = &a.token_file {
        if !t.is_file() {
            return Err(Error::Missing {
                path: t.clone(),
                hint: format!(
                    "make the token file with `raytls token generate --out {}`",
                    t.display()
                ),
            });
        }
        env = env.with_token_file(t)?;
    }
    let text = env.render(a.format);
    match &a.out {
        None => crate::out!("{text}"),
        Some(path) => {
            files::write_file(
                path,
                text.as_bytes(),
                Mode::Public,
                Overwrite::from_force(a.force),
            )?;
            crate::outln!("wrote {} ({:?} format)", path.display(), a.format);
        }
    }
    Ok(ExitCode::Ok)
}
