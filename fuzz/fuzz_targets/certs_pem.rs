//! A certificate file (a CA, a leaf, a bundle): `pki::pem::certificates`, then the one
//! certificate model `CertInfo::parse` on each block, and the words `pem::describe` uses in
//! errors when the file holds something else.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use raytls::pki::certinfo::CertInfo;
use raytls::pki::pem;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

fuzz_target!(|data: &[u8]| {
    let _ = pem::describe(data);
    let _ = pem::labels(data);
    let _ = pem::is_encrypted_key(data);
    let Ok(certs) = pem::certificates(Path::new("fuzz.crt"), data) else {
        return;
    };
    assert!(!certs.is_empty(), "certificates() returned an empty list");
    for der in &certs {
        // What we write (pem::encode) reads back as the same bytes.
        let again = CertificateDer::from_pem_slice(pem::encode("CERTIFICATE", der).as_bytes())
            .expect("our own PEM reloads");
        assert_eq!(again.as_ref(), der.as_ref());
        if let Ok(info) = CertInfo::parse(der) {
            let _ = info.display_name();
            let _ = info.eku_fits_ray();
        }
    }
});
