//! Projected ServiceAccount tokens verified here, against the issuer's published keys, instead
//! of by a TokenReview: the same answer without a request to the API server per certificate.
//!
//! Kubernetes signs its tokens as JWS compact serializations (RFC 7515) and publishes the
//! public keys as a JWK Set (RFC 7517) at `/openid/v1/jwks`, and the issuer at
//! `/.well-known/openid-configuration` (service account issuer discovery). This module is
//! pure: it parses a key set and checks a token against it and the expected issuer,
//! audience and time; fetching and refetching the keys is `attest`'s.
//!
//! Accepted algorithms: RS256 (the API server's default with an RSA key), ES256 and ES384
//! (its choice for a P-256 or P-384 key). Everything else, `none` and the HMAC ones
//! included, is refused before any key is looked at.
use std::collections::BTreeMap;

use base64::Engine;
use ring::signature;
use serde_json::Value;

use super::decide::{Review, EXTRA_POD_NAME, EXTRA_POD_UID};

/// A token longer than this is not a projected ServiceAccount token.
pub const MAX_TOKEN: usize = 16 * 1024;
/// A key set longer than this is refused (the API server's holds a handful of keys).
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Keys kept from one key set at most.
pub const MAX_KEYS: usize = 64;
/// Clock skew allowed on `exp`, `nbf` and `iat`, as the API server's own validator allows.
pub const LEEWAY_S: i64 = 60;
/// The `user.extra` key the API server puts the ServiceAccount's UID under, which a review
/// would show (and `Who` records).
pub const EXTRA_SA_UID: &str = "authentication.kubernetes.io/serviceaccount-uid";

/// A public key of the issuer.
#[derive(Clone, PartialEq, Eq)]
enum Key {
    /// Modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed P-256 point (0x04 || x || y).
    P256(Vec<u8>),
    /// An uncompressed P-384 point.
    P384(Vec<u8>),
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Rsa { n, .. } => write!(f, "RSA-{}", n.len() * 8),
            Key::P256(_) => f.write_str("P-256"),
            Key::P384(_) => f.write_str("P-384"),
        }
    }
}

/// The issuer's key set: its keys by `kid`. Keys of a type or curve this module cannot
/// verify with are skipped, as RFC 7517 §5 lets a reader do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jwks {
    keys: BTreeMap<String, Key>,
}

/// Why a key set was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    TooLarge(usize),
    NotJson(String),
    NoKeys,
}

impl std::fmt::Display for JwksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksError::TooLarge(n) => write!(
                f,
                "the key set is {n} bytes, more than the {MAX_JWKS_BYTES} a signer reads"
            ),
            JwksError::NotJson(e) => write!(f, "the key set is not a JWK Set: {e}"),
            JwksError::NoKeys => {
                f.write_str("the key set holds no RSA, P-256 or P-384 signature key with a kid")
            }
        }
    }
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

impl Jwks {
    /// Read a JWK Set (`{"keys": [...]}`).
    pub fn parse(bytes: &[u8]) -> Result<Jwks, JwksError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge(bytes.len()));
        }
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| JwksError::NotJson(e.to_string()))?;
        let list = v
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JwksError::NotJson("no \"keys\" array".into()))?;
        let mut keys = BTreeMap::new();
        for k in list.iter().take(MAX_KEYS * 4) {
            if keys.len() >= MAX_KEYS {
                break;
            }
            if let Some((kid, key)) = Self::key(k) {
                keys.entry(kid).or_insert(key);
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoKeys);
        }
        Ok(Jwks { keys })
    }

    fn key(k: &Value) -> Option<(String, Key)> {
        let s = |name: &str| k.get(name).and_then(Value::as_str);
        if s("use").is_some_and(|u| u != "sig") {
            return None;
        }
        let kid = s("kid").filter(|kid| !kid.is_empty() && kid.len() <= 256)?;
        let key = match s("kty")? {
            "RSA" => {
                let n = b64(s("n")?)?;
                let e = b64(s("e")?)?;
                // ring verifies 2048-8192-bit moduli; reject the rest here, once.
                let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
                if !(2048..=8192).contains(&bits) || e.is_empty() || e.len() > 8 {
                    return None;
                }
                Key::Rsa { n, e }
            }
            "EC" => {
                let (x, y) = (b64(s("x")?)?, b64(s("y")?)?);
                let (len, wrap): (usize, fn(Vec<u8>) -> Key) = match s("crv")? {
                    "P-256" => (32, Key::P256),
                    "P-384" => (48, Key::P384),
                    _ => return None,
                };
                if x.len() != len || y.len() != len {
                    return None;
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                wrap(point)
            }
            _ => return None,
        };
        Some((kid.to_string(), key))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn has(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }
}

/// What a token is checked against besides the keys.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The issuer of the discovery document (`iss` must equal it).
    pub issuer: &'a str,
    /// One of `aud` (the projected volume's audience, `raytls`).
    pub audience: &'a str,
    /// Unix seconds.
    pub now: i64,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url parts of JSON, or a claim of the wrong type.
    Malformed(&'static str),
    /// An `alg` this signer does not accept (`none`, HMAC, ...).
    Algorithm(String),
    /// A `kid` the key set does not hold: a key added since it was fetched, or a forgery.
    UnknownKey(String),
    /// The signature does not verify under the key its `kid` names.
    Signature,
    /// `iss` is another issuer's.
    Issuer(String),
    /// `aud` does not hold the expected audience.
    Audience,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` or `iat` lies ahead (beyond the leeway).
    NotYetValid,
    /// Signed by the issuer but no ServiceAccount token (no `kubernetes.io` namespace and
    /// ServiceAccount claims).
    NotServiceAccount,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Malformed(what) => write!(f, "the token is not a JWT: {what}"),
            TokenError::Algorithm(alg) => write!(
                f,
                "the token is signed with {:?}, not RS256, ES256 or ES384",
                crate::text::escape::clip(alg, 32)
            ),
            TokenError::UnknownKey(kid) => write!(
                f,
                "the token names key {:?}, which the issuer does not publish",
                crate::text::escape::clip(kid, 64)
            ),
            TokenError::Signature => f.write_str("the token's signature does not verify"),
            TokenError::Issuer(iss) => write!(
                f,
                "the token's issuer {:?} is not this cluster's",
                crate::text::escape::clip(iss, 128)
            ),
            TokenError::Audience => f.write_str("the token is not for audience raytls"),
            TokenError::Expired => f.write_str("the token has expired"),
            TokenError::NotYetValid => f.write_str("the token is not valid yet (clock skew?)"),
            TokenError::NotServiceAccount => {
                f.write_str("the token is not a Kubernetes ServiceAccount token")
            }
        }
    }
}

/// A token the issuer signed, with the claims the signer decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `system:serviceaccount:NS:NAME`.
    pub subject: String,
    pub namespace: String,
    pub service_account: String,
    pub service_account_uid: String,
    /// The pod it is bound to (name, UID); None for a token not bound to a pod, which
    /// `decide` refuses as it refuses such a reviewed token.
    pub pod: Option<(String, String)>,
    pub audiences: Vec<String>,
    pub issued_at: i64,
    pub expires: i64,
}

impl Verified {
    /// The answer a TokenReview would have given for this token, so that `decide` reads
    /// both the same way.
    pub fn review(&self) -> Review {
        let mut extra = BTreeMap::new();
        if let Some((name, uid)) = &self.pod {
            extra.insert(EXTRA_POD_NAME.to_string(), name.clone());
            extra.insert(EXTRA_POD_UID.to_string(), uid.clone());
        }
        extra.insert(EXTRA_SA_UID.to_string(), self.service_account_uid.clone());
        Review::Authenticated {
            username: self.subject.clone(),
            extra,
            audiences: self.audiences.clone(),
        }
    }
}

/// The `kid` a token's header names, without verifying anything: to know whether the key
/// set must be fetched again before `verify`.
pub fn key_id(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let v: Value = serde_json::from_slice(&b64(header)?).ok()?;
    v.get("kid").and_then(Value::as_str).map(str::to_string)
}

/// Check `token` against the issuer's keys and `expect`.
pub fn verify(token: &str, keys: &Jwks, expect: &Expect) -> Result<Verified, TokenError> {
    if token.len() > MAX_TOKEN {
        return Err(TokenError::Malformed("longer than 16 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("not three dot-separated parts"));
    };
    let header: Value = b64(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed("the header is not base64url JSON"))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let kid = header.get("kid").and_then(Value::as_str).unwrap_or("");
    let key = keys.keys.get(kid);
    let algorithm: &dyn signature::VerificationAlgorithm = match (alg, key) {
        ("RS256", Some(Key::Rsa { .. })) => &signature::RSA_PKCS1_2048_8192_SHA256,
        ("ES256", Some(Key::P256(_))) => &signature::ECDSA_P256_SHA256_FIXED,
        ("ES384", Some(Key::P384(_))) => &signature::ECDSA_P384_SHA384_FIXED,
        ("RS256" | "ES256" | "ES384", None) => return Err(TokenError::UnknownKey(kid.into())),
        // A known kid whose key is of another type than alg says: no verification can pass.
        ("RS256" | "ES256" | "ES384", Some(_)) => return Err(TokenError::Signature),
        _ => return Err(TokenError::Algorithm(alg.into())),
    };
    let sig = b64(s).ok_or(TokenError::Malformed("the signature is not base64url"))?;
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    let ok = match key {
        Some(Key::Rsa { n, e }) => signature::RsaPublicKeyComponents { n, e }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed, &sig)
            .is_ok(),
        Some(Key::P256(point) | Key::P384(point)) => {
            signature::UnparsedPublicKey::new(algorithm, point)
                .verify(signed, &sig)
                .is_ok()
        }
        None => false,
    };
    if !ok {
        return Err(TokenError::Signature);
    }
    // Only now are the claims worth reading.
    let claims: Value = b64(p)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed("the claims are not base64url JSON"))?;
    let str_claim = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
    let iss = str_claim(&claims, "iss").unwrap_or_default();
    if iss != expect.issuer {
        return Err(TokenError::Issuer(iss));
    }
    let audiences: Vec<String> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .take(64)
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    if !audiences.iter().any(|a| a == expect.audience) {
        return Err(TokenError::Audience);
    }
    let int = |name: &str| claims.get(name).and_then(Value::as_i64);
    let exp = int("exp").ok_or(TokenError::Malformed("no exp"))?;
    let iat = int("iat").ok_or(TokenError::Malformed("no iat"))?;
    if exp + LEEWAY_S <= expect.now {
        return Err(TokenError::Expired);
    }
    if iat - LEEWAY_S > expect.now || int("nbf").is_some_and(|nbf| nbf - LEEWAY_S > expect.now) {
        return Err(TokenError::NotYetValid);
    }
    let k8s = claims
        .get("kubernetes.io")
        .ok_or(TokenError::NotServiceAccount)?;
    let namespace = str_claim(k8s, "namespace").ok_or(TokenError::NotServiceAccount)?;
    let (sa, sa_uid) = k8s
        .get("serviceaccount")
        .and_then(|v| Some((str_claim(v, "name")?, str_claim(v, "uid")?)))
        .ok_or(TokenError::NotServiceAccount)?;
    let pod = k8s
        .get("pod")
        .and_then(|v| Some((str_claim(v, "name")?, str_claim(v, "uid")?)));
    let subject = format!("system:serviceaccount:{namespace}:{sa}");
    if str_claim(&claims, "sub").as_deref() != Some(subject.as_str()) {
        return Err(TokenError::Malformed("sub is not the ServiceAccount's"));
    }
    Ok(Verified {
        subject,
        namespace,
        service_account: sa,
        service_account_uid: sa_uid,
        pod,
        audiences,
        issued_at: iat,
        expires: exp,
    })
}

/// Also the key and claims of issuer.rs's tests.
#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, RsaKeyPair};
    use serde_json::json;

    pub(crate) const ISS: &str = "https://kubernetes.default.svc.cluster.local";
    pub(crate) const NOW: i64 = 1_800_000_000;

    fn enc(b: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    pub(crate) fn claims() -> Value {
        json!({
            "aud": ["raytls"], "iss": ISS, "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 3590,
            "sub": "system:serviceaccount:ray:default",
            "kubernetes.io": {
                "namespace": "ray",
                "pod": {"name": "rc-head-x", "uid": "pod-uid-1"},
                "serviceaccount": {"name": "default", "uid": "sa-uid-1"},
            },
        })
    }

    pub(crate) struct Ec {
        pair: EcdsaKeyPair,
    }

    impl Ec {
        pub(crate) fn new() -> Ec {
            let rng = SystemRandom::new();
            let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
            Ec {
                pair: EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap(),
            }
        }
        pub(crate) fn jwk(&self, kid: &str) -> Value {
            let p = self.pair.public_key().as_ref();
            json!({"kty": "EC", "crv": "P-256", "use": "sig", "kid": kid, "alg": "ES256",
                   "x": enc(&p[1..33]), "y": enc(&p[33..65])})
        }
        pub(crate) fn sign(&self, header: Value, claims: &Value) -> String {
            let input = format!(
                "{}.{}",
                enc(header.to_string().as_bytes()),
                enc(claims.to_string().as_bytes())
            );
            let sig = self
                .pair
                .sign(&SystemRandom::new(), input.as_bytes())
                .unwrap();
            format!("{input}.{}", enc(sig.as_ref()))
        }
    }

    fn rsa() -> RsaKeyPair {
        use rustls_pki_types::pem::PemObject;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/ca-rsa.key");
        let der = rustls_pki_types::PrivateKeyDer::from_pem_file(path).unwrap();
        RsaKeyPair::from_der(der.secret_der()).unwrap()
    }

    fn rsa_jwk(pair: &RsaKeyPair, kid: &str) -> Value {
        let c: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
        json!({"kty": "RSA", "use": "sig", "kid": kid, "alg": "RS256", "n": enc(&c.n), "e": enc(&c.e)})
    }

    fn rsa_sign(pair: &RsaKeyPair, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "kid": kid});
        let input = format!(
            "{}.{}",
            enc(header.to_string().as_bytes()),
            enc(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(
            &signature::RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
        format!("{input}.{}", enc(&sig))
    }

    fn set(keys: Vec<Value>) -> Jwks {
        Jwks::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    const EXPECT: Expect = Expect {
        issuer: ISS,
        audience: "raytls",
        now: NOW,
    };

    #[test]
    fn a_token_the_issuer_signed_is_verified_as_a_review_would_answer() {
        let ec = Ec::new();
        let keys = set(vec![ec.jwk("k1")]);
        let token = ec.sign(json!({"alg": "ES256", "kid": "k1"}), &claims());
        let v = verify(&token, &keys, &EXPECT).unwrap();
        assert_eq!(v.subject, "system:serviceaccount:ray:default");
        assert_eq!(v.pod, Some(("rc-head-x".into(), "pod-uid-1".into())));
        assert_eq!(v.service_account_uid, "sa-uid-1");
        let Review::Authenticated {
            username,
            extra,
            audiences,
        } = v.review()
        else {
            panic!("not authenticated")
        };
        assert_eq!(username, v.subject);
        assert_eq!(extra[EXTRA_POD_NAME], "rc-head-x");
        assert_eq!(extra[EXTRA_POD_UID], "pod-uid-1");
        assert_eq!(audiences, vec!["raytls".to_string()]);
    }

    #[test]
    fn rs256_with_an_rsa_key() {
        let pair = rsa();
        let keys = set(vec![rsa_jwk(&pair, "r1")]);
        let token = rsa_sign(&pair, "r1", &claims());
        assert!(verify(&token, &keys, &EXPECT).is_ok());
        // One bit of the claims changed: the signature no longer verifies.
        let mut bad = claims();
        bad["kubernetes.io"]["pod"]["name"] = json!("rc-head-y");
        let forged = {
            let t = rsa_sign(&pair, "r1", &bad);
            let sig = token.rsplit('.').next().unwrap();
            format!("{}.{sig}", t.rsplit_once('.').unwrap().0)
        };
        assert_eq!(verify(&forged, &keys, &EXPECT), Err(TokenError::Signature));
    }

    #[test]
    fn a_key_the_issuer_does_not_publish_is_an_unknown_key_or_a_bad_signature() {
        let (ec, other) = (Ec::new(), Ec::new());
        let keys = set(vec![ec.jwk("k1")]);
        // Its own kid: the set must be fetched again (or the token reviewed) before refusing.
        let t = other.sign(json!({"alg": "ES256", "kid": "k9"}), &claims());
        assert_eq!(
            verify(&t, &keys, &EXPECT),
            Err(TokenError::UnknownKey("k9".into()))
        );
        assert_eq!(key_id(&t).as_deref(), Some("k9"));
        // The issuer's kid, another key: forged.
        let t = other.sign(json!({"alg": "ES256", "kid": "k1"}), &claims());
        assert_eq!(verify(&t, &keys, &EXPECT), Err(TokenError::Signature));
    }

    #[test]
    fn algorithms_outside_the_list_are_refused_before_any_key() {
        let ec = Ec::new();
        let keys = set(vec![ec.jwk("k1")]);
        let body = enc(claims().to_string().as_bytes());
        for alg in ["none", "HS256", "RS512", "EdDSA", ""] {
            let h = enc(json!({"alg": alg, "kid": "k1"}).to_string().as_bytes());
            let t = format!("{h}.{body}.");
            assert_eq!(
                verify(&t, &keys, &EXPECT),
                Err(TokenError::Algorithm(alg.into())),
                "{alg}"
            );
        }
        // alg and key type disagree (an RS256 header on an EC kid): no verification passes.
        let t = ec.sign(json!({"alg": "RS256", "kid": "k1"}), &claims());
        assert_eq!(verify(&t, &keys, &EXPECT), Err(TokenError::Signature));
    }

    #[test]
    fn issuer_audience_and_time_are_checked_after_the_signature() {
        let ec = Ec::new();
        let keys = set(vec![ec.jwk("k1")]);
        let h = json!({"alg": "ES256", "kid": "k1"});
        let with = |k: &str, v: Value| {
            let mut c = claims();
            c[k] = v;
            ec.sign(h.clone(), &c)
        };
        let check = |t: String| verify(&t, &keys, &EXPECT);
        assert_eq!(
            check(with("iss", json!("https://other"))),
            Err(TokenError::Issuer("https://other".into()))
        );
        assert_eq!(
            check(with("aud", json!(["vault"]))),
            Err(TokenError::Audience)
        );
        assert!(
            check(with("aud", json!("raytls"))).is_ok(),
            "a single aud string"
        );
        assert_eq!(
            check(with("exp", json!(NOW - LEEWAY_S))),
            Err(TokenError::Expired)
        );
        assert!(
            check(with("exp", json!(NOW - LEEWAY_S + 1))).is_ok(),
            "within the leeway"
        );
        assert_eq!(
            check(with("nbf", json!(NOW + LEEWAY_S + 1))),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(
            check(with("iat", json!(NOW + LEEWAY_S + 1))),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(
            check(with("sub", json!("system:serviceaccount:ray:admin"))),
            Err(TokenError::Malformed("sub is not the ServiceAccount's"))
        );
        // Not bound to a pod: verified, without the pod (decide refuses it as not_pod_bound).
        let mut c = claims();
        c["kubernetes.io"].as_object_mut().unwrap().remove("pod");
        let v = check(ec.sign(h.clone(), &c)).unwrap();
        assert_eq!(v.pod, None);
        let Review::Authenticated { extra, .. } = v.review() else {
            panic!("not authenticated")
        };
        assert!(!extra.contains_key(EXTRA_POD_NAME));
        c["kubernetes.io"]
            .as_object_mut()
            .unwrap()
            .remove("serviceaccount");
        assert_eq!(
            check(ec.sign(h.clone(), &c)),
            Err(TokenError::NotServiceAccount)
        );
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let keys = set(vec![Ec::new().jwk("k1")]);
        for t in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            "e30.e30.",
            &"x".repeat(MAX_TOKEN + 1),
        ] {
            assert!(
                matches!(
                    verify(t, &keys, &EXPECT),
                    Err(TokenError::Malformed(_) | TokenError::Algorithm(_))
                ),
                "{t:.20}"
            );
        }
    }

    #[test]
    fn key_sets_keep_what_they_can_verify_with() {
        let ec = Ec::new();
        let pair = rsa();
        let keys = set(vec![
            ec.jwk("k1"),
            rsa_jwk(&pair, "r1"),
            json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "AAAA"}),
            json!({"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"}),
            json!({"kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc", "x": "AA", "y": "AA"}),
            json!({"kty": "RSA", "n": enc(&[1; 64]), "e": "AQAB", "kid": "rsa512"}),
        ]);
        assert_eq!(keys.len(), 2);
        assert!(keys.has("k1") && keys.has("r1") && !keys.has("ed"));
        assert_eq!(Jwks::parse(br#"{"keys": []}"#), Err(JwksError::NoKeys));
        assert!(matches!(Jwks::parse(b"<html>"), Err(JwksError::NotJson(_))));
        let huge = vec![b' '; MAX_JWKS_BYTES + 1];
        assert_eq!(
            Jwks::parse(&huge),
            Err(JwksError::TooLarge(MAX_JWKS_BYTES + 1))
        );
        // At most MAX_KEYS kept from a hostile set.
        let many: Vec<Value> = (0..500).map(|i| ec.jwk(&format!("k{i}"))).collect();
        assert_eq!(set(many).len(), MAX_KEYS);
    }
}
