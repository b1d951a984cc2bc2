//! `raytls issue head|worker|client`.
use crate::cli::args::{CaSourceArgs, LeafArgs, SignerArgs};
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::pki::authority::{Authority, Lifetime};
use crate::pki::role::Role;
use crate::provision;
use crate::provision::files::Overwrite;
use crate::provision::Source;
use clap::Args;
use std::path::PathBuf;

pub const ISSUE_EXAMPLES: &str = "\
SANs by role:
  head    localhost, 127.0.0.1, POD_IP, FQDN (FQ_RAY_IP), RAY_IP, --san...
  worker  localhost, 127.0.0.1, POD_IP, --san...
  client  --san... only (the GCS does not check client names)
Every certificate has EKU serverAuth+clientAuth: Ray uses one certificate both ways.

Writes DIR/tls.crt, DIR/tls.key (0600) and DIR/ca.crt (a copy of the CA certificate) as
regular files (kubectl --from-file, zip and scp take them as they are), each replaced by its
own rename under the directory's lock. A directory `raytls init` wrote keeps its ..data
layout (--force swaps the pair through ..data, as init and renew do).

EXAMPLES:
  # Head pod certificate, by hand
  raytls issue head --ca ./ca --out ./head --pod-ip 10.0.0.5 \\
      --fqdn raycluster-head-svc.default.svc.cluster.local

  # Worker, inside a pod (POD_IP from the downward API)
  POD_IP=10.0.0.7 raytls issue worker --ca /etc/ca/tls --out /etc/ray/tls

  # Sign with an existing openssl-made RSA CA
  raytls issue worker --ca-cert ca.crt --ca-key ca.key --out ./w1 --pod-ip 10.0.0.8

  # A client identity for a job submitter or health check
  raytls issue client --ca ./ca --out ./client

  # The same from the signer (raytls serve), with the client role's token
  raytls issue client --signer https://raytls-signer.example:8443 --signer-ca ca.crt \\
      --token-file client.token --out ./me

  # Hand the head's files to the cluster as a Secret
  kubectl create secret generic head-tls --from-file=./head";

#[derive(Debug, Args)]
#[command(after_help = ISSUE_EXAMPLES)]
pub struct IssueArgs {
    /// Which certificate: head, worker or client
    #[arg(value_enum)]
    pub role: Role,
    #[command(flatten)]
    pub ca: CaSourceArgs,
    /// Output directory for tls.crt, tls.key and ca.crt
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub leaf: LeafArgs,
    #[command(flatten)]
    pub signer: SignerArgs,
    #[command(flatten)]
    pub validity: crate::cli::args::ValidityArgs,
    /// Overwrite existing files
    #[arg(long)]
    pub force: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: IssueArgs) -> Result<ExitCode> {
    let now = super::now();
    let overwrite = Overwrite::from_force(a.force);
    let outcome = if let Some(client) = a.signer.client(&a.out)? {
        a.validity.refuse_with_signer()?;
        if a.role != crate::pki::role::Role::Client {
            return Err(crate::error::Error::Usage(format!(
                "issue {} --signer would certify this machine's address; run `raytls init {}` --signer in the pod instead (issue --signer is for client certificates)",
                a.role, a.role
            )));
        }
        let job = crate::cli::args::signer_job(&client, a.role, &a.leaf, a.signer.wait)?;
        provision::issue_to_dir(&a.signer.source(&job)?, &a.out, overwrite, now)?
    } else {
        let identity = crate::cli::args::leaf_identity(a.role, &a.leaf)?;
        let ca = Authority::load(&crate::cli::args::ca_files(&a.ca)?, now)?;
        let source = Source::Local {
            ca: &ca,
            identity: &identity,
            key_type: a.leaf.key_type,
            lifetime: a.validity.lifetime_or(Lifetime::from_flag(None)),
        };
        provision::issue_to_dir(&source, &a.out, overwrite, now)?
    };
    super::outcome::print(&outcome, a.json);
    Ok(ExitCode::Ok)
}
