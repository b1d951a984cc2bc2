//! Flag groups shared by several subcommands.
use std::path::PathBuf;

use clap::Args;

use crate::pki::keys::KeyType;

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
    #[arg(long, value_name = "NAME", env = "FQ_RAY_IP")]
    pub fqdn: Option<String>,
    /// The short head service name, added as a DNS SAN (head only)
    #[arg(long, value_name = "NAME", env = "RAY_IP")]
    pub ray_ip: Option<String>,
    /// Extra SAN, an IP address or DNS name (repeatable)
    #[arg(long = "san", value_name = "NAME_OR_IP")]
    pub sans: Vec<String>,
    /// Key type of the new key
    #[arg(long, value_enum, default_value_t = KeyType::EcdsaP256)]
    pub key_type: KeyType,
}
