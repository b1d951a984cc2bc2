//! Mutual TLS between in-process rustls peers using raytls certificates: a tokio-rustls
//! server with the head certificate that requires client certificates from the CA, and a
//! tokio-rustls client with the worker certificate, both with ALPN h2 (as Ray's gRPC).
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::util::{rustls_server_config, Workspace};

const HEAD_IP: &str = "10.0.0.5";
const WORKER_IP: &str = "10.0.0.6";
const FQDN: &str = "raycluster-head-svc.default.svc.cluster.local";
const RAY_IP: &str = "raycluster-head-svc";
const PING: &[u8] = b"ping from the worker";
const PONG: &[u8] = b"pong from the head";
/// A guard against hanging, not an assertion about speed.
const GUARD: Duration = Duration::from_secs(20);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca_file: &Path) -> Arc<RootCertStore> {
    let mut r = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca_file).expect("ca file") {
        r.add(c.expect("ca pem")).expect("add CA");
    }
    Arc::new(r)
}

fn identity(dir: &Path) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let certs = CertificateDer::pem_file_iter(dir.join("tls.crt"))
        .expect("tls.crt")
        .collect::<Result<Vec<_>, _>>()
        .expect("tls.crt pem");
    let key = PrivateKeyDer::from_pem_file(dir.join("tls.key")).expect("tls.key");
    (certs, key)
}

pub(crate) fn server_config(dir: &Path, client_ca: &Path) -> Arc<ServerConfig> {
    let (certs, key) = identity(dir);
    let client_cas = CertificateDer::pem_file_iter(client_ca)
        .expect("client CA file")
        .collect::<Result<Vec<_>, _>>()
        .expect("client CA pem");
    Arc::new(rustls_server_config(
        certs,
        key,
        Some(&client_cas),
        &[b"h2"],
        rustls::DEFAULT_VERSIONS,
    ))
}

pub(crate) fn client_config(dir: Option<&Path>, trust: &Path) -> Arc<ClientConfig> {
    let b = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(trust));
    let mut c = match dir {
        Some(dir) => {
            let (certs, key) = identity(dir);
            b.with_client_auth_cert(certs, key)
                .expect("client cert and key")
        }
        None => b.with_no_client_auth(),
    };
    c.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(c)
}

/// A server on 127.0.0.1:0 that answers PING with PONG; every connection's outcome
/// (Ok, or the server-side error) goes to the returned channel.
pub(crate) async fn serve(
    config: Arc<ServerConfig>,
) -> (u16, mpsc::UnboundedReceiver<Result<(), String>>) {
    serve_on("127.0.0.1:0", config).await
}

async fn serve_on(
    addr: &str,
    config: Arc<ServerConfig>,
) -> (u16, mpsc::UnboundedReceiver<Result<(), String>>) {
    let listener = TcpListener::bind(addr).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let r = async {
                    let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
                    let alpn = tls.get_ref().1.alpn_protocol().map(|p| p.to_vec());
                    if alpn.as_deref() != Some(b"h2".as_slice()) {
                        return Err(format!("ALPN was {alpn:?}"));
                    }
                    if tls.get_ref().1.peer_certificates().is_none() {
                        return Err("no client certificate".into());
                    }
                    let mut buf = vec![0u8; PING.len()];
                    tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
                    if buf != PING {
                        return Err(format!("got {buf:?}"));
                    }
                    tls.write_all(PONG).await.map_err(|e| e.to_string())?;
                    tls.shutdown().await.map_err(|e| e.to_string())?;
                    Ok(())
                }
                .await;
                let _ = tx.send(r);
            });
        }
    });
    (port, rx)
}

/// Dial 127.0.0.1:port, checking the server against `name`; handshake, send PING and
/// read the whole reply. Ok only if the reply is exactly PONG.
pub(crate) async fn exchange(
    port: u16,
    name: &str,
    config: Arc<ClientConfig>,
) -> Result<(), String> {
    exchange_at("127.0.0.1", port, name, config).await
}

async fn exchange_at(
    host: &str,
    port: u16,
    name: &str,
    config: Arc<ClientConfig>,
) -> Result<(), String> {
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let run = async {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| e.to_string())?;
        let mut tls = TlsConnector::from(config)
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2".as_slice()) {
            return Err("ALPN h2 not negotiated".into());
        }
        tls.write_all(PING)
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut reply = Vec::new();
        tls.read_to_end(&mut reply)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if reply != PONG {
            return Err(format!("reply was {reply:?}"));
        }
        Ok(())
    };
    tokio::time::timeout(GUARD, run)
        .await
        .map_err(|_| "timed out".to_string())?
}

pub(crate) async fn server_outcome(
    rx: &mut mpsc::UnboundedReceiver<Result<(), String>>,
) -> Result<(), String> {
    tokio::time::timeout(GUARD, rx.recv())
        .await
        .expect("server outcome")
        .expect("server task")
}

/// A CA with a head and a worker certificate.
fn cluster(
    ws: &Workspace,
    ca_args: &[&str],
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ca = ws.make_ca_with("ca", ca_args);
    let head = ws.issue(
        "head",
        &ca,
        "head",
        &["--pod-ip", HEAD_IP, "--fqdn", FQDN, "--ray-ip", RAY_IP],
    );
    let worker = ws.issue("worker", &ca, "worker", &["--pod-ip", WORKER_IP]);
    (ca, head, worker)
}

#[tokio::test]
async fn worker_completes_mutual_tls_with_head_on_every_head_san() {
    let ws = Workspace::new();
    let (_, head, worker) = cluster(&ws, &[]);
    let (port, mut rx) = serve(server_config(&head, &head.join("ca.crt"))).await;
    let client = client_config(Some(&worker), &worker.join("ca.crt"));
    for name in ["localhost", "127.0.0.1", HEAD_IP, FQDN, RAY_IP] {
        exchange(port, name, client.clone())
            .await
            .unwrap_or_else(|e| panic!("dialing {name}: {e}"));
        server_outcome(&mut rx)
            .await
            .unwrap_or_else(|e| panic!("server, dialed as {name}: {e}"));
    }
}

#[tokio::test]
async fn p384_certificates_complete_mutual_tls() {
    let ws = Workspace::new();
    let ca = ws.make_ca_with("ca", &["--key-type", "ecdsa-p384"]);
    let head = ws.issue(
        "head",
        &ca,
        "head",
        &["--pod-ip", HEAD_IP, "--key-type", "ecdsa-p384"],
    );
    let worker = ws.issue(
        "worker",
        &ca,
        "worker",
        &["--pod-ip", WORKER_IP, "--key-type", "ecdsa-p384"],
    );
    let (port, mut rx) = serve(server_config(&head, &ca.join("ca.crt"))).await;
    exchange(
        port,
        HEAD_IP,
        client_config(Some(&worker), &ca.join("ca.crt")),
    )
    .await
    .unwrap();
    server_outcome(&mut rx).await.unwrap();
}

#[tokio::test]
async fn one_certificate_serves_both_ways() {
    // Ray uses one certificate as server and client: swap the roles.
    let ws = Workspace::new();
    let (ca, head, worker) = cluster(&ws, &[]);
    let (port, mut rx) = serve(server_config(&worker, &ca.join("ca.crt"))).await;
    exchange(
        port,
        WORKER_IP,
        client_config(Some(&head), &ca.join("ca.crt")),
    )
    .await
    .unwrap();
    server_outcome(&mut rx).await.unwrap();
}

#[tokio::test]
async fn handshake_fails_for_a_name_not_in_the_cert() {
    let ws = Workspace::new();
    let (ca, head, worker) = cluster(&ws, &[]);
    let (port, _rx) = serve(server_config(&head, &ca.join("ca.crt"))).await;
    let client = client_config(Some(&worker), &ca.join("ca.crt"));
    for name in ["not-in-cert.example", "192.0.2.99", WORKER_IP, "::1"] {
        let err = exchange(port, name, client.clone()).await.expect_err(name);
        assert!(err.contains("handshake"), "{name}: {err}");
        assert!(err.contains("not valid for name"), "{name}: {err}");
    }
}

#[tokio::test]
async fn client_cert_from_another_ca_is_refused() {
    let ws = Workspace::new();
    let (ca, head, _) = cluster(&ws, &[]);
    let other_ca = ws.make_ca("other-ca");
    let intruder = ws.issue("worker", &other_ca, "intruder", &["--pod-ip", WORKER_IP]);
    let (port, mut rx) = serve(server_config(&head, &ca.join("ca.crt"))).await;
    // The intruder trusts the real CA, so only the server's check can stop it.
    let r = exchange(
        port,
        HEAD_IP,
        client_config(Some(&intruder), &ca.join("ca.crt")),
    )
    .await;
    assert!(r.is_err(), "an untrusted client certificate was accepted");
    let server = server_outcome(&mut rx).await;
    assert!(server.is_err(), "server accepted the intruder");
}

#[tokio::test]
async fn client_without_a_certificate_is_refused() {
    let ws = Workspace::new();
    let (ca, head, _) = cluster(&ws, &[]);
    let (port, mut rx) = serve(server_config(&head, &ca.join("ca.crt"))).await;
    let r = exchange(port, HEAD_IP, client_config(None, &ca.join("ca.crt"))).await;
    assert!(r.is_err(), "a client without a certificate was accepted");
    assert!(server_outcome(&mut rx).await.is_err());
}

#[tokio::test]
async fn client_trusting_another_ca_refuses_the_head() {
    let ws = Workspace::new();
    let (ca, head, worker) = cluster(&ws, &[]);
    let other_ca = ws.make_ca("other-ca");
    let (port, _rx) = serve(server_config(&head, &ca.join("ca.crt"))).await;
    let err = exchange(
        port,
        HEAD_IP,
        client_config(Some(&worker), &other_ca.join("ca.crt")),
    )
    .await
    .expect_err("trusted a head from another CA");
    assert!(err.contains("handshake"), "{err}");
}

#[tokio::test]
async fn leaves_under_an_openssl_rsa_ca_complete_mutual_tls() {
    let ws = Workspace::new();
    let ca = crate::openssl::openssl_ca(&ws, "ca", "rsa-pkcs1");
    let head = ws.issue("head", &ca, "head", &["--pod-ip", HEAD_IP, "--fqdn", FQDN]);
    let worker = ws.issue("worker", &ca, "worker", &["--pod-ip", WORKER_IP]);
    let (port, mut rx) = serve(server_config(&head, &ca.join("ca.crt"))).await;
    exchange(port, FQDN, client_config(Some(&worker), &ca.join("ca.crt")))
        .await
        .unwrap();
    server_outcome(&mut rx).await.unwrap();
}

#[tokio::test]
async fn init_made_certificates_complete_mutual_tls() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    for (role, ip) in [("head", HEAD_IP), ("worker", WORKER_IP)] {
        ws.raytls([
            "init",
            role,
            "--ca",
            crate::util::s(&ca),
            "--out",
            crate::util::s(&ws.join(role)),
        ])
        .env("POD_IP", ip)
        .env("FQ_RAY_IP", FQDN)
        .run()
        .ok();
    }
    let (head, worker) = (ws.join("head"), ws.join("worker"));
    let (port, mut rx) = serve(server_config(&head, &head.join("ca.crt"))).await;
    exchange(
        port,
        FQDN,
        client_config(Some(&worker), &worker.join("ca.crt")),
    )
    .await
    .unwrap();
    server_outcome(&mut rx).await.unwrap();
}

#[tokio::test]
async fn client_certificate_without_sans_is_accepted() {
    // The GCS does not check client names: a `client` cert with no SANs must work.
    let ws = Workspace::new();
    let (ca, head, _) = cluster(&ws, &[]);
    let client = ws.issue("client", &ca, "client", &[]);
    assert!(crate::util::sans(&client.join("tls.crt")).is_empty());
    let (port, mut rx) = serve(server_config(&head, &ca.join("ca.crt"))).await;
    exchange(
        port,
        "localhost",
        client_config(Some(&client), &ca.join("ca.crt")),
    )
    .await
    .unwrap();
    server_outcome(&mut rx).await.unwrap();
}

#[tokio::test]
async fn ipv6_head_is_reachable_on_ipv6_loopback_and_its_pod_ip() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let head = ws.issue("head", &ca, "head", &["--pod-ip", "fd00::5"]);
    let worker = ws.issue("worker", &ca, "worker", &["--pod-ip", "fd00::6"]);
    let (port, mut rx) = serve_on("[::1]:0", server_config(&head, &ca.join("ca.crt"))).await;
    let client = client_config(Some(&worker), &ca.join("ca.crt"));
    for name in ["::1", "fd00::5", "localhost"] {
        exchange_at("::1", port, name, client.clone())
            .await
            .unwrap_or_else(|e| panic!("dialing {name}: {e}"));
        server_outcome(&mut rx).await.unwrap();
    }
    let err = exchange_at("::1", port, "fd00::6", client.clone())
        .await
        .expect_err("the worker's address is not the head's");
    assert!(err.contains("not valid for name"), "{err}");
}
