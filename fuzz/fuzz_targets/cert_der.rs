//! The certificate model on arbitrary DER: `CertInfo::parse`, then everything `verify` and
//! `init` do with a parsed leaf: the Ray compatibility check, the leaf checks against a CA
//! (the testdata RSA CA, the certificate itself as its own CA, and both as a rotation's
//! bundle, with the rotation step), and SAN coverage.
#![no_main]

use libfuzzer_sys::fuzz_target;
use raytls::pki::certinfo::{self, CertInfo};
use raytls::pki::chain;
use raytls::pki::leafcheck::{self, Expectations, Leaf, RenewWhen};
use raytls::pki::san::San;
use raytls::pki::trust::{self, Root, TrustBundle};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

static CA_PEM: &[u8] = include_bytes!("../../testdata/ca-rsa.crt");

fuzz_target!(|data: &[u8]| {
    let der = CertificateDer::from(data);
    let Ok(info) = CertInfo::parse(&der) else {
        return;
    };
    // A fixed "now" (2027-01-15) keeps every run reproducible.
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a valid timestamp");
    let _ = info.display_name();
    let _ = info.san_strings();
    let _ = info.labeled_sans();
    let _ = info.eku.as_ref().map(|e| e.names());
    let _ = info.eku_fits_ray();
    let _ = info.days_left(now);
    let _ = certinfo::datetime(info.not_before);
    let _ = certinfo::datetime(info.not_after);
    let _ = leafcheck::ray_compatibility(&info);

    let ip = San::parse("fuzz", "10.0.0.5").expect("a valid IP SAN");
    let sans = [San::localhost(), ip];
    for san in &sans {
        let _ = chain::covers(&der, san);
    }
    let expect = Expectations {
        sans: &sans,
        // `init` renews with a third of the lifetime left, `verify --renew-before 30d` by time.
        renew: if data.len() % 2 == 0 {
            RenewWhen::FractionLeft(1.0 / 3.0)
        } else {
            RenewWhen::Within(time::Duration::days(30))
        },
    };
    let leaf = Leaf {
        der: &der,
        intermediates: &[],
        info: &info,
        key: None,
    };
    let ca = CertificateDer::from_pem_slice(CA_PEM).expect("testdata/ca-rsa.crt is a certificate");
    let ca_info = CertInfo::parse(&ca).expect("testdata/ca-rsa.crt parses");
    let fixed = TrustBundle::checked_elsewhere(vec![Root {
        der: ca.clone(),
        info: ca_info,
    }]);
    // The input as its own root, and next to the fixed one (a rotation's bundle).
    let own = Root {
        der: der.clone().into_owned(),
        info: info.clone(),
    };
    let itself = TrustBundle::checked_elsewhere(vec![own.clone()]);
    let both = TrustBundle::checked_elsewhere(vec![fixed.roots()[0].clone(), own]);
    for trust in [&fixed, &itself, &both] {
        let _ = leafcheck::check_leaf(trust, &leaf, &expect, now);
        let _ = trust::rotation_step(trust, None, &der, &[], now);
    }
});
