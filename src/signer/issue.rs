//! One request to `POST /v1/sign`, from its credentials to its answer: who is asking (a role
//! token or a client certificate from this CA, or with `--kubernetes` a pod's ServiceAccount
//! token), the body, the names policy, the signature, and one audit line and one metrics
//! sample for every answer, issued or refused.
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use rustls_pki_types::UnixTime;
use time::OffsetDateTime;

use super::api::{self, ApiError, Endpoint, SignRequest, SignResponse};
use super::audit::Entry;
use super::auth::{self, ClientCert, Proof};
use super::http::{json_response, read_body, refused, ConnInfo};
use super::kubernetes::{KubeRequest, Who};
use super::limits::InFlight;
use super::refusal::{NameNotAllowed, Refusal, RoleNotAllowed};
use super::server::State;
use super::tls;
use crate::pki::authority::{Authority, LeafSubject, Lifetime};
use crate::pki::cluster_ca::ClusterCa;
use crate::pki::csr::Csr;
use crate::pki::pem;
use crate::pki::role::{self, Role};
use crate::pki::san::San;

/// What the audit line and metrics learn while a request is decided.
#[derive(Default)]
struct Seen {
    role: Option<Role>,
    proof: Option<Proof>,
    kubernetes: Option<Who>,
}

pub(super) async fn sign(
    state: &State,
    conn: &ConnInfo,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let mut seen = Seen::default();
    // Held until the answer is made, so an authenticated request keeps its connection.
    let in_flight = conn.registered.request();
    let result = decide(state, conn, &in_flight, req, &mut seen).await;
    let role = seen.role.map(role::Role::name);
    let time = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let peer = conn.peer.to_string();
    match result {
        Ok(answer) => {
            state.audit.log(&Entry {
                time,
                peer,
                role,
                auth: seen.proof.map(Proof::name),
                sans: &answer.sans,
                serial: Some(&answer.serial),
                not_after: Some(&answer.not_after),
                result: "issued",
                status: 200,
                reason: None,
                message: None,
                kubernetes: seen.kubernetes.as_ref(),
            });
            state
                .metrics
                .record(role.unwrap_or("unknown"), None, started.elapsed());
            json_response(200, serde_json::to_string(&answer).unwrap_or_default())
        }
        Err(refusal) => {
            let e = ApiError::from(&refusal);
            state.audit.log(&Entry {
                time,
                peer,
                role,
                auth: seen.proof.map(Proof::name),
                sans: &[],
                serial: None,
                not_after: None,
                result: "refused",
                status: e.status,
                reason: Some(&e.code),
                message: Some(&e.message),
                kubernetes: seen.kubernetes.as_ref(),
            });
            state
                .metrics
                .record(role.unwrap_or("unknown"), Some(&refusal), started.elapsed());
            refused(&refusal, &e)
        }
    }
}

async fn decide(
    state: &State,
    conn: &ConnInfo,
    in_flight: &InFlight<'_>,
    req: Request<Incoming>,
    seen: &mut Seen,
) -> std::result::Result<SignResponse, Refusal> {
    if state.draining.load(Ordering::SeqCst) {
        return Err(Refusal::ShuttingDown {
            endpoint: Endpoint::Sign,
        });
    }
    if let Err(wait) = state.limiter.check(conn.peer, Instant::now()) {
        return Err(Refusal::RateLimited {
            peer: conn.peer,
            retry_in: wait.as_secs_f64().ceil().max(1.0) as u64,
        });
    }
    // Who is asking, before reading a body.
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let static_auth = match &state.kubernetes {
        // --kubernetes: the token is reviewed once the request is known to be well formed.
        Some(_) => None,
        None => {
            // A client certificate counts only without a token, and only if it passes the
            // handshake's check again now.
            let cert_role = match authorization {
                Some(_) => ClientCert::Absent,
                None => tls::client_cert(state, conn.client_chain.as_deref(), UnixTime::now())?,
            };
            let authenticated =
                auth::authenticate(&state.tokens, authorization.as_deref(), cert_role)?;
            in_flight.authenticated();
            Some(authenticated)
        }
    };
    seen.proof = Some(static_auth.map_or(Proof::ServiceAccountToken, |(_, p)| p));

    let bytes: Bytes = read_body(req, state.limits.read_timeout).await?;

    let (role, request) = api::decode_envelope(&bytes)?;
    seen.role = Some(role);
    let issuance = match (static_auth, &state.kubernetes) {
        (Some(authenticated), _) => by_policy(state, conn, role, request, authenticated)?,
        (None, Some(kube)) => {
            let who = seen.kubernetes.insert(Who::default());
            kube.grant(
                &state.ca,
                KubeRequest {
                    peer: conn.peer,
                    authorization: authorization.as_deref(),
                    role,
                    body: request,
                    in_flight,
                },
                who,
            )
            .await?
        }
        (None, None) => return Err(Refusal::Unavailable),
    };
    issue(state, issuance)
}

/// What a request was granted, whichever way it was decided (a role token or client
/// certificate and the names policy; or `--kubernetes`), ready to sign.
pub(crate) struct Issuance {
    pub(crate) csr: Csr,
    pub(crate) role: Role,
    pub(crate) subject: LeafSubject,
    pub(crate) sans: Vec<San>,
    pub(crate) from: IssuingCa,
}

/// The CA that signs an issuance.
pub(crate) enum IssuingCa {
    /// The signer's own CA.
    Signer,
    /// A RayCluster's own CA (`serve --kubernetes`), derived from the signer's; the answer
    /// names the cluster (`namespace/name (uid ...)`).
    Cluster { ca: Arc<ClusterCa>, cluster: String },
}

/// The token/policy mode: the role the proof grants, then the names the policy gives this
/// peer.
fn by_policy(
    state: &State,
    conn: &ConnInfo,
    role: Role,
    request: SignRequest,
    (granted, proof): (Role, Proof),
) -> std::result::Result<Issuance, Refusal> {
    if role != granted {
        return Err(Refusal::RoleNotAllowed(RoleNotAllowed::Proof {
            proof,
            granted,
            asked: role,
        }));
    }
    let decoded = api::decode_csr(role, request)?;
    if role != Role::Head && !decoded.fqdn.is_empty() {
        return Err(Refusal::NameNotAllowed(NameNotAllowed::FqdnNotHead {
            name: decoded.fqdn[0].clone(),
        }));
    }
    let mut asked = decoded.fqdn.clone();
    asked.extend(decoded.csr.requested_names.iter().cloned());
    let identity = state.policy.decide(role, conn.peer, &asked)?;
    Ok(Issuance {
        csr: decoded.csr,
        role,
        subject: LeafSubject::for_identity(&identity),
        sans: identity.required_sans(),
        from: IssuingCa::Signer,
    })
}

/// Sign an issuance for its role's longest lifetime, and make the answer.
fn issue(state: &State, issuance: Issuance) -> std::result::Result<SignResponse, Refusal> {
    let lifetime = state.max_lifetime.get(issuance.role);
    sign_with(&state.ca, &state.ca_pem, lifetime, issuance)
}

/// The one signature of `POST /v1/sign`: by the signer's CA (`signer`, whose trust bundle is
/// `signer_pem`) or by the RayCluster CA below it.
fn sign_with(
    signer: &Authority,
    signer_pem: &str,
    lifetime: time::Duration,
    issuance: Issuance,
) -> std::result::Result<SignResponse, Refusal> {
    let Issuance {
        csr,
        role,
        subject,
        sans,
        from,
    } = issuance;
    let lifetime = Lifetime::Default(lifetime);
    let now = OffsetDateTime::now_utc();
    // The CA cannot sign now (e.g. it expired while we ran): not the client's fault.
    let unavailable = |e: crate::error::Error| Refusal::CaUnavailable { why: e.to_string() };
    let (certificate, serial, not_after, ca, ca_chain, cluster) = match from {
        IssuingCa::Signer => {
            // Unchecked: bind() checked a leaf of this CA and profile (the serving
            // certificate), and the pod verifies its chain before writing it; see
            // sign_leaf_unchecked.
            let signed = signer
                .sign_leaf_unchecked(
                    csr.public_key(),
                    csr.key.is_rsa(),
                    &subject,
                    &sans,
                    lifetime,
                    now,
                )
                .map_err(unavailable)?;
            let ca = signer_pem.to_string();
            (
                signed.chain_pem,
                signed.serial,
                signed.not_after,
                ca,
                String::new(),
                None,
            )
        }
        IssuingCa::Cluster { ca, cluster } => {
            // Checked: no leaf of a cluster CA was checked at start.
            let signed = ca
                .authority
                .sign_leaf(
                    csr.public_key(),
                    csr.key.is_rsa(),
                    &subject,
                    &sans,
                    lifetime,
                    now,
                )
                .map_err(unavailable)?;
            // Above the cluster CA: the signer's own intermediates, if any.
            let ca_chain: String = signer
                .intermediates
                .iter()
                .map(|c| pem::encode("CERTIFICATE", c))
                .collect();
            (
                signed.chain_pem,
                signed.info.serial,
                signed.info.not_after,
                pem::encode("CERTIFICATE", &ca.cert_der),
                ca_chain,
                Some(cluster),
            )
        }
    };
    Ok(SignResponse {
        certificate,
        ca,
        serial,
        not_after: not_after
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        sans: sans.iter().map(|s| s.to_string()).collect(),
        role: role.name().to_string(),
        ca_chain,
        cluster,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::chain;
    use crate::pki::cluster_ca::tests::signer;
    use crate::pki::cluster_ca::{self, ClusterRef, MasterKey};
    use crate::pki::csr::{make_csr_pem, parse_pem};
    use crate::pki::keys::{self, KeyType};
    use crate::pki::role::Holder;

    fn worker(from: IssuingCa) -> Issuance {
        let key = keys::generate(KeyType::EcdsaP256).unwrap();
        Issuance {
            csr: parse_pem(&make_csr_pem(&key, Role::Worker).unwrap()).unwrap(),
            role: Role::Worker,
            subject: LeafSubject {
                holder: Holder::Ray(Role::Worker),
                common_name: "ray worker ray/w-1".into(),
            },
            sans: vec![San::localhost(), San::Ip([10, 0, 0, 7].into())],
            from,
        }
    }

    /// Both ways of deciding end in the same answer, each naming the CA that signed.
    #[test]
    fn the_signer_and_a_cluster_ca_each_sign_and_name_themselves() {
        let now = OffsetDateTime::now_utc();
        let (_d, s) = signer(now);
        let day = time::Duration::hours(24);

        let own = sign_with(&s, &s.trust.pem(), day, worker(IssuingCa::Signer)).unwrap();
        assert_eq!(own.ca, s.trust.pem());
        assert_eq!((own.ca_chain.as_str(), own.cluster), ("", None));
        assert_eq!(own.role, "worker");
        assert_eq!(own.sans, ["localhost", "10.0.0.7"]);

        let key: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(7)).collect();
        let cluster = ClusterRef {
            namespace: "ray",
            name: "rc",
            uid: "11111111-aaaa-4000-8000-000000000001",
            created: now - time::Duration::hours(1),
        };
        let ca = Arc::new(
            cluster_ca::issue(&s, &MasterKey::new("test", &key).unwrap(), &cluster).unwrap(),
        );
        let from = IssuingCa::Cluster {
            ca: ca.clone(),
            cluster: "ray/rc (uid 1111)".into(),
        };
        let theirs = sign_with(&s, &s.trust.pem(), day, worker(from)).unwrap();
        assert_eq!(theirs.ca, pem::encode("CERTIFICATE", &ca.cert_der));
        assert_eq!(theirs.cluster.as_deref(), Some("ray/rc (uid 1111)"));
        assert_eq!(theirs.ca_chain, "");
        let leaf = crate::pki::pem::certificates(
            std::path::Path::new("leaf"),
            theirs.certificate.as_bytes(),
        )
        .unwrap();
        chain::verify_leaf(
            std::slice::from_ref(&ca.cert_der),
            &[],
            &leaf[0],
            chain::Usage::Server,
            now,
        )
        .unwrap();
        let not_after = OffsetDateTime::parse(
            &theirs.not_after,
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert!((not_after - (now + day)).abs() < time::Duration::minutes(2));
    }
}
