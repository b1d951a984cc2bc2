//! `raytls inspect FILE...`.
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::pki::certinfo::{datetime, CertInfo};
use crate::pki::inspect::{inspect_files, InspectedFile, Item};
use crate::pki::keys::KeyInfo;
use crate::text::escape::escape;
use clap::Args;
use std::path::{Path, PathBuf};

const INSPECT_EXAMPLES: &str = "\
EXAMPLES:
  # What is in a pod's TLS directory, and which key belongs to which certificate
  raytls inspect /etc/ray/tls/tls.crt /etc/ray/tls/tls.key /etc/ray/tls/ca.crt

  # Days left, for a script
  raytls inspect --json tls.crt | jq '.[0].items[0].expires_in_days'

Reads certificates (single or bundles) and private keys (PKCS#1, SEC1, PKCS#8); never prints
key material. Exit 2 if a file is unreadable or holds something else (a CSR, not PEM, an
encrypted key).";

#[derive(Debug, Args)]
#[command(after_help = INSPECT_EXAMPLES)]
pub struct InspectArgs {
    /// PEM files: certificates and private keys
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print a JSON array, one object per file
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: InspectArgs) -> Result<ExitCode> {
    let reports =
        inspect_files(&a.files, super::now()).map_err(|e| Error::LocalConfig(Box::new(e)))?;
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
    } else {
        for r in &reports {
            print_file(r);
        }
    }
    Ok(ExitCode::Ok)
}

fn print_file(r: &InspectedFile) {
    let n_certs = r
        .items
        .iter()
        .filter(|i| matches!(i, Item::Certificate { .. }))
        .count();
    for item in &r.items {
        match item {
            Item::Certificate {
                index,
                expires_in_days,
                info,
            } => {
                let which = if n_certs > 1 {
                    format!(" (certificate {index} of {n_certs})")
                } else {
                    String::new()
                };
                crate::outln!("{}{which}: certificate", shown(&r.file));
                for (k, v) in certificate_rows(info, *expires_in_days) {
                    // Subjects, SANs and the like come from the file: escaped.
                    crate::outln!("  {k:<12} {}", escape(&v));
                }
            }
            Item::PrivateKey { key, matches } => print_key(&r.file, key, matches),
        }
    }
}

/// A path as printed for a person: escaped, since a file name can hold anything.
fn shown(p: &Path) -> String {
    escape(&p.display().to_string()).into_owned()
}

/// The rows of a certificate, in the order people read them.
fn certificate_rows(info: &CertInfo, expires_in_days: i64) -> Vec<(&'static str, String)> {
    let issuer = if info.self_signed {
        "(self-signed)".into()
    } else {
        info.issuer.clone()
    };
    let expiry = if expires_in_days >= 0 {
        format!("expires in {expires_in_days} days")
    } else {
        format!("EXPIRED {} days ago", -expires_in_days)
    };
    let valid = format!(
        "{} to {} ({expiry})",
        datetime(info.not_before),
        datetime(info.not_after)
    );
    vec![
        ("subject", info.subject.clone()),
        ("issuer", issuer),
        ("serial", info.serial.clone()),
        ("valid", valid),
        ("key", info.public_key.to_string()),
        ("signature", info.signature_algorithm.clone()),
        ("SANs", list_or(&info.sans, "none")),
        ("key usage", list_or(&info.key_usage, "(none: any)")),
        (
            "EKU",
            info.eku
                .as_ref()
                .map_or_else(|| "(none: any)".into(), |e| e.names().join(", ")),
        ),
        ("CA", ca_row(info)),
        ("SHA-256", info.sha256_fingerprint.clone()),
    ]
}

fn list_or<S: AsRef<str>>(items: &[S], none: &str) -> String {
    if items.is_empty() {
        none.into()
    } else {
        items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn ca_row(info: &CertInfo) -> String {
    match (info.is_ca, info.path_len) {
        (true, Some(n)) => format!("yes, path length {n}"),
        (true, None) => "yes".into(),
        (false, _) => "no".into(),
    }
}

fn print_key(file: &Path, key: &KeyInfo, matches: &[String]) {
    let m = if matches.is_empty() {
        "matches none of the certificates given".to_string()
    } else {
        format!("matches {}", matches.join(", "))
    };
    let problem = key
        .problem
        .as_ref()
        .map(|p| format!("; {p}"))
        .unwrap_or_default();
    crate::outln!(
        "{}: private key, {} ({}); {}",
        shown(file),
        key.algorithm,
        key.format,
        escape(&format!("{m}{problem}"))
    );
}
