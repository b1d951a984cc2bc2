//! The probe's hot path: one loopback mutual-TLS handshake plus the gRPC health check
//! (GetClusterId + InternalKVGet) against the fake GCS of the integration tests (tests/fake_gcs).

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use raytls::pki::authority::{self, Authority, CaFiles, Lifetime};
use raytls::pki::keys::KeyType;
use raytls::pki::role::{LeafIdentity, Role};
use raytls::pki::san::San;
use raytls::probe::{credentials, health, target};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let ca = authority::create_ca("bench CA", KeyType::EcdsaP256, 30, now).unwrap();
    std::fs::write(dir.path().join("ca.crt"), &ca.cert_pem).unwrap();
    std::fs::write(dir.path().join("ca.key"), ca.key.pem()).unwrap();
    let authority = Authority::load(&CaFiles::in_dir(dir.path()), now).unwrap();
    let sans = vec![San::parse("b", "127.0.0.1").unwrap()];
    let id = LeafIdentity::new(Role::Client, None, None, None, sans).unwrap();
    let leaf = authority
        .issue(&id, KeyType::EcdsaP256, Lifetime::default_days(1), now)
        .unwrap();
    for (name, body) in [
        ("tls.crt", leaf.cert_pem.clone()),
        ("tls.key", leaf.key.pem()),
    ] {
        std::fs::write(dir.path().join(name), body).unwrap();
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(authority.cert_der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(leaf.key.pem().as_bytes()).unwrap(),
        )
        .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec()];

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(fake_gcs::serve(
        listener,
        tokio_rustls::TlsAcceptor::from(Arc::new(cfg)),
        Arc::new(fake_gcs::Gcs::default()),
    ));

    let creds = credentials::load(
        &dir.path().join("ca.crt"),
        &dir.path().join("tls.crt"),
        &dir.path().join("tls.key"),
    )
    .unwrap();
    let target = target::parse(&addr.to_string()).unwrap();
    let opts = health::Options {
        timeout: Duration::from_secs(5),
        expect_ray_version: None,
        expect_cert: None,
        and_gcs: false,
    };
    c.bench_function("health_check/loopback_mtls_grpc", |b| {
        b.iter(|| {
            let report = rt.block_on(health::check(&target, &creds, None, &opts));
            assert!(report.healthy, "{}", report.message);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
