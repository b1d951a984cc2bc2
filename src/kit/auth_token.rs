//! Ray token auth (`RAY_AUTH_MODE=token`): make a token and render it as a Kubernetes Secret.
//!
//! Ray accepts any non-empty string as the token; KubeRay's token auth guide makes one with
//! `openssl rand -base64 32`, so we do the same: 32 bytes from the OS RNG, standard base64
//! with padding (44 characters, no newline inside).
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

/// How many random bytes a token holds (as `openssl rand -base64 32`).
pub const TOKEN_BYTES: usize = 32;

/// The key the token is stored under in the Secret; KubeRay's samples and the operator's own
/// generated Secret use `auth_token`, so `secretKeyRef.key: auth_token` works for both.
pub const SECRET_KEY: &str = "auth_token";

/// A fresh token: 32 random bytes, base64.
pub fn generate() -> Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Random)?;
    Ok(base64(&bytes))
}

/// A Secret name must be a DNS-1123 subdomain: lowercase letters, digits, `-` and `.`,
/// starting and ending with a letter or digit, at most 253 characters.
pub fn check_secret_name(flag: &str, name: &str) -> Result<()> {
    check_dns1123(flag, name, 253, true)
}

/// A namespace must be a DNS-1123 label: like a subdomain but without dots, at most 63.
pub fn check_namespace(flag: &str, name: &str) -> Result<()> {
    check_dns1123(flag, name, 63, false)
}

fn check_dns1123(flag: &str, value: &str, max: usize, dots: bool) -> Result<()> {
    let bad = |why: String| Error::InvalidValue {
        source_name: flag.to_string(),
        value: value.to_string(),
        what: if dots {
            "Kubernetes object name"
        } else {
            "Kubernetes namespace"
        },
        why,
    };
    if value.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if value.len() > max {
        return Err(bad(format!("it is longer than {max} characters")));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if let Some(c) = value.chars().find(|&c| !(ok_char(c) || (dots && c == '.'))) {
        return Err(bad(format!(
            "{c:?} is not allowed; use lowercase letters, digits and '-'{}",
            if dots { " or '.'" } else { "" }
        )));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !alnum(value.chars().next()) || !alnum(value.chars().last()) {
        return Err(bad("it must start and end with a letter or digit".into()));
    }
    if dots && value.split('.').any(str::is_empty) {
        return Err(bad("it has an empty part between dots".into()));
    }
    Ok(())
}

/// A Secret manifest holding the token under `auth_token`, ready for `kubectl apply -f -`.
/// `data` holds base64 of the token, as Kubernetes stores it (`kubectl get -o yaml` shows
/// the same), so the manifest round-trips.
pub fn k8s_secret_manifest(name: &str, namespace: Option<&str>, token: &str) -> String {
    let mut out = String::new();
    out.push_str("# Ray token auth: reference it from the Ray containers with\n");
    out.push_str("#   RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (secretKeyRef) or a volume + RAY_AUTH_TOKEN_PATH.\n");
    out.push_str("apiVersion: v1\nkind: Secret\nmetadata:\n");
    out.push_str(&format!("  name: {name}\n"));
    if let Some(ns) = namespace {
        out.push_str(&format!("  namespace: {ns}\n"));
    }
    out.push_str("  labels:\n    app.kubernetes.io/managed-by: raytls\n");
    out.push_str("type: Opaque\ndata:\n");
    out.push_str(&format!("  {SECRET_KEY}: {}\n", base64(token.as_bytes())));
    out
}

/// Standard base64 (RFC 4648 section 4) with `=` padding: what `openssl rand -base64` and
/// Kubernetes' Secret `data` use.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_44_base64_chars_and_fresh() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), 44);
        assert!(a.ends_with('='));
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c)));
        assert_ne!(a, b);
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        // The standard alphabet (`+/`, not URL-safe `-_`), and no line breaks.
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
        assert_eq!(base64(&[0u8; 32]).len(), 44);
        assert!(!base64(&[7u8; 200]).contains('\n'));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_secret_name("--k8s-secret", "ray-auth.token-1").is_ok());
        assert!(check_namespace("--namespace", "ray-system").is_ok());
        for bad in ["", "Ray", "-a", "a-", "a_b", "a..b", "a b"] {
            assert!(check_secret_name("--k8s-secret", bad).is_err(), "{bad:?}");
        }
        assert!(check_namespace("--namespace", "a.b").is_err());
        assert!(check_namespace("--namespace", &"a".repeat(64)).is_err());
    }

    #[test]
    fn manifest_has_the_token_base64() {
        let m = k8s_secret_manifest("ray-auth", Some("ray"), "abc");
        assert!(m.contains("kind: Secret\n"));
        assert!(m.contains("  namespace: ray\n"));
        assert!(m.contains("  auth_token: YWJj\n"));
        assert!(!k8s_secret_manifest("x", None, "abc").contains("namespace"));
    }
}
