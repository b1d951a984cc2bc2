//! Who may ask: a role token (`Authorization: Bearer <token>`, one token per role, mounted
//! from separate Secrets so a worker pod cannot ask for a head certificate), or a client
//! certificate from this CA whose subject records its role (renewal over mutual TLS).
use std::path::Path;

use super::refusal::{Refusal, Unauthorized};
use crate::error::{Error, Result};
use crate::pki::role::Role;

/// How a request proved its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    Token,
    ClientCert,
    /// A pod's projected ServiceAccount token, reviewed by the API server (`--kubernetes`).
    ServiceAccountToken,
}

impl Proof {
    pub fn name(self) -> &'static str {
        match self {
            Proof::Token => "token",
            Proof::ClientCert => "client_cert",
            Proof::ServiceAccountToken => "serviceaccount_token",
        }
    }
}

/// The role tokens. Only SHA-256 digests are kept in memory after start.
pub struct Tokens {
    digests: Vec<(Role, [u8; 32])>,
}

fn digest(b: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, b);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Equal in time that does not depend on where two digests differ.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Tokens {
    /// Read one token per role: the first line of each file, trimmed (as Ray reads its own
    /// token file). Two roles with one token would let either ask as the other: refused.
    pub fn load(files: &[(Role, &Path)]) -> Result<Self> {
        let mut digests: Vec<(Role, [u8; 32])> = Vec::new();
        for (role, path) in files {
            let token = super::client::read_token(path)?;
            let d = digest(token.as_bytes());
            if let Some((other, _)) = digests.iter().find(|(r, x)| *r == *role || ct_eq(x, &d)) {
                return Err(Error::Usage(format!(
                    "--token {role}={}: role {other} already has {}; give each role its own token",
                    path.display(),
                    if *other == *role {
                        "a token"
                    } else {
                        "this same token"
                    }
                )));
            }
            digests.push((*role, d));
        }
        Ok(Tokens { digests })
    }

    /// The role whose token this is. Every configured token is compared, always.
    pub fn role_of(&self, presented: &[u8]) -> Option<Role> {
        let d = digest(presented);
        let mut found = None;
        for (role, want) in &self.digests {
            if ct_eq(want, &d) {
                found = Some(*role);
            }
        }
        found
    }

    pub fn roles(&self) -> Vec<Role> {
        self.digests.iter().map(|(r, _)| *r).collect()
    }
}

/// What a request's client certificate says, once checked again at the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCert {
    /// No certificate (or a token was sent, and the certificate does not count).
    Absent,
    /// A certificate from this CA whose subject records no role.
    NoRole,
    /// A certificate from this CA for this role.
    Role(Role),
}

/// Decide the role a request may ask for, from its Authorization header (if any) and the
/// role of its verified client certificate (if any). A token, when sent, is what counts.
pub fn authenticate(
    tokens: &Tokens,
    authorization: Option<&[u8]>,
    cert: ClientCert,
) -> Result<(Role, Proof), Refusal> {
    match authorization {
        Some(h) => {
            let token = h
                .strip_prefix(b"Bearer ")
                .or_else(|| h.strip_prefix(b"bearer "))
                .ok_or(Refusal::Unauthorized(Unauthorized::NotBearer))?;
            let token = token.trim_ascii();
            tokens
                .role_of(token)
                .map(|r| (r, Proof::Token))
                .ok_or(Refusal::Unauthorized(Unauthorized::UnknownToken))
        }
        None => match cert {
            ClientCert::Role(role) => Ok((role, Proof::ClientCert)),
            ClientCert::NoRole => Err(Refusal::NoRoleInCertificate),
            ClientCert::Absent => Err(Refusal::Unauthorized(Unauthorized::NoCredentials)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_to_roles_and_duplicates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (h, w) = (dir.path().join("h"), dir.path().join("w"));
        std::fs::write(&h, "head-secret\n").unwrap();
        std::fs::write(&w, "worker-secret").unwrap();
        let t = Tokens::load(&[(Role::Head, &h), (Role::Worker, &w)]).unwrap();
        assert_eq!(t.role_of(b"head-secret"), Some(Role::Head));
        assert_eq!(t.role_of(b"worker-secret"), Some(Role::Worker));
        assert_eq!(t.role_of(b"worker-secre"), None);
        assert_eq!(t.role_of(b""), None);
        assert!(Tokens::load(&[(Role::Head, &h), (Role::Worker, &h)]).is_err());
        assert_eq!(
            authenticate(&t, Some(b"Bearer worker-secret"), ClientCert::Absent)
                .unwrap()
                .0,
            Role::Worker
        );
        assert!(matches!(
            authenticate(&t, Some(b"Basic x"), ClientCert::Absent),
            Err(Refusal::Unauthorized(Unauthorized::NotBearer))
        ));
        assert!(matches!(
            authenticate(&t, Some(b"Bearer nope"), ClientCert::Absent),
            Err(Refusal::Unauthorized(Unauthorized::UnknownToken))
        ));
        assert!(matches!(
            authenticate(&t, None, ClientCert::Absent),
            Err(Refusal::Unauthorized(Unauthorized::NoCredentials))
        ));
        assert!(matches!(
            authenticate(&t, None, ClientCert::NoRole),
            Err(Refusal::NoRoleInCertificate)
        ));
        assert_eq!(
            authenticate(&t, None, ClientCert::Role(Role::Head)).unwrap(),
            (Role::Head, Proof::ClientCert)
        );
    }
}
