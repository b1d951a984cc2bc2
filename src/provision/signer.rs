//! A certificate from the signer (`raytls serve`) into a directory: the key is made here
//! and never leaves; a CSR goes to the signer; the answer is checked (our key, chains to the
//! CA it names, holds our pod IP) before anything is written through the one writer.
//! `init` keeps a certificate that still passes every check, without asking the signer.
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use time::OffsetDateTime;

use super::directory::{existing_leaf, Action, Existing, Outcome};
use crate::error::{Error, Result};
use crate::pki::certinfo::{date, CertFile, CertInfo};
use crate::pki::chain::{self, Usage};
use crate::pki::csr;
use crate::pki::keys::{self, Key, KeyType};
use crate::pki::pem;
use crate::pki::role::{LeafIdentity, Role};
use crate::pki::san::San;
use crate::provision::files::{self, OutFile, Overwrite};
use crate::provision::ray_env::{EnvFormat, RayTlsEnv, CA_FILE, CERT_FILE, ENV_FILE, KEY_FILE};
use crate::signer::api::SignRequest;
use crate::signer::client::Client;

/// One request to the signer.
pub struct SignerJob<'a> {
    pub client: &'a Client,
    pub role: Role,
    /// Head only: service names to ask for (the signer grants those matching its patterns).
    pub names: Vec<San>,
    /// The pod IP as the pod knows it (POD_IP), if it does: a kept certificate must hold it,
    /// and a new one is checked to hold it.
    pub pod_ip: Option<IpAddr>,
    pub key_type: KeyType,
    pub wait: Duration,
}

/// A checked answer.
struct Received {
    key: Key,
    chain_pem: String,
    ca_pem: String,
    info: CertInfo,
    ca_info: CertInfo,
}

/// `init --signer`: keep a good certificate, otherwise ask the signer; always make sure
/// ray-tls.env is current.
pub fn init_dir(
    job: &SignerJob<'_>,
    signer_ca: &Path,
    out: &Path,
    now: OffsetDateTime,
    on_retry: impl FnMut(String),
) -> Result<Outcome> {
    let env = RayTlsEnv::for_dir(out)?;
    let env_file = OutFile::public(ENV_FILE, env.render(EnvFormat::Dotenv));
    let CertFile {
        certs,
        info: anchor_info,
        ..
    } = CertInfo::read_first(signer_ca)?;
    let expected = LeafIdentity {
        role: job.role,
        pod_ip: job.pod_ip,
        fqdn: None,
        ray_ip: None,
        extra: job.names.clone(),
    }
    .required_sans();
    match existing_leaf((&certs[0], &anchor_info), out, &expected, now) {
        Existing::Keep(info) => {
            let mut support = Vec::new();
            if std::fs::read(out.join(ENV_FILE)).ok().as_deref()
                != Some(env_file.contents.as_slice())
            {
                support.push(env_file);
            }
            if !out.join(CA_FILE).exists() {
                // Certificates only, re-encoded: never a key that shared the file.
                let pem: String = certs
                    .iter()
                    .map(|c| pem::encode("CERTIFICATE", c))
                    .collect();
                support.push(OutFile::public(CA_FILE, pem));
            }
            let written = files::write_files(out, &support, Overwrite::Replace)?;
            let mut notes = Vec::new();
            if let Some(old) = files::ensure_mode(&out.join(KEY_FILE), files::Mode::Secret)? {
                notes.push(format!(
                    "{} was mode {old:o}; set it back to 600",
                    out.join(KEY_FILE).display()
                ));
            }
            let reason = format!(
                "existing certificate is valid until {} ({} days left) and covers every required name",
                date(info.not_after),
                info.days_left(now)
            );
            Ok(outcome(
                Action::Kept,
                reason,
                job.role,
                out,
                &info,
                &anchor_info,
                true,
                written,
                notes,
            ))
        }
        Existing::Reissue(why) => {
            let got = obtain(job, now, on_retry)?;
            let written = files::write_files(
                out,
                &[
                    OutFile::public(CERT_FILE, got.chain_pem.clone()),
                    OutFile::secret(KEY_FILE, got.key.pem()),
                    OutFile::public(CA_FILE, got.ca_pem.clone()),
                    env_file,
                ],
                Overwrite::Replace,
            )?;
            Ok(outcome(
                Action::Issued,
                format!("{why}; signed by {}", job.client.url.text),
                job.role,
                out,
                &got.info,
                &got.ca_info,
                true,
                written,
                Vec::new(),
            ))
        }
    }
}

/// `issue client --signer`: a new certificate into `out` (tls.crt, tls.key, ca.crt).
pub fn issue_to_dir(
    job: &SignerJob<'_>,
    out: &Path,
    overwrite: Overwrite,
    now: OffsetDateTime,
    on_retry: impl FnMut(String),
) -> Result<Outcome> {
    let targets = [
        OutFile::public(CERT_FILE, ""),
        OutFile::secret(KEY_FILE, ""),
        OutFile::public(CA_FILE, ""),
    ];
    files::check_targets(out, &targets, overwrite)?;
    let got = obtain(job, now, on_retry)?;
    let written = files::write_files(
        out,
        &[
            OutFile::public(CERT_FILE, got.chain_pem.clone()),
            OutFile::secret(KEY_FILE, got.key.pem()),
            OutFile::public(CA_FILE, got.ca_pem.clone()),
        ],
        overwrite,
    )?;
    Ok(outcome(
        Action::Issued,
        format!("new certificate from {}", job.client.url.text),
        job.role,
        out,
        &got.info,
        &got.ca_info,
        false,
        written,
        Vec::new(),
    ))
}

fn obtain(
    job: &SignerJob<'_>,
    now: OffsetDateTime,
    on_retry: impl FnMut(String),
) -> Result<Received> {
    let key = keys::generate(job.key_type)?;
    let request = SignRequest {
        role: job.role.name().to_string(),
        csr: csr::make_csr_pem(&key, job.role)?,
        fqdn: job.names.iter().map(|n| n.to_string()).collect(),
    };
    let answer = job.client.sign(&request, job.wait, on_retry)?;
    let bad = |why: String| Error::SignerAnswer {
        signer: job.client.url.text.clone(),
        why,
    };
    let chain = pem::certificates(
        Path::new("the signer's certificate"),
        answer.certificate.as_bytes(),
    )?;
    let cas = pem::certificates(Path::new("the signer's ca"), answer.ca.as_bytes())?;
    let info = CertInfo::parse(&chain[0])
        .map_err(|why| bad(format!("an unreadable certificate ({why})")))?;
    let ca_info =
        CertInfo::parse(&cas[0]).map_err(|why| bad(format!("an unreadable CA ({why})")))?;
    if !key.matches_public_key(&info.spki_bits) {
        return Err(bad(
            "a certificate for another key than the one we sent".into()
        ));
    }
    chain::verify_leaf(
        &cas[0],
        &chain[1..],
        &chain[0],
        Usage::Server,
        now.max(info.not_before),
    )
    .map_err(|e| {
        bad(format!(
            "a certificate that does not chain to its CA ({})",
            chain::explain(&e)
        ))
    })?;
    if let Some(ip) = job.pod_ip {
        if !info.ip_addresses.contains(&ip) {
            return Err(Error::SignerSawAnotherAddress {
                signer: job.client.url.text.clone(),
                sans: info.sans.join(", "),
                pod_ip: ip,
            });
        }
    }
    Ok(Received {
        key,
        chain_pem: answer.certificate,
        ca_pem: answer.ca,
        info,
        ca_info,
    })
}

#[allow(clippy::too_many_arguments)]
fn outcome(
    action: Action,
    reason: String,
    role: Role,
    out: &Path,
    info: &CertInfo,
    ca_info: &CertInfo,
    with_env_file: bool,
    written: Vec<std::path::PathBuf>,
    notes: Vec<String>,
) -> Outcome {
    let out = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    Outcome {
        action,
        reason,
        role: role.to_string(),
        cert: out.join(CERT_FILE),
        key: out.join(KEY_FILE),
        ca: out.join(CA_FILE),
        env_file: with_env_file.then(|| out.join(ENV_FILE)),
        written: written
            .iter()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .collect(),
        sans: info.san_strings(),
        key_type: info.public_key.to_string(),
        serial: info.serial.clone(),
        not_after: date(info.not_after),
        ca_subject: ca_info.display_name().to_string(),
        ca_not_after: date(ca_info.not_after),
        notes,
    }
}
