//! bench.sh signer case: N simulated pods ask a running signer for certificates.
//! Each pod has its own loopback source address (127.0.x.y, bound before connect, so the
//! signer sees it as the pod IP), makes a new TCP + TLS connection (full handshake: no session
//! resumption), and sends one signing request with its own CSR; the answer must be a success
//! and its certificate must hold the pod's address as an IP SAN. Keys, CSRs and whole
//! requests (with their tokens) are made before the clock starts: real pods make them on
//! their own nodes.
//!
//!   cargo run --release --example signer_load -- --signer 127.0.0.1:PORT --ca ca.crt \
//!       --token worker.token --pods 1000 --concurrency 64 [--first 1] [--role worker]
//!
//! --api picks the signer's API (bench.sh --peers measures each the same way):
//!   raytls   POST /v1/sign, Authorization: Bearer <--token>; the signer picks the names
//!   cfssl    `cfssl serve`: POST /api/v1/cfssl/authsign, the sign request HMAC-SHA256'd
//!            with the profile's auth key (--cfssl-key FILE, hex), names in "hosts"
//!   step-ca  POST /1.0/sign with a one-time token: a JWT (ES256) signed with the JWK
//!            provisioner's key (--jwk-key FILE, PKCS#8 PEM; --jwk-kid, --provisioner),
//!            one per request (step-ca refuses a token used before); names in the CSR and
//!            the token's "sans"
//! For cfssl and step-ca each pod asks for what raytls would give it: its address,
//! 127.0.0.1 and localhost.
//!
//! With --tokens FILE (one bearer token per line; line i for the i-th pod) each raytls pod
//! sends its own token instead of --token's shared one (pod-bound Kubernetes tokens:
//! scripts/bench-kube-signer.sh), and --ip-base A.B puts the pods on A.B.x.y instead of
//! 127.0.x.y (addresses the caller holds).
//!
//! With --healthz each pod sends GET /healthz instead (same connection and TLS handshake, no
//! signing): the difference between the two is what the signing itself costs.
//!
//! Prints one JSON object: api, pods, ok, errors (first few), wall_s, certs_per_s, p50_ms,
//! p90_ms, p99_ms, max_ms, client_cpu_ms_per_pod. Exit 1 if any pod did not get its
//! certificate.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use raytls::pki::csr::make_csr_pem;
use raytls::pki::keys::{self, KeyType};
use raytls::pki::role::Role;
use rcgen::{CertificateParams, DistinguishedName, DnType, SanType};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Raytls,
    Cfssl,
    StepCa,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::Raytls => "raytls",
            Api::Cfssl => "cfssl",
            Api::StepCa => "step-ca",
        }
    }
}

struct Args {
    api: Api,
    signer: SocketAddr,
    ca: PathBuf,
    token: Option<PathBuf>,
    tokens: Option<PathBuf>,
    ip_base: [u8; 2],
    cfssl_key: Option<PathBuf>,
    jwk_key: Option<PathBuf>,
    jwk_kid: String,
    provisioner: String,
    role: Role,
    pods: usize,
    concurrency: usize,
    first: usize,
    healthz: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut signer, mut ca, mut token) = (None, None, None);
    let (mut tokens, mut ip_base) = (None, [127, 0]);
    let (mut cfssl_key, mut jwk_key) = (None, None);
    let (mut jwk_kid, mut provisioner) = (String::new(), "raytls-bench".to_string());
    let (mut role, mut pods, mut concurrency, mut first) = (Role::Worker, 1000, 64, 1);
    let (mut api, mut healthz) = (Api::Raytls, false);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--api" => {
                api = match val()?.as_str() {
                    "raytls" => Api::Raytls,
                    "cfssl" => Api::Cfssl,
                    "step-ca" => Api::StepCa,
                    other => return Err(format!("--api {other}: raytls, cfssl or step-ca")),
                }
            }
            "--signer" => signer = Some(val()?.parse().map_err(|e| format!("--signer: {e}"))?),
            "--ca" => ca = Some(PathBuf::from(val()?)),
            "--token" => token = Some(PathBuf::from(val()?)),
            "--tokens" => tokens = Some(PathBuf::from(val()?)),
            "--ip-base" => {
                let v = val()?;
                let parts: Vec<Result<u8, _>> = v.split('.').map(str::parse).collect();
                match parts.as_slice() {
                    [Ok(a), Ok(b)] => ip_base = [*a, *b],
                    _ => return Err(format!("--ip-base {v}: want A.B, e.g. 10.232")),
                }
            }
            "--cfssl-key" => cfssl_key = Some(PathBuf::from(val()?)),
            "--jwk-key" => jwk_key = Some(PathBuf::from(val()?)),
            "--jwk-kid" => jwk_kid = val()?,
            "--provisioner" => provisioner = val()?,
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
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let need = |what: &str| format!("--api {} needs {what}", api.name());
    match api {
        Api::Raytls if token.is_none() && tokens.is_none() => {
            return Err(need("--token FILE or --tokens FILE"))
        }
        Api::Cfssl if cfssl_key.is_none() => return Err(need("--cfssl-key FILE")),
        Api::StepCa if jwk_key.is_none() || jwk_kid.is_empty() => {
            return Err(need("--jwk-key FILE and --jwk-kid KID"))
        }
        _ if healthz && api != Api::Raytls => return Err("--healthz is for --api raytls".into()),
        _ => {}
    }
    Ok(Args {
        api,
        signer: signer.ok_or("--signer ADDR:PORT")?,
        ca: ca.ok_or("--ca FILE")?,
        token,
        tokens,
        ip_base,
        cfssl_key,
        jwk_key,
        jwk_kid,
        provisioner,
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

/// --tokens: one bearer token per pod, line i for the i-th pod.
fn per_pod_tokens(a: &Args) -> Result<Vec<String>, String> {
    let Some(f) = &a.tokens else {
        return Ok(Vec::new());
    };
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
    Ok(v)
}

struct Pod {
    ip: Ipv4Addr,
    /// The whole HTTP request, made off the clock.
    request: Vec<u8>,
}

/// What the pod sends, per API: its key and CSR are made here, before the clock starts.
struct RequestMaker {
    api: Api,
    role: Role,
    signer: SocketAddr,
    bearer: String,
    cfssl_key: Option<ring::hmac::Key>,
    jwk: Option<(EcdsaKeyPair, String, String)>,
    rng: SystemRandom,
}

impl RequestMaker {
    fn new(a: &Args) -> Result<Self, String> {
        let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let bearer = match &a.token {
            Some(t) => raytls::signer::client::read_token(t).map_err(|e| e.to_string())?,
            None => String::new(),
        };
        let cfssl_key = match &a.cfssl_key {
            Some(p) => {
                let hex = String::from_utf8_lossy(&read(p)?).trim().to_string();
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .map_err(|e| format!("{}: not hex: {e}", p.display()))?;
                Some(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes))
            }
            None => None,
        };
        let rng = SystemRandom::new();
        let jwk = match &a.jwk_key {
            Some(p) => {
                let der = PrivatePkcs8KeyDer::from_pem_slice(&read(p)?)
                    .map_err(|e| format!("{}: {e}", p.display()))?;
                let pair = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    der.secret_pkcs8_der(),
                    &rng,
                )
                .map_err(|e| format!("{}: not a P-256 PKCS#8 key: {e}", p.display()))?;
                Some((pair, a.jwk_kid.clone(), a.provisioner.clone()))
            }
            None => None,
        };
        Ok(RequestMaker {
            api: a.api,
            role: a.role,
            signer: a.signer,
            bearer,
            cfssl_key,
            jwk,
            rng,
        })
    }

    fn post(&self, path: &str, extra_headers: &str, body: &str) -> Vec<u8> {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\n{extra_headers}Content-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.signer,
            body.len()
        )
        .into_bytes()
    }

    /// `bearer`: this pod's own token (--tokens), else --token's shared one.
    fn request(
        &self,
        ip: Ipv4Addr,
        bearer: Option<&str>,
        healthz: bool,
    ) -> Result<Vec<u8>, String> {
        if healthz {
            return Ok(format!(
                "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.signer
            )
            .into_bytes());
        }
        let key = keys::generate(KeyType::EcdsaP256).map_err(|e| e.to_string())?;
        // The names raytls gives a worker: what the peers are asked for, to sign the same.
        let names = [ip.to_string(), "127.0.0.1".into(), "localhost".into()];
        match self.api {
            Api::Raytls => {
                let csr = make_csr_pem(&key, self.role).map_err(|e| e.to_string())?;
                let body = json!({ "role": self.role.name(), "csr": csr }).to_string();
                let auth = format!(
                    "Authorization: Bearer {}\r\n",
                    bearer.unwrap_or(&self.bearer)
                );
                Ok(self.post("/v1/sign", &auth, &body))
            }
            Api::Cfssl => {
                let csr = csr_with_names(&key, &names)?;
                let req = json!({ "certificate_request": csr, "hosts": names }).to_string();
                let hmac = self.cfssl_key.as_ref().ok_or("no --cfssl-key")?;
                let token = ring::hmac::sign(hmac, req.as_bytes());
                // AuthenticatedRequest: token and request are []byte, so base64 in JSON.
                let body = json!({
                    "token": B64.encode(token.as_ref()),
                    "request": B64.encode(req.as_bytes()),
                })
                .to_string();
                Ok(self.post("/api/v1/cfssl/authsign", "", &body))
            }
            Api::StepCa => {
                let csr = csr_with_names(&key, &names)?;
                let ott = self.step_token(&ip.to_string(), &names)?;
                let body = json!({ "csr": csr, "ott": ott }).to_string();
                Ok(self.post("/1.0/sign", "", &body))
            }
        }
    }

    /// A step-ca one-time token, as `step ca token` makes it: a JWT signed by the JWK
    /// provisioner's key for this CA's /1.0/sign, with the names the certificate may have.
    fn step_token(&self, subject: &str, sans: &[String]) -> Result<String, String> {
        let (pair, kid, provisioner) = self.jwk.as_ref().ok_or("no --jwk-key")?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let mut jti = [0u8; 16];
        ring::rand::SecureRandom::fill(&self.rng, &mut jti).map_err(|e| e.to_string())?;
        let header = json!({ "alg": "ES256", "kid": kid, "typ": "JWT" });
        let claims = json!({
            "iss": provisioner,
            "sub": subject,
            "aud": format!("https://{}/1.0/sign", self.signer),
            "sans": sans,
            "iat": now,
            "nbf": now,
            // Tokens are made before the runs; the clock starts after.
            "exp": now + 600,
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        });
        let signing_input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let sig = pair
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|e| format!("sign the token: {e}"))?;
        Ok(format!("{signing_input}.{}", B64URL.encode(sig.as_ref())))
    }
}

/// A CSR whose subject and subjectAltName carry `names` (cfssl takes them from "hosts";
/// step-ca requires the CSR's names to be the token's).
fn csr_with_names(key: &keys::Key, names: &[String]) -> Result<String, String> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, names[0].clone());
    params.distinguished_name = dn;
    for n in names {
        params.subject_alt_names.push(match n.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(n.clone().try_into().map_err(|e| format!("{n}: {e}"))?),
        });
    }
    params
        .serialize_request(&key.pair)
        .and_then(|c| c.pem())
        .map_err(|e| format!("CSR: {e}"))
}

/// A `Transfer-Encoding: chunked` body (Go's net/http sends a large answer so), bounded by
/// its input.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok());
        let Some(size) = size.filter(|n| *n > 0) else {
            break;
        };
        body = &body[eol + 2..];
        out.extend_from_slice(&body[..size.min(body.len())]);
        body = body.get(size + 2..).unwrap_or(&[]);
    }
    out
}

/// The leaf the answer carries, by API.
fn leaf_pem(api: Api, answer: &serde_json::Value) -> Option<&str> {
    match api {
        Api::Raytls => answer["certificate"].as_str(),
        Api::Cfssl => answer["result"]["certificate"].as_str(),
        Api::StepCa => answer["crt"].as_str(),
    }
}

/// The answer must be a success whose certificate names the pod's address.
fn check(api: Api, pod: &Pod, resp: &[u8], healthz: bool) -> Result<(), String> {
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers in the answer")?;
    let head = String::from_utf8_lossy(&resp[..split]);
    let raw_body = &resp[split + 4..];
    let status = head.split_whitespace().nth(1).unwrap_or("?");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(raw_body)
    } else {
        raw_body.to_vec()
    };
    // step-ca answers 201 Created.
    if status != "200" && status != "201" {
        return Err(format!(
            "HTTP {status} {}",
            String::from_utf8_lossy(&body).trim()
        ));
    }
    if healthz {
        return Ok(());
    }
    let answer: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("answer is not JSON: {e}"))?;
    let pem = leaf_pem(api, &answer).ok_or("no certificate in the answer")?;
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("certificate PEM: {e}"))?;
    let (_, cert) = X509Certificate::from_der(&der).map_err(|e| format!("certificate: {e}"))?;
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|s| s.value.general_names.clone())
        .unwrap_or_default();
    let want = pod.ip.octets();
    if !names
        .iter()
        .any(|n| matches!(n, GeneralName::IPAddress(b) if *b == want))
    {
        return Err(format!(
            "certificate for {} does not name that address",
            pod.ip
        ));
    }
    Ok(())
}

/// One pod: connect from its own address, TLS, send, read to the end (Connection: close).
async fn one(
    pod: &Pod,
    signer: SocketAddr,
    tls: &TlsConnector,
) -> Result<(Duration, Vec<u8>), String> {
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
    s.write_all(&pod.request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut resp = Vec::with_capacity(8192);
    // A server that closes without close_notify after a full answer is fine here.
    if let Err(e) = s.read_to_end(&mut resp).await {
        if resp.is_empty() {
            return Err(format!("read: {e}"));
        }
    }
    Ok((t.elapsed(), resp))
}

/// This process's CPU time so far (user + system), in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct it is given, which is plain data.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return f64::NAN;
    }
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
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
    // Every pod is a new client: a full handshake each time, never a resumed session.
    cfg.resumption = rustls::client::Resumption::disabled();
    let tls = TlsConnector::from(Arc::new(cfg));

    // Keys, CSRs, tokens and requests first, off the clock.
    let maker = RequestMaker::new(&a)?;
    let tokens = per_pod_tokens(&a)?;
    let mut pods = Vec::with_capacity(a.pods);
    for (i, n) in (a.first..a.first + a.pods).enumerate() {
        let ip = pod_ip(a.ip_base, n)?;
        pods.push(Pod {
            ip,
            request: maker.request(ip, tokens.get(i).map(String::as_str), a.healthz)?,
        });
    }
    let pods = Arc::new(pods);

    // One thread for the clients: the signer gets the rest of the machine.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let next = Arc::new(AtomicUsize::new(0));
    // The answers are checked after the clock stops, so that the client's parsing does not
    // take CPU from the signer during the run.
    let done = Arc::new(Mutex::new(Vec::with_capacity(a.pods)));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let (start, cpu0) = (Instant::now(), cpu_seconds());
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..a.concurrency.min(a.pods) {
            let (pods, next, done, errors, tls) = (
                pods.clone(),
                next.clone(),
                done.clone(),
                errors.clone(),
                tls.clone(),
            );
            let signer = a.signer;
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(pod) = pods.get(i) else { break };
                    let r = tokio::time::timeout(Duration::from_secs(30), one(pod, signer, &tls))
                        .await
                        .unwrap_or_else(|_| Err("timed out after 30s".into()));
                    match r {
                        Ok((d, resp)) => done
                            .lock()
                            .expect("no panics hold this lock")
                            .push((i, d, resp)),
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
    let wall_clock = start.elapsed().as_secs_f64();
    // The client's own CPU per pod: with the signer on the same cores, it says how much of
    // the machine the pods took.
    let client_cpu_ms = 1000.0 * (cpu_seconds() - cpu0) / a.pods.max(1) as f64;
    let done = std::mem::take(&mut *done.lock().expect("tasks are done"));
    let mut errors = errors.lock().expect("tasks are done").clone();
    let mut lat = Vec::with_capacity(done.len());
    for (i, d, resp) in done {
        let pod = &pods[i];
        match check(a.api, pod, &resp, a.healthz) {
            Ok(()) => lat.push(d),
            Err(e) => errors.push(format!("{}: {e}", pod.ip)),
        }
    }
    lat.sort();
    let out = json!({
        "api": a.api.name(),
        "pods": a.pods,
        "request": if a.healthz { "GET /healthz" } else { "sign" },
        "concurrency": a.concurrency,
        "ok": lat.len(),
        "failed": errors.len(),
        "errors": errors.iter().take(5).collect::<Vec<_>>(),
        "wall_s": (wall_clock * 1000.0).round() / 1000.0,
        "certs_per_s": (lat.len() as f64 / wall_clock).round(),
        "p50_ms": (percentile(&lat, 0.50) * 10.0).round() / 10.0,
        "p90_ms": (percentile(&lat, 0.90) * 10.0).round() / 10.0,
        "p99_ms": (percentile(&lat, 0.99) * 10.0).round() / 10.0,
        "max_ms": (percentile(&lat, 1.0) * 10.0).round() / 10.0,
        "client_cpu_ms_per_pod": (client_cpu_ms * 1000.0).round() / 1000.0,
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
