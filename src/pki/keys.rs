//! Key types: generating new keys (ECDSA P-256/P-384) and loading existing ones
//! (RSA and EC, in PKCS#1, SEC1 or PKCS#8), with the refusals Ray needs (Ed25519).
use std::fmt;
use std::path::Path;

use rcgen::{KeyPair, PublicKeyData};
use rustls_pki_types::pem::SectionKind;

use crate::error::{Error, Result};
use crate::pki::{der, pem};

/// The key types raytls creates. Both work with Ray's gRPC TLS (RSA does too, but is slow
/// to generate and only adopted, never created).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    #[default]
    EcdsaP256,
    EcdsaP384,
}

impl KeyType {
    fn algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        }
    }
}

/// What a loaded or generated key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa { bits: usize },
    EcdsaP256,
    EcdsaP384,
}

impl KeyAlgorithm {
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyAlgorithm::Rsa { .. })
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyAlgorithm::EcdsaP384 => f.write_str("ECDSA P-384"),
        }
    }
}

impl From<KeyType> for KeyAlgorithm {
    fn from(k: KeyType) -> Self {
        match k {
            KeyType::EcdsaP256 => KeyAlgorithm::EcdsaP256,
            KeyType::EcdsaP384 => KeyAlgorithm::EcdsaP384,
        }
    }
}

/// A private key ready to sign, and what it is.
pub struct Key {
    pub pair: KeyPair,
    pub algorithm: KeyAlgorithm,
}

impl Key {
    /// PKCS#8 PEM, the format Ray, openssl and rustls all read.
    pub fn pem(&self) -> String {
        self.pair.serialize_pem()
    }

    /// Does this key belong to the certificate with this SubjectPublicKeyInfo bit string?
    pub fn matches_public_key(&self, spki_bits: &[u8]) -> bool {
        // For EC the raw key is the uncompressed point, for RSA the RSAPublicKey DER:
        // exactly the contents of the certificate's subjectPublicKey BIT STRING.
        self.pair.der_bytes() == spki_bits
    }
}

/// Make a new key.
pub fn generate(key_type: KeyType) -> Result<Key> {
    let pair = KeyPair::generate_for(key_type.algorithm()).map_err(|e| Error::KeyGeneration {
        key_type: format!("{key_type:?}"),
        why: e.to_string(),
    })?;
    Ok(Key {
        pair,
        algorithm: key_type.into(),
    })
}

/// Load a private key file: PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or
/// PKCS#8 (`PRIVATE KEY`). Every refusal names the file and says why.
pub fn load(path: &Path) -> Result<Key> {
    let bytes = pem::read(path)?;
    parse(path, &bytes)
}

/// The first private key block of a PEM file: its kind and DER. Errors name the file.
fn first_key_section(path: &Path, bytes: &[u8]) -> Result<(SectionKind, Vec<u8>)> {
    if pem::is_encrypted_key(bytes) {
        return Err(Error::EncryptedKey {
            path: path.to_path_buf(),
        });
    }
    let mut reader = bytes;
    loop {
        match rustls_pki_types::pem::from_buf(&mut reader) {
            Ok(Some((
                kind @ (SectionKind::PrivateKey
                | SectionKind::RsaPrivateKey
                | SectionKind::EcPrivateKey),
                der,
            ))) => return Ok((kind, der)),
            Ok(Some(_)) => continue,
            Ok(None) => {
                return Err(Error::WrongPem {
                    path: path.to_path_buf(),
                    expected: "a private key",
                    found: pem::describe(bytes),
                })
            }
            Err(e) => {
                return Err(Error::UnsupportedKey {
                    path: path.to_path_buf(),
                    why: format!("broken PEM ({})", pem::explain_error(&e)),
                })
            }
        }
    }
}

/// As [`load`], from bytes already read (`path` is only for messages).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Key> {
    let (kind, der) = first_key_section(path, bytes)?;
    let unsupported = |why: String| Error::UnsupportedKey {
        path: path.to_path_buf(),
        why,
    };
    match kind {
        SectionKind::RsaPrivateKey => {
            let pkcs8 =
                der::pkcs8_wrap(der::OID_RSA_ENCRYPTION, &der::tlv(der::TAG_NULL, &[]), &der);
            from_pkcs8(path, &pkcs8)
        }
        SectionKind::EcPrivateKey => {
            // SEC1 names its curve inside (usually); ring checks it against the one we wrap
            // with and rejects a mismatch, so trying both curves is safe.
            for curve in [der::OID_P256, der::OID_P384] {
                let pkcs8 =
                    der::pkcs8_wrap(der::OID_EC_PUBLIC_KEY, &der::tlv(der::TAG_OID, curve), &der);
                if let Ok(key) = from_pkcs8(path, &pkcs8) {
                    return Ok(key);
                }
            }
            Err(unsupported(
                "an EC key on a curve raytls cannot sign with; use ECDSA P-256 or P-384".into(),
            ))
        }
        _ => from_pkcs8(path, &der),
    }
}

/// What a private key file holds, for `inspect`: also for keys raytls will not sign with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    /// "PKCS#1", "SEC1" or "PKCS#8".
    pub format: &'static str,
    /// "ECDSA P-256", "RSA 2048", "Ed25519", ...
    pub algorithm: String,
    /// Why Ray or raytls cannot use it, if so.
    pub problem: Option<String>,
    /// The raw public key, to match against certificates.
    #[serde(skip)]
    pub public_key: Option<Vec<u8>>,
}

/// Describe a private key file without printing any of it.
pub fn describe(path: &Path, bytes: &[u8]) -> Result<KeyInfo> {
    let (kind, der) = first_key_section(path, bytes)?;
    let format = match kind {
        SectionKind::RsaPrivateKey => "PKCS#1",
        SectionKind::EcPrivateKey => "SEC1",
        _ => "PKCS#8",
    };
    match parse(path, bytes) {
        Ok(key) => Ok(KeyInfo {
            format,
            algorithm: key.algorithm.to_string(),
            problem: None,
            public_key: Some(key.pair.der_bytes().to_vec()),
        }),
        Err(Error::UnsupportedKey { why, .. }) => {
            let oid = der::pkcs8_algorithm(&der).map(|(oid, _)| oid.to_vec());
            let (algorithm, public_key) = match oid.as_deref() {
                Some(o) if o == der::OID_ED25519 => (
                    "Ed25519".to_string(),
                    ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                        .ok()
                        .map(|k| ring::signature::KeyPair::public_key(&k).as_ref().to_vec()),
                ),
                Some(o) if o == der::OID_ED448 => ("Ed448".to_string(), None),
                _ => {
                    // An RSA key ring refuses (e.g. 1024 bits): still say its size and match it.
                    let pkcs1 = match kind {
                        SectionKind::RsaPrivateKey => Some(der.as_slice()),
                        _ if oid.as_deref() == Some(der::OID_RSA_ENCRYPTION) => {
                            der::pkcs8_private_key(&der)
                        }
                        _ => None,
                    };
                    match pkcs1.and_then(der::rsa_public_from_pkcs1) {
                        Some(public) => (
                            format!("RSA {}", rsa_bits(&public).unwrap_or(0)),
                            Some(public),
                        ),
                        None => ("unsupported key".to_string(), None),
                    }
                }
            };
            Ok(KeyInfo {
                format,
                algorithm,
                problem: Some(why),
                public_key,
            })
        }
        Err(e) => Err(e),
    }
}

fn from_pkcs8(path: &Path, pkcs8: &[u8]) -> Result<Key> {
    let unsupported = |why: String| Error::UnsupportedKey {
        path: path.to_path_buf(),
        why,
    };
    let (oid, params) = der::pkcs8_algorithm(pkcs8)
        .ok_or_else(|| unsupported("not a valid PKCS#8 private key".into()))?;
    let (alg, algorithm): (&'static rcgen::SignatureAlgorithm, Option<KeyAlgorithm>) = match oid {
        o if o == der::OID_ED25519 || o == der::OID_ED448 => {
            return Err(unsupported(
                "an Ed25519/Ed448 key: Ray cannot use it (its TLS fails with NO_COMMON_SIGNATURE_ALGORITHMS); \
                 use RSA or ECDSA P-256/P-384"
                    .into(),
            ))
        }
        o if o == der::OID_RSA_ENCRYPTION => (&rcgen::PKCS_RSA_SHA256, None),
        o if o == der::OID_RSASSA_PSS => {
            return Err(unsupported("an RSA-PSS key; use a plain RSA (rsaEncryption) or ECDSA key".into()))
        }
        o if o == der::OID_EC_PUBLIC_KEY => {
            let curve = der::read_tlv(params).map(|(_, c, _)| c);
            match curve {
                Some(c) if c == der::OID_P256 => (&rcgen::PKCS_ECDSA_P256_SHA256, Some(KeyAlgorithm::EcdsaP256)),
                Some(c) if c == der::OID_P384 => (&rcgen::PKCS_ECDSA_P384_SHA384, Some(KeyAlgorithm::EcdsaP384)),
                Some(c) if c == der::OID_P521 => {
                    return Err(unsupported("an ECDSA P-521 key; use P-256 or P-384".into()))
                }
                _ => return Err(unsupported("an EC key on an unknown curve; use P-256 or P-384".into())),
            }
        }
        _ => return Err(unsupported("a private key of an unsupported type; use RSA or ECDSA P-256/P-384".into())),
    };
    let pkcs8_der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8);
    let pair = KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8_der, alg).map_err(|e| {
        unsupported(if alg == &rcgen::PKCS_RSA_SHA256 {
            format!("an RSA key raytls cannot sign with ({e}); RSA keys must be 2048 to 8192 bits")
        } else {
            format!("an EC key that does not parse ({e})")
        })
    })?;
    let algorithm = match algorithm {
        Some(a) => a,
        None => KeyAlgorithm::Rsa {
            bits: rsa_bits(pair.der_bytes()).unwrap_or(0),
        },
    };
    Ok(Key { pair, algorithm })
}

/// Modulus size of an RSAPublicKey DER (SEQUENCE { INTEGER n, INTEGER e }).
fn rsa_bits(rsa_public_key: &[u8]) -> Option<usize> {
    let (_, seq, _) = der::read_tlv(rsa_public_key)?;
    let (_, n, _) = der::read_tlv(seq)?;
    let n = match n.iter().position(|&b| b != 0) {
        Some(i) => &n[i..],
        None => return Some(0),
    };
    Some(n.len() * 8 - n[0].leading_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_reload_from_their_pem() {
        for kt in [KeyType::EcdsaP256, KeyType::EcdsaP384] {
            let key = generate(kt).unwrap();
            let back = parse(Path::new("k.pem"), key.pem().as_bytes()).unwrap();
            assert_eq!(back.algorithm, KeyAlgorithm::from(kt));
            assert!(back.matches_public_key(key.pair.der_bytes()));
        }
    }

    #[test]
    fn ed25519_is_refused_naming_ray() {
        let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let err = parse(Path::new("ed.key"), ed.serialize_pem().as_bytes())
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(
            msg.contains("ed.key") && msg.contains("Ray cannot use it"),
            "{msg}"
        );
    }

    #[test]
    fn garbage_is_named_not_panicked_on() {
        for input in [
            &b""[..],
            b"garbage",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            let err = parse(Path::new("x.key"), input).err().unwrap();
            assert!(err.to_string().contains("x.key"), "{err}");
        }
    }
}
