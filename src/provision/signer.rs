//! A certificate from the signer (`raytls serve`): the key is made here and never leaves; a
//! CSR goes to the signer (only once the handshake showed the server is the signer,
//! `signer::client`); the answer is checked (a CA `--signer-ca` holds, our key, our role,
//! chains to that CA, holds our names) before `directory` writes anything. `init` keeps a certificate that still
//! passes every check without asking the signer (`directory::Source::Signer`).
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use super::directory::Fresh;
use crate::error::{Error, Result};
use crate::pki::certinfo::CertInfo;
use crate::pki::chain::{self, Usage};
use crate::pki::csr;
use crate::pki::keys::{self, KeyType};
use crate::pki::pem;
use crate::pki::role::{Holder, LeafIdentity, Role};
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

/// Ask the signer for a certificate for a key made here, and check the answer before
/// anything is written: the CA it names is one `--signer-ca` holds
/// ([`Client::answer_roots`]), the leaf chains to it for the role's TLS uses, is for our key
/// and our role, and holds the names the role needs (our pod IP among them).
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
    // The `ca` becomes the pod's ca.crt: every certificate in it must be a root the pod
    // trusted before it asked (several during a CA rotation), or (serve --kubernetes) its
    // RayCluster's CA, which such a root vouches for by having issued it (through
    // `ca_chain`); never one the answer brings along on its own say-so.
    let trusted = job.client.answer_roots();
    let ca_chain = if answer.ca_chain.is_empty() {
        Vec::new()
    } else {
        pem::certificates(
            Path::new("the signer's ca_chain"),
            answer.ca_chain.as_bytes(),
        )?
    };
    let vouched = |c: &CertificateDer<'_>| {
        trusted.iter().any(|t| t.as_ref() == c.as_ref())
            || crate::pki::cluster_ca::vouched_by(c, &ca_chain, trusted, now).is_ok()
    };
    if let Some(foreign) = cas.iter().find(|c| !vouched(c)) {
        let name = CertInfo::parse(foreign)
            .map(|i| i.display_name().to_string())
            .unwrap_or_else(|_| "an unreadable certificate".into());
        return Err(bad(format!(
            "a CA bundle holding {}, which is not in {} (--signer-ca); nothing was written. In a CA rotation, put the signer's trust bundle into --signer-ca before the signer hands it out",
            crate::signer::escape(&name),
            job.client.ca_file().display()
        )));
    }
    for &usage in role_usages(job.role) {
        chain::verify_leaf(
            &cas,
            &chain[1..],
            &chain[0],
            usage,
            now.max(info.not_before),
        )
        .map_err(|e| {
            bad(format!(
                "a certificate that does not chain to its CA for {} ({})",
                usage_name(usage),
                chain::explain(&e)
            ))
        })?;
    }
    let holder = csr::holder_in_subject(&chain[0]);
    if holder != Some(Holder::Ray(job.role)) {
        return Err(bad(format!(
            "a certificate for {}, not for a {} as asked",
            holder.map_or("no raytls role".to_string(), |h| format!(
                "role {}",
                h.label()
            )),
            job.role
        )));
    }
    if let Some(ip) = job.pod_ip {
        if !info.ip_addresses.contains(&ip) {
            return Err(Error::SignerSawAnotherAddress {
                signer: job.client.url.text.clone(),
                sans: info.sans.join(", "),
                pod_ip: ip,
            });
        }
    }
    // What `init` checks a kept certificate for: else the next run would re-issue it.
    if let Some(missing) = job
        .required_sans()
        .into_iter()
        .find(|san| !chain::covers(&chain[0], san))
    {
        return Err(bad(format!(
            "a certificate without {missing} (it has {}), which a {} needs",
            info.sans.join(", "),
            job.role
        )));
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

/// The TLS uses a role's certificate serves: Ray's head and workers are servers and
/// clients of each other; a client identity is only ever a client.
fn role_usages(role: Role) -> &'static [Usage] {
    match role {
        Role::Head | Role::Worker => &[Usage::Server, Usage::Client],
        Role::Client => &[Usage::Client],
    }
}

fn usage_name(usage: Usage) -> &'static str {
    match usage {
        Usage::Server => "a TLS server",
        Usage::Client => "a TLS client",
    }
}
