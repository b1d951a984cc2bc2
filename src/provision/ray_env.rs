//! The RAY_TLS_* environment for the Ray container, in each output format.
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The file names raytls writes into an output directory (and Ray reads through env).
pub const CERT_FILE: &str = "tls.crt";
pub const KEY_FILE: &str = "tls.key";
pub const CA_FILE: &str = "ca.crt";
pub const ENV_FILE: &str = "ray-tls.env";

/// How `raytls env` (and init's ray-tls.env, always dotenv) write the variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EnvFormat {
    /// KEY=value lines for `set -a; . ray-tls.env` (POSIX sh), systemd EnvironmentFile and
    /// python-dotenv. A value that needs quoting is single-quoted, so nothing in it expands
    /// when sourced. `docker --env-file` keeps quotes literally: it reads such a file right
    /// only while every path is plain (the defaults are).
    #[default]
    Dotenv,
    /// `export KEY='value'` lines, safely quoted, for `eval` or `source`
    Shell,
    /// one JSON object
    Json,
    /// the YAML `env:` list of a Kubernetes container spec
    K8s,
}

/// The variables Ray reads to turn on mutual TLS (and, optionally, token auth).
#[derive(Debug, Clone)]
pub struct RayTlsEnv {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub token_file: Option<PathBuf>,
}

impl RayTlsEnv {
    /// The environment for the files in `dir` (tls.crt, tls.key, ca.crt), with absolute paths.
    pub fn for_dir(dir: &Path) -> Result<Self> {
        let dir = printable_absolute(dir)?;
        Ok(RayTlsEnv {
            cert: dir.join(CERT_FILE),
            key: dir.join(KEY_FILE),
            ca: dir.join(CA_FILE),
            token_file: None,
        })
    }

    /// Add token auth: RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH (never the token itself).
    pub fn with_token_file(mut self, file: &Path) -> Result<Self> {
        self.token_file = Some(printable_absolute(file)?);
        Ok(self)
    }

    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("RAY_USE_TLS", "1".to_string()),
            ("RAY_TLS_SERVER_CERT", self.cert.display().to_string()),
            ("RAY_TLS_SERVER_KEY", self.key.display().to_string()),
            ("RAY_TLS_CA_CERT", self.ca.display().to_string()),
        ];
        if let Some(t) = &self.token_file {
            v.push(("RAY_AUTH_MODE", "token".to_string()));
            v.push(("RAY_AUTH_TOKEN_PATH", t.display().to_string()));
        }
        v
    }

    pub fn render(&self, format: EnvFormat) -> String {
        let vars = self.vars();
        match format {
            EnvFormat::Dotenv => vars
                .iter()
                // Plain values as they are (what `docker --env-file` needs), anything else
                // single-quoted: a directory named `o $(id>/tmp/x)` ran `id` on
                // `set -a; . ray-tls.env` when values were double-quoted.
                .map(|(k, v)| format!("{k}={}\n", shell_quote(v)))
                .collect(),
            EnvFormat::Shell => vars
                .iter()
                .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
                .collect(),
            EnvFormat::Json => {
                let map: serde_json::Map<String, serde_json::Value> = vars
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.into()))
                    .collect();
                format!("{}\n", serde_json::Value::Object(map))
            }
            EnvFormat::K8s => {
                let mut out = String::from("env:\n");
                for (k, v) in vars {
                    // A JSON string is a valid YAML double-quoted scalar.
                    out.push_str(&format!(
                        "  - name: {k}\n    value: {}\n",
                        serde_json::Value::from(v)
                    ));
                }
                out
            }
        }
    }
}

/// The absolute path, if every env format can carry it as it is: UTF-8 (Ray reads the
/// variables as text; a lossy U+FFFD would name another file) and no control characters
/// (a newline or DEL breaks dotenv lines and Kubernetes YAML).
fn printable_absolute(p: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(p).map_err(|e| Error::read(p, e))?;
    let why = match abs.to_str() {
        None => "it is not valid UTF-8",
        Some(s) if s.chars().any(char::is_control) => "it holds a control character",
        Some(_) => return Ok(abs),
    };
    Err(Error::InvalidValue {
        source_name: "path".into(),
        value: crate::text::escape::escape_bytes(abs.as_os_str().as_encoded_bytes()),
        what: "path for the RAY_TLS_* environment",
        why: format!(
            "{why}; Ray reads these paths from environment variables: use a plain directory name"
        ),
    })
}

/// Single quotes, with each `'` written as `'\''`: nothing inside is expanded by a shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> RayTlsEnv {
        RayTlsEnv::for_dir(Path::new("/etc/ray/tls")).unwrap()
    }

    #[test]
    fn dotenv_has_the_four_variables() {
        assert_eq!(
            env().render(EnvFormat::Dotenv),
            "RAY_USE_TLS=1\nRAY_TLS_SERVER_CERT=/etc/ray/tls/tls.crt\n\
             RAY_TLS_SERVER_KEY=/etc/ray/tls/tls.key\nRAY_TLS_CA_CERT=/etc/ray/tls/ca.crt\n"
        );
    }

    #[test]
    fn regression_dotenv_value_does_not_run_commands_when_sourced() {
        let e = RayTlsEnv::for_dir(Path::new("/o $(id>/tmp/x)/`id`")).unwrap();
        let d = e.render(EnvFormat::Dotenv);
        assert!(
            d.contains("RAY_TLS_CA_CERT='/o $(id>/tmp/x)/`id`/ca.crt'\n"),
            "{d}"
        );
    }

    #[test]
    fn regression_paths_with_control_characters_or_not_utf8_are_refused() {
        use std::os::unix::ffi::OsStrExt;
        for bad in [
            Path::new("/a\x7fb"),
            Path::new("/a\nb"),
            Path::new(std::ffi::OsStr::from_bytes(b"/a\xffb")),
        ] {
            let e = RayTlsEnv::for_dir(bad).unwrap_err().to_string();
            assert!(
                e.contains("not a valid path for the RAY_TLS_* environment"),
                "{e}"
            );
            assert!(!e.contains('\x7f') && !e.contains('\n'), "{e:?}");
        }
    }

    #[test]
    fn shell_quotes_what_a_shell_would_expand() {
        assert_eq!(shell_quote("/a b/$HOME/it's"), r"'/a b/$HOME/it'\''s'");
        assert_eq!(shell_quote("/etc/ray/tls/tls.crt"), "/etc/ray/tls/tls.crt");
    }

    #[test]
    fn k8s_is_an_env_list_and_token_adds_auth_mode() {
        let e = env()
            .with_token_file(Path::new("/etc/ray/auth/token"))
            .unwrap();
        let y = e.render(EnvFormat::K8s);
        assert!(
            y.starts_with("env:\n  - name: RAY_USE_TLS\n    value: \"1\"\n"),
            "{y}"
        );
        assert!(
            y.contains("  - name: RAY_AUTH_MODE\n    value: \"token\"\n"),
            "{y}"
        );
        assert!(y.contains("value: \"/etc/ray/auth/token\""), "{y}");
        let j: serde_json::Value = serde_json::from_str(&e.render(EnvFormat::Json)).unwrap();
        assert_eq!(j["RAY_TLS_CA_CERT"], "/etc/ray/tls/ca.crt");
    }
}
