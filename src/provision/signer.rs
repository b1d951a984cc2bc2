//! A certificate from the signer (`raytls serve`): the key is made here and never leaves; a
//! CSR goes to the signer; the answer is checked (our key, chains to the CA it names, holds
//! our pod IP) before `directory` writes anything. `init` keeps a certificate that still
//! passes every check without asking the signer (`directory::Source::Signer`).
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use time::OffsetDateTime;

use super::directory::Fresh;
use crate::error::{Error, Result};
use crate::pki::certinfo::CertInfo;
use crate::pki::chain::{self, Usage};
use crate::pki::csr;
use crate::pki::keys::{self, KeyType};
use crate::pki::pem;
use crate::pki::role::{LeafIdentity, Role};
use crate::pki::san::San;
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

impl SignerJob<'_> {
    /// The names a certificate for this job must cover (a kept one included): what the
    /// signer's policy grants a pod that knows these facts about itself.
    pub fn required_sans(&self) -> Vec<San> {
        LeafIdentity {
            role: self.role,
            pod_ip: self.pod_ip,
            fqdn: None,
            ray_ip: None,
            extra: self.names.clone(),
        }
        .required_sans()
    }
}

/// Ask the signer for a certificate for a key made here, and check the answer: it is for
/// our key, chains to the CA it names, and holds our pod IP.
pub fn obtain(
    job: &SignerJob<'_>,
    now: OffsetDateTime,
    on_retry: &dyn Fn(String),
) -> Result<Fresh> {
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
    // The signer's `ca` is every root pods trust (several during a CA rotation).
    chain::verify_leaf(
        &cas,
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
    Ok(Fresh {
        key,
        chain_pem: answer.certificate,
        ca_pem: answer.ca,
        info,
        ca_info,
        notes: Vec::new(),
    })
}
