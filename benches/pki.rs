//! Hot paths of the certificate side: what `init` does per pod, and what it costs to adopt
//! an openssl-made RSA CA. Run with `cargo bench --bench pki` (scripts/bench.sh does).
use std::path::Path;
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};
use raytls::pki::authority::{self, Authority, CaFiles, Lifetime};
use raytls::pki::keys::{self, KeyType};
use raytls::pki::role::{LeafIdentity, Role};
use raytls::pki::san::San;
use time::OffsetDateTime;

fn head_identity() -> LeafIdentity {
    LeafIdentity::new(
        Role::Head,
        Some("10.244.0.5".parse().unwrap()),
        Some(San::parse("bench", "raycluster-head-svc.default.svc.cluster.local").unwrap()),
        None,
        vec![],
    )
    .unwrap()
}

/// A CA on disk: raytls-made (EC) or openssl-made (RSA-2048, PKCS#1 as KubeRay's guide makes it).
fn ca_dir(dir: &Path, rsa: bool) -> CaFiles {
    std::fs::create_dir_all(dir).unwrap();
    let files = CaFiles::in_dir(dir);
    if rsa {
        let ok = Command::new("openssl")
            .args([
                "req", "-x509", "-sha256", "-days", "3650", "-nodes", "-newkey", "rsa:2048",
            ])
            .args(["-subj", "/CN=bench RSA CA", "-keyout"])
            .arg(&files.key)
            .arg("-out")
            .arg(&files.cert)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(ok, "openssl is needed for the RSA CA bench");
    } else {
        let ca = authority::create_ca(
            "bench CA",
            KeyType::EcdsaP256,
            3650,
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        std::fs::write(&files.cert, &ca.cert_pem).unwrap();
        std::fs::write(&files.key, ca.key.pem()).unwrap();
    }
    files
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();

    let mut g = c.benchmark_group("keygen");
    g.bench_function("ecdsa-p256", |b| {
        b.iter(|| keys::generate(KeyType::EcdsaP256).unwrap())
    });
    g.bench_function("ecdsa-p384", |b| {
        b.iter(|| keys::generate(KeyType::EcdsaP384).unwrap())
    });
    g.finish();

    let identity = head_identity();
    let mut g = c.benchmark_group("issue_head_leaf");
    for (name, rsa) in [("ec-p256-ca", false), ("openssl-rsa2048-ca", true)] {
        let files = ca_dir(&tmp.path().join(name), rsa);
        let ca = Authority::load(&files, now).unwrap();
        // Key generation + signing + the self-check against the CA, as `init` does.
        g.bench_function(name, |b| {
            b.iter(|| {
                ca.issue(
                    &identity,
                    KeyType::EcdsaP256,
                    Lifetime::default_days(365),
                    OffsetDateTime::now_utc(),
                )
                .unwrap()
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("load_ca");
    for (name, rsa) in [("ec-p256-ca", false), ("openssl-rsa2048-ca", true)] {
        let files = CaFiles::in_dir(&tmp.path().join(name));
        let _ = rsa;
        // PEM parse of ca.crt and ca.key, CA checks, key-matches-cert.
        g.bench_function(name, |b| b.iter(|| Authority::load(&files, now).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
