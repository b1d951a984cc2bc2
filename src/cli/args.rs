//! Flag groups shared by several subcommands.
use std::path::PathBuf;
use std::time::Duration;

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

/// Where the signer is, the CA its certificate must chain to, the role token, and how long
/// to keep trying (`init --signer`, `issue client --signer`).
#[derive(Debug, Clone, Args)]
pub struct SignerArgs {
    /// Get the certificate from this signer (raytls serve), https://HOST:PORT, instead of
    /// signing with a local CA key; the key is made here and never leaves
    #[arg(long, value_name = "URL", env = "RAYTLS_SIGNER")]
    pub signer: Option<String>,
    /// The CA the signer's certificate must chain to (the cluster's ca.crt); nothing else
    /// is trusted
    #[arg(long, value_name = "FILE", env = "RAYTLS_SIGNER_CA")]
    pub signer_ca: Option<PathBuf>,
    /// This role's token for the signer (first line of the file). Without it, init renews
    /// with the certificate already in --out (mutual TLS)
    #[arg(long, value_name = "FILE", env = "RAYTLS_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// How long to keep asking a signer that is not up yet, busy (429) or unavailable (503)
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = crate::text::duration::parse)]
    pub wait: Duration,
}

impl SignerArgs {
    /// The signer client these flags describe, or None without `--signer`. Without a token
    /// file, the certificate and key already in `out` are presented to renew over mutual TLS.
    pub fn client(
        &self,
        out: &std::path::Path,
    ) -> crate::Result<Option<crate::signer::client::Client>> {
        use crate::error::Error;
        use crate::signer::client::{read_token, Client, SignerUrl};
        let Some(url) = &self.signer else {
            if self.signer_ca.is_some() || self.token_file.is_some() {
                return Err(Error::Usage(
                    "--signer-ca and --token-file need --signer URL (or RAYTLS_SIGNER)".into(),
                ));
            }
            return Ok(None);
        };
        let url = SignerUrl::parse("--signer/RAYTLS_SIGNER", url)?;
        let ca = self.signer_ca.as_deref().ok_or_else(|| {
            Error::Usage(
                "--signer needs --signer-ca FILE (or RAYTLS_SIGNER_CA): the CA the signer's certificate must chain to".into(),
            )
        })?;
        let (token, identity) = match &self.token_file {
            Some(path) => (Some(read_token(path)?), None),
            None => {
                let (cert, key) = (
                    out.join(crate::provision::ray_env::CERT_FILE),
                    out.join(crate::provision::ray_env::KEY_FILE),
                );
                if !cert.exists() || !key.exists() {
                    return Err(Error::Usage(format!(
                        "--signer needs --token-file FILE (or RAYTLS_TOKEN_FILE), or a certificate from this CA in {} to renew with",
                        out.display()
                    )));
                }
                let creds = crate::probe::credentials::load(ca, &cert, &key)?;
                (None, Some((creds.chain, creds.key)))
            }
        };
        Client::new(url, ca, token, identity).map(Some)
    }
}
