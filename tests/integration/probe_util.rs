//! Helpers for the health-check tests: leaf certificates under the tests' one CA maker
//! ([`Ca`] is `util::RcgenCa`), in-process servers on 127.0.0.1:0 (a fake GCS speaking real
//! gRPC over real mutual TLS, and the broken peers of the diagnosis table), real non-Ray
//! servers (openssl, python), and `raytls health-check` run through the tests' one runner.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

pub use crate::util::RcgenCa as Ca;
use crate::util::{rustls_server_config, Workspace};

// ------------------------------------------------------------------------------------
// Certificates

/// A CA valid now, from the tests' one CA maker.
pub fn ca(name: &str) -> Ca {
    Ca::valid_now(name)
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
    let cert = params.signed_by(&key, &ca.issuer()).expect("sign leaf");
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
        std::fs::write(dir.path().join("ca.crt"), &ca.cert_pem).expect("write");
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
        self.flags_with_ca("ca.crt")
    }
    /// As [`Files::flags`], with `--ca` naming the file `ca` in this dir instead.
    pub fn flags_with_ca(&self, ca: &str) -> Vec<String> {
        vec![
            "--ca".into(),
            self.path(ca).display().to_string(),
            "--cert".into(),
            self.path("tls.crt").display().to_string(),
            "--key".into(),
            self.path("tls.key").display().to_string(),
        ]
    }
}

// ------------------------------------------------------------------------------------
// TLS server configs

/// A Ray-like TLS server: ALPN h2, client certificate required, signed by `client_ca`.
pub fn server_config(server: &Leaf, client_ca: &Ca) -> Arc<ServerConfig> {
    server_config_alpn(server, client_ca, &[b"h2"])
}

/// As [`server_config`], offering these ALPN protocols (none: `&[]`).
pub fn server_config_alpn(server: &Leaf, client_ca: &Ca, alpn: &[&[u8]]) -> Arc<ServerConfig> {
    Arc::new(rustls_server_config(
        vec![server.der.clone()],
        server.key(),
        Some(std::slice::from_ref(&client_ca.der)),
        alpn,
        rustls::DEFAULT_VERSIONS,
    ))
}

/// As [`server_config`], TLS 1.2 only (Ray also speaks TLS 1.2 with ECDHE + AES-GCM).
pub fn server_config_tls12(server: &Leaf, client_ca: &Ca) -> Arc<ServerConfig> {
    Arc::new(rustls_server_config(
        vec![server.der.clone()],
        server.key(),
        Some(std::slice::from_ref(&client_ca.der)),
        &[b"h2"],
        &[&rustls::version::TLS12],
    ))
}

/// A TLS server that accepts any client (or none): for "closes after the handshake".
pub fn server_config_any_client(server: &Leaf, alpn: &[&[u8]]) -> Arc<ServerConfig> {
    let mut cfg = rustls_server_config(
        vec![server.der.clone()],
        server.key(),
        None,
        alpn,
        rustls::DEFAULT_VERSIONS,
    );
    // No session tickets after the handshake: "dropped us before any data" means none.
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
    fn new(addr: SocketAddr, rt: Runtime) -> Self {
        Server {
            addr,
            _rt: rt,
            _keep: vec![],
        }
    }
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
    Some(Server::new(addr, rt))
}

/// A TLS server on 127.0.0.1:0 that completes each handshake with `cfg`, then hands the
/// connection to `then`.
fn tls_peer<F, Fut>(cfg: Arc<ServerConfig>, then: F) -> Server
where
    F: Fn(tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> Fut + Send + Copy + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let rt = runtime();
    let listener = bind(&rt);
    let addr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    then(tls).await;
                }
            });
        }
    });
    Server::new(addr, rt)
}

/// Completes the TLS handshake, then drops the connection without an alert or any data:
/// what Ray does under TLS 1.3 when it refuses a client certificate.
pub fn drop_after_handshake(cfg: Arc<ServerConfig>) -> Server {
    tls_peer(cfg, |tls| async move {
        let (tcp, _) = tls.into_inner();
        drop(tcp);
    })
}

/// A TLS server (no ALPN) that answers anything with an HTTP/1.1 400.
pub fn http1_over_tls(cfg: Arc<ServerConfig>) -> Server {
    tls_peer(cfg, |mut tls| async move {
        let mut buf = [0u8; 1024];
        let _ = tls.read(&mut buf).await;
        let _ = tls
            .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            .await;
        let _ = tls.shutdown().await;
        drain(tls).await;
    })
}

/// A TLS server that completes the handshake, then reads and never answers (an HTTP/1
/// server waiting for the rest of a request, a stalled proxy).
pub fn silent_after_handshake(cfg: Arc<ServerConfig>) -> Server {
    tls_peer(cfg, |mut tls| async move {
        let mut buf = [0u8; 4096];
        // Far longer than any check under test waits.
        let _ = tokio::time::timeout(Duration::from_secs(60), async {
            while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {}
        })
        .await;
    })
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
    Server::new(addr, rt)
}

/// A raylet that accepts TCP and never sends a byte (fake_gcs::serve_silently): every dial
/// to it ends at its deadline.
pub fn silent_tcp() -> Server {
    let rt = runtime();
    let (listener, addr) = rt.block_on(fake_gcs::silent_listener()).expect("bind");
    rt.spawn(fake_gcs::serve_silently(listener));
    Server::new(addr, rt)
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

/// Run `raytls health-check ARGS` through the tests' one runner (clean environment), with
/// HOME in an empty directory (no `~/.ray/auth_token`) unless `env` says otherwise.
pub fn health_check(args: &[String], env: &[(&str, &str)]) -> Run {
    health_check_in(None, args, env)
}

/// As [`health_check`], after a shell prefix (`Cmd::shell_prefix`): `ulimit -n 64`.
pub fn health_check_in(shell_prefix: Option<&str>, args: &[String], env: &[(&str, &str)]) -> Run {
    let ws = Workspace::new();
    let home = tempfile::tempdir().expect("home");
    let mut cmd = ws
        .raytls(std::iter::once("health-check".to_string()).chain(args.iter().cloned()))
        .env("HOME", home.path());
    if let Some(prefix) = shell_prefix {
        cmd = cmd.shell_prefix(prefix);
    }
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let start = std::time::Instant::now();
    let out = cmd.run();
    Run {
        code: out.code,
        stdout: out.stdout,
        stderr: out.stderr,
        elapsed: start.elapsed(),
    }
}

pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

// ------------------------------------------------------------------------------------
// Real non-Ray TLS servers: openssl s_server and python's http.server behind TLS.

/// A server process on 127.0.0.1, killed and reaped on drop (even when the test panics).
/// Its stdin stays open: `openssl s_server` quits at EOF on stdin.
pub struct Process {
    pub addr: SocketAddr,
    child: std::process::Child,
}

impl Process {
    pub fn address(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait (up to 20 s, a loaded CI machine starts openssl slowly) for a stdout line holding
/// `ready`; return that line.
fn wait_for_line(child: &mut std::process::Child, ready: &str, what: &str) -> String {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let ready = ready.to_string();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains(&ready) {
                let _ = tx.send(line);
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what} did not start"))
}

/// `openssl s_server` on 127.0.0.1 serving `files`' `server.crt`/`server.key`, with `extra`
/// flags (`-www`, `-Verify 1 -verify_return_error -CAfile F`, `-tls1_2`). It negotiates no
/// ALPN.
pub fn openssl_s_server(files: &Files, extra: &[&str]) -> Process {
    let port = free_port();
    let mut child = Command::new("openssl")
        .arg("s_server")
        .args(["-accept", &format!("127.0.0.1:{port}")])
        .args(["-cert", &path_str(&files.path("server.crt"))])
        .args(["-key", &path_str(&files.path("server.key"))])
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run openssl s_server");
    wait_for_line(&mut child, "ACCEPT", "openssl s_server");
    Process {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        child,
    }
}

/// Python's `http.server` wrapped in TLS (no ALPN), serving `files`' server.crt/key.
pub fn python_https_server(files: &Files) -> Process {
    const SCRIPT: &str = r#"
import http.server, ssl, sys
srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("port", srv.server_address[1], flush=True)
srv.serve_forever()
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(files.path("server.crt"))
        .arg(files.path("server.key"))
        .current_dir(files.dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run python3");
    let line = wait_for_line(&mut child, "port ", "python3 http.server");
    let port = line
        .trim_start_matches("port ")
        .trim()
        .parse()
        .expect("port");
    Process {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        child,
    }
}

/// A TCP peer that holds each connection (reading nothing back) until `n` are open at
/// once, then closes them all; later connections are closed at once.
pub fn gate_of(n: usize) -> Server {
    let rt = runtime();
    let listener = bind(&rt);
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
            if held.len() >= n {
                held.clear();
                break;
            }
        }
        while let Ok((tcp, _)) = listener.accept().await {
            drop(tcp);
        }
    });
    Server::new(addr, rt)
}
