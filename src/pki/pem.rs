//! Reading PEM files and saying what they hold (parsing via rustls-pki-types' `PemObject`).
use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::error::{Error, Result};

/// Read a whole PEM input file (a regular file, size-capped), naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    crate::fsio::read_input(path, crate::fsio::MAX_PEM_FILE)
}

/// The labels of every `-----BEGIN X-----` line, in order.
pub fn labels(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN "))
        .filter_map(|l| l.strip_suffix("-----"))
        .map(str::to_string)
        .collect()
}

/// A legacy (`Proc-Type: 4,ENCRYPTED`) or PKCS#8 (`ENCRYPTED PRIVATE KEY`) encrypted key.
pub fn is_encrypted_key(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
}

/// Say in a few words what a file holds, for errors such as "ca.key is a certificate".
pub fn describe(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return "empty".into();
    }
    if is_encrypted_key(bytes) {
        return "an encrypted private key".into();
    }
    let labels = labels(bytes);
    let Some(first) = labels.first() else {
        return if bytes.first() == Some(&0x30) {
            "DER, not PEM (convert with `openssl x509 -inform der` or `openssl pkey -inform der`)"
                .into()
        } else {
            "not PEM (no -----BEGIN line)".into()
        };
    };
    let what = match first.as_str() {
        "CERTIFICATE" | "TRUSTED CERTIFICATE" => "a certificate",
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => "a CSR (certificate signing request)",
        "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => "a private key",
        "PUBLIC KEY" | "RSA PUBLIC KEY" => "a public key",
        "X509 CRL" => "a CRL",
        "EC PARAMETERS" if labels.len() > 1 && labels[1] == "EC PRIVATE KEY" => "a private key",
        "EC PARAMETERS" => "EC parameters",
        other => return format!("a PEM \"{other}\" block"),
    };
    if labels.len() > 1 && what == "a certificate" {
        format!("a bundle of {} PEM blocks", labels.len())
    } else {
        what.to_string()
    }
}

/// A PEM parse error in words (pki-types prints markers as byte lists).
pub fn explain_error(e: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error as E;
    match e {
        E::MissingSectionEnd { end_marker } => {
            format!(
                "no -----END {}----- line",
                String::from_utf8_lossy(end_marker)
            )
        }
        E::IllegalSectionStart { .. } => "a malformed -----BEGIN line".into(),
        E::Base64Decode(_) => "broken base64 inside a PEM block".into(),
        other => format!("{other:?}"),
    }
}

/// Every certificate in a PEM file; an error naming the file if there is none.
pub fn certificates(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::BadCertificate {
            path: path.to_path_buf(),
            why: format!("broken PEM ({})", explain_error(&e)),
        })?;
    if certs.is_empty() {
        return Err(Error::WrongPem {
            path: path.to_path_buf(),
            expected: "a PEM certificate",
            found: describe(bytes),
        });
    }
    Ok(certs)
}

/// PEM-encode DER with a label, 64 columns and LF line ends, as openssl writes it (the
/// `pem` crate's default line end is CRLF).
pub fn encode(label: &str, der: &[u8]) -> String {
    let config = ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF);
    ::pem::encode_config(&::pem::Pem::new(label, der), config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_round_trips_through_pki_types() {
        for len in [0usize, 1, 2, 3, 47, 48, 49, 200] {
            let der: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let pem = encode("CERTIFICATE", &der);
            let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
            assert_eq!(back.as_ref(), der.as_slice(), "len {len}");
            // As openssl writes it: LF only, full lines of 64 base64 characters.
            assert!(!pem.contains('\r'), "len {len}");
            let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            let (last, full) = body.split_last().unwrap_or((&"", &[]));
            assert!(
                full.iter().all(|l| l.len() == 64) && last.len() <= 64,
                "len {len}"
            );
        }
    }

    #[test]
    fn describes_what_it_sees() {
        assert_eq!(describe(b""), "empty");
        assert_eq!(describe(b"hello"), "not PEM (no -----BEGIN line)");
        assert_eq!(
            describe(
                b"-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----\n"
            ),
            "a CSR (certificate signing request)"
        );
        assert_eq!(
            describe(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
            "an encrypted private key"
        );
    }
}
