//! `raytls init head|worker`: the KubeRay init-container entrypoint.
use crate::cli::args::{LeafArgs, SignerArgs};
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::pki::authority::{Authority, CaFiles, Lifetime};
use crate::pki::role::Role;
use crate::provision;
use crate::provision::Source;
use clap::Args;
use std::path::PathBuf;

const INIT_EXAMPLES: &str = "\
What it does, idempotently:
  keeps DIR/tls.crt if it chains to the CA, matches tls.key, covers the required SANs,
  has serverAuth+clientAuth and has more than a third of its lifetime left; otherwise
  issues a new one. Always refreshes DIR/ca.crt and DIR/ray-tls.env. Says which and why.
  Layout: the kubelet's (the files in DIR/..<timestamp>/, DIR/..data names it, each name is
  a symlink through ..data), so a certificate and its key change at one instant for Ray.
  DIR must take the new files before the CA or the signer is asked for a certificate.

EXAMPLES:
  # Head pod init container (KubeRay sets FQ_RAY_IP; POD_IP from fieldRef status.podIP)
  raytls init head

  # Worker pod init container
  raytls init worker

  # Same, with explicit paths
  raytls init worker --ca /etc/ca/tls --out /etc/ray/tls --pod-ip 10.0.0.7

  # Production: no CA key in the pod; the signer (raytls serve) certifies the pod's address
  raytls init worker --signer https://raytls-signer.ray.svc:8443 \\
      --signer-ca /etc/ca/ca.crt --token-file /etc/raytls/token/worker
  # (env: RAYTLS_SIGNER, RAYTLS_SIGNER_CA, RAYTLS_TOKEN_FILE; retries up to --wait, 120s)

  # A signer run with --kubernetes: the pod's projected ServiceAccount token (audience
  # raytls) proves who it is; ca.crt becomes its RayCluster's own CA
  raytls init worker --signer https://raytls-signer.raytls-system.svc:8443 \\
      --signer-ca /etc/raytls/signer-ca/ca.crt --k8s-token

Then give the Ray container RAY_USE_TLS=1 and RAY_TLS_SERVER_CERT/RAY_TLS_SERVER_KEY/
RAY_TLS_CA_CERT pointing at /etc/ray/tls/{tls.crt,tls.key,ca.crt} (see DIR/ray-tls.env,
or `raytls env --dir /etc/ray/tls --format k8s`).";

#[derive(Debug, Args)]
#[command(after_help = INIT_EXAMPLES)]
pub struct InitArgs {
    /// Which pod: head or worker
    #[arg(value_enum)]
    pub role: Role,
    /// Directory with the CA's ca.crt and ca.key (read only)
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/etc/ca/tls",
        env = "RAYTLS_CA_DIR"
    )]
    pub ca: PathBuf,
    /// Output directory (an emptyDir shared with the Ray container)
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/etc/ray/tls",
        env = "RAYTLS_OUT_DIR"
    )]
    pub out: PathBuf,
    #[command(flatten)]
    pub leaf: LeafArgs,
    #[command(flatten)]
    pub signer: SignerArgs,
    #[command(flatten)]
    pub validity: crate::cli::args::ValidityArgs,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: InitArgs) -> Result<ExitCode> {
    if a.role == Role::Client {
        return Err(Error::InitIsForPods);
    }
    let now = super::now();
    let outcome = if let Some(client) = a.signer.client(&a.out)? {
        a.validity.refuse_with_signer()?;
        let job = crate::cli::args::signer_job(&client, a.role, &a.leaf, a.signer.wait)?;
        provision::init_dir(&a.signer.source(&job)?, &a.out, now)?
    } else {
        let identity = crate::cli::args::leaf_identity(a.role, &a.leaf)?;
        let ca = Authority::load(&CaFiles::in_dir(&a.ca), now)?;
        let source = Source::Local {
            ca: &ca,
            identity: &identity,
            key_type: a.leaf.key_type,
            lifetime: a.validity.lifetime_or(Lifetime::from_flag(None)),
        };
        provision::init_dir(&source, &a.out, now)?
    };
    super::outcome::print(&outcome, a.json);
    Ok(ExitCode::Ok)
}
