//! The DER inside a private key PEM block, fuzzed directly (mutating base64 text is a slow way
//! to reach it): the first byte picks the label (PKCS#1 `RSA PRIVATE KEY`, SEC1
//! `EC PRIVATE KEY`, PKCS#8 `PRIVATE KEY`), the rest is the DER. Exercises `pki::der`'s TLV
//! reader, the PKCS#1/SEC1 to PKCS#8 wrapping, and what `describe` digs out of keys ring
//! refuses.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use raytls::pki::{der, keys, pem};

const LABELS: [&str; 3] = ["RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let label = LABELS[usize::from(pick) % LABELS.len()];

    // The hand-written DER readers on their own.
    if let Some((_, value, rest)) = der::read_tlv(body) {
        assert!(value.len() + rest.len() <= body.len());
    }
    let _ = der::pkcs8_algorithm(body);
    let _ = der::pkcs8_private_key(body);
    let _ = der::rsa_public_from_pkcs1(body);

    let text = pem::encode(label, body);
    let path = Path::new("fuzz.key");
    let parsed = keys::parse(path, text.as_bytes());
    let report = keys::describe(path, text.as_bytes());
    if let Ok(key) = parsed {
        let report = report.expect("parse accepted a key that describe refuses");
        assert!(report.problem.is_none(), "{:?}", report.problem);
        assert_eq!(report.algorithm, key.algorithm.to_string());
        let public = report
            .public_key
            .expect("describe gives the public key of a parsed key");
        assert!(key.matches_public_key(&public));
    }
});
