//! Find credentials embedded in URIs (runtime_env `working_dir`, `py_modules`, ...).
//! Ray logs these URIs and names its cache directories after them, so a secret in a URI
//! leaks (Ray's guide: use a netrc file, or RAY_RUNTIME_ENV_BEARER_TOKEN, instead).
//!
//! Findings carry a redacted copy of the URI: this module never echoes a secret.

/// One credential found in a URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub what: String,
}

/// The verdict on one URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The URI with every secret replaced by `REDACTED`.
    pub redacted: String,
    pub host: Option<String>,
    pub findings: Vec<Finding>,
}

/// Query parameters that carry a credential: generic names, then signed-URL schemes
/// (AWS SigV4 and its session token, GCS V4 and V2, Azure SAS, CloudFront, GitLab).
const SECRET_PARAMS: [&str; 27] = [
    "token",
    "access_token",
    "auth_token",
    "id_token",
    "refresh_token",
    "private_token",
    "api_key",
    "apikey",
    "key",
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "auth",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "awsaccesskeyid",
    "x-goog-signature",
    "x-goog-credential",
    "googleaccessid",
    "signature",
    "sig",
    "key-pair-id",
    "policy",
    "x-ms-signature",
];

/// Usernames that are really tokens (`https://<token>@github.com/...`): known prefixes.
const TOKEN_PREFIXES: [&str; 8] = [
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "github_pat_",
    "glpat-",
    "x-access-token",
    "oauth2",
];

/// Lint one URI. Never fails and never panics, whatever the text (a fuzz target's entry).
pub fn lint(uri: &str) -> Report {
    let mut findings = Vec::new();
    // Split off the fragment, then the query; the rest is scheme://authority/path.
    let (before_frag, fragment) = match uri.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (uri, None),
    };
    let (base, query) = match before_frag.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_frag, None),
    };
    let mut redacted = String::with_capacity(uri.len());
    let mut host = None;
    match base.split_once("://") {
        Some((scheme, rest)) => {
            let auth_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(auth_end);
            redacted.push_str(scheme);
            redacted.push_str("://");
            // The userinfo ends at the LAST '@' of the authority (a password may hold '@').
            match authority.rsplit_once('@') {
                Some((userinfo, hostport)) => {
                    host = Some(host_of(hostport));
                    match userinfo.split_once(':') {
                        Some((user, _password)) => {
                            findings.push(Finding {
                                what: "a user:password@ in the URI".into(),
                            });
                            let shown_user = if looks_like_token(user) {
                                "REDACTED"
                            } else {
                                user
                            };
                            redacted.push_str(&format!("{shown_user}:REDACTED@"));
                        }
                        None if looks_like_token(userinfo) => {
                            findings.push(Finding {
                                what: "a token as the URI's user name (token@host)".into(),
                            });
                            redacted.push_str("REDACTED@");
                        }
                        None => {
                            redacted.push_str(userinfo);
                            redacted.push('@');
                        }
                    }
                    redacted.push_str(hostport);
                }
                None => {
                    host = Some(host_of(authority));
                    redacted.push_str(authority);
                }
            }
            redacted.push_str(path);
        }
        None => redacted.push_str(base),
    }
    if let Some(query) = query {
        redacted.push('?');
        redacted.push_str(&redact_params(query, "query", &mut findings));
    }
    if let Some(fragment) = fragment {
        redacted.push('#');
        // OAuth's implicit flow returns `#access_token=...`, and single-page apps put a
        // query in the fragment (`#/callback?token=...`): both reach logs like the rest.
        match fragment.split_once('?') {
            Some((route, params)) => {
                redacted.push_str(route);
                redacted.push('?');
                redacted.push_str(&redact_params(params, "fragment", &mut findings));
            }
            None => redacted.push_str(&redact_params(fragment, "fragment", &mut findings)),
        }
    }
    Report {
        redacted,
        host,
        findings,
    }
}

fn host_of(hostport: &str) -> String {
    if let Some(rest) = hostport.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    hostport.split(':').next().unwrap_or(hostport).to_string()
}

/// A user name that is a credential: a known token prefix, or long and random-looking
/// (20+ characters, letters and digits mixed) as personal access tokens are.
fn looks_like_token(user: &str) -> bool {
    let lower = user.to_ascii_lowercase();
    if TOKEN_PREFIXES.iter().any(|p| lower.starts_with(p)) {
        return true;
    }
    user.len() >= 20
        && user.chars().any(|c| c.is_ascii_digit())
        && user.chars().any(|c| c.is_ascii_alphabetic())
}

/// `name=value&...` with the value of every credential parameter replaced by `REDACTED`
/// (a finding each, naming the parameter and where it was: `query` or `fragment`).
fn redact_params(params: &str, place: &str, findings: &mut Vec<Finding>) -> String {
    let mut parts = Vec::new();
    for pair in params.split('&') {
        let (name, value) = match pair.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (pair, None),
        };
        if is_secret_param(name) && value.is_some_and(|v| !v.is_empty()) {
            findings.push(Finding {
                what: format!("a credential in the {place} ({name}=)"),
            });
            parts.push(format!("{name}=REDACTED"));
        } else {
            parts.push(pair.to_string());
        }
    }
    parts.join("&")
}

/// Whether a parameter name (percent-decoded, so `X%2DAmz-Signature` is still caught; bad
/// escapes stay as they are) names a credential.
fn is_secret_param(name: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(name)
        .decode_utf8_lossy()
        .to_ascii_lowercase();
    SECRET_PARAMS.contains(&decoded.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_password_is_found_and_redacted() {
        let r = lint("https://alice:s3cret@github.com/org/repo/archive/main.zip");
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.host.as_deref(), Some("github.com"));
        assert_eq!(
            r.redacted,
            "https://alice:REDACTED@github.com/org/repo/archive/main.zip"
        );
    }

    #[test]
    fn token_user_is_found() {
        let r = lint("https://ghp_abcdefghijklmnop1234@github.com/o/r.zip");
        assert_eq!(r.findings.len(), 1);
        assert!(!r.redacted.contains("ghp_"));
        assert!(lint("ssh://git@github.com/o/r.git").findings.is_empty());
    }

    #[test]
    fn query_credentials_are_found() {
        for uri in [
            "https://h/x.zip?token=abc",
            "https://h/x.zip?a=1&access_token=abc",
            "https://b.s3.amazonaws.com/x.zip?X-Amz-Algorithm=AWS4&X-Amz-Signature=ff",
            "https://h/x.zip?X%2DAmz-Signature=ff",
            "https://acct.blob.core.windows.net/c/x.zip?sv=2022&sig=abc",
            "https://storage.googleapis.com/b/x.zip?X-Goog-Signature=00",
        ] {
            let r = lint(uri);
            assert!(!r.findings.is_empty(), "{uri}");
            assert!(r.redacted.contains("REDACTED"), "{uri}");
        }
        let r = lint("https://h/x.zip?token=abc#frag");
        assert_eq!(r.redacted, "https://h/x.zip?token=REDACTED#frag");
    }

    #[test]
    fn regression_fragment_credentials_are_found_and_redacted() {
        let r = lint("https://host/p.zip#access_token=SECRET");
        assert_eq!(r.findings.len(), 1, "{r:?}");
        assert_eq!(
            r.findings[0].what,
            "a credential in the fragment (access_token=)"
        );
        assert_eq!(r.redacted, "https://host/p.zip#access_token=REDACTED");
        let r = lint("https://h/app#/callback?state=x&id_token=SECRET&token_type=bearer");
        assert_eq!(r.findings.len(), 1, "{r:?}");
        assert_eq!(
            r.redacted,
            "https://h/app#/callback?state=x&id_token=REDACTED&token_type=bearer"
        );
        let r = lint("https://h/x.zip?sig=S1#token=S2");
        assert_eq!(r.findings.len(), 2, "{r:?}");
        assert_eq!(r.redacted, "https://h/x.zip?sig=REDACTED#token=REDACTED");
        assert!(lint("https://h/README.md#installation").findings.is_empty());
    }

    #[test]
    fn clean_uris_pass() {
        for uri in [
            "https://github.com/org/repo/archive/refs/heads/main.zip",
            "s3://bucket/pkg.zip",
            "gs://bucket/pkg.zip",
            "https://h/x.zip?ref=main&token=",
            "https://[::1]:8443/x.zip",
            "./local_dir",
            "",
            "%",
            "https://h/x?%",
            "https://h/x?%4",
        ] {
            assert!(lint(uri).findings.is_empty(), "{uri}");
        }
    }
}
