//! Flags shared by `init --signer` and `issue client --signer`: where the signer is, the CA
//! its certificate must chain to, the role token, and how long to keep trying.
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

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
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = crate::duration::parse)]
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
                    out.join(crate::ray_env::CERT_FILE),
                    out.join(crate::ray_env::KEY_FILE),
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
