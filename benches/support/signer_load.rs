//! bench.sh signer case: N simulated pods ask a running `raytls serve` for certificates.
//! Each pod has its own loopback source address (127.0.x.y, bound before connect, so the
//! signer sees it as the pod IP), makes a new TCP + TLS connection, and sends one
//! POST /v1/sign with its own CSR; the answer must be 200 and hold the pod's address as a SAN.
//! Keys and CSRs are made before the clock starts: real pods make them on their own nodes.
//!
//!   cargo run --release --example signer_load -- --signer 127.0.0.1:PORT --ca ca.crt \
//!       --token worker.token --pods 1000 --concurrency 64 [--first 1] [--role worker]
//!
//! With --tokens FILE (one bearer token per line; line i for the i-th pod) each pod sends its own
//! token instead of --token's shared one (pod-bound Kubernetes tokens: scripts/bench-kube-signer.sh),
//! and --ip-base A.B puts the pods on A.B.x.y instead of 127.0.x.y (addresses the caller holds).
//!
//! With --healthz each pod sends GET /healthz instead (same connection and TLS handshake, no
//! signing): the difference between the two is what the signing itself costs.
//!
//! Prints one JSON object: pods, ok, errors (first few), wall_s, certs_per_s, p50_ms, p90_ms,
//! p99_ms, max_ms. Exit 1 if any pod did not get its certificate.
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raytls::pki::csr::make_csr_pem;
use raytls::pki::keys::{self, KeyType};
use raytls::pki::role::Role;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;

struct Args {
    signer: SocketAddr,
    ca: PathBuf,
    token: Option<PathBuf>,
    tokens: Option<PathBuf>,
    ip_base: [u8; 2],
    role: Role,
    pods: usize,
    concurrency: usize,
    first: usize,
    healthz: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut signer, mut ca, mut token) = (None, None, None);
    let (mut role, mut pods, mut concurrency, mut first) = (Role::Worker, 1000, 64, 1);
    let mut healthz = false;
    let (mut tokens, mut ip_base) = (None, [127, 0]);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--signer" => signer = Some(val()?.parse().map_err(|e| format!("--signer: {e}"))?),
            "--ca" => ca = Some(PathBuf::from(val()?)),
            "--token" => token = Some(PathBuf::from(val()?)),
            "--role" => {
                role = match val()?.as_str() {
                    "head" => Role::Head,
                    "worker" => Role::Worker,
                    "client" => Role::Client,
                    r => return Err(format!("--role {r}")),
                }
            }
            "--pods" => pods = val()?.parse().map_err(|e| format!("--pods: {e}"))?,
            "--concurrency" => {
                concurrency = val()?.parse().map_err(|e| format!("--concurrency: {e}"))?
            }
            "--first" => first = val()?.parse().map_err(|e| format!("--first: {e}"))?,
            "--healthz" => healthz = true,
            "--tokens" => tokens = Some(PathBuf::from(val()?)),
            "--ip-base" => {
                let v = val()?;
                let parts: Vec<Result<u8, _>> = v.split('.').map(str::parse).collect();
                match parts.as_slice() {
                    [Ok(a), Ok(b)] => ip_base = [*a, *b],
                    _ => return Err(format!("--ip-base {v}: want A.B, e.g. 10.232")),
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        signer: signer.ok_or("--signer ADDR:PORT")?,
        ca: ca.ok_or("--ca FILE")?,
        token: if token.is_none() && tokens.is_none() {
            return Err("--token FILE or --tokens FILE".into());
        } else {
            token
        },
        tokens,
        ip_base,
        role,
        pods,
        concurrency: concurrency.max(1),
        first,
        healthz,
    })
}

/// Pod number n (from --first) -> A.B.x.y (--ip-base, default 127.0) with x, y in 1..=250:
/// never .0 or .255.
fn pod_ip(base: [u8; 2], n: usize) -> Result<Ipv4Addr, String> {
    let (x, y) = (1 + n / 250, 1 + n % 250);
    if x > 250 {
        return Err(format!(
            "pod {n}: out of {}.{}.x.y addresses",
            base[0], base[1]
        ));
    }
    Ok(Ipv4Addr::new(base[0], base[1], x as u8, y as u8))
}

struct Pod {
    ip: Ipv4Addr,
    body: String,
    /// Its own bearer token (--tokens), else the shared one.
    auth: Option<String>,
}

/// One pod: connect from its own address, TLS, POST, read to the end (Connection: close).
async fn one(
    pod: &Pod,
    signer: SocketAddr,
    tls: &TlsConnector,
    auth: &str,
    healthz: bool,
) -> Result<Duration, String> {
    let t = Instant::now();
    let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    sock.bind(SocketAddr::new(pod.ip.into(), 0))
        .map_err(|e| format!("bind {}: {e}", pod.ip))?;
    let tcp = sock
        .connect(signer)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).ok();
    let name = ServerName::IpAddress(signer.ip().into());
    let mut s = tls
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let req = if healthz {
        format!("GET /healthz HTTP/1.1\r\nHost: {signer}\r\nConnection: close\r\n\r\n")
    } else {
        format!(
            "POST /v1/sign HTTP/1.1\r\nHost: {signer}\r\nAuthorization: Bearer {auth}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            pod.body.len(),
            pod.body
        )
    };
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut resp = Vec::with_capacity(4096);
    // A server that closes without close_notify after a full answer is fine here.
    if let Err(e) = s.read_to_end(&mut resp).await {
        if resp.is_empty() {
            return Err(format!("read: {e}"));
        }
    }
    let elapsed = t.elapsed();
    let text = String::from_utf8_lossy(&resp);
    let status = text.split_whitespace().nth(1).unwrap_or("?");
    if status != "200" {
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
        return Err(format!("HTTP {status} {}", body.trim()));
    }
    // The signer decided the names from our source address: it must be in the answer.
    if !healthz && !text.contains(&format!("\"{}\"", pod.ip)) {
        return Err(format!("answer for {} does not name that address", pod.ip));
    }
    Ok(elapsed)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() -> Result<(), String> {
    let a = parse_args()?;
    let auth = match &a.token {
        Some(t) => raytls::signer::client::read_token(t).map_err(|e| e.to_string())?,
        None => String::new(),
    };
    let mut per_pod = match &a.tokens {
        Some(f) => {
            let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
            let v: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            if v.len() < a.pods {
                return Err(format!(
                    "{}: {} tokens for {} pods",
                    f.display(),
                    v.len(),
                    a.pods
                ));
            }
            v.into_iter()
        }
        None => Vec::new().into_iter(),
    };
    let ca_pem = std::fs::read(&a.ca).map_err(|e| format!("{}: {e}", a.ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&ca_pem) {
        roots
            .add(c.map_err(|e| format!("{}: {e}", a.ca.display()))?)
            .map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tls = TlsConnector::from(Arc::new(cfg));

    // Keys and CSRs first, off the clock.
    let mut pods = Vec::with_capacity(a.pods);
    for n in a.first..a.first + a.pods {
        let key = keys::generate(KeyType::EcdsaP256).map_err(|e| e.to_string())?;
        let csr = make_csr_pem(&key, a.role).map_err(|e| e.to_string())?;
        let body = serde_json::json!({ "role": a.role.name(), "csr": csr }).to_string();
        pods.push(Pod {
            ip: pod_ip(a.ip_base, n)?,
            body,
            auth: per_pod.next(),
        });
    }
    let pods = Arc::new(pods);

    // One thread for the clients: the signer gets the rest of the machine.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let next = Arc::new(AtomicUsize::new(0));
    let lat = Arc::new(Mutex::new(Vec::with_capacity(a.pods)));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..a.concurrency.min(a.pods) {
            let (pods, next, lat, errors, tls, auth) = (
                pods.clone(),
                next.clone(),
                lat.clone(),
                errors.clone(),
                tls.clone(),
                auth.clone(),
            );
            let (signer, healthz) = (a.signer, a.healthz);
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(pod) = pods.get(i) else { break };
                    let r = tokio::time::timeout(
                        Duration::from_secs(30),
                        one(
                            pod,
                            signer,
                            &tls,
                            pod.auth.as_deref().unwrap_or(&auth),
                            healthz,
                        ),
                    )
                    .await
                    .unwrap_or_else(|_| Err("timed out after 30s".into()));
                    match r {
                        Ok(d) => lat.lock().expect("no panics hold this lock").push(d),
                        Err(e) => errors
                            .lock()
                            .expect("no panics hold this lock")
                            .push(format!("{}: {e}", pod.ip)),
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    });
    let wall = start.elapsed().as_secs_f64();
    let mut lat = lat.lock().expect("tasks are done").clone();
    lat.sort();
    let errors = errors.lock().expect("tasks are done").clone();
    let out = serde_json::json!({
        "pods": a.pods,
        "request": if a.healthz { "GET /healthz" } else { "POST /v1/sign" },
        "concurrency": a.concurrency,
        "ok": lat.len(),
        "failed": errors.len(),
        "errors": errors.iter().take(5).collect::<Vec<_>>(),
        "wall_s": (wall * 1000.0).round() / 1000.0,
        "certs_per_s": (lat.len() as f64 / wall).round(),
        "p50_ms": (percentile(&lat, 0.50) * 10.0).round() / 10.0,
        "p90_ms": (percentile(&lat, 0.90) * 10.0).round() / 10.0,
        "p99_ms": (percentile(&lat, 0.99) * 10.0).round() / 10.0,
        "max_ms": (percentile(&lat, 1.0) * 10.0).round() / 10.0,
    });
    println!("{out}");
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} pods got no certificate",
            errors.len(),
            a.pods
        ))
    }
}
