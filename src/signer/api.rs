//! The signer's HTTP API: `POST /v1/sign` request and answer, and the error vocabulary.
//! `docs/signer-openapi.yaml` describes the same shapes.
use serde::{Deserialize, Serialize};

use crate::pki::csr::{self, Csr, CsrError};
use crate::pki::role::Role;

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

/// An error answer: `{"error": code, "message": text}` with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    #[serde(rename = "error")]
    pub code: String,
    pub message: String,
    /// Seconds, for a 429's `Retry-After`.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(403, code, message)
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
pub fn decode_sign_request(body: &[u8]) -> Result<Decoded, ApiError> {
    let (role, req) = decode_envelope(body)?;
    decode_csr(role, req)
}

/// The JSON and the role, before the (costlier) CSR checks.
pub fn decode_envelope(body: &[u8]) -> Result<(Role, SignRequest), ApiError> {
    let req: SignRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "bad_json",
            // serde_json quotes an unknown field's name, which is the peer's text: escaped,
            // so the message stays one line without control characters.
            format!(
                "the body is not the JSON of a sign request: {}",
                super::printable(&e.to_string())
            ),
        )
    })?;
    Ok((parse_role(&req.role)?, req))
}

/// The CSR of a decoded envelope: key type, then signature.
pub fn decode_csr(role: Role, req: SignRequest) -> Result<Decoded, ApiError> {
    let csr = csr::parse_pem(&req.csr).map_err(csr_error)?;
    Ok(Decoded {
        role,
        csr,
        fqdn: req.fqdn,
    })
}

/// `head`, `worker` or `client`.
pub fn parse_role(s: &str) -> Result<Role, ApiError> {
    match s {
        "head" => Ok(Role::Head),
        "worker" => Ok(Role::Worker),
        "client" => Ok(Role::Client),
        other => Err(ApiError::bad_request(
            "bad_role",
            format!(
                "role {} is not one of head, worker, client",
                super::escape(other)
            ),
        )),
    }
}

fn csr_error(e: CsrError) -> ApiError {
    ApiError::bad_request(e.code(), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_bodies_are_400_naming_what() {
        for (body, code) in [
            (&b""[..], "bad_json"),
            (b"{", "bad_json"),
            (b"[]", "bad_json"),
            (b"{\"role\":\"worker\"}", "bad_json"),
            (
                b"{\"role\":\"worker\",\"csr\":\"x\",\"extra\":1}",
                "bad_json",
            ),
            (b"{\"role\":\"king\",\"csr\":\"x\"}", "bad_role"),
            (b"{\"role\":\"worker\",\"csr\":\"x\"}", "bad_csr"),
            (b"\xff\xfe", "bad_json"),
        ] {
            let e = decode_sign_request(body).err().expect("refused");
            assert_eq!((e.status, e.code.as_str()), (400, code), "{body:?}: {e}");
        }
    }

    /// Found by the fuzz target: an unknown field's name went into the message as it was.
    #[test]
    fn regression_unknown_field_name_with_newline_is_escaped() {
        let e = decode_sign_request(b"{\"rol\\n\\u001b[31mx\":1}")
            .err()
            .expect("refused");
        assert_eq!((e.status, e.code.as_str()), (400, "bad_json"));
        assert!(e.message.contains("unknown field"), "{}", e.message);
        assert!(
            !e.message.contains('\n') && !e.message.contains('\u{1b}'),
            "{}",
            e.message
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
                assert_eq!(e.status, 400, "{e}");
                assert!(!e.message.contains('\n'), "{e}");
            }
        }
    }
}
