//! A private key file as `init`, `issue`, `ca adopt`, `verify` and `inspect` read it:
//! `pki::keys::parse` (the keys raytls signs with) and `pki::keys::describe` (what `inspect`
//! says about any key), on arbitrary bytes.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use raytls::pki::keys;

fuzz_target!(|data: &[u8]| {
    check_key_file(data);
});

/// The two readers must agree: a key `parse` accepts is one `describe` reports with no
/// problem, the same algorithm and public key, and its own PEM loads back as the same key.
fn check_key_file(data: &[u8]) {
    let path = Path::new("fuzz.key");
    let parsed = keys::parse(path, data);
    let report = keys::describe(path, data);
    if let Ok(key) = parsed {
        let report = report.expect("parse accepted a key that describe refuses");
        assert!(report.problem.is_none(), "{:?}", report.problem);
        assert_eq!(report.algorithm, key.algorithm.to_string());
        let public = report
            .public_key
            .expect("describe gives the public key of a parsed key");
        assert!(key.matches_public_key(&public));
        let again = keys::parse(path, key.pem().as_bytes()).expect("our own PEM reloads");
        assert_eq!(again.algorithm, key.algorithm);
        assert!(again.matches_public_key(&public));
    }
}
