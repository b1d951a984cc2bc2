//! Command-line flags only (clap derive). Each subcommand's flags live in their own file
//! so that the help text with its EXAMPLES sits next to the flags it explains.
use clap::{Parser, Subcommand};

use crate::exit_code::EXIT_CODES_HELP;

pub mod completions;
pub mod health_check;
pub mod lint_uri;
pub mod man;
pub mod netrc;
pub mod token;

#[derive(Debug, Parser)]
#[command(
    name = "raytls",
    version,
    about = "A small certificate authority and mutual-TLS health check for Ray clusters",
    long_about = "raytls makes the TLS files Ray needs (RAY_USE_TLS=1, RAY_TLS_SERVER_CERT, \
RAY_TLS_SERVER_KEY, RAY_TLS_CA_CERT), runs as a KubeRay init container, and checks a Ray GCS \
over mutual TLS, saying exactly what is wrong when it fails.",
    after_help = EXIT_CODES_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a Ray GCS over mutual TLS, like `ray health-check`, and name what is wrong
    HealthCheck(health_check::HealthCheckArgs),
    /// Make a Ray auth token (RAY_AUTH_MODE=token) as a file or a Kubernetes Secret
    Token(token::TokenArgs),
    Netrc(netrc::NetrcArgs),
    LintUri(lint_uri::LintUriArgs),
    Completions(completions::CompletionsArgs),
    Man(man::ManArgs),
}
