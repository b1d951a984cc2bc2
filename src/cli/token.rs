//! Flags of `raytls token` (Ray token auth: RAY_AUTH_MODE=token).
use std::path::PathBuf;

use clap::{Args, Subcommand};

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
