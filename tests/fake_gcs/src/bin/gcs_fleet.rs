//! bench.sh case 6: N fake Ray GCS endpoints (real mutual TLS + gRPC) on 127.0.0.1, in one
//! process, until killed. Writes one port per line to --ports-file once all are listening.
//!   cargo run --release -p fake_gcs --bin gcs_fleet -- --ca DIR --count 1000 --ports-file FILE
//! The server certificate is issued by the CA in DIR (127.0.0.1 and localhost); clients must
//! present a certificate from the same CA.
//!   --nodes N: each GCS lists N nodes in GetAllNodeInfo (empty entries; with --silent-nodes,
//!   entries pointing at one listener that accepts and stays silent), for measuring
//!   `health-check --all-nodes` against a huge node list (whatever `limit` it asks for).
use std::path::PathBuf;
use std::sync::Arc;

use raytls::pki::authority::{Authority, CaFiles, Lifetime};
use raytls::pki::keys::KeyType;
use raytls::pki::role::{LeafIdentity, Role};
use raytls::pki::san::San;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (mut ca, mut count, mut ports_file) = (None, 1000usize, None);
    let (mut nodes, mut silent_nodes) = (0usize, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ca" => ca = args.next().map(PathBuf::from),
            "--count" => {
                count = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--count N")?
            }
            "--ports-file" => ports_file = args.next().map(PathBuf::from),
            "--nodes" => {
                nodes = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--nodes N")?
            }
            "--silent-nodes" => silent_nodes = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let (ca, ports_file) = (
        ca.ok_or("--ca DIR")?,
        ports_file.ok_or("--ports-file FILE")?,
    );
    let now = time::OffsetDateTime::now_utc();
    let authority = Authority::load(&CaFiles::in_dir(&ca), now).map_err(|e| e.to_string())?;
    let sans = ["127.0.0.1", "localhost"]
        .map(|s| San::parse("fleet", s).unwrap())
        .to_vec();
    let id = LeafIdentity::new(Role::Client, None, None, None, sans).map_err(|e| e.to_string())?;
    let leaf = authority
        .issue(&id, KeyType::EcdsaP256, Lifetime::default_days(1), now)
        .map_err(|e| e.to_string())?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(authority.cert_der.clone())
        .map_err(|e| e.to_string())?;
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let key =
        PrivateKeyDer::from_pem_slice(leaf.key.pem().as_bytes()).map_err(|e| e.to_string())?;
    let cert =
        CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).map_err(|e| e.to_string())?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], key)
        .map_err(|e| e.to_string())?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let mut gcs = fake_gcs::Gcs::default();
        if nodes > 0 {
            let node = if silent_nodes {
                let (listener, addr) = fake_gcs::silent_listener()
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(fake_gcs::serve_silently(listener));
                fake_gcs::node_at(addr)
            } else {
                Default::default()
            };
            gcs.nodes = fake_gcs::Nodes::Many {
                count: nodes,
                node,
                honor_limit: false,
            };
        }
        let gcs = Arc::new(gcs);
        let mut ports = String::new();
        for _ in 0..count {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?;
            ports.push_str(&format!(
                "{}\n",
                listener.local_addr().map_err(|e| e.to_string())?.port()
            ));
            tokio::spawn(fake_gcs::serve(listener, acceptor.clone(), gcs.clone()));
        }
        // Written last, so a reader that sees the file sees every port listening.
        std::fs::write(&ports_file, ports).map_err(|e| e.to_string())?;
        std::future::pending::<Result<(), String>>().await
    })
}
