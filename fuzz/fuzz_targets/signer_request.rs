//! Fuzz the signer's request decoding: JSON, the role, then the CSR (PEM, DER, key type,
//! signature). Any input must give Ok or a 400 Refusal with a one-line message; a panic,
//! an abort or a 5xx status is a bug.
//!
//!   cargo fuzz run signer_request
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match raytls::signer::api::decode_sign_request(data) {
        Ok(decoded) => {
            // A CSR that decodes must name a role and a usable key.
            let _ = decoded.role.name();
            let _ = decoded.csr.key;
        }
        Err(e) => {
            assert_eq!(e.status(), 400, "{e}");
            assert!(!e.to_string().contains('\n'), "multi-line message: {e}");
        }
    }
    // The CSR decoder alone, on raw bytes as DER and as text.
    let _ = raytls::pki::csr::parse_der(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = raytls::pki::csr::parse_pem(text);
    }
});
