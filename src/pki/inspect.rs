//! What PEM files hold: certificates (single or bundles) and private keys, and which key
//! belongs to which certificate. Shared by `inspect`; `verify` uses the same `CertInfo`.
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::pki::certinfo::CertInfo;
use crate::pki::keys::{self, KeyInfo};
use crate::pki::pem;

/// One thing found in a file.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Item {
    Certificate {
        /// 1-based position in the file (bundles hold several).
        index: usize,
        expires_in_days: i64,
        #[serde(flatten)]
        info: Box<CertInfo>,
    },
    PrivateKey {
        #[serde(flatten)]
        key: KeyInfo,
        /// The certificates (among the files given) whose public key this is.
        matches: Vec<String>,
    },
}

/// Everything found in one file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InspectedFile {
    pub file: PathBuf,
    pub items: Vec<Item>,
}

/// Read every file; an unreadable or unknown file is an error naming it.
pub fn inspect_files(paths: &[PathBuf], now: OffsetDateTime) -> Result<Vec<InspectedFile>> {
    let mut reports = paths
        .iter()
        .map(|p| inspect_one(p, now))
        .collect::<Result<Vec<_>>>()?;
    // Which certificate (in any of the files) does each key belong to?
    let certs: Vec<(String, Vec<u8>)> = reports
        .iter()
        .flat_map(|r| {
            let n = r
                .items
                .iter()
                .filter(|i| matches!(i, Item::Certificate { .. }))
                .count();
            r.items.iter().filter_map(move |i| match i {
                Item::Certificate { index, info, .. } => {
                    let label = if n > 1 {
                        format!("{} (certificate {index})", r.file.display())
                    } else {
                        r.file.display().to_string()
                    };
                    Some((label, info.spki_bits.clone()))
                }
                _ => None,
            })
        })
        .collect();
    for r in &mut reports {
        for item in &mut r.items {
            if let Item::PrivateKey { key, matches } = item {
                if let Some(pk) = &key.public_key {
                    *matches = certs
                        .iter()
                        .filter(|(_, spki)| spki == pk)
                        .map(|(l, _)| l.clone())
                        .collect();
                }
            }
        }
    }
    Ok(reports)
}

fn inspect_one(path: &Path, now: OffsetDateTime) -> Result<InspectedFile> {
    let bytes = pem::read(path)?;
    let labels = pem::labels(&bytes);
    let has_cert = labels.iter().any(|l| l == "CERTIFICATE");
    let has_key = pem::is_encrypted_key(&bytes)
        || labels.iter().any(|l| {
            matches!(
                l.as_str(),
                "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY"
            )
        });
    if !has_cert && !has_key {
        return Err(Error::WrongPem {
            path: path.to_path_buf(),
            expected: "a certificate or a private key",
            found: pem::describe(&bytes),
        });
    }
    let mut items = Vec::new();
    if has_cert {
        for (i, der) in pem::certificates(path, &bytes)?.iter().enumerate() {
            let info = CertInfo::parse(der).map_err(|why| Error::BadCertificate {
                path: path.to_path_buf(),
                why: format!("certificate {}: {why}", i + 1),
            })?;
            items.push(Item::Certificate {
                index: i + 1,
                expires_in_days: info.days_left(now),
                info: Box::new(info),
            });
        }
    }
    if has_key {
        items.push(Item::PrivateKey {
            key: keys::describe(path, &bytes)?,
            matches: Vec::new(),
        });
    }
    Ok(InspectedFile {
        file: path.to_path_buf(),
        items,
    })
}
