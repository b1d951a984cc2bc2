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
    // The head's service name comes from the certificate: no warning that it is missing.
    assert!(!o.stderr.contains("no --fqdn"), "{}", o.stderr);
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
        // One line per pass: "<RFC 3339 time> renewed worker certificate ...; next check in ..."
        if l.contains(" renewed worker certificate ") {
            break l;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no renewal");
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("due for renewal"), "{line}");
    assert!(line.contains("; next check in "), "{line}");
    let time = line.split(' ').next().unwrap();
    assert!(
        time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).is_ok(),
        "{line}"
    );
    assert_ne!(serial(&ws, "pod"), first);
    // The pair on disk matches.
    ws.run(["verify", "--dir", "pod", "--renew-before", "1s"])
        .ok();
    assert!(read_string(&ws.join("pod/ray-tls.env")).contains(s(&ws.join("pod"))));
}

/// Short-lived certificates (renewal drills, the real-Ray renewal test): `--valid-for`, and a
/// local-CA renewal keeps the lifetime the certificate was made with, not 365 days.
#[test]
fn renew_keeps_the_lifetime_of_a_short_lived_certificate() {
    let ws = Workspace::new();
    ws.make_ca("ca");
    ws.run([
        "init",
        "worker",
        "--ca",
        "ca",
        "--out",
        "pod",
        "--pod-ip",
        "10.0.0.7",
        "--valid-for",
        "10m",
    ])
    .ok();
    let lifetime = |ws: &Workspace| {
        let (_, not_after) = crate::util::validity(&ws.join("pod/tls.crt"));
        (not_after - crate::util::now()).whole_seconds()
    };
    let first = lifetime(&ws);
    assert!(
        (590..=600).contains(&first),
        "{first}s left after --valid-for 10m"
    );
    for _ in 0..3 {
        ws.run(["renew", "--dir", "pod", "--ca", "ca", "--force"])
            .ok();
    }
    let renewed = lifetime(&ws);
    assert!(
        (590..=600).contains(&renewed),
        "{renewed}s left after three renewals of a 10m certificate"
    );
    // --valid-for on renew overrides what the certificate had.
    ws.run([
        "renew",
        "--dir",
        "pod",
        "--ca",
        "ca",
        "--force",
        "--valid-for",
        "2h",
    ])
    .ok();
    let longer = lifetime(&ws);
    assert!(
        (7190..=7200).contains(&longer),
        "{longer}s left after --valid-for 2h"
    );
}

#[test]
fn lifetimes_shorter_than_a_minute_or_both_flags_are_refused_and_write_nothing() {
    let ws = Workspace::new();
    ws.make_ca("ca");
    for (args, says) in [
        (vec!["--valid-for", "30s"], "at least a minute"),
        (vec!["--days", "0"], "at least a minute"),
        (
            vec!["--days", "3", "--valid-for", "1h"],
            "cannot be used with",
        ),
    ] {
        let mut all = vec![
            "issue", "worker", "--ca", "ca", "--out", "x", "--pod-ip", "10.0.0.7",
        ];
        all.extend(&args);
        let o = ws.run(all);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(says), "{args:?}: {}", o.stderr);
        assert!(!ws.join("x").exists(), "{args:?} left x behind");
    }
    // With a signer the signer decides: asking otherwise is an error, not silently ignored.
    for cmd in ["init", "issue"] {
        let o = ws.run([
            cmd,
            if cmd == "init" { "worker" } else { "client" },
            "--signer",
            "https://127.0.0.1:9",
            "--signer-ca",
            "ca/ca.crt",
            "--token-file",
            "ca/ca.crt",
            "--out",
            "x",
            "--days",
            "3",
        ]);
        assert_eq!(o.code, 2, "{cmd}: {}", o.stderr);
        assert!(
            o.stderr.contains("the signer decides"),
            "{cmd}: {}",
            o.stderr
        );
        assert!(!ws.join("x").exists(), "{cmd} left x behind");
    }
}

/// `--check-served`: the head's sidecar says, in its own log line, when the Ray process still
/// serves an older certificate than the one on disk (a planned restart is due), without
/// restarting anything. The "GCS" is in-process, serving the pair the pod had at start.
#[test]
fn renew_check_served_says_when_ray_still_runs_on_the_previous_certificate() {
    use crate::probe_util::{fake_gcs, free_port, Gcs};
    let ws = Workspace::new();
    ws.make_ca("ca");
    ws.raytls([
        "init", "head", "--ca", "ca", "--out", "pod", "--fqdn", "h.svc",
    ])
    .env("POD_IP", "10.0.0.7")
    .run()
    .ok();
    // What Ray loaded when it started.
    let loaded = ws.join("loaded");
    std::fs::create_dir(&loaded).unwrap();
    for f in ["tls.crt", "tls.key"] {
        std::fs::copy(ws.join("pod").join(f), loaded.join(f)).unwrap();
    }
    let gcs = fake_gcs(
        crate::mtls::server_config(&loaded, &ws.join("ca/ca.crt")),
        Gcs::default(),
    );
    let addr = gcs.address();

    let o = ws.run([
        "renew",
        "--dir",
        "pod",
        "--ca",
        "ca",
        "--check-served",
        &addr,
    ]);
    o.ok();
    assert!(
        o.stdout.contains(&format!("Ray at {addr} serves it")),
        "{}",
        o.stdout
    );

    let o = ws.run([
        "renew",
        "--dir",
        "pod",
        "--ca",
        "ca",
        "--force",
        "--check-served",
        &addr,
        "--json",
    ]);
    o.ok();
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(v["action"], "issued", "{v}");
    assert_eq!(v["served"]["current"], false, "{v}");
    assert_eq!(v["served"]["cause"], "stale_certificate", "{v}");
    assert!(v["served"]["message"]
        .as_str()
        .unwrap()
        .contains("serves another certificate"));

    // The sidecar's line says a restart is due, and keeps the one-line format.
    let mut child = ws
        .raytls([
            "renew",
            "--dir",
            "pod",
            "--ca",
            "ca",
            "--watch",
            "--check-served",
            &addr,
        ])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .expect("a line")
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains(" kept head certificate "), "{line}");
    assert!(line.contains("; RESTART DUE: "), "{line}");
    assert!(line.contains("; next check in "), "{line}");

    // Nothing answering: said, not fatal (the renewal itself went fine).
    let nobody = format!("127.0.0.1:{}", free_port());
    let o = ws.run([
        "renew",
        "--dir",
        "pod",
        "--ca",
        "ca",
        "--check-served",
        &nobody,
    ]);
    o.ok();
    assert!(
        o.stdout.contains(&format!("could not ask Ray at {nobody}")),
        "{}",
        o.stdout
    );
    // A malformed address is a configuration error before anything is done.
    ws.run([
        "renew",
        "--dir",
        "pod",
        "--ca",
        "ca",
        "--check-served",
        "no such:host",
    ])
    .expect_code(2);
}

/// Issue 19 item 6: on a read-only directory, one `renew --force` and three `--watch` passes
/// had the signer issue 4 certificates in 6 s, none written, the retries going on. Now the
/// directory must take the new version (its `..data` directory and files) before anyone is
/// asked: nothing is issued, `renew` exits 2 (a configuration error) and `--watch` stops.
/// `init` does not ask for a certificate it cannot write either. Read-only for root too: a
/// read-only bind mount in a private mount namespace (mode bits do not stop root).
#[test]
fn regression_renew_read_only_directory_asks_nothing() {
    if !crate::util::is_root() {
        eprintln!("skipped: a read-only bind mount (unshare -m) needs root");
        return;
    }
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let signer = crate::signer::Signer::start(&ws, &ca, &[]);
    let pod = ws.join("pod");
    let signer_flags = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        v.extend([
            "--signer".into(),
            signer.url(),
            "--signer-ca".into(),
            s(&ca.join("ca.crt")).into(),
        ]);
        v
    };
    let token = signer.token_file(&ws, "worker");
    ws.run(signer_flags(&[
        "init",
        "worker",
        "--out",
        s(&pod),
        "--token-file",
        s(&token),
    ]))
    .ok();
    let issued = || {
        signer
            .audit_lines()
            .iter()
            .filter(|l| l["result"] == "issued")
            .count()
    };
    assert_eq!(issued(), 1);
    let before = crate::util::snapshot(&pod);
    let entries_before = std::fs::read_dir(&pod).unwrap().count();

    // One forced renewal: nothing asked, exit 2, one error line naming the directory.
    let o = ws
        .raytls(signer_flags(&["renew", "--dir", s(&pod), "--force"]))
        .read_only(&pod)
        .run();
    o.expect_code(2).fails_naming(s(&pod));
    assert!(o.stderr.contains("ead-only"), "{o:#?}");
    assert_eq!(issued(), 1, "renew --force asked the signer: {o:#?}");

    // --watch with every pass due: the first pass stops it, exit 2, nothing asked.
    let o = ws
        .raytls(signer_flags(&[
            "renew",
            "--dir",
            s(&pod),
            "--renew-before",
            "3650d",
            "--watch",
        ]))
        .read_only(&pod)
        .run_within(Duration::from_secs(60));
    o.expect_code(2).fails_naming(s(&pod));
    assert_eq!(issued(), 1, "renew --watch asked the signer: {o:#?}");

    assert_eq!(crate::util::snapshot(&pod), before);
    assert_eq!(std::fs::read_dir(&pod).unwrap().count(), entries_before);

    // A certificate init cannot keep: it must re-issue, and cannot write, so it asks nothing.
    std::fs::write(pod.join("tls.crt"), "not a certificate\n").unwrap();
    let before = crate::util::snapshot(&pod);
    let o = ws
        .raytls(signer_flags(&[
            "init",
            "worker",
            "--out",
            s(&pod),
            "--token-file",
            s(&token),
        ]))
        .read_only(&pod)
        .run();
    o.fails_naming(s(&pod));
    assert_eq!(issued(), 1, "init asked the signer: {o:#?}");

    assert_eq!(crate::util::snapshot(&pod), before);
    assert_eq!(std::fs::read_dir(&pod).unwrap().count(), entries_before);
}

/// GET `path` from a plain-HTTP endpoint; the status line and the body.
fn http_get(addr: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = tcp.read_to_string(&mut text);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The sample of `name` whose labels contain `label`, as a number.
fn sample(page: &str, name: &str, label: &str) -> f64 {
    page.lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} with {label} in\n{page}"))
}

/// `renew --watch --metrics-listen`: the sidecar's Prometheus page holds the certificate's
/// and the CA's notAfter, when it renews, its passes and failures; the endpoint is bounded
/// (an oversized request is refused and the sidecar keeps serving).
#[test]
fn renew_watch_serves_metrics_for_prometheus() {
    let ws = Workspace::new();
    pod(&ws, "worker", &["--days", "30"]);
    let mut child = ws
        .raytls([
            "renew",
            "--dir",
            "pod",
            "--ca",
            "ca",
            "--renew-before",
            "10d",
            "--watch",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let announce = err.next().expect("renew ended").unwrap();
    let addr = announce
        .split("http://")
        .nth(1)
        .and_then(|s| s.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("{announce}"))
        .to_string();
    // The first pass: kept.
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let pass = out.next().expect("no pass").unwrap();
    assert!(pass.contains(" kept worker certificate "), "{pass}");
    let (status, page) = http_get(&addr, "/metrics");
    let (_, not_after) = crate::util::validity(&ws.join("pod/tls.crt"));
    let (_, ca_not_after) = crate::util::validity(&ws.join("ca/ca.crt"));
    let big = "x".repeat(64 * 1024);
    let oversized = {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = write!(
            tcp,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n"
        );
        let mut text = String::new();
        let _ = tcp.read_to_string(&mut text);
        text
    };
    let (status_after, _) = http_get(&addr, "/healthz");
    let (status_404, _) = http_get(&addr, "/nothing");
    let _ = child.kill();
    let _ = child.wait();

    assert_eq!(status, "HTTP/1.1 200 OK", "{page}");
    let path = "path=\"pod/tls.crt\"";
    assert_eq!(
        sample(
            &page,
            "raytls_certificate_expiration_timestamp_seconds",
            path
        ),
        not_after.unix_timestamp() as f64
    );
    assert_eq!(
        sample(&page, "raytls_certificate_renewal_timestamp_seconds", path),
        (not_after - time::Duration::days(10)).unix_timestamp() as f64
    );
    assert_eq!(
        sample(
            &page,
            "raytls_ca_expiration_timestamp_seconds",
            "path=\"pod/ca.crt\""
        ),
        ca_not_after.unix_timestamp() as f64
    );
    assert!(sample(&page, "raytls_renew_last_success_timestamp_seconds", path) > 0.0);
    assert_eq!(
        sample(&page, "raytls_renew_consecutive_failures", path),
        0.0
    );
    assert_eq!(
        sample(&page, "raytls_renew_passes_total", "result=\"kept\""),
        1.0
    );
    assert!(page.contains("role=\"worker\""), "{page}");
    // 64 KiB of header is refused (431) or the connection is closed; the sidecar still serves.
    assert!(
        oversized.is_empty() || oversized.starts_with("HTTP/1.1 431"),
        "{oversized}"
    );
    assert_eq!(status_after, "HTTP/1.1 200 OK");
    assert_eq!(status_404, "HTTP/1.1 404 Not Found");
}

/// The metrics address is configuration: taken or without --watch, it is exit 2 before any
/// pass (nothing renewed, nothing written).
#[test]
fn renew_metrics_listen_on_a_taken_port_or_without_watch_is_a_configuration_error() {
    let ws = Workspace::new();
    pod(&ws, "worker", &[]);
    let before = serial(&ws, "pod");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    ws.raytls([
        "renew",
        "--dir",
        "pod",
        "--ca",
        "ca",
        "--force",
        "--watch",
        "--metrics-listen",
        &addr,
    ])
    .run_within(Duration::from_secs(60))
    .expect_code(2)
    .fails_naming("--metrics-listen");
    ws.raytls([
        "renew",
        "--dir",
        "pod",
        "--ca",
        "ca",
        "--metrics-listen",
        "127.0.0.1:0",
    ])
    .run()
    .expect_code(2);
    assert_eq!(serial(&ws, "pod"), before);
}
