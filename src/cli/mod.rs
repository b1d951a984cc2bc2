//! The root of the command line: the `raytls` parser and its subcommands. Each subcommand's
//! flags live with its `run` in `commands/<name>.rs` (cargo's layout), so its help and
//! EXAMPLES sit next to the code they describe; flag groups shared by several commands and
//! the mapping from flag values to domain types live in `args`.
use clap::{Parser, Subcommand};

use crate::commands::*;
use crate::exit_code::TOP_LEVEL_HELP;

pub mod args;
pub mod values;

#[derive(Debug, Parser)]
#[command(
    name = "raytls",
    version,
    about = "A small certificate authority and mutual-TLS health check for Ray clusters",
    long_about = "raytls makes the TLS files Ray needs (RAY_USE_TLS=1, RAY_TLS_SERVER_CERT, \
RAY_TLS_SERVER_KEY, RAY_TLS_CA_CERT), runs as a KubeRay init container, and checks a Ray GCS \
over mutual TLS, saying exactly what is wrong when it fails.",
    after_help = TOP_LEVEL_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a certificate authority
    Ca(ca::CaArgs),
    /// Issue a head, worker or client certificate signed by a CA
    Issue(issue::IssueArgs),
    /// Init-container entrypoint: make or keep this pod's certificate (idempotent)
    Init(init::InitArgs),
    /// Print the RAY_TLS_* environment for a directory of certificates
    Env(env::EnvArgs),
    /// Show what PEM files hold: certificates, keys, and which key fits which certificate
    Inspect(inspect::InspectArgs),
    /// Check offline that Ray will accept a CA, certificate and key, one line per check
    Verify(verify::VerifyArgs),
    /// Make a demo CA, head and worker certificate under ./raytls-quickstart
    Quickstart(quickstart::QuickstartArgs),
    /// Check a Ray GCS over mutual TLS, like `ray health-check`, and name what is wrong
    HealthCheck(health_check::HealthCheckArgs),
    /// Replace a pod's certificate before it expires (once, or as a sidecar with --watch)
    Renew(renew::RenewArgs),
    /// The signer: hold the CA key, give each pod a certificate for its own IP (HTTPS API)
    Serve(crate::commands::serve::ServeArgs),
    /// Make a Ray auth token (RAY_AUTH_MODE=token) as a file or a Kubernetes Secret
    Token(token::TokenArgs),
    Netrc(netrc::NetrcArgs),
    LintUri(lint_uri::LintUriArgs),
    Completions(completions::CompletionsArgs),
    Man(man::ManArgs),
}
