//! `raytls inspect FILE...`.
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::pki::certinfo::datetime;
use crate::pki::inspect::{inspect_files, FileReport, Item};
use clap::Args;
use std::path::PathBuf;

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
    let reports = match inspect_files(&a.files, super::now()) {
        Ok(r) => r,
        Err(e) => {
            // Unknown or broken input is a usage-level problem here (exit 2).
            eprintln!("raytls: error: {e}");
            return Ok(ExitCode::Usage);
        }
    };
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
    } else {
        for r in &reports {
            print_report(r);
        }
    }
    Ok(ExitCode::Ok)
}

fn print_report(r: &FileReport) {
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
                crate::outln!("{}{which}: certificate", r.file.display());
                let row = |k: &str, v: String| crate::outln!("  {k:<12} {v}");
                row("subject", info.subject.clone());
                row(
                    "issuer",
                    if info.self_signed {
                        "(self-signed)".into()
                    } else {
                        info.issuer.clone()
                    },
                );
                row("serial", info.serial.clone());
                let expiry = if *expires_in_days >= 0 {
                    format!("expires in {expires_in_days} days")
                } else {
                    format!("EXPIRED {} days ago", -expires_in_days)
                };
                row(
                    "valid",
                    format!(
                        "{} to {} ({expiry})",
                        datetime(info.not_before),
                        datetime(info.not_after)
                    ),
                );
                row("key", info.public_key.to_string());
                row("signature", info.signature_algorithm.clone());
                row(
                    "SANs",
                    if info.sans.is_empty() {
                        "none".into()
                    } else {
                        info.sans.join(", ")
                    },
                );
                row(
                    "key usage",
                    if info.key_usage.is_empty() {
                        "(none: any)".into()
                    } else {
                        info.key_usage.join(", ")
                    },
                );
                row(
                    "EKU",
                    match &info.eku {
                        None => "(none: any)".into(),
                        Some(e) => e.names().join(", "),
                    },
                );
                row(
                    "CA",
                    match (info.is_ca, info.path_len) {
                        (true, Some(n)) => format!("yes, path length {n}"),
                        (true, None) => "yes".into(),
                        (false, _) => "no".into(),
                    },
                );
                row("SHA-256", info.sha256_fingerprint.clone());
            }
            Item::PrivateKey { key, matches } => {
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
                    "{}: private key, {} ({}); {m}{problem}",
                    r.file.display(),
                    key.algorithm,
                    key.format
                );
            }
        }
    }
}
