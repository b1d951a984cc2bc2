//! `raytls token generate`: a Ray auth token as stdout, a 0600 file, or a Kubernetes Secret.
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::kit::auth_token as token;
use crate::provision::files::{self, Mode, Overwrite};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  # A token on stdout, as `openssl rand -base64 32` prints one
  raytls token generate

  # A token file for RAY_AUTH_TOKEN_PATH, mode 0600
  raytls token generate --out ~/.ray/auth_token

  # A Kubernetes Secret for the RayCluster in examples/raycluster-token.yaml
  raytls token generate --k8s-secret ray-auth-token --namespace ray | kubectl apply -f -")]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    Generate(TokenGenerateArgs),
}

#[derive(Debug, Args)]
#[command(
    about = "Make a Ray auth token: 32 random bytes, base64 (as `openssl rand -base64 32`)",
    long_about = "Make a Ray auth token: 32 random bytes from the operating system, base64 \
(44 characters, as `openssl rand -base64 32`). Ray reads it from RAY_AUTH_TOKEN, the file at \
RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token, with RAY_AUTH_MODE=token on every node.\n\n\
Printed on stdout unless --out is given. --out writes the file atomically with mode 0600 \
and refuses to replace an existing file unless --force. With --k8s-secret the output is a \
Kubernetes Secret manifest holding the token under the key auth_token instead.",
    after_help = "EXAMPLES:
  # A token on stdout
  raytls token generate

  # A token file for RAY_AUTH_TOKEN_PATH (0600); again with --force to rotate it
  raytls token generate --out ~/.ray/auth_token
  raytls token generate --out ~/.ray/auth_token --force

  # A Secret for examples/raycluster-token.yaml, straight into the cluster
  raytls token generate --k8s-secret ray-auth-token --namespace ray | kubectl apply -f -

  # The same Secret kept as a file (0600: it holds the token)
  raytls token generate --k8s-secret ray-auth-token --out ray-auth-token.yaml"
)]
pub struct TokenGenerateArgs {
    /// Write to FILE (mode 0600, atomically) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Print a Kubernetes Secret manifest named NAME holding the token (key auth_token)
    #[arg(long, value_name = "NAME")]
    pub k8s_secret: Option<String>,

    /// Namespace of the Secret (default: none, i.e. kubectl's current namespace)
    #[arg(long, value_name = "NS", requires = "k8s_secret")]
    pub namespace: Option<String>,

    /// Replace FILE if it exists
    #[arg(long, requires = "out")]
    pub force: bool,
}

pub fn run(args: TokenArgs) -> Result<ExitCode> {
    match args.command {
        TokenCommand::Generate(args) => generate(args),
    }
}

fn generate(args: TokenGenerateArgs) -> Result<ExitCode> {
    // Names are checked before the token exists, so a typo costs nothing.
    if let Some(name) = &args.k8s_secret {
        token::check_secret_name("--k8s-secret", name)?;
    }
    if let Some(ns) = &args.namespace {
        token::check_namespace("--namespace", ns)?;
    }
    let tok = token::generate()?;
    let text = match &args.k8s_secret {
        Some(name) => token::k8s_secret_manifest(name, args.namespace.as_deref(), &tok),
        None => format!("{tok}\n"),
    };
    match &args.out {
        None => crate::out!("{}", text),
        Some(path) => {
            // A Secret manifest holds the token too, so both kinds of file are 0600.
            files::write_file(
                path,
                text.as_bytes(),
                Mode::Secret,
                Overwrite::from_force(args.force),
            )?;
            let what = match &args.k8s_secret {
                Some(name) => format!("Kubernetes Secret {name} (key {})", token::SECRET_KEY),
                None => "Ray auth token".to_string(),
            };
            crate::outln!("wrote {what} to {} (mode 0600)", path.display());
        }
    }
    Ok(ExitCode::Ok)
}
