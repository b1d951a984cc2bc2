//! The signer's HTTP API: its endpoints, `POST /v1/sign` request and answer, and the error
//! answer (whose codes and messages come from `refusal::Refusal`).
//! `docs/signer-openapi.yaml` describes the same shapes.
use serde::{Deserialize, Serialize};

use super::refusal::Refusal;
use crate::pki::csr::{self, Csr};
use crate::pki::role::Role;

/// What the signer serves, each at one path with one method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/sign`
    Sign,
    /// `GET /healthz`
    Healthz,
    /// `GET /metrics`
    Metrics,
}

impl Endpoint {
    /// The endpoint at `path`, whatever the method.
    pub fn at(path: &str) -> Option<Self> {
        match path {
            "/v1/sign" => Some(Endpoint::Sign),
            "/healthz" => Some(Endpoint::Healthz),
            "/metrics" => Some(Endpoint::Metrics),
            _ => None,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Sign => "/v1/sign",
            Endpoint::Healthz => "/healthz",
            Endpoint::Metrics => "/metrics",
        }
    }

    /// The one method it answers (and the `Allow` of its 405).
    pub fn method(self) -> &'static str {
        match self {
            Endpoint::Sign => "POST",
            Endpoint::Healthz | Endpoint::Metrics => "GET",
        }
    }
}

/// The largest request body the signer reads (a P-384 or RSA-4096 CSR in PEM is ~2 KiB).
pub const MAX_BODY: usize = 16 * 1024;

/// The JSON a pod sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// `head`, `worker` or `client`.
    pub role: String,
    /// A PEM `CERTIFICATE REQUEST` for the pod's own key.
    pub csr: String,
    /// Head only: service names to add; each must match a `--head-name` pattern.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fqdn: Vec<String>,
}

/// The JSON answer to a granted request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignResponse {
    /// The leaf, then any intermediate (PEM): `tls.crt`.
    pub certificate: String,
    /// The certificate peers trust (PEM): `ca.crt`.
    pub ca: String,
    pub serial: String,
    /// RFC 3339.
    pub not_after: String,
    pub sans: Vec<String>,
    pub role: String,
    /// Kubernetes mode: the CAs (PEM) between `ca`, the RayCluster's own CA, and the
    /// signer's root (`--signer-ca`); empty when the root issued `ca` itself. With them a
    /// client checks that the signer it trusts vouches for `ca` (`pki::cluster_ca::vouched_by`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_chain: String,
    /// Kubernetes mode: the RayCluster whose CA `ca` is, `NAMESPACE/NAME (uid UID)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// An error answer on the wire: `{"error": code, "message": text}` with its HTTP status.
/// The server makes it from a `Refusal` (`From<&Refusal>`); a client reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    #[serde(rename = "error")]
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }

    pub fn body_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

/// A request after decoding: the role asked for, the checked CSR, the extra head names.
pub struct Decoded {
    pub role: Role,
    pub csr: Csr,
    pub fqdn: Vec<String>,
}

/// Decode a request body: JSON, then the role, then the CSR (key type, then signature).
/// Every failure is a 400 whose message names the field; nothing here panics.
pub fn decode_sign_request(body: &[u8]) -> Result<Decoded, Refusal> {
    let (role, req) = decode_envelope(body)?;
    decode_csr(role, req)
}

/// The JSON and the role, before the (costlier) CSR checks.
pub fn decode_envelope(body: &[u8]) -> Result<(Role, SignRequest), Refusal> {
    let req: SignRequest =
        serde_json::from_slice(body).map_err(|e| Refusal::BadJson { why: e.to_string() })?;
    Ok((parse_role(&req.role)?, req))
}

/// The CSR of a decoded envelope: key type, then signature.
pub fn decode_csr(role: Role, req: SignRequest) -> Result<Decoded, Refusal> {
    let csr = csr::parse_pem(&req.csr)?;
    Ok(Decoded {
        role,
        csr,
        fqdn: req.fqdn,
    })
}

/// `head`, `worker` or `client`.
pub fn parse_role(s: &str) -> Result<Role, Refusal> {
    match s {
        "head" => Ok(Role::Head),
        "worker" => Ok(Role::Worker),
        "client" => Ok(Role::Client),
        other => Err(Refusal::BadRole {
            asked: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_bodies_are_400_naming_what() {
        for body in [
            &b""[..],
            b"{",
            b"[]",
            b"{\"role\":\"worker\"}",
            b"{\"role\":\"worker\",\"csr\":\"x\",\"extra\":1}",
            b"\xff\xfe",
        ] {
            let e = decode_sign_request(body).err().expect("refused");
            assert!(matches!(e, Refusal::BadJson { .. }), "{body:?}: {e:?}");
            assert_eq!(e.status(), 400);
        }
        let e = decode_sign_request(b"{\"role\":\"king\",\"csr\":\"x\"}").err();
        assert!(
            matches!(&e, Some(Refusal::BadRole { asked }) if asked == "king"),
            "{e:?}"
        );
        let e = decode_sign_request(b"{\"role\":\"worker\",\"csr\":\"x\"}").err();
        assert!(
            matches!(e, Some(Refusal::Csr(csr::CsrError::NotPem(_)))),
            "{e:?}"
        );
    }

    #[test]
    fn endpoints_are_their_paths() {
        for e in [Endpoint::Sign, Endpoint::Healthz, Endpoint::Metrics] {
            assert_eq!(Endpoint::at(e.path()), Some(e));
        }
        assert_eq!(Endpoint::at("/v1/sign/"), None);
    }

    /// Found by the fuzz target: an unknown field's name went into the message as it was.
    #[test]
    fn regression_unknown_field_name_with_newline_is_escaped() {
        let e = decode_sign_request(b"{\"rol\\n\\u001b[31mx\":1}")
            .err()
            .expect("refused");
        assert!(matches!(e, Refusal::BadJson { .. }), "{e:?}");
        let message = e.to_string();
        assert!(message.contains("unknown field"), "{message}");
        assert!(
            !message.contains('\n') && !message.contains('\u{1b}'),
            "{message}"
        );
    }

    /// Thousands of mutations of a valid request (bytes flipped, cut, repeated): each
    /// decodes or is a one-line 400; a panic fails the test. The fuzz target
    /// (fuzz/fuzz_targets/signer_request.rs) does the same without end.
    #[test]
    fn mutated_requests_never_panic() {
        let key = crate::pki::keys::generate(crate::pki::keys::KeyType::EcdsaP256).unwrap();
        let csr = crate::pki::csr::make_csr_pem(&key, Role::Worker).unwrap();
        let valid = serde_json::to_vec(&SignRequest {
            role: "worker".into(),
            csr,
            fqdn: vec!["a.b".into()],
        })
        .unwrap();
        assert!(decode_sign_request(&valid).is_ok());
        let mut rng = [0u8; 4096];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut rng).unwrap();
        let mut seed = rng.iter().cycle();
        let mut next = || usize::from(*seed.next().unwrap_or(&0));
        for round in 0..3000 {
            let mut m = valid.clone();
            match round % 4 {
                0 => {
                    for _ in 0..1 + next() % 4 {
                        let i = (next() << 8 | next()) % m.len();
                        m[i] = next() as u8;
                    }
                }
                1 => m.truncate((next() << 8 | next()) % m.len()),
                2 => {
                    let i = (next() << 8 | next()) % m.len();
                    let extra = m[i..].to_vec();
                    m.extend(extra);
                }
                _ => {
                    // Inside the base64 of the CSR: DER damage rather than JSON damage.
                    let i = 40 + (next() << 8 | next()) % (m.len() - 80);
                    m[i] = b"AZaz09+/"[next() % 8];
                }
            }
            if let Err(e) = decode_sign_request(&m) {
                assert_eq!(e.status(), 400, "{e}");
                assert!(!e.to_string().contains('\n'), "{e}");
            }
        }
    }
}
