//! Helpers for the health-check tests: certificates made with rcgen, in-process servers on
//! 127.0.0.1:0 (a fake GCS speaking real gRPC over real mutual TLS, and the broken peers of
//! the diagnosis table), and a runner for the real `raytls` binary.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

// ------------------------------------------------------------------------------------
// Certificates

pub struct Ca {
    pub pem: String,
    pub der: CertificateDer<'static>,
    params: CertificateParams,
    key: KeyPair,
}

pub struct Leaf {
    pub pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Leaf {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key_der.clone()).into()
    }
}

pub fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).expect("self-signed CA");
    Ca {
        pem: cert.pem(),
        der: cert.der().clone(),
        params,
        key,
    }
}

/// A leaf for `sans` (IPs or DNS names), usable as server and client (no EKU, like
/// KubeRay's certs) unless `tweak` says otherwise.
pub fn leaf(ca: &Ca, sans: &[&str], tweak: impl FnOnce(&mut CertificateParams)) -> Leaf {
    let key = KeyPair::generate().expect("leaf key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
    params
        .distinguished_name
        .push(DnType::CommonName, "ray-head");
    params.subject_alt_names = sans
        .iter()
        .map(|s| match s.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName((*s).try_into().expect("DNS SAN")),
        })
        .collect();
    tweak(&mut params);
    let issuer = Issuer::from_params(&ca.params, &ca.key);
    let cert = params.signed_by(&key, &issuer).expect("sign leaf");
    Leaf {
        pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

pub fn default_leaf(ca: &Ca) -> Leaf {
    leaf(ca, &["127.0.0.1", "::1", "localhost"], |_| {})
}

pub fn expired(p: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(30);
    p.not_after = now - time::Duration::days(1);
}

pub fn not_yet_valid(p: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now + time::Duration::days(1);
    p.not_after = now + time::Duration::days(30);
}

pub fn client_auth_only(p: &mut CertificateParams) {
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
}

/// Our side's files: ca.crt, tls.crt, tls.key in a temp dir.
pub struct Files {
    pub dir: tempfile::TempDir,
}

impl Files {
    pub fn new(ca: &Ca, ours: &Leaf) -> Files {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.crt"), &ca.pem).expect("write");
        std::fs::write(dir.path().join("tls.crt"), &ours.pem).expect("write");
        std::fs::write(dir.path().join("tls.key"), &ours.key_pem).expect("write");
        Files { dir }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, contents).expect("write");
        p
    }
    /// `--ca F --cert F --key F`
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--ca".into(),
            self.path("ca.crt").display().to_string(),
            "--cert".into(),
            self.path("tls.crt").display().to_string(),
            "--key".into(),
            self.path("tls.key").display().to_string(),
        ]
    }
}

// ------------------------------------------------------------------------------------
// TLS server configs

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A Ray-like TLS server: ALPN h2, client certificate required, signed by `client_ca`.
pub fn server_config(server: &Leaf, client_ca: &Ca) -> Arc<ServerConfig> {
    server_config_versions(server, client_ca, rustls::DEFAULT_VERSIONS)
}

/// As [`server_config`], TLS 1.2 only (Ray also speaks TLS 1.2 with ECDHE + AES-GCM).
pub fn server_config_tls12(server: &Leaf, client_ca: &Ca) -> Arc<ServerConfig> {
    server_config_versions(server, client_ca, &[&rustls::version::TLS12])
}

fn server_config_versions(
    server: &Leaf,
    client_ca: &Ca,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ServerConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(client_ca.der.clone()).expect("client CA");
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .expect("client verifier");
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server.der.clone()], server.key())
        .expect("server cert");
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(cfg)
}

/// A TLS server that accepts any client (or none): for "closes after the handshake".
pub fn server_config_any_client(server: &Leaf, alpn: &[&[u8]]) -> Arc<ServerConfig> {
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![server.der.clone()], server.key())
        .expect("server cert");
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg.send_tls13_tickets = 0;
    Arc::new(cfg)
}

// ------------------------------------------------------------------------------------
// Servers. Each owns a runtime; dropping the Server stops it.

pub struct Server {
    pub addr: SocketAddr,
    _rt: Runtime,
    _keep: Vec<std::net::TcpStream>,
}

impl Server {
    pub fn address(&self) -> String {
        self.addr.to_string()
    }
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn bind(rt: &Runtime) -> TcpListener {
    rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind")
}

use fake_gcs::drain;
pub use fake_gcs::Gcs;

/// A fake Ray GCS: real gRPC (tonic's server pieces) over real mutual TLS.
pub fn fake_gcs(cfg: Arc<ServerConfig>, gcs: Gcs) -> Server {
    fake_gcs_at("127.0.0.1:0", cfg, gcs).expect("bind 127.0.0.1")
}

/// As [`fake_gcs`], on another loopback address (`[::1]:0`); None if it cannot bind there.
pub fn fake_gcs_at(bind_to: &str, cfg: Arc<ServerConfig>, gcs: Gcs) -> Option<Server> {
    let rt = runtime();
    let listener = rt.block_on(TcpListener::bind(bind_to)).ok()?;
    let addr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    rt.spawn(fake_gcs::serve(listener, acceptor, Arc::new(gcs)));
    Some(Server {
        addr,
        _rt: rt,
        _keep: vec![],
    })
}

/// Completes the TLS handshake, then drops the connection without an alert or any data:
/// what Ray does under TLS 1.3 when it refuses a client certificate.
pub fn drop_after_handshake(cfg: Arc<ServerConfig>) -> Server {
    let rt = runtime();
    let listener = bind(&rt);
    let addr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let (tcp, _) = tls.into_inner();
                    drop(tcp);
                }
            });
        }
    });
    Server {
        addr,
        _rt: rt,
        _keep: vec![],
    }
}

/// A TLS server (no ALPN) that answers anything with an HTTP/1.1 400.
pub fn http1_over_tls(cfg: Arc<ServerConfig>) -> Server {
    let rt = runtime();
    let listener = bind(&rt);
    let addr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut buf = [0u8; 1024];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls
                        .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                        .await;
                    let _ = tls.shutdown().await;
                    drain(tls).await;
                }
            });
        }
    });
    Server {
        addr,
        _rt: rt,
        _keep: vec![],
    }
}

/// How a plain TCP peer treats our ClientHello.
#[derive(Clone, Copy)]
pub enum Plain {
    /// Accept and never answer (a peer that stalls mid-handshake).
    Silent,
    /// Read the hello, then close.
    Close,
    /// Read the hello, answer these bytes, keep the connection open.
    Reply(&'static [u8]),
}

/// An HTTP/2 SETTINGS frame, as a plaintext gRPC server sends first.
pub const H2_SETTINGS: &[u8] = &[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100];

pub fn plain_tcp(mode: Plain) -> Server {
    let rt = runtime();
    let listener = bind(&rt);
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                match mode {
                    Plain::Silent => {
                        let _ = tcp.read(&mut buf).await;
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                    Plain::Close => {
                        let _ = tcp.read(&mut buf).await;
                    }
                    Plain::Reply(bytes) => {
                        let _ = tcp.read(&mut buf).await;
                        let _ = tcp.write_all(bytes).await;
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                }
            });
        }
    });
    Server {
        addr,
        _rt: rt,
        _keep: vec![],
    }
}

/// A port where nothing listens (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A listener whose accept queue is full and never drained: the kernel drops further SYNs,
/// so a connect gets neither an accept nor a refusal (a firewall's silent drop, locally).
pub fn black_hole() -> Server {
    let rt = runtime();
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    let addr = {
        let _guard = rt.enter();
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let listener = socket.listen(0).expect("listen");
        let addr = listener.local_addr().expect("addr");
        // Keep the listener alive (never accepting) for the runtime's lifetime.
        rt.spawn(async move {
            let _l = listener;
            std::future::pending::<()>().await;
        });
        addr
    };
    // Fill the accept queue (backlog 0 holds one; a couple more for good measure).
    let mut keep = Vec::new();
    for _ in 0..3 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            keep.push(s);
        }
    }
    Server {
        addr,
        _rt: rt,
        _keep: keep,
    }
}

// ------------------------------------------------------------------------------------
// Running the binary

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// The `--json` objects printed, one per line.
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
    pub fn cause(&self) -> String {
        self.json()
            .first()
            .and_then(|v| v["cause"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
    pub fn message(&self) -> String {
        self.json()
            .first()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// Run `raytls health-check ARGS` with a clean environment (no RAY_TLS_*/RAY_AUTH_*, HOME
/// in an empty temp dir unless `env` says otherwise).
pub fn health_check(args: &[String], env: &[(&str, &str)]) -> Run {
    health_check_in(None, args, env)
}

pub fn health_check_in(prefix: Option<&[&str]>, args: &[String], env: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().expect("home");
    let bin = env!("CARGO_BIN_EXE_raytls");
    let mut cmd = match prefix {
        Some([first, rest @ ..]) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        _ => Command::new(bin),
    };
    cmd.arg("health-check").args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("RAY_TLS_") || k.starts_with("RAY_AUTH_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = std::time::Instant::now();
    let out = cmd.output().expect("run raytls");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    }
}

pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}
