//! Bytes as hexadecimal, the one formatter for every place raytls shows bytes: a cluster id
//! (`3f9c01ab`), a serial (`01:ab`), a SHA-256 fingerprint (`01:AB`, as openssl prints it), a
//! peer's first bytes (`ff fe`), random name suffixes.
use std::fmt::Write;

/// Letter case of the digits a-f.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Lower,
    Upper,
}

/// Each byte as two hex digits, `sep` between bytes.
pub fn encode(bytes: &[u8], sep: &str, case: Case) -> String {
    let mut out = String::with_capacity(bytes.len() * (2 + sep.len()));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        // Infallible: writing to a String.
        let _ = match case {
            Case::Lower => write!(out, "{b:02x}"),
            Case::Upper => write!(out, "{b:02X}"),
        };
    }
    out
}

/// Lowercase, no separator: `3f9c01ab`.
pub fn lower(bytes: &[u8]) -> String {
    encode(bytes, "", Case::Lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_raytls_prints() {
        let b = [0x3f, 0x9c, 0x01, 0xab];
        assert_eq!(lower(&b), "3f9c01ab");
        assert_eq!(encode(&b, ":", Case::Lower), "3f:9c:01:ab");
        assert_eq!(encode(&b, ":", Case::Upper), "3F:9C:01:AB");
        assert_eq!(encode(&b, " ", Case::Lower), "3f 9c 01 ab");
        assert_eq!(encode(&[], ":", Case::Upper), "");
        assert_eq!(encode(&[0], ":", Case::Upper), "00");
    }
}
