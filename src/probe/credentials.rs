//! Our side of mutual TLS (the CA we trust, our certificate and key) and the auth token,
//! all loaded and checked before anything is dialed: a broken local file is a local
//! configuration error (exit 2), never a misleading network failure.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};
use crate::pki::authority::check_is_usable_ca;
use crate::pki::certinfo::CertInfo;
use crate::pki::leafcheck::{self, RenewWhen, Status};
use crate::pki::{keys, pem};

/// What the server must be signed by, and what we present as a client.
pub struct Credentials {
    pub ca_path: PathBuf,
    /// Subjects of the CA certificates in `ca_path`, for "not signed by the CA in FILE (CN=...)".
    pub ca_subjects: Vec<String>,
    /// The CA certificates of `ca_path`, in file order (during a CA rotation it holds the
    /// old and the new root): the cluster view says which one a node's certificate chains to.
    pub ca_certs: Vec<CertificateDer<'static>>,
    pub roots: Arc<RootCertStore>,
    pub cert_path: PathBuf,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for Credentials {
    // Never print key material, not even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("ca_path", &self.ca_path)
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

/// Load and cross-check the CA, certificate and key files. Certificates are read with the
/// one certificate model ([`CertInfo`]) and checked with the pki checks that `init` and
/// `verify` use.
pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<Credentials> {
    let now = time::OffsetDateTime::now_utc();
    let (roots, ca_subjects, ca_certs) = load_ca(ca, now)?;
    let chain = pem::certificates(cert, &pem::read(cert)?)?;
    // pem::certificates returns an error rather than an empty list, so [0] exists.
    let leaf = parse_cert(cert, &chain[0])?;
    check_dates(cert, &leaf, now)?;

    let key_bytes = pem::read(key)?;
    // pki::keys refuses what Ray cannot use (Ed25519, encrypted keys) with a message naming
    // the file; only then hand the DER to rustls.
    let parsed = keys::parse(key, &key_bytes)?;
    if !parsed.matches_public_key(&leaf.spki_bits) {
        return Err(Error::KeyDoesNotMatchCert {
            key: key.to_path_buf(),
            cert: cert.to_path_buf(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| Error::UnsupportedKey {
        path: key.to_path_buf(),
        why: format!("rustls cannot read it ({e})"),
    })?;
    Ok(Credentials {
        ca_path: ca.to_path_buf(),
        ca_subjects,
        ca_certs,
        roots: Arc::new(roots),
        cert_path: cert.to_path_buf(),
        chain,
        key: key_der,
    })
}

type CaFile = (RootCertStore, Vec<String>, Vec<CertificateDer<'static>>);

fn load_ca(ca: &Path, now: time::OffsetDateTime) -> Result<CaFile> {
    let certs = pem::certificates(ca, &pem::read(ca)?)?;
    let mut roots = RootCertStore::empty();
    let mut subjects = Vec::new();
    let mut out_of_dates = None;
    for der in &certs {
        let info = parse_cert(ca, der)?;
        // A leaf passed as --ca (tls.crt for ca.crt) is the classic mix-up: refuse it here,
        // with the same rules (and words) as `issue --ca`. A bundle in a CA rotation may hold
        // an old root past its dates: that one only fails if no root is usable.
        match check_is_usable_ca(ca, &info, now) {
            Err(e @ (Error::CaExpired { .. } | Error::CaNotYetValid { .. })) => {
                out_of_dates.get_or_insert(e);
                continue;
            }
            other => other?,
        }
        subjects.push(info.subject);
        roots.add(der.clone()).map_err(|e| Error::BadCertificate {
            path: ca.to_path_buf(),
            why: format!("cannot be used as a trust anchor ({e})"),
        })?;
    }
    if let (true, Some(e)) = (subjects.is_empty(), out_of_dates) {
        return Err(e);
    }
    Ok((
        roots,
        subjects,
        certs.into_iter().map(|c| c.into_owned()).collect(),
    ))
}

fn parse_cert(path: &Path, der: &CertificateDer<'_>) -> Result<CertInfo> {
    CertInfo::parse(der).map_err(|why| Error::BadCertificate {
        path: path.to_path_buf(),
        why,
    })
}

/// A client certificate outside its dates would be refused by the head; say so here, with
/// the dates, instead of as a vague rejection later.
fn check_dates(path: &Path, cert: &CertInfo, now: time::OffsetDateTime) -> Result<()> {
    // Renewal is not the probe's business: only "outside its dates" stops it.
    let check = leafcheck::validity(cert, RenewWhen::Within(time::Duration::ZERO), now);
    if check.status == Status::Fail {
        return Err(Error::BadCertificate {
            path: path.to_path_buf(),
            why: format!(
                "our client certificate is {} (now {}); re-issue it or fix this machine's clock",
                check.message,
                crate::pki::certinfo::datetime(now)
            ),
        });
    }
    Ok(())
}

/// Where the auth token came from: named in messages, the token itself never is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Flag(PathBuf),
    Env,
    EnvPath(PathBuf),
    Home(PathBuf),
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Flag(p) => write!(f, "--token-file {}", p.display()),
            TokenSource::Env => f.write_str("RAY_AUTH_TOKEN"),
            TokenSource::EnvPath(p) => write!(f, "RAY_AUTH_TOKEN_PATH={}", p.display()),
            TokenSource::Home(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A bearer token for `RAY_AUTH_MODE=token` heads. Debug does not show the value.
#[derive(Clone)]
pub struct Token {
    pub source: TokenSource,
    value: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(from {}, redacted)", self.source)
    }
}

impl Token {
    /// The `authorization` metadata value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.value)
    }
}

/// Find the token in Ray's order: `--token-file`, `RAY_AUTH_TOKEN`, the file at
/// `RAY_AUTH_TOKEN_PATH`, `~/.ray/auth_token`. First line, trimmed. A file the user named
/// that cannot be read or is empty is an error; a missing `~/.ray/auth_token` just means
/// "no token".
pub fn find_token(
    flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<PathBuf>,
) -> Result<Option<Token>> {
    if let Some(path) = flag {
        return token_file(path, TokenSource::Flag(path.to_path_buf())).map(Some);
    }
    if let Some(value) = env("RAY_AUTH_TOKEN").and_then(first_line) {
        return checked(value, TokenSource::Env).map(Some);
    }
    if let Some(path) = env("RAY_AUTH_TOKEN_PATH").filter(|p| !p.trim().is_empty()) {
        let path = PathBuf::from(path.trim());
        return token_file(&path, TokenSource::EnvPath(path.clone())).map(Some);
    }
    if let Some(home) = home {
        let path = home.join(".ray").join("auth_token");
        if path.exists() {
            return token_file(&path, TokenSource::Home(path.clone())).map(Some);
        }
    }
    Ok(None)
}

fn token_file(path: &Path, source: TokenSource) -> Result<Token> {
    let bytes = crate::fsio::read_input(path, 64 << 10)?;
    let text = String::from_utf8_lossy(&bytes);
    let value = first_line(text.into_owned()).ok_or_else(|| {
        Error::Usage(format!(
            "the auth token file {} (from {source}) is empty",
            path.display()
        ))
    })?;
    checked(value, source)
}

fn first_line(s: String) -> Option<String> {
    let line = s.lines().next().unwrap_or("").trim().to_string();
    (!line.is_empty()).then_some(line)
}

fn checked(value: String, source: TokenSource) -> Result<Token> {
    // gRPC metadata values are visible ASCII; say so without echoing the token.
    if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(Error::Usage(format!(
            "the auth token from {source} holds characters that cannot go in a gRPC header \
             (only printable ASCII)"
        )));
    }
    Ok(Token { source, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_order_follows_ray() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t");
        std::fs::write(&f, "from-file\nsecond line\n").unwrap();
        let env_all = |k: &str| match k {
            "RAY_AUTH_TOKEN" => Some("from-env".to_string()),
            "RAY_AUTH_TOKEN_PATH" => Some(f.display().to_string()),
            _ => None,
        };
        let t = find_token(Some(&f), &env_all, None).unwrap().unwrap();
        assert_eq!(t.source, TokenSource::Flag(f.clone()));
        assert_eq!(t.bearer(), "Bearer from-file");
        let t = find_token(None, &env_all, None).unwrap().unwrap();
        assert_eq!(t.source, TokenSource::Env);
        let env_path = |k: &str| (k == "RAY_AUTH_TOKEN_PATH").then(|| f.display().to_string());
        let t = find_token(None, &env_path, None).unwrap().unwrap();
        assert_eq!(t.source, TokenSource::EnvPath(f.clone()));
        std::fs::create_dir(dir.path().join(".ray")).unwrap();
        std::fs::write(dir.path().join(".ray/auth_token"), "  home  \n").unwrap();
        let t = find_token(None, &|_| None, Some(dir.path().into()))
            .unwrap()
            .unwrap();
        assert_eq!(t.bearer(), "Bearer home");
        assert!(!format!("{t:?}").contains("home "));
        let none = find_token(None, &|_| None, Some(dir.path().join("nohome"))).unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn empty_or_missing_named_token_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("empty");
        std::fs::write(&f, "\n").unwrap();
        assert!(find_token(Some(&f), &|_| None, None).is_err());
        assert!(find_token(Some(&dir.path().join("missing")), &|_| None, None).is_err());
    }
}
