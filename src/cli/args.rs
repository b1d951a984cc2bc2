//! Flag groups shared by several subcommands, and the one place flag values and the pod's
//! environment (POD_IP, FQ_RAY_IP, RAY_IP) become domain values.
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::error::{Error, Result};
use crate::pki::authority::{CaFiles, Lifetime};
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

/// How long a certificate made here lives: `--days N`, or `--valid-for DURATION`.
#[derive(Debug, Clone, Args)]
pub struct ValidityArgs {
    /// Validity of a new certificate in days (default 365, shortened to the CA's expiry if
    /// needed)
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,
    /// Validity as a duration instead of --days (30m, 12h, 7d): short-lived certificates and
    /// renewal drills; at least 1m
    #[arg(
        long,
        value_name = "DURATION",
        conflicts_with = "days",
        value_parser = crate::text::duration::parse
    )]
    pub valid_for: Option<Duration>,
}

impl ValidityArgs {
    /// The asked lifetime, or `default` when neither flag is given.
    pub fn lifetime_or(&self, default: Lifetime) -> Lifetime {
        match (self.days, self.valid_for) {
            (Some(d), _) => Lifetime::from_flag(Some(d)),
            // parse() caps durations at ten years, so this always fits.
            (None, Some(d)) => {
                Lifetime::Explicit(time::Duration::try_from(d).unwrap_or(time::Duration::MAX))
            }
            (None, None) => default,
        }
    }

    /// With a signer the signer decides the lifetime: a flag asking otherwise is refused, not
    /// silently ignored.
    pub fn refuse_with_signer(&self) -> Result<()> {
        if self.days.is_some() || self.valid_for.is_some() {
            return Err(Error::Usage(
                "--days and --valid-for do not apply with --signer: the signer decides how long a certificate lives (raytls serve --max-days ROLE=N)".into(),
            ));
        }
        Ok(())
    }
}

/// The root of `--signer-ca` the signer's own certificate chains to: the CA it signs with
/// now. Only a question for a pod holding several roots (a CA rotation); a signer that does
/// not answer here is asked again when a certificate is needed, and its silence is not an
/// error yet.
fn signing_root(
    client: &crate::signer::client::Client,
    anchor: &crate::pki::certinfo::CertFile,
) -> Option<rustls_pki_types::CertificateDer<'static>> {
    if anchor.certs.len() < 2 {
        return None;
    }
    let chain = client
        .serving_chain(Duration::from_secs(5))
        .ok()
        .filter(|c| !c.is_empty())?;
    crate::pki::trust::TrustBundle::of_parseable(&anchor.certs)
        .issuer_of(&chain[0], &chain[1..], time::OffsetDateTime::now_utc())
        .map(|r| r.der.clone())
}

/// `--ca DIR`, or `--ca-cert FILE --ca-key FILE`.
pub fn ca_files(args: &CaSourceArgs) -> Result<CaFiles> {
    match (&args.ca, &args.ca_cert, &args.ca_key) {
        (Some(dir), _, _) => Ok(CaFiles::in_dir(dir)),
        (None, Some(cert), Some(key)) => Ok(CaFiles {
            cert: cert.clone(),
            key: key.clone(),
            root: None,
            trust: None,
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
/// Where the signer is, the CA its certificate must chain to, the role token, and how long
/// to keep trying (`init --signer`, `issue client --signer`).
#[derive(Debug, Clone, Args)]
pub struct SignerArgs {
    /// Get the certificate from this signer (raytls serve), https://HOST:PORT, instead of
    /// signing with a local CA key; the key is made here and never leaves
    #[arg(long, value_name = "URL", env = "RAYTLS_SIGNER")]
    pub signer: Option<String>,
    /// The CA the signer's certificate must chain to (the cluster's ca.crt; during a CA
    /// rotation, the bundle); the server must also show the signer's mark (OU=signer), and
    /// the CA in its answer must be one of these certificates
    #[arg(long, value_name = "FILE", env = "RAYTLS_SIGNER_CA")]
    pub signer_ca: Option<PathBuf>,
    /// This role's token for the signer (first line of the file). Without it, init renews
    /// with the certificate already in --out (mutual TLS)
    #[arg(long, value_name = "FILE", env = "RAYTLS_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// For a signer run with --kubernetes: send this pod's projected ServiceAccount token
    /// (audience raytls), read again on every request (kubelet rotates it); without FILE,
    /// /var/run/secrets/raytls/token
    #[arg(
        long,
        value_name = "FILE",
        env = "RAYTLS_K8S_TOKEN",
        num_args = 0..=1,
        default_missing_value = crate::signer::kubernetes::DEFAULT_TOKEN_PATH,
        conflicts_with = "token_file"
    )]
    pub k8s_token: Option<PathBuf>,
    /// How long to keep asking a signer that is not up yet, busy (429) or unavailable (503)
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = crate::text::duration::parse)]
    pub wait: Duration,
}

impl SignerArgs {
    /// Where `job`'s certificate comes from: the signer, its answers checked against
    /// `--signer-ca`, each failed try reported on stderr (`init`, `issue`, `renew`).
    pub fn source<'a>(
        &self,
        job: &'a crate::provision::signer::SignerJob<'a>,
    ) -> crate::Result<crate::provision::Source<'a>> {
        let anchor = self.anchor()?;
        let signing_root = signing_root(job.client, &anchor);
        Ok(crate::provision::Source::Signer {
            job,
            anchor: Box::new(anchor),
            on_retry: &report_retry,
            signing_root,
        })
    }

    /// The CA the signer's answers must chain to (`--signer-ca`), certificates only.
    pub fn anchor(&self) -> crate::Result<crate::pki::certinfo::CertFile> {
        let path = self.signer_ca.as_deref().ok_or_else(|| {
            crate::error::Error::Usage(
                "--signer needs --signer-ca FILE (or RAYTLS_SIGNER_CA): the CA the signer's certificate must chain to".into(),
            )
        })?;
        crate::pki::certinfo::CertInfo::read_first(path)
    }

    /// The signer client these flags describe, or None without `--signer`. Without a token
    /// file, the certificate and key already in `out` are presented to renew over mutual TLS.
    pub fn client(
        &self,
        out: &std::path::Path,
    ) -> crate::Result<Option<crate::signer::client::Client>> {
        use crate::error::Error;
        use crate::signer::client::{read_token, Client, SignerUrl};
        let Some(url) = &self.signer else {
            if self.signer_ca.is_some() || self.token_file.is_some() || self.k8s_token.is_some() {
                return Err(Error::Usage(
                    "--signer-ca, --token-file and --k8s-token need --signer URL (or RAYTLS_SIGNER)".into(),
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
        let (token, identity) = match self.token_file.as_ref().or(self.k8s_token.as_ref()) {
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

/// One line per failed try to reach the signer.
fn report_retry(line: String) {
    eprintln!("raytls: {line}");
}

/// What to ask the signer for, from the leaf flags: the pod IP if the pod knows it (to check
/// the answer), and for a head the service names (--fqdn/FQ_RAY_IP, --san). The signer
/// decides; RAY_IP (a short name or 127.0.0.1) is not sent.
pub fn signer_job<'a>(
    client: &'a crate::signer::client::Client,
    role: Role,
    args: &LeafArgs,
    wait: Duration,
) -> Result<crate::provision::signer::SignerJob<'a>> {
    let pod_ip = pod_ip(&args.pod_ip, Some(role))?;
    let mut names = Vec::new();
    if let Some(fqdn) = head_name(&args.fqdn, "--fqdn", "FQ_RAY_IP", Some(role))? {
        if role == Role::Head {
            names.push(fqdn);
        }
    }
    for s in &args.sans {
        if role != Role::Head {
            return Err(Error::Usage(format!(
                "--san {s}: with --signer the signer decides a {role}'s names (its address, 127.0.0.1, localhost); only a head may ask for service names"
            )));
        }
        names.push(San::parse("--san", s)?);
    }
    Ok(crate::provision::signer::SignerJob {
        client,
        role,
        names,
        pod_ip,
        key_type: args.key_type,
        wait,
    })
}
