//! Interop with the real `openssl` CLI: `openssl verify` of raytls leaves under raytls CAs
//! and openssl-made CAs (RSA PKCS#8, RSA PKCS#1, EC SEC1), and an s_server/s_client
//! mutual-TLS exchange on 127.0.0.1.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{openssl, s, Workspace};

const HEAD_IP: &str = "10.0.0.5";
const WORKER_IP: &str = "10.0.0.6";
const FQDN: &str = "raycluster-head-svc.default.svc.cluster.local";

fn openssl_ok(cwd: &Path, args: &[&str]) {
    openssl(cwd, args).ok();
}

/// An openssl-made CA in `<ws>/<name>`: kind is rsa-pkcs8, rsa4096-pkcs8, rsa-pkcs1 or ec-sec1.
pub(crate) fn openssl_ca(ws: &Workspace, name: &str, kind: &str) -> PathBuf {
    let dir = ws.join(name);
    std::fs::create_dir(&dir).unwrap();
    let subj = format!("/O=openssl/CN=openssl {kind} CA");
    let ca_ext = [
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ];
    // A CA that may not sign certificates: CA:TRUE, but keyUsage without keyCertSign.
    let no_cert_sign_ext = [
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,digitalSignature",
    ];
    let newkey = match kind {
        "rsa-pkcs8" | "rsa-pkcs1" => Some(("rsa:2048", ca_ext)),
        "rsa4096-pkcs8" => Some(("rsa:4096", ca_ext)),
        "rsa1024" => Some(("rsa:1024", ca_ext)),
        "ed25519" => Some(("ed25519", ca_ext)),
        "ec-no-keycertsign" => Some(("ec", no_cert_sign_ext)),
        _ => None,
    };
    match (kind, newkey) {
        (_, Some((key, ext))) => {
            let mut args = vec![
                "req", "-x509", "-newkey", key, "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                "-subj", &subj, "-days", "3650",
            ];
            if key == "ec" {
                args.extend(["-pkeyopt", "ec_paramgen_curve:P-256"]);
            }
            args.extend(ext);
            openssl_ok(&dir, &args);
            if kind == "rsa-pkcs1" {
                openssl_ok(
                    &dir,
                    &["rsa", "-in", "ca.key", "-traditional", "-out", "ca.key"],
                );
            }
        }
        ("ec-sec1", None) => {
            openssl_ok(
                &dir,
                &[
                    "ecparam",
                    "-genkey",
                    "-name",
                    "prime256v1",
                    "-noout",
                    "-out",
                    "ca.key",
                ],
            );
            let mut args = vec![
                "req", "-x509", "-key", "ca.key", "-out", "ca.crt", "-subj", &subj, "-days", "3650",
            ];
            args.extend(ca_ext);
            openssl_ok(&dir, &args);
        }
        (other, None) => panic!("unknown CA kind {other}"),
    }
    let header = crate::util::read_string(&dir.join("ca.key"));
    let want = match kind {
        "rsa-pkcs1" => "-----BEGIN RSA PRIVATE KEY-----",
        "ec-sec1" => "-----BEGIN EC PRIVATE KEY-----",
        _ => "-----BEGIN PRIVATE KEY-----",
    };
    assert!(header.starts_with(want), "{kind}: {header}");
    dir
}

/// `openssl verify -CAfile ca.crt <extra> cert`.
fn verify(ca: &Path, cert: &Path, extra: &[&str]) -> crate::util::Output {
    let mut args = vec!["verify", "-CAfile", s(ca)];
    args.extend_from_slice(extra);
    args.push(s(cert));
    openssl(Path::new("/"), args)
}

/// Issue a head and a worker under `ca` and check them with `openssl verify`.
fn check_ca(ws: &Workspace, ca: &Path) {
    let head = ws.issue(
        "head",
        ca,
        "head",
        &["--pod-ip", HEAD_IP, "--fqdn", FQDN, "--force"],
    );
    let worker = ws.issue("worker", ca, "worker", &["--pod-ip", WORKER_IP, "--force"]);
    let ca_crt = ca.join("ca.crt");
    for (dir, ip, names) in [
        (&head, HEAD_IP, vec![FQDN, "localhost"]),
        (&worker, WORKER_IP, vec!["localhost"]),
    ] {
        let cert = dir.join("tls.crt");
        // The copied ca.crt is the CA's.
        assert_eq!(
            crate::util::read(&dir.join("ca.crt")),
            crate::util::read(&ca_crt)
        );
        for purpose in ["sslserver", "sslclient"] {
            verify(&ca_crt, &cert, &["-purpose", purpose]).ok();
        }
        for check_ip in [ip, "127.0.0.1"] {
            verify(
                &ca_crt,
                &cert,
                &["-purpose", "sslserver", "-verify_ip", check_ip],
            )
            .ok();
        }
        for name in names {
            verify(
                &ca_crt,
                &cert,
                &["-purpose", "sslserver", "-verify_hostname", name],
            )
            .ok();
        }
        let bad = verify(
            &ca_crt,
            &cert,
            &[
                "-purpose",
                "sslserver",
                "-verify_hostname",
                "not-in-cert.example",
            ],
        );
        assert_ne!(bad.code, 0, "{bad:#?}");
        assert!(
            bad.stdout.contains("hostname mismatch") || bad.stderr.contains("hostname mismatch"),
            "{bad:#?}"
        );
        let bad_ip = verify(&ca_crt, &cert, &["-verify_ip", "192.0.2.99"]);
        assert_ne!(bad_ip.code, 0, "{bad_ip:#?}");
    }
    // The worker does not carry the head's FQDN.
    let w = verify(
        &ca_crt,
        &worker.join("tls.crt"),
        &["-verify_hostname", FQDN],
    );
    assert_ne!(w.code, 0, "{w:#?}");
}

#[test]
fn openssl_verifies_leaves_under_a_raytls_p256_ca() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    check_ca(&ws, &ca);
}

#[test]
fn openssl_verifies_leaves_under_a_raytls_p384_ca() {
    let ws = Workspace::new();
    let ca = ws.make_ca_with("ca", &["--key-type", "ecdsa-p384"]);
    check_ca(&ws, &ca);
}

#[test]
fn openssl_verifies_leaves_under_an_openssl_rsa_pkcs8_ca() {
    let ws = Workspace::new();
    let ca = openssl_ca(&ws, "ca", "rsa-pkcs8");
    check_ca(&ws, &ca);
}

#[test]
fn openssl_verifies_leaves_under_an_openssl_rsa_4096_ca() {
    let ws = Workspace::new();
    let ca = openssl_ca(&ws, "ca", "rsa4096-pkcs8");
    check_ca(&ws, &ca);
}

#[test]
fn openssl_verifies_leaves_under_an_openssl_rsa_pkcs1_ca() {
    let ws = Workspace::new();
    let ca = openssl_ca(&ws, "ca", "rsa-pkcs1");
    check_ca(&ws, &ca);
}

#[test]
fn openssl_verifies_leaves_under_an_openssl_ec_sec1_ca() {
    let ws = Workspace::new();
    let ca = openssl_ca(&ws, "ca", "ec-sec1");
    check_ca(&ws, &ca);
}

#[test]
fn openssl_rejects_a_leaf_under_another_ca() {
    let ws = Workspace::new();
    let a = ws.make_ca("a");
    let b = ws.make_ca("b");
    let leaf = ws.issue("worker", &a, "w", &["--pod-ip", WORKER_IP]);
    let o = verify(&b.join("ca.crt"), &leaf.join("tls.crt"), &[]);
    assert_ne!(o.code, 0, "{o:#?}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills and reaps the s_server child even when the test panics.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn openssl_s_server_and_s_client_complete_mutual_tls_with_raytls_certs() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let head = ws.issue("head", &ca, "head", &["--pod-ip", HEAD_IP, "--fqdn", FQDN]);
    let worker = ws.issue("worker", &ca, "worker", &["--pod-ip", WORKER_IP]);
    let port = free_port();
    let accept = format!("127.0.0.1:{port}");
    let mut server = Server(
        Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                &accept,
                "-cert",
                s(&head.join("tls.crt")),
                "-key",
                s(&head.join("tls.key")),
                "-CAfile",
                s(&head.join("ca.crt")),
                "-Verify",
                "1",
                "-verify_return_error",
                "-alpn",
                "h2",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("s_server"),
    );
    // Wait until it listens (a bare TCP probe is just a failed handshake to it).
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&accept).is_err() {
        assert!(Instant::now() < deadline, "s_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut client = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &accept,
            "-servername",
            "localhost",
            "-verify_hostname",
            "localhost",
            "-verify_return_error",
            "-CAfile",
            s(&worker.join("ca.crt")),
            "-cert",
            s(&worker.join("tls.crt")),
            "-key",
            s(&worker.join("tls.key")),
            "-alpn",
            "h2",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("s_client");
    client
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello from the worker\n")
        .unwrap();
    let out = client.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Verify return code: 0 (ok)"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ALPN protocol: h2"), "{stdout}\n{stderr}");
    // The server saw the worker's client certificate and the bytes it sent.
    // s_server keeps running: read its output on a thread so a missing line cannot hang us.
    let mut server_stdout = server.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = server_stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut server_out = String::new();
    while !server_out.contains("hello from the worker") {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(chunk) => server_out.push_str(&String::from_utf8_lossy(&chunk)),
            Err(_) => break,
        }
    }
    assert!(
        server_out.contains("hello from the worker"),
        "server output: {server_out}"
    );
    assert!(
        server_out.contains("ray-worker 10.0.0.6"),
        "client cert subject missing from server output: {server_out}"
    );
}

/// An openssl-made EC CA in `<ws>/<name>` with `subj` (UTF-8, multi-valued RDNs allowed)
/// and, when `printable`, PrintableString attributes where possible (as Go and cfssl write).
fn openssl_ca_with_subject(ws: &Workspace, name: &str, subj: &str, printable: bool) -> PathBuf {
    let dir = ws.join(name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("req.cnf"),
        format!(
            "[req]\ndistinguished_name = dn\nstring_mask = {}\n[dn]\n[v3]\n\
             basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier = hash\n",
            if printable { "default" } else { "utf8only" }
        ),
    )
    .unwrap();
    openssl_ok(
        &dir,
        &[
            "req",
            "-x509",
            "-config",
            "req.cnf",
            "-extensions",
            "v3",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            subj,
            "-utf8",
            "-multivalue-rdn",
            "-days",
            "3650",
        ],
    );
    dir
}

/// raytls can sign as the CA in `ca`, and openssl accepts the result.
#[track_caller]
fn assert_signs_verifiably(ws: &Workspace, ca: &Path) {
    let o = ws.run([
        "issue",
        "worker",
        "--ca",
        s(ca),
        "--out",
        s(&ca.join("w")),
        "--pod-ip",
        WORKER_IP,
    ]);
    o.ok();
    verify(
        &ca.join("ca.crt"),
        &ca.join("w/tls.crt"),
        &["-purpose", "sslserver"],
    )
    .ok();
}

#[test]
fn ca_subject_string_types_are_copied_exactly() {
    let ws = Workspace::new();
    for (i, (subj, printable)) in [
        (
            "/C=US/O=Example Corp/OU=Ray/CN=Printable CA/emailAddress=ca@example.com",
            true,
        ),
        ("/C=CH/O=Zürich Ray/CN=Zürich CA", false),
    ]
    .into_iter()
    .enumerate()
    {
        let ca = openssl_ca_with_subject(&ws, &format!("ca{i}"), subj, printable);
        assert_signs_verifiably(&ws, &ca);
    }
}

#[test]
fn regression_ca_subject_with_repeated_attribute_types() {
    let ws = Workspace::new();
    for (i, subj) in [
        "/O=Example/OU=Platform/OU=Ray/CN=two OUs CA",
        "/DC=com/DC=example/CN=Example Issuing CA",
    ]
    .into_iter()
    .enumerate()
    {
        let ca = openssl_ca_with_subject(&ws, &format!("ca{i}"), subj, false);
        assert_signs_verifiably(&ws, &ca);
    }
}

#[test]
fn regression_ca_subject_with_multi_valued_rdn() {
    let ws = Workspace::new();
    let ca = openssl_ca_with_subject(&ws, "ca", "/CN=Ray CA+O=Example", false);
    assert_signs_verifiably(&ws, &ca);
}
