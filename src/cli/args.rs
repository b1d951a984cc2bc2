//! Flag groups shared by several subcommands, and the one place flag values and the pod's
//! environment (POD_IP, FQ_RAY_IP, RAY_IP) become domain values.
use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};
use crate::pki::authority::CaFiles;
use crate::pki::keys::KeyType;
use crate::pki::role::{LeafIdentity, Role};
use crate::pki::san::{self, San};

/// Where the CA is: a directory with ca.crt and ca.key, or the two files.
#[derive(Debug, Clone, Args)]
pub struct CaSourceArgs {
    /// Directory holding the CA's ca.crt and ca.key (e.g. a mounted Kubernetes Secret)
    #[arg(long, value_name = "DIR")]
    pub ca: Option<PathBuf>,
    /// The CA certificate file, instead of --ca DIR (needs --ca-key)
    #[arg(long, value_name = "FILE", requires = "ca_key", conflicts_with = "ca")]
    pub ca_cert: Option<PathBuf>,
    /// The CA private key file: RSA or EC, PKCS#1, SEC1 or PKCS#8 (needs --ca-cert)
    #[arg(long, value_name = "FILE", requires = "ca_cert", conflicts_with = "ca")]
    pub ca_key: Option<PathBuf>,
}

/// What goes into a head or worker certificate.
#[derive(Debug, Clone, Args)]
pub struct LeafArgs {
    /// The pod's IP address; Ray dials it between pods [env: POD_IP]
    #[arg(long, value_name = "IP")]
    pub pod_ip: Option<String>,
    /// The head service FQDN, e.g. raycluster-head-svc.default.svc.cluster.local (head only)
    /// [env: FQ_RAY_IP]
    #[arg(long, value_name = "NAME")]
    pub fqdn: Option<String>,
    /// The short head service name, added as a DNS SAN (head only) [env: RAY_IP]
    #[arg(long, value_name = "NAME")]
    pub ray_ip: Option<String>,
    /// Extra SAN, an IP address or DNS name (repeatable)
    #[arg(long = "san", value_name = "NAME_OR_IP")]
    pub sans: Vec<String>,
    /// Key type of the new key
    #[arg(long, value_enum, default_value_t = KeyType::EcdsaP256)]
    pub key_type: KeyType,
}

/// `--ca DIR`, or `--ca-cert FILE --ca-key FILE`.
pub fn ca_files(args: &CaSourceArgs) -> Result<CaFiles> {
    match (&args.ca, &args.ca_cert, &args.ca_key) {
        (Some(dir), _, _) => Ok(CaFiles::in_dir(dir)),
        (None, Some(cert), Some(key)) => Ok(CaFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => Err(Error::NoCa),
    }
}

/// A flag's value, else the env var's, with the name of where it came from (errors name
/// it). Read by hand, not by clap's `env`, because clap treats an empty env var as unset,
/// and an empty POD_IP in a pod is a broken downward-API mapping that must be an error.
fn flag_or_env(
    flag: &Option<String>,
    flag_name: &'static str,
    var: &'static str,
) -> Option<(&'static str, String)> {
    match flag {
        Some(v) => Some((flag_name, v.clone())),
        None => std::env::var(var).ok().map(|v| (var, v)),
    }
}

/// The pod IP: `--pod-ip`, else POD_IP. The env var counts only for a role that is dialed
/// at its pod IP (head, worker); `role` None means "not known" (verify without --role).
pub fn pod_ip(flag: &Option<String>, role: Option<Role>) -> Result<Option<IpAddr>> {
    match flag_or_env(flag, "--pod-ip", "POD_IP") {
        Some(("POD_IP", _)) if !role.is_some_and(Role::needs_pod_ip) => Ok(None),
        Some((source, v)) => san::parse_pod_ip(source, &v).map(Some),
        None => Ok(None),
    }
}

/// A head service name: the flag, else the env var, which counts only for the head
/// (KubeRay sets FQ_RAY_IP in worker pods too) and only when set to something. Parsed IP
/// first, like --san: RAY_IP may be an address (127.0.0.1 in the head's own container).
pub fn head_name(
    flag: &Option<String>,
    flag_name: &'static str,
    var: &'static str,
    role: Option<Role>,
) -> Result<Option<San>> {
    match flag_or_env(flag, flag_name, var) {
        Some((source, v)) if source == var && (role != Some(Role::Head) || v.is_empty()) => {
            Ok(None)
        }
        Some((source, v)) => San::parse(source, &v).map(Some),
        None => Ok(None),
    }
}

/// The identity a head/worker/client certificate is for, from flags and the pod's env.
pub fn leaf_identity(role: Role, args: &LeafArgs) -> Result<LeafIdentity> {
    let pod_ip = pod_ip(&args.pod_ip, Some(role))?;
    // Head only: a worker or client certificate never carries the head's names.
    let (fqdn, ray_ip) = if role == Role::Head {
        (
            head_name(&args.fqdn, "--fqdn", "FQ_RAY_IP", Some(role))?,
            head_name(&args.ray_ip, "--ray-ip", "RAY_IP", Some(role))?,
        )
    } else {
        (None, None)
    };
    let extra = args
        .sans
        .iter()
        .map(|s| San::parse("--san", s))
        .collect::<Result<Vec<_>>>()?;
    LeafIdentity::new(role, pod_ip, fqdn, ray_ip, extra)
}
