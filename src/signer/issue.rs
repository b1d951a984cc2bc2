//! One request to `POST /v1/sign`, from its credentials to its answer: who is asking (a role
//! token or a client certificate from this CA, or with `--kubernetes` a pod's ServiceAccount
//! token), the body, the names policy, the signature, and one audit line and one metrics
//! sample for every answer, issued or refused.
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use rustls_pki_types::UnixTime;
use time::OffsetDateTime;

use super::api::{self, ApiError, Endpoint, SignResponse};
use super::audit::Entry;
use super::auth::{self, ClientCert, Proof};
use super::http::{json_response, read_body, refused, ConnInfo};
use super::kubernetes::{KubeRequest, Who};
use super::limits::InFlight;
use super::refusal::{NameNotAllowed, Refusal, RoleNotAllowed};
use super::server::State;
use super::tls;
use crate::pki::authority::{LeafSubject, Lifetime};
use crate::pki::role::{self, Role};

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
    let (granted, proof) = match (static_auth, &state.kubernetes) {
        (Some(a), _) => a,
        (None, Some(kube)) => {
            let who = seen.kubernetes.insert(Who::default());
            return kube
                .sign(
                    &state.ca,
                    state.max_lifetime.get(role),
                    KubeRequest {
                        peer: conn.peer,
                        authorization: authorization.as_deref(),
                        role,
                        body: request,
                        in_flight,
                    },
                    who,
                )
                .await;
        }
        (None, None) => return Err(Refusal::Unavailable),
    };
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
    let sans = identity.required_sans();
    // Unchecked: bind() checked a leaf of this CA and profile (the serving certificate),
    // and the pod verifies its chain before writing it; see sign_leaf_unchecked.
    let signed = state
        .ca
        .sign_leaf_unchecked(
            decoded.csr.public_key(),
            decoded.csr.key.is_rsa(),
            &LeafSubject::for_identity(&identity),
            &sans,
            Lifetime::Default(state.max_lifetime.get(role)),
            OffsetDateTime::now_utc(),
        )
        // The CA cannot sign now (e.g. it expired while we ran): not the client's fault.
        .map_err(|e| Refusal::CaUnavailable { why: e.to_string() })?;
    Ok(SignResponse {
        certificate: signed.chain_pem,
        ca: state.ca_pem.clone(),
        serial: signed.serial,
        not_after: signed
            .not_after
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        sans: sans.iter().map(|s| s.to_string()).collect(),
        role: role.name().to_string(),
        ca_chain: String::new(),
        cluster: None,
    })
}
