//! `raytls renew` with a local CA (the signer's mutual-TLS renewal is in signer.rs).
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{read_string, s, sans, Workspace};

fn serial(ws: &Workspace, dir: &str) -> String {
    let o = ws.run(["inspect", &format!("{dir}/tls.crt"), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    v[0]["items"][0]["serial"].as_str().unwrap().to_string()
}

fn pod(ws: &Workspace, role: &str, extra: &[&str]) {
    ws.make_ca("ca");
    let mut args = vec![
        "init", role, "--ca", "ca", "--out", "pod", "--pod-ip", "10.0.0.7",
    ];
    args.extend(extra);
    ws.run(args).ok();
}

#[test]
fn renew_keeps_a_fresh_certificate_and_says_so() {
    let ws = Workspace::new();
    pod(&ws, "worker", &[]);
    let before = serial(&ws, "pod");
    let o = ws.run(["renew", "--dir", "pod", "--ca", "ca"]);
    o.ok();
    assert!(
        o.stdout.starts_with("kept worker certificate"),
        "{}",
        o.stdout
    );
    assert_eq!(serial(&ws, "pod"), before);
}

#[test]
fn renew_force_replaces_the_pair_with_the_same_names_and_role() {
    let ws = Workspace::new();
    pod(
        &ws,
        "head",
        &["--fqdn", "raycluster-head-svc.default.svc.cluster.local"],
    );
    let before = serial(&ws, "pod");
    // No --role: the role is read from the certificate (OU=head).
    let o = ws.run(["renew", "--dir", "pod", "--ca", "ca", "--force"]);
    o.ok();
    assert!(
        o.stdout.starts_with("issued head certificate"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("renewal forced"), "{}", o.stdout);
    assert_ne!(serial(&ws, "pod"), before);
    let names = sans(&ws.join("pod/tls.crt"));
    for want in [
        "localhost",
        "127.0.0.1",
        "10.0.0.7",
        "raycluster-head-svc.default.svc.cluster.local",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    ws.run([
        "verify",
        "--dir",
        "pod",
        "--role",
        "head",
        "--pod-ip",
        "10.0.0.7",
        "--fqdn",
        "raycluster-head-svc.default.svc.cluster.local",
    ])
    .ok();
}

#[test]
fn renew_inside_the_window_renews() {
    let ws = Workspace::new();
    pod(&ws, "worker", &[]);
    let before = serial(&ws, "pod");
    let o = ws.run([
        "renew",
        "--dir",
        "pod",
        "--ca",
        "ca",
        "--renew-before",
        "400d",
    ]);
    o.ok();
    assert!(
        o.stdout.starts_with("issued worker certificate"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("due for renewal"), "{}", o.stdout);
    assert_ne!(serial(&ws, "pod"), before);
}

#[test]
fn renew_follows_a_new_pod_ip_from_the_env() {
    let ws = Workspace::new();
    pod(&ws, "worker", &[]);
    let o = ws
        .raytls(["renew", "--dir", "pod", "--ca", "ca"])
        .env("POD_IP", "10.0.0.9")
        .run();
    o.ok();
    assert!(o.stdout.contains("does not cover 10.0.0.9"), "{}", o.stdout);
    let names = sans(&ws.join("pod/tls.crt"));
    assert!(names.contains(&"10.0.0.9".to_string()), "{names:?}");
    assert!(!names.contains(&"10.0.0.7".to_string()), "{names:?}");
}

#[test]
fn renew_without_a_certificate_or_a_ca_is_a_configuration_error() {
    let ws = Workspace::new();
    ws.make_ca("ca");
    ws.run(["renew", "--dir", "nothing", "--ca", "ca"])
        .expect_code(2)
        .fails_naming("nothing to renew");
    let ws2 = Workspace::new();
    pod(&ws2, "worker", &[]);
    ws2.run(["renew", "--dir", "pod"])
        .expect_code(2)
        .fails_naming("--signer");
    // --watch ends on a configuration error instead of retrying it forever.
    let o = ws
        .raytls(["renew", "--dir", "nothing", "--ca", "ca", "--watch"])
        .run_within(Duration::from_secs(60));
    o.expect_code(2);
}

#[test]
fn renew_watch_keeps_renewing_a_certificate_inside_its_window() {
    let ws = Workspace::new();
    pod(&ws, "worker", &["--days", "1"]);
    let first = serial(&ws, "pod");
    let mut child = ws
        .raytls([
            "renew",
            "--dir",
            "pod",
            "--ca",
            "ca",
            "--renew-before",
            "2d",
            "--watch",
        ])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let line = loop {
        let l = lines.next().expect("renew --watch ended").unwrap();
        if l.starts_with("issued worker certificate") {
            break l;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no renewal");
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("due for renewal"), "{line}");
    assert_ne!(serial(&ws, "pod"), first);
    // The pair on disk matches.
    ws.run(["verify", "--dir", "pod", "--renew-before", "1s"])
        .ok();
    assert!(read_string(&ws.join("pod/ray-tls.env")).contains(s(&ws.join("pod"))));
}
