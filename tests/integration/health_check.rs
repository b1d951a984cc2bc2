//! `raytls health-check` against in-process servers on 127.0.0.1:0: one test per row of the
//! diagnosis table (issue 4), each asserting the cause code, the words a user must read and
//! the exit code. No sleeps: the servers stall, the deadline under test ends the check.
use std::time::Duration;

use crate::probe_util::*;

/// A named failure must come back "in well under 1 s" (unless it is the timeout itself).
/// The checks that a run ends at its deadline allow this much beyond `--timeout`: enough for
/// a loaded 2-core CI machine, far below a hang (Ray's own check gives up after ~40 s).
/// Speed itself is measured in scripts/bench.sh, not here.
const DEADLINE_SLACK: Duration = Duration::from_secs(5);

fn with(files: &Files, server: &Server, extra: &[&str]) -> Vec<String> {
    with_addr(files, &server.address(), extra)
}

fn with_addr(files: &Files, address: &str, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        "--address".to_string(),
        address.to_string(),
        "--json".into(),
    ];
    a.extend(files.flags());
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn assert_failure(run: &Run, cause: &str, words: &[&str]) {
    assert_eq!(
        run.cause(),
        cause,
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert_eq!(
        run.code, 1,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let msg = run.message();
    // Every message is one sentence a person reads: no gaps from lost line continuations.
    assert!(!msg.contains("  "), "run of spaces in {msg:?}");
    for w in words {
        assert!(msg.contains(w), "message lacks {w:?}: {msg}");
    }
    assert_eq!(run.json()[0]["healthy"], false);
}

/// A CA, a Ray-like head (mTLS, ALPN h2) and our client files from the same CA.
fn ray_like() -> (Ca, Leaf, Files) {
    let ca = ca("raytls test CA");
    let head = default_leaf(&ca);
    let ours = default_leaf(&ca);
    let files = Files::new(&ca, &ours);
    (ca, head, files)
}

// ---------------------------------------------------------------------------------------
// Healthy

#[test]
fn healthy_gcs_reports_version_cluster_and_tls() {
    let (ca, head, files) = ray_like();
    let gcs = fake_gcs(server_config(&head, &ca), Gcs::default());
    let run = health_check(
        &with(&files, &gcs, &["--expect-ray-version", "2.60.0"]),
        &[],
    );
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    let j = &run.json()[0];
    assert_eq!(j["healthy"], true);
    assert_eq!(j["cause"], "ok");
    assert_eq!(j["ray_version"], "2.60.0");
    assert_eq!(j["cluster_id"], "3f9c01ab");
    assert_eq!(j["tls_version"], "TLS1.3");
    assert_eq!(j["alpn"], "h2");
    assert!(j["latency_ms"].as_u64().is_some());

    // The human line, then the summary.
    let mut a = vec!["--address".to_string(), gcs.address()];
    a.extend(files.flags());
    let run = health_check(&a, &[]);
    assert_eq!(run.code, 0);
    let first = run.stdout.lines().next().unwrap_or_default();
    let want = format!(
        "OK {} ray 2.60.0 cluster 3f9c01ab... TLS1.3 ",
        gcs.address()
    );
    assert!(first.starts_with(&want), "{first}");
    assert!(first.ends_with(" ms"), "{first}");
    assert_eq!(run.stdout.lines().last(), Some("healthy"));
}

#[test]
fn credentials_default_to_rays_own_environment() {
    let (ca, head, files) = ray_like();
    let gcs = fake_gcs(server_config(&head, &ca), Gcs::default());
    let (c, t, k) = (
        path_str(&files.path("ca.crt")),
        path_str(&files.path("tls.crt")),
        path_str(&files.path("tls.key")),
    );
    let run = health_check(
        &args(&["--address", &gcs.address(), "--json"]),
        &[
            ("RAY_TLS_CA_CERT", &c),
            ("RAY_TLS_SERVER_CERT", &t),
            ("RAY_TLS_SERVER_KEY", &k),
        ],
    );
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert_eq!(run.cause(), "ok");
}

#[test]
fn dns_name_as_dialed_is_the_server_name() {
    let (ca, head, files) = ray_like();
    let gcs = fake_gcs(server_config(&head, &ca), Gcs::default());
    let mut a = vec![
        "--address".to_string(),
        format!("localhost:{}", gcs.port()),
        "--json".into(),
    ];
    a.extend(files.flags());
    let run = health_check(&a, &[]);
    // localhost may resolve to ::1 first, where nothing listens: the IPv4 address follows.
    assert_eq!(run.cause(), "ok", "{}", run.stdout);
    assert_eq!(run.code, 0);
}

#[test]
fn ipv6_in_brackets() {
    let (ca, head, files) = ray_like();
    // Network tests stay on loopback: this one needs ::1 (a machine without it fails here,
    // loudly, rather than passing without checking anything).
    let gcs = fake_gcs_at("[::1]:0", server_config(&head, &ca), Gcs::default())
        .expect("bind [::1]:0 (IPv6 loopback)");
    let addr = format!("[::1]:{}", gcs.port());
    let mut a = args(&["--address", &addr, "--json"]);
    a.extend(files.flags());
    let run = health_check(&a, &[]);
    assert_eq!(run.cause(), "ok", "{}", run.stdout);
    assert_eq!(run.json()[0]["address"], addr.as_str());
    assert_eq!(run.code, 0);
}

#[test]
fn several_addresses_are_checked_concurrently_one_line_each() {
    let (ca, head, files) = ray_like();
    let a = fake_gcs(server_config(&head, &ca), Gcs::default());
    let b = fake_gcs(server_config(&head, &ca), Gcs::default());
    let hole = black_hole();
    let refused = format!("127.0.0.1:{}", free_port());
    let mut argv = args(&[
        "--address",
        &a.address(),
        "--address",
        &format!("{},{}", hole.address(), refused),
        "--address",
        &b.address(),
        "--timeout",
        "700ms",
    ]);
    argv.extend(files.flags());
    let run = health_check(&argv, &[]);
    assert_eq!(run.code, 1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", run.stdout);
    assert!(lines[0].starts_with(&format!("OK {}", a.address())));
    assert!(lines[1].starts_with(&format!("FAIL {} timeout", hole.address())));
    assert!(lines[2].starts_with(&format!("FAIL {refused} connection_refused")));
    assert!(lines[3].starts_with(&format!("OK {}", b.address())));
    assert!(lines[4].starts_with("2 of 4 unhealthy"), "{}", lines[4]);
    // A hang guard, not a speed test: under the sum of the four timeouts plus slack.
    // (That the checks overlap is pinned by checks_overlap_in_time, without a clock.)
    assert!(
        run.elapsed < 4 * Duration::from_millis(700) + DEADLINE_SLACK,
        "{:?}",
        run.elapsed
    );
}

#[test]
fn checks_overlap_in_time() {
    // A peer that holds every connection until three are open at once, then closes them all.
    // Checked one after another, the first would wait out its 60 s --timeout; checked
    // concurrently, all three end with closed_during_handshake. No clock is read.
    let (_ca, _head, files) = ray_like();
    let gate = gate_of(3);
    let mut argv = args(&["--json", "--timeout", "60s"]);
    for _ in 0..3 {
        argv.extend(["--address".to_string(), gate.address()]);
    }
    argv.extend(files.flags());
    let run = health_check(&argv, &[]);
    let causes: Vec<String> = run
        .json()
        .iter()
        .map(|r| r["cause"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(causes, ["closed_during_handshake"; 3], "{}", run.stdout);
}

// ---------------------------------------------------------------------------------------
// Before TLS: name, port, silence

#[test]
fn name_that_does_not_resolve() {
    // Resolve inside an empty network namespace so no DNS query leaves this machine.
    // `unshare -rn` is required (not skipped when missing): without it a DNS lookup would
    // leave 127.0.0.0/8, and a test that silently passes checks nothing.
    let probe = std::process::Command::new("unshare")
        .args(["-rn", "true"])
        .status();
    assert!(
        matches!(probe, Ok(s) if s.success()),
        "`unshare -rn` (user + network namespace) is needed to resolve without a network: {probe:?}"
    );
    let (_ca, _head, files) = ray_like();
    let mut a = args(&[
        "--address",
        "no-such-head.invalid:6379",
        "--json",
        "--timeout",
        "2s",
    ]);
    a.extend(files.flags());
    // The prefix execs the binary inside a new user + network namespace.
    let run = health_check_in(Some(r#"exec unshare -rn "$0" "$@""#), &a, &[]);
    assert_failure(
        &run,
        "resolve_failed",
        &["cannot resolve no-such-head.invalid"],
    );
    assert!(
        run.elapsed < Duration::from_secs(2) + DEADLINE_SLACK,
        "{:?}",
        run.elapsed
    );
}

#[test]
fn nothing_listening() {
    let (_ca, _head, files) = ray_like();
    let addr = format!("127.0.0.1:{}", free_port());
    let mut a = args(&["--address", &addr, "--json"]);
    a.extend(files.flags());
    let run = health_check(&a, &[]);
    assert_failure(
        &run,
        "connection_refused",
        &[
            &format!("connection refused at {addr}"),
            "is the Ray head up, is the port right?",
        ],
    );
}

#[test]
fn silent_drop_ends_at_the_deadline() {
    let (_ca, _head, files) = ray_like();
    let hole = black_hole();
    let run = health_check(&with(&files, &hole, &["--timeout", "500ms"]), &[]);
    assert_failure(
        &run,
        "timeout",
        &[
            &format!("no answer from {} in 500ms", hole.address()),
            "firewall or NetworkPolicy?",
        ],
    );
    assert_eq!(run.json()[0]["phase"], "connect");
    assert!(
        run.elapsed < Duration::from_millis(500) + DEADLINE_SLACK,
        "{:?}",
        run.elapsed
    );
}

#[test]
fn peer_that_stalls_mid_handshake_ends_at_the_deadline() {
    let (_ca, _head, files) = ray_like();
    let peer = plain_tcp(Plain::Silent);
    let run = health_check(&with(&files, &peer, &["--timeout", "500ms"]), &[]);
    assert_failure(
        &run,
        "timeout",
        &["sent nothing back to our TLS ClientHello in 500ms"],
    );
    assert_eq!(run.json()[0]["phase"], "tls");
    assert!(
        run.elapsed < Duration::from_millis(500) + DEADLINE_SLACK,
        "{:?}",
        run.elapsed
    );
}

#[test]
fn peer_that_stops_inside_a_tls_record_ends_at_the_deadline() {
    let (_ca, _head, files) = ray_like();
    // A handshake record header announcing 80 bytes, then nothing.
    let peer = plain_tcp(Plain::Reply(&[0x16, 0x03, 0x03, 0x00, 0x50, 0x02]));
    let run = health_check(&with(&files, &peer, &["--timeout", "400ms"]), &[]);
    assert_failure(&run, "timeout", &["stalled mid-handshake: 6 bytes of TLS"]);
    assert!(
        run.elapsed < Duration::from_millis(400) + DEADLINE_SLACK,
        "{:?}",
        run.elapsed
    );
}

// ---------------------------------------------------------------------------------------
// Not TLS

#[test]
fn plaintext_grpc_server_is_not_tls() {
    // A RAY_USE_TLS=0 GCS answers a ClientHello with an HTTP/2 SETTINGS frame (checked on
    // Ray 2.60's gcs_server by scripts/interop-health-check.sh).
    let (_ca, _head, files) = ray_like();
    let peer = plain_tcp(Plain::Reply(H2_SETTINGS));
    let run = health_check(&with(&files, &peer, &[]), &[]);
    assert_failure(
        &run,
        "not_tls",
        &[
            &format!("{} does not speak TLS", peer.address()),
            "HTTP/2 SETTINGS",
            "RAY_USE_TLS=0",
        ],
    );
}

#[test]
fn another_protocol_is_not_tls() {
    let (_ca, _head, files) = ray_like();
    let peer = plain_tcp(Plain::Reply(b"SSH-2.0-OpenSSH_9.6\r\n"));
    let run = health_check(&with(&files, &peer, &[]), &[]);
    assert_failure(&run, "not_tls", &["does not speak TLS", "SSH banner"]);
}

#[test]
fn peer_that_closes_on_the_client_hello() {
    let (_ca, _head, files) = ray_like();
    let peer = plain_tcp(Plain::Close);
    let run = health_check(&with(&files, &peer, &[]), &[]);
    assert_failure(
        &run,
        "closed_during_handshake",
        &["closed the connection without answering our TLS ClientHello"],
    );
}

// ---------------------------------------------------------------------------------------
// The server's certificate

#[test]
fn server_cert_from_another_ca() {
    let (_ca, _head, files) = ray_like();
    let other = ca("some other CA");
    let head = default_leaf(&other);
    let gcs = fake_gcs(server_config(&head, &other), Gcs::default());
    let run = health_check(&with(&files, &gcs, &[]), &[]);
    let ca_file = path_str(&files.path("ca.crt"));
    assert_failure(
        &run,
        "unknown_ca",
        &[
            &format!("not signed by the CA in {ca_file}"),
            "CN=raytls test CA",
            "subject \"CN=ray-head\", issuer \"CN=some other CA\"",
        ],
    );
}

#[test]
fn server_cert_from_a_ca_with_our_cas_name_but_another_key() {
    let (_ca, _head, files) = ray_like();
    let twin = ca("raytls test CA");
    let head = default_leaf(&twin);
    let gcs = fake_gcs(server_config(&head, &twin), Gcs::default());
    let run = health_check(&with(&files, &gcs, &[]), &[]);
    assert_failure(
        &run,
        "unknown_ca",
        &["not signed by the CA in", "same name as our CA"],
    );
}

#[test]
fn host_not_in_server_cert() {
    let (ca, _head, files) = ray_like();
    let head = leaf(&ca, &["10.0.0.5", "head.example"], |_| {});
    let gcs = fake_gcs(server_config(&head, &ca), Gcs::default());
    let run = health_check(&with(&files, &gcs, &[]), &[]);
    assert_failure(
        &run,
        "name_mismatch",
        &[
            "does not cover 127.0.0.1",
            "it covers [IP:10.0.0.5, DNS:head.example]",
            "re-issue it with that SAN (IP:127.0.0.1) or dial one of these",
        ],
    );
}

#[test]
fn expired_server_cert_shows_the_dates() {
    let (ca, _head, files) = ray_like();
    let head = leaf(&ca, &["127.0.0.1"], expired);
    let gcs = fake_gcs(server_config(&head, &ca), Gcs::default());
    let run = health_check(&with(&files, &gcs, &[]), &[]);
    let year = time::OffsetDateTime::now_utc().year().to_string();
    assert_failure(
        &run,
        "expired",
        &["expired on", "valid from", "now", "UTC", &year[..2]],
    );
}

#[test]
fn not_yet_valid_server_cert_shows_the_dates() {
    let (ca, _head, files) = ray_like();
    let head = leaf(&ca, &["127.0.0.1"], not_yet_valid);
    let gcs = fake_gcs(server_config(&head, &ca), Gcs::default());
    let run = health_check(&with(&files, &gcs, &[]), &[]);
    assert_failure(
        &run,
        "not_yet_valid",
        &["is not valid until", "(now ", "clocks"],
    );
}

#[test]
fn server_cert_without_server_auth_eku() {
    let (ca, _head, files) = ray_like();
    let head = leaf(&ca, &["127.0.0.1"], client_auth_only);
    let gcs = fake_gcs(server_config(&head, &ca), Gcs::default());
    let run = health_check(&with(&files, &gcs, &[]), &[]);
    assert_failure(
        &run,
        "no_server_auth_eku",
        &["extended key usage [clientAuth] without serverAuth"],
    );
}

// ---------------------------------------------------------------------------------------
// Our client certificate refused

/// A head from "raytls test CA" (which we trust), and our client certificate from a CA the
/// head does not trust.
fn client_from_a_stranger_ca() -> (Ca, Leaf, Files) {
    let trusted = ca("raytls test CA");
    let head = default_leaf(&trusted);
    let ours = default_leaf(&ca("stranger CA"));
    let files = Files::new(&trusted, &ours);
    (trusted, head, files)
}

#[test]
fn client_cert_refused_with_an_alert() {
    // The head's certificate is fine for us, but our client certificate is from a CA the
    // head does not trust: rustls (unlike Ray) says so with an alert.
    let (trusted, head, files) = client_from_a_stranger_ca();
    let gcs = fake_gcs(server_config(&head, &trusted), Gcs::default());
    let run = health_check(&with(&files, &gcs, &[]), &[]);
    assert_failure(
        &run,
        "client_cert_rejected",
        &[
            "server rejected our client certificate",
            "TLS alert",
            "signed by the CA the head trusts",
        ],
    );
}

#[test]
fn client_cert_refused_during_a_tls12_handshake() {
    let (trusted, head, files) = client_from_a_stranger_ca();
    let gcs = fake_gcs(server_config_tls12(&head, &trusted), Gcs::default());
    let run = health_check(&with(&files, &gcs, &[]), &[]);
    assert_failure(
        &run,
        "client_cert_rejected",
        &[
            "server rejected our client certificate",
            "during the handshake",
        ],
    );
    assert_eq!(run.json()[0]["phase"], "tls");
}

#[test]
fn client_cert_refused_by_closing_after_the_handshake_like_ray() {
    let (_ca, head, files) = ray_like();
    let peer = drop_after_handshake(server_config_any_client(&head, &[b"h2"]));
    let run = health_check(&with(&files, &peer, &[]), &[]);
    assert_failure(
        &run,
        "client_cert_rejected",
        &[
            "server rejected our client certificate",
            "dropped us before any HTTP/2 data",
        ],
    );
    assert_eq!(run.json()[0]["tls_version"], "TLS1.3");
}

// ---------------------------------------------------------------------------------------
// Our own files: local errors before any connection, exit 2

#[test]
fn unreadable_ca_is_a_local_error_before_dialing() {
    let (_ca, _head, files) = ray_like();
    // Nothing listens there: a dial would say connection_refused, not local_config.
    let addr = format!("127.0.0.1:{}", free_port());
    let missing = path_str(&files.path("missing-ca.crt"));
    let run = health_check(
        &args(&[
            "--address",
            &addr,
            "--json",
            "--ca",
            &missing,
            "--cert",
            &path_str(&files.path("tls.crt")),
            "--key",
            &path_str(&files.path("tls.key")),
        ]),
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.cause(), "local_config");
    assert!(
        run.stderr.contains(&format!("cannot read {missing}")),
        "{}",
        run.stderr
    );
}

#[test]
fn key_of_another_cert_is_a_local_error() {
    let (ca, _head, files) = ray_like();
    let stranger = default_leaf(&ca);
    files.write("tls.key", &stranger.key_pem);
    let run = health_check(
        &args(&["--address", "127.0.0.1:1"])
            .into_iter()
            .chain(files.flags())
            .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("does not match"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn leaf_given_as_ca_and_missing_credentials_are_local_errors() {
    let (_ca, _head, files) = ray_like();
    let run = health_check(
        &args(&["--address", "127.0.0.1:1"])
            .into_iter()
            .chain(files.flags_with_ca("tls.crt"))
            .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("is not a CA certificate"),
        "{}",
        run.stderr
    );

    let run = health_check(&args(&["--address", "127.0.0.1:1"]), &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--ca FILE or set RAY_TLS_CA_CERT"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    for bad in [
        &["--address", "bad host:1"][..],
        &["--address", "[::1"],
        &["--address", "127.0.0.1:1", "--timeout", "5h"],
        &["--address", "127.0.0.1:1", "--timeout", "soon"],
        &[],
    ] {
        let run = health_check(&args(bad), &[]);
        assert_eq!(run.code, 2, "{bad:?}: {}", run.stderr);
    }
}

// ---------------------------------------------------------------------------------------
// Token auth

fn token_gcs() -> (Server, Files) {
    let (ca, head, files) = ray_like();
    let gcs = fake_gcs(
        server_config(&head, &ca),
        Gcs {
            token: Some("s3cret-token".into()),
            ..Gcs::default()
        },
    );
    (gcs, files)
}

#[test]
fn missing_token_is_unauthenticated() {
    let (gcs, files) = token_gcs();
    let run = health_check(&with(&files, &gcs, &[]), &[]);
    assert_failure(
        &run,
        "unauthenticated",
        &["token missing or wrong", "no token sent", "RAY_AUTH_TOKEN"],
    );
}

#[test]
fn wrong_token_names_its_source_never_the_token() {
    let (gcs, files) = token_gcs();
    let tf = files.write("token", "not-the-s3cret\n");
    let run = health_check(&with(&files, &gcs, &["--token-file", &path_str(&tf)]), &[]);
    assert_failure(
        &run,
        "unauthenticated",
        &[&format!(
            "sent the token from --token-file {}",
            tf.display()
        )],
    );
    assert!(!run.stdout.contains("not-the-s3cret") && !run.stderr.contains("not-the-s3cret"));
}

#[test]
fn token_found_in_rays_order() {
    let (gcs, files) = token_gcs();
    // RAY_AUTH_TOKEN
    let run = health_check(
        &with(&files, &gcs, &[]),
        &[("RAY_AUTH_TOKEN", "s3cret-token")],
    );
    assert_eq!(run.cause(), "ok", "{}", run.stdout);
    assert_eq!(run.json()[0]["token_source"], "RAY_AUTH_TOKEN");
    assert!(!run.stdout.contains("s3cret"));
    // --token-file wins over RAY_AUTH_TOKEN
    let tf = files.write("token", "s3cret-token\n");
    let run = health_check(
        &with(&files, &gcs, &["--token-file", &path_str(&tf)]),
        &[("RAY_AUTH_TOKEN", "wrong")],
    );
    assert_eq!(run.cause(), "ok", "{}", run.stdout);
    // RAY_AUTH_TOKEN_PATH
    let run = health_check(
        &with(&files, &gcs, &[]),
        &[("RAY_AUTH_TOKEN_PATH", &path_str(&tf))],
    );
    assert_eq!(run.cause(), "ok", "{}", run.stdout);
    // ~/.ray/auth_token
    let home = tempfile::tempdir().expect("home");
    std::fs::create_dir(home.path().join(".ray")).expect("mkdir");
    std::fs::write(home.path().join(".ray/auth_token"), "s3cret-token\n").expect("write");
    let run = health_check(
        &with(&files, &gcs, &[]),
        &[("HOME", &path_str(home.path()))],
    );
    assert_eq!(run.cause(), "ok", "{}", run.stdout);
    assert_eq!(run.code, 0);
}

// ---------------------------------------------------------------------------------------
// Not a Ray GCS, health fallback, version

#[test]
fn grpc_server_without_ray_or_health_is_not_a_ray_gcs() {
    let (ca, head, files) = ray_like();
    let gcs = fake_gcs(
        server_config(&head, &ca),
        Gcs {
            ray: false,
            health: None,
            ..Gcs::default()
        },
    );
    let run = health_check(&with(&files, &gcs, &[]), &[]);
    assert_failure(&run, "not_ray_gcs", &["is not a Ray GCS", "GetClusterId"]);
}

#[test]
fn tls_server_that_is_not_grpc_is_not_a_ray_gcs() {
    let (_ca, head, files) = ray_like();
    let peer = http1_over_tls(server_config_any_client(&head, &[]));
    let run = health_check(&with(&files, &peer, &[]), &[]);
    assert_failure(&run, "not_ray_gcs", &["is not a Ray GCS", "HTTP/1"]);
}

#[test]
fn standard_health_service_serving_is_healthy() {
    let (ca, head, files) = ray_like();
    let gcs = fake_gcs(
        server_config(&head, &ca),
        Gcs {
            ray: false,
            ..Gcs::default()
        },
    );
    let run = health_check(&with(&files, &gcs, &[]), &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.cause(), "ok");
    let not_serving = fake_gcs(
        server_config(&head, &ca),
        Gcs {
            ray: false,
            health: Some(2),
            ..Gcs::default()
        },
    );
    let run = health_check(&with(&files, &not_serving, &[]), &[]);
    assert_failure(&run, "not_serving", &["NOT_SERVING"]);
}

#[test]
fn ray_version_differs_from_expected() {
    let (ca, head, files) = ray_like();
    let gcs = fake_gcs(
        server_config(&head, &ca),
        Gcs {
            ray_version: "2.52.1".into(),
            ..Gcs::default()
        },
    );
    let run = health_check(
        &with(&files, &gcs, &["--expect-ray-version", "2.60.0"]),
        &[],
    );
    assert_failure(
        &run,
        "version_mismatch",
        &["runs Ray 2.52.1", "--expect-ray-version is 2.60.0"],
    );
    assert_eq!(run.json()[0]["ray_version"], "2.52.1");
}

// ---------------------------------------------------------------------------------------
// Text from the peer is escaped (issue 11, 2.3)

/// A CN that erases the line and prints a fake verdict on a terminal.
const FAKE_OK_CN: &str = "\x1b[2K\rOK 127.0.0.1:6379 ray 2.60.0 healthy";

#[test]
fn regression_server_cn_cannot_print_a_fake_ok_line() {
    let (ca, _head, files) = ray_like();
    // Expired, so that the message shows the subject as the certificate has it.
    let head = leaf(&ca, &["127.0.0.1"], |p| {
        expired(p);
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, FAKE_OK_CN);
    });
    let gcs = fake_gcs(server_config(&head, &ca), Gcs::default());

    let mut text = vec!["--address".to_string(), gcs.address()];
    text.extend(files.flags());
    let run = health_check(&text, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(!run.stdout.contains(['\x1b', '\r']), "{:?}", run.stdout);
    assert!(
        run.stdout.lines().all(|l| !l.starts_with("OK ")),
        "{:?}",
        run.stdout
    );
    let first = run.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("FAIL {} expired: ", gcs.address())),
        "{first:?}"
    );
    assert!(
        first.contains("\\x1b[2K\\x0dOK 127.0.0.1:6379"),
        "{first:?}"
    );

    // JSON carries the subject exactly (the encoder escapes it), with the right verdict.
    let run = health_check(&with(&files, &gcs, &[]), &[]);
    assert_failure(&run, "expired", &[FAKE_OK_CN]);
    assert!(!run.stdout.contains('\x1b'), "{:?}", run.stdout);
}

#[test]
fn regression_ray_version_from_the_peer_is_escaped() {
    let (ca, head, files) = ray_like();
    let gcs = fake_gcs(
        server_config(&head, &ca),
        Gcs {
            ray_version: format!("2.60.0\n{FAKE_OK_CN}"),
            ..Gcs::default()
        },
    );
    let mut text = vec!["--address".to_string(), gcs.address()];
    text.extend(files.flags());
    let run = health_check(&text, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(!run.stdout.contains(['\x1b', '\r']), "{:?}", run.stdout);
    // One line for the address, one summary: the newline did not split the line.
    assert_eq!(run.stdout.lines().count(), 2, "{:?}", run.stdout);
    assert!(
        run.stdout.contains("ray 2.60.0\\x0a\\x1b[2K\\x0dOK"),
        "{:?}",
        run.stdout
    );
}

#[test]
fn regression_a_megabyte_ray_version_from_the_peer_is_clipped() {
    // A GCS may send up to 4 MB in a reply; its version string went whole into the line
    // (and, escaped, up to four times that).
    let (ca, head, files) = ray_like();
    let gcs = fake_gcs(
        server_config(&head, &ca),
        Gcs {
            ray_version: format!("2.60.{}", "9".repeat(1_000_000)),
            ..Gcs::default()
        },
    );
    let mut text = vec!["--address".to_string(), gcs.address()];
    text.extend(files.flags());
    let run = health_check(&text, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.len() < 1024, "{} bytes", run.stdout.len());
    assert!(
        run.stdout.contains("ray 2.60.999") && run.stdout.contains("...(+"),
        "{}",
        run.stdout
    );
}

// ---------------------------------------------------------------------------------------
// TLS peers that are not Ray (issue 11, section 3): real openssl and python servers, and
// in-process ones. None of them negotiates ALPN h2.

/// Our files, plus `server.crt`/`server.key` for 127.0.0.1 from our CA, and `stranger.crt`,
/// a CA that did not sign our client certificate.
fn non_ray_peer_files() -> Files {
    let (_ca, head, files) = ray_like();
    files.write("server.crt", &head.pem);
    files.write("server.key", &head.key_pem);
    files.write("stranger.crt", &ca("stranger CA").cert_pem);
    files
}

/// Far above the 6 s (a fifth of it) a non-h2 peer gets: a run that ends before it did not
/// wait for the deadline. A bound, not a speed measurement.
const LONG_TIMEOUT: &str = "30s";

fn ended_before_the_deadline(run: &Run) {
    assert!(
        run.elapsed < Duration::from_secs(30),
        "waited for the deadline: {:?}",
        run.elapsed
    );
}

#[test]
fn regression_openssl_refusing_our_cert_after_a_tls13_handshake_is_client_cert_rejected() {
    let files = non_ray_peer_files();
    let stranger = path_str(&files.path("stranger.crt"));
    let server = openssl_s_server(
        &files,
        &["-Verify", "1", "-verify_return_error", "-CAfile", &stranger],
    );
    let run = health_check(&with_addr(&files, &server.address(), &[]), &[]);
    assert_failure(
        &run,
        "client_cert_rejected",
        &[
            "server rejected our client certificate",
            "TLS alert unknown_ca",
            "did not agree to HTTP/2",
        ],
    );
}

#[test]
fn openssl_refusing_our_cert_during_a_tls12_handshake_is_client_cert_rejected() {
    let files = non_ray_peer_files();
    let stranger = path_str(&files.path("stranger.crt"));
    let server = openssl_s_server(
        &files,
        &[
            "-tls1_2",
            "-Verify",
            "1",
            "-verify_return_error",
            "-CAfile",
            &stranger,
        ],
    );
    let run = health_check(&with_addr(&files, &server.address(), &[]), &[]);
    assert_failure(
        &run,
        "client_cert_rejected",
        &["TLS alert unknown_ca during the handshake"],
    );
    assert_eq!(run.json()[0]["phase"], "tls");
}

#[test]
fn regression_silent_openssl_s_server_is_not_ray_gcs_at_once() {
    let files = non_ray_peer_files();
    for extra in [&[][..], &["-www"]] {
        let server = openssl_s_server(&files, extra);
        let run = health_check(
            &with_addr(&files, &server.address(), &["--timeout", LONG_TIMEOUT]),
            &[],
        );
        assert_failure(
            &run,
            "not_ray_gcs",
            &[
                "is not a Ray GCS",
                "did not agree to HTTP/2 (ALPN h2; it chose no ALPN)",
                "sent nothing back to our HTTP/2 preface",
            ],
        );
        ended_before_the_deadline(&run);
    }
}

#[test]
fn python_https_server_is_not_ray_gcs_and_its_answer_is_shown() {
    let files = non_ray_peer_files();
    let server = python_https_server(&files);
    let run = health_check(
        &with_addr(&files, &server.address(), &["--timeout", LONG_TIMEOUT]),
        &[],
    );
    // http.server answers "PRI * HTTP/2.0" with an HTTP/0.9-style error page.
    assert_failure(
        &run,
        "not_ray_gcs",
        &["is not a Ray GCS", "and answered with", "DOCTYPE HTML"],
    );
    ended_before_the_deadline(&run);
}

#[test]
fn in_process_server_without_h2_refusing_our_cert_names_the_alert() {
    let (_ca, head, files) = ray_like();
    // The server trusts another CA for clients and offers no ALPN.
    let cfg = server_config_alpn(&head, &ca("stranger CA"), &[]);
    let gcs = fake_gcs(cfg, Gcs::default());
    let run = health_check(&with(&files, &gcs, &[]), &[]);
    assert_failure(
        &run,
        "client_cert_rejected",
        &["TLS alert unknown_ca", "before any data"],
    );
}

#[test]
fn regression_silent_tls_server_without_h2_is_not_ray_gcs_at_once() {
    let (_ca, head, files) = ray_like();
    let peer = silent_after_handshake(server_config_any_client(&head, &[]));
    let run = health_check(&with(&files, &peer, &["--timeout", LONG_TIMEOUT]), &[]);
    assert_failure(
        &run,
        "not_ray_gcs",
        &[
            "did not agree to HTTP/2",
            "sent nothing back to our HTTP/2 preface in 6s",
        ],
    );
    ended_before_the_deadline(&run);
    // With the default --timeout 5s it gets 1 s.
    let run = health_check(&with(&files, &peer, &[]), &[]);
    assert_failure(
        &run,
        "not_ray_gcs",
        &["sent nothing back to our HTTP/2 preface in 1s"],
    );
}

#[test]
fn tls_server_refusing_h2_with_an_alert_is_not_ray_gcs() {
    let (_ca, head, files) = ray_like();
    let peer = silent_after_handshake(server_config_any_client(&head, &[b"http/1.1"]));
    let run = health_check(&with(&files, &peer, &[]), &[]);
    assert_failure(
        &run,
        "not_ray_gcs",
        &["refused HTTP/2", "no_application_protocol"],
    );
    assert_eq!(run.json()[0]["phase"], "tls");
}

#[test]
fn regression_out_of_descriptors_is_never_blamed_on_the_peers() {
    // 2,000 addresses under `ulimit -n 64`: a few real fake GCSs and many peers that close on
    // the ClientHello. Before, most were reported as `connect_failed (Too many open files)`.
    let (ca, head, files) = ray_like();
    let gcs = fake_gcs(server_config(&head, &ca), Gcs::default());
    let closer = plain_tcp(Plain::Close);
    let addrs: Vec<String> = (0..2000)
        .map(|i| {
            if i % 500 == 0 {
                gcs.address()
            } else {
                closer.address()
            }
        })
        .collect();
    let mut argv = vec!["--address".to_string(), addrs.join(","), "--json".into()];
    argv.extend(files.flags());
    let run = health_check_in(Some("ulimit -n 64"), &argv, &[]);
    let reports = run.json();
    assert_eq!(reports.len(), 2000, "stderr: {}", run.stderr);
    let mut ok = 0;
    for r in &reports {
        let cause = r["cause"].as_str().unwrap_or_default();
        let msg = r["message"].as_str().unwrap_or_default();
        assert!(
            !msg.contains("Too many open files") && cause != "connect_failed",
            "{r}"
        );
        match cause {
            "ok" => ok += 1,
            "closed_during_handshake" => {}
            other => panic!("unexpected cause {other}: {r}"),
        }
    }
    assert_eq!(ok, 4);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

#[test]
fn regression_a_socket_we_cannot_open_is_a_local_error() {
    // Below some `ulimit -n` the runtime cannot start; just above it, the check's own socket
    // cannot be opened. That is this machine's problem: local_config, exit 2, never the
    // peer's connect_failed.
    let (_ca, _head, files) = ray_like();
    let refused = format!("127.0.0.1:{}", free_port());
    let mut local = 0;
    for n in 4..=12 {
        let mut argv = vec!["--address".to_string(), refused.clone(), "--json".into()];
        argv.extend(files.flags());
        let run = health_check_in(Some(&format!("ulimit -n {n}")), &argv, &[]);
        let Some(r) = run.json().into_iter().next() else {
            continue; // no runtime at all: nothing was checked
        };
        assert_ne!(r["cause"], "connect_failed", "ulimit -n {n}: {r}");
        if r["cause"] == "local_config" {
            assert_eq!(run.code, 2, "ulimit -n {n}: {r}");
            assert!(
                r["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("out of file descriptors"),
                "{r}"
            );
            local += 1;
        } else {
            assert_eq!(r["cause"], "connection_refused", "ulimit -n {n}: {r}");
        }
    }
    assert!(local > 0, "no ulimit in 4..=12 left the socket short");
}

#[test]
fn grpc_server_that_speaks_h2_without_alpn_is_still_checked() {
    // Not Ray (a GCS agrees to h2), but it answers our HTTP/2 preface in HTTP/2: the probe
    // checks it over a fresh connection instead of calling it not_ray_gcs.
    let (ca, head, files) = ray_like();
    let gcs = fake_gcs(server_config_alpn(&head, &ca, &[]), Gcs::default());
    let run = health_check(&with(&files, &gcs, &[]), &[]);
    assert_eq!(run.cause(), "ok", "{}", run.stdout);
    assert_eq!(run.json()[0]["alpn"], serde_json::Value::Null);
    assert_eq!(run.code, 0);
}

#[test]
fn expired_ca_or_client_cert_is_a_local_error_before_dialing() {
    // Checked with pki's own CA and validity checks (the ones issue/init/verify use).
    let addr = format!("127.0.0.1:{}", free_port());
    let (ca, _head, files) = ray_like();
    let old = Ca::new(
        "old CA",
        crate::util::now() - crate::util::days(400),
        crate::util::now() - crate::util::days(35),
    );
    files.write("old-ca.crt", &old.cert_pem);
    let run = health_check(
        &args(&["--address", &addr, "--json"])
            .into_iter()
            .chain(files.flags_with_ca("old-ca.crt"))
            .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.cause(), "local_config");
    assert!(run.stderr.contains("expired on"), "{}", run.stderr);

    let stale = leaf(&ca, &["127.0.0.1"], expired);
    files.write("tls.crt", &stale.pem);
    files.write("tls.key", &stale.key_pem);
    let mut a = args(&["--address", &addr]);
    a.extend(files.flags());
    let run = health_check(&a, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("our client certificate is expired on"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

// ---------------------------------------------------------------------------------------
// --expect-cert (issue 13): is the process serving the certificate on disk?

#[test]
fn expect_cert_passes_when_the_server_presents_the_file() {
    let (ca, head, files) = ray_like();
    let gcs = fake_gcs(server_config(&head, &ca), Gcs::default());
    let on_disk = files.write("served.crt", &head.pem);
    let run = health_check(
        &with(&files, &gcs, &["--expect-cert", &path_str(&on_disk)]),
        &[],
    );
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert_eq!(run.json()[0]["cause"], "ok");
}

#[test]
fn expect_cert_names_a_stale_certificate_with_both_fingerprints() {
    let (ca, head, files) = ray_like();
    let gcs = fake_gcs(server_config(&head, &ca), Gcs::default());
    // What a renewal wrote to disk while the server kept its old certificate.
    let renewed = default_leaf(&ca);
    let on_disk = files.write("renewed.crt", &renewed.pem);
    let run = health_check(
        &with(&files, &gcs, &["--expect-cert", &path_str(&on_disk)]),
        &[],
    );
    assert_failure(
        &run,
        "stale_certificate",
        &["serves another certificate", "renewed.crt", "restart it"],
    );
    let msg = run.message();
    assert_eq!(msg.matches("SHA-256 ").count(), 2, "{msg}");
    assert_eq!(msg.matches("expires ").count(), 2, "{msg}");
    // An unreadable --expect-cert is our own input: exit 2, nothing dialed.
    let bad = files.write("bad.crt", "not a certificate\n");
    let run = health_check(
        &with(&files, &gcs, &["--expect-cert", &path_str(&bad)]),
        &[],
    );
    assert_eq!(run.code, 2, "{} {}", run.stdout, run.stderr);
}

// ---------------------------------------------------------------------------------------
// --all-nodes (issue 13): every node as the GCS sees it. The "raylets" are in-process
// gRPC servers (grpc.health.v1, as the GCS health-checks a raylet) on their own loopback
// IPs (127.0.0.2, 127.0.0.3, ...), each with its own certificate.

mod all_nodes {
    use super::*;
    use fake_gcs::Nodes;
    use raytls::probe::grpc::messages::{GcsNodeInfo, NodeDeathInfo, NODE_ALIVE, NODE_DEAD};

    const HEALTH_CHECK_DEATH: &str = "health check failed due to missing too many heartbeats";

    /// A Ray raylet: TLS as Ray does it (mutual, h2), serving only grpc.health.v1.
    fn raylet(ip: &str, cert: &Leaf, ca: &Ca) -> Server {
        fake_gcs_at(
            &format!("{ip}:0"),
            server_config(cert, ca),
            Gcs {
                ray: false,
                ..Gcs::default()
            },
        )
        .unwrap_or_else(|| panic!("bind {ip}:0 (Linux answers on all of 127.0.0.0/8)"))
    }

    fn node(id: u8, server_ip: &str, port: u16, alive: bool) -> GcsNodeInfo {
        GcsNodeInfo {
            node_id: vec![id; 28],
            node_manager_address: server_ip.into(),
            node_manager_port: i32::from(port),
            state: if alive { NODE_ALIVE } else { NODE_DEAD },
            node_name: server_ip.into(),
            start_time_ms: 1_764_000_000_000,
            end_time_ms: if alive { 0 } else { 1_764_000_021_000 },
            ..GcsNodeInfo::default()
        }
    }

    fn alive(id: u8, raylet: &Server) -> GcsNodeInfo {
        node(id, &raylet.addr.ip().to_string(), raylet.port(), true)
    }

    fn dead(id: u8, ip: &str, port: u16, reason: i32, message: &str) -> GcsNodeInfo {
        let mut n = node(id, ip, port, false);
        n.death_info = Some(NodeDeathInfo {
            reason,
            reason_message: message.into(),
        });
        n
    }

    fn gcs_with(head: &Leaf, ca: &Ca, nodes: Nodes) -> Server {
        fake_gcs(
            server_config(head, ca),
            Gcs {
                nodes,
                ..Gcs::default()
            },
        )
    }

    /// `health-check --address GCS --all-nodes [--json] EXTRA`
    fn all_nodes(files: &Files, gcs: &Server, json: bool, extra: &[&str]) -> Run {
        let mut a = vec!["--address".to_string(), gcs.address(), "--all-nodes".into()];
        if json {
            a.push("--json".into());
        }
        a.extend(files.flags());
        a.extend(extra.iter().map(|s| s.to_string()));
        health_check(&a, &[])
    }

    fn node_objects(run: &Run) -> Vec<serde_json::Value> {
        run.json()
            .into_iter()
            .filter(|j| j["kind"] == "node")
            .collect()
    }

    fn hex_id(id: u8) -> String {
        format!("{id:02x}").repeat(28)
    }

    #[test]
    fn every_node_covered_passes_with_issuer_and_expiry() {
        let (ca, head, files) = ray_like();
        let head_raylet = raylet(
            "127.0.0.1",
            &leaf(&ca, &["127.0.0.1", "localhost"], |_| {}),
            &ca,
        );
        let in_100_days = |p: &mut rcgen::CertificateParams| {
            p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(100);
        };
        let worker = raylet(
            "127.0.0.2",
            &leaf(&ca, &["127.0.0.2", "localhost"], in_100_days),
            &ca,
        );
        let mut h = alive(1, &head_raylet);
        h.is_head_node = true;
        let gcs = gcs_with(&head, &ca, Nodes::These(vec![h, alive(2, &worker)]));

        let run = all_nodes(&files, &gcs, false, &[]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 4, "{}", run.stdout);
        assert!(
            lines[0].starts_with(&format!("OK {}", gcs.address())),
            "{}",
            lines[0]
        );
        let head_line = format!(
            "OK node 01010101 head {} alive: covers 127.0.0.1; chains to ",
            head_raylet.address()
        );
        assert!(lines[1].starts_with(&head_line), "{}", lines[1]);
        assert!(lines[1].contains("raytls test CA"), "{}", lines[1]);
        assert!(lines[1].contains(" days left)"), "{}", lines[1]);
        assert!(
            lines[2].starts_with(&format!(
                "OK node 02020202 {} alive: covers 127.0.0.2",
                worker.address()
            )),
            "{}",
            lines[2]
        );
        assert_eq!(lines[3], "2 nodes (2 alive): all healthy");

        let run = all_nodes(&files, &gcs, true, &[]);
        assert_eq!(run.code, 0);
        let all = run.json();
        assert_eq!(all.len(), 3, "{}", run.stdout);
        assert_eq!(all[0]["address"], gcs.address());
        assert_eq!(all[0]["healthy"], true);
        let nodes = node_objects(&run);
        let w = &nodes[1];
        assert_eq!(w["node_id"], hex_id(2));
        assert_eq!(w["address"], worker.address());
        assert_eq!(w["state"], "alive");
        assert_eq!(w["verdict"], "ok");
        assert_eq!(w["healthy"], true);
        assert_eq!(w["cause"], "ok");
        assert_eq!(w["answered"], true);
        assert_eq!(w["covers_address"], true);
        assert_eq!(w["is_head"], false);
        assert_eq!(nodes[0]["is_head"], true);
        assert!(
            w["chains_to"]
                .as_str()
                .unwrap_or("")
                .contains("raytls test CA"),
            "{w}"
        );
        assert_eq!(w["chains_to_index"], 1);
        let days = w["days_left"].as_i64().unwrap_or(-1);
        assert!((98..=100).contains(&days), "{w}");
        assert!(
            w["not_after"].as_str().is_some_and(|s| s.ends_with('Z')),
            "{w}"
        );
        assert_eq!(
            w["sans"],
            serde_json::json!(["IP:127.0.0.2", "DNS:localhost"])
        );
        assert_eq!(w["tls_version"], "TLS1.3");
        assert!(w["death_reason"].is_null());
    }

    /// The bug of issue 13: the worker's certificate lacks its own IP. It registers; the GCS
    /// cannot health-check it and marks it dead ~20 s later. Named while it is alive.
    #[test]
    fn regression_worker_certificate_without_its_own_ip_names_node_and_ip() {
        let (ca, head, files) = ray_like();
        let good = raylet("127.0.0.1", &leaf(&ca, &["127.0.0.1"], |_| {}), &ca);
        // Issued for another pod IP: covers 127.0.0.9, runs at 127.0.0.2.
        let bad = raylet(
            "127.0.0.2",
            &leaf(&ca, &["localhost", "127.0.0.1", "127.0.0.9"], |_| {}),
            &ca,
        );
        let gcs = gcs_with(
            &head,
            &ca,
            Nodes::These(vec![alive(1, &good), alive(2, &bad)]),
        );

        let run = all_nodes(&files, &gcs, false, &[]);
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        let fail = run
            .stdout
            .lines()
            .find(|l| l.starts_with("FAIL node 02020202"))
            .unwrap_or_else(|| panic!("no FAIL line for the worker: {}", run.stdout));
        let want = format!("FAIL node 02020202 {} alive name_mismatch: its certificate does not cover 127.0.0.2, the address the GCS dials", bad.address());
        assert!(fail.starts_with(&want), "{fail}");
        assert!(
            fail.contains("[DNS:localhost, IP:127.0.0.1, IP:127.0.0.9]"),
            "{fail}"
        );
        assert!(fail.contains("POD_IP=127.0.0.2"), "{fail}");
        assert!(run.stdout.contains("OK node 01010101"), "{}", run.stdout);
        assert_eq!(
            run.stdout.lines().last(),
            Some(
                format!(
                    "2 nodes (2 alive): 1 failing: {} (name_mismatch)",
                    bad.address()
                )
                .as_str()
            )
        );

        let run = all_nodes(&files, &gcs, true, &[]);
        assert_eq!(run.code, 1);
        let w = &node_objects(&run)[1];
        assert_eq!(w["verdict"], "fail");
        assert_eq!(w["cause"], "name_mismatch");
        assert_eq!(w["covers_address"], false);
        // Everything else about it is still reported: it chains, and when it expires.
        assert_eq!(w["chains_to_index"], 1);
        assert!(w["days_left"].as_i64().is_some(), "{w}");
    }

    #[test]
    fn node_marked_dead_by_failed_health_checks_fails_with_rays_reason() {
        let (ca, head, files) = ray_like();
        let good = raylet("127.0.0.1", &leaf(&ca, &["127.0.0.1"], |_| {}), &ca);
        let gone = free_port();
        let gcs = gcs_with(
            &head,
            &ca,
            Nodes::These(vec![
                alive(1, &good),
                dead(2, "127.0.0.2", gone, 2, HEALTH_CHECK_DEATH),
            ]),
        );
        let run = all_nodes(&files, &gcs, false, &[]);
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        let line = run
            .stdout
            .lines()
            .find(|l| l.contains("node 02020202"))
            .unwrap_or_default();
        let want = format!("FAIL node 02020202 127.0.0.2:{gone} dead node_dead: dead (UNEXPECTED_TERMINATION: \"{HEALTH_CHECK_DEATH}\"; 21 s after it joined); its address no longer answers (connection_refused)");
        assert!(line.starts_with(&want), "{line}");
        assert!(
            line.contains("Peer name IP is not in peer certificate"),
            "{line}"
        );
        assert!(
            run.stdout.ends_with(&format!(
                "2 nodes (1 alive, 1 dead): 1 failing: 127.0.0.2:{gone} (node_dead)\n"
            )),
            "{}",
            run.stdout
        );

        let run = all_nodes(&files, &gcs, true, &[]);
        let d = &node_objects(&run)[1];
        assert_eq!(d["state"], "dead");
        assert_eq!(d["verdict"], "fail");
        assert_eq!(d["death_reason"], "UNEXPECTED_TERMINATION");
        assert_eq!(d["death_message"], HEALTH_CHECK_DEATH);
        assert_eq!(d["died_of_failed_health_checks"], true);
        assert_eq!(d["lived_s"], 21);
        assert_eq!(d["answered"], false);
        assert!(d["dead_for_s"].as_u64().unwrap() > 3600, "{d}");

        // --dead-within: a death older than the window is history, not a failure...
        let run = all_nodes(&files, &gcs, true, &["--dead-within", "1h"]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        let d = &node_objects(&run)[1];
        assert_eq!(d["verdict"], "dead", "{d}");
        assert!(
            d["message"]
                .as_str()
                .unwrap()
                .contains("longer than --dead-within 1h: history"),
            "{d}"
        );
        // ...and one within it still fails.
        let run = all_nodes(&files, &gcs, false, &["--dead-within", "3650d"]);
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    }

    #[test]
    fn node_stopped_on_purpose_is_listed_dead_and_does_not_fail() {
        let (ca, head, files) = ray_like();
        let good = raylet("127.0.0.1", &leaf(&ca, &["127.0.0.1"], |_| {}), &ca);
        let gcs = gcs_with(
            &head,
            &ca,
            Nodes::These(vec![
                alive(1, &good),
                dead(2, "127.0.0.2", free_port(), 1, "received SIGTERM"),
            ]),
        );
        let run = all_nodes(&files, &gcs, false, &[]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("DEAD node 02020202 ")
                && run
                    .stdout
                    .contains("dead (EXPECTED_TERMINATION: \"received SIGTERM\""),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout
                .ends_with("2 nodes (1 alive, 1 dead): all healthy\n"),
            "{}",
            run.stdout
        );
    }

    #[test]
    fn dead_node_whose_address_still_answers_is_dialed_and_judged() {
        let (ca, head, files) = ray_like();
        let bad = raylet("127.0.0.3", &leaf(&ca, &["127.0.0.9"], |_| {}), &ca);
        let mut d = dead(3, "127.0.0.3", bad.port(), 2, HEALTH_CHECK_DEATH);
        d.end_time_ms = d.start_time_ms + 19_500;
        let gcs = gcs_with(&head, &ca, Nodes::These(vec![d]));
        let run = all_nodes(&files, &gcs, true, &[]);
        assert_eq!(run.code, 1, "{}", run.stdout);
        let n = &node_objects(&run)[0];
        assert_eq!(n["verdict"], "fail");
        assert_eq!(n["cause"], "name_mismatch");
        assert_eq!(n["answered"], true);
        assert_eq!(n["lived_s"], 19);
        let msg = n["message"].as_str().unwrap_or_default();
        assert!(msg.starts_with("dead (UNEXPECTED_TERMINATION"), "{msg}");
        assert!(
            msg.contains("its address still answers: its certificate does not cover 127.0.0.3"),
            "{msg}"
        );
    }

    /// CA rotation: --ca holds the old and the new root; each node says which one it is on.
    #[test]
    fn ca_bundle_says_which_root_each_node_chains_to() {
        let old = ca("raytls CA old 1a2b");
        let new = ca("raytls CA new 3c4d");
        let stranger = ca("raytls CA other 5e6f");
        let head = default_leaf(&old);
        let ours = default_leaf(&old);
        let files = Files::new(&old, &ours);
        files.write("bundle.crt", &format!("{}{}", old.cert_pem, new.cert_pem));
        // Servers trust both roots (step 1 of a rotation).
        let trust_both = |cert: &Leaf, ip: &str| {
            let cfg = rustls_server_config_both(cert, &old, &new);
            fake_gcs_at(
                &format!("{ip}:0"),
                cfg,
                Gcs {
                    ray: false,
                    ..Gcs::default()
                },
            )
            .expect("bind")
        };
        let on_old = trust_both(&leaf(&old, &["127.0.0.2"], |_| {}), "127.0.0.2");
        let on_new = trust_both(&leaf(&new, &["127.0.0.3"], |_| {}), "127.0.0.3");
        let foreign = trust_both(&leaf(&stranger, &["127.0.0.4"], |_| {}), "127.0.0.4");
        let gcs = gcs_with(
            &head,
            &old,
            Nodes::These(vec![
                alive(2, &on_old),
                alive(3, &on_new),
                alive(4, &foreign),
            ]),
        );
        let mut a = vec![
            "--address".to_string(),
            gcs.address(),
            "--all-nodes".into(),
            "--json".into(),
        ];
        a.extend(files.flags_with_ca("bundle.crt"));
        let run = health_check(&a, &[]);
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        let nodes = node_objects(&run);
        assert_eq!(nodes[0]["chains_to_index"], 1);
        assert!(nodes[0]["chains_to"]
            .as_str()
            .unwrap_or("")
            .contains("raytls CA old 1a2b"));
        assert_eq!(nodes[1]["chains_to_index"], 2);
        assert!(nodes[1]["chains_to"]
            .as_str()
            .unwrap_or("")
            .contains("raytls CA new 3c4d"));
        assert_eq!(nodes[1]["verdict"], "ok");
        assert_eq!(nodes[2]["cause"], "unknown_ca");
        assert!(nodes[2]["chains_to"].is_null());
        let msg = nodes[2]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains("raytls CA other 5e6f") && msg.contains("bundle.crt"),
            "{msg}"
        );

        // In text, the root is named with its place in the bundle.
        a.retain(|x| x != "--json");
        let run = health_check(&a, &[]);
        assert!(run.stdout.contains("(CA 2 of 2 in "), "{}", run.stdout);
    }

    fn rustls_server_config_both(
        cert: &Leaf,
        a: &Ca,
        b: &Ca,
    ) -> std::sync::Arc<rustls::ServerConfig> {
        std::sync::Arc::new(crate::util::rustls_server_config(
            vec![cert.der.clone()],
            cert.key(),
            Some(&[a.der.clone(), b.der.clone()]),
            &[b"h2"],
            rustls::DEFAULT_VERSIONS,
        ))
    }

    #[test]
    fn min_days_left_fails_a_certificate_about_to_expire() {
        let (ca, head, files) = ray_like();
        let short = leaf(&ca, &["127.0.0.2"], |p| {
            p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(10);
        });
        let worker = raylet("127.0.0.2", &short, &ca);
        let gcs = gcs_with(&head, &ca, Nodes::These(vec![alive(2, &worker)]));
        let run = all_nodes(&files, &gcs, true, &[]);
        assert_eq!(run.code, 0, "{}", run.stdout);
        let run = all_nodes(&files, &gcs, true, &["--min-days-left", "30"]);
        assert_eq!(run.code, 1, "{}", run.stdout);
        let n = &node_objects(&run)[0];
        assert_eq!(n["cause"], "expires_soon");
        let msg = n["message"].as_str().unwrap_or_default();
        assert!(msg.contains("within --min-days-left 30"), "{msg}");
    }

    #[test]
    fn raylet_that_refuses_our_client_certificate_is_named() {
        let (ca, head, files) = ray_like();
        let other = super::ca("raytls CA other 7a7a");
        // The raylet's own certificate is fine, but it trusts only another CA.
        let worker = fake_gcs_at(
            "127.0.0.2:0",
            server_config(&leaf(&ca, &["127.0.0.2"], |_| {}), &other),
            Gcs {
                ray: false,
                ..Gcs::default()
            },
        )
        .expect("bind");
        let gcs = gcs_with(&head, &ca, Nodes::These(vec![alive(2, &worker)]));
        let run = all_nodes(&files, &gcs, true, &[]);
        assert_eq!(run.code, 1, "{}", run.stdout);
        let n = &node_objects(&run)[0];
        assert_eq!(n["cause"], "client_cert_rejected", "{n}");
        assert_eq!(n["covers_address"], true);
    }

    #[test]
    fn regression_hostile_node_names_and_death_messages_cannot_forge_lines() {
        let (ca, head, files) = ray_like();
        let good = raylet("127.0.0.1", &leaf(&ca, &["127.0.0.1"], |_| {}), &ca);
        let mut a = alive(1, &good);
        a.node_name = "\x1b[2K\rOK node 02020202 127.0.0.2:1 alive: fine".into();
        let mut d = dead(
            2,
            "127.0.0.2",
            free_port(),
            1,
            "\x1b[1A\rOK all healthy\u{202e}",
        );
        d.node_name = "x\ny".into();
        let gcs = gcs_with(&head, &ca, Nodes::These(vec![a, d]));
        let run = all_nodes(&files, &gcs, false, &[]);
        assert_eq!(run.code, 0, "{}", run.stdout);
        assert!(
            !run.stdout.contains(['\x1b', '\r', '\u{202e}']),
            "{:?}",
            run.stdout
        );
        assert_eq!(run.stdout.lines().count(), 4, "{:?}", run.stdout);
        assert!(
            run.stdout.contains("\"\\x1b[2K\\x0dOK node 02020202"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains("\\x1b[1A\\x0dOK all healthy\\u{202e}"),
            "{}",
            run.stdout
        );
        // JSON carries the text as sent, encoded by JSON.
        let run = all_nodes(&files, &gcs, true, &[]);
        let nodes = node_objects(&run);
        assert_eq!(nodes[1]["death_message"], "\x1b[1A\rOK all healthy\u{202e}");
        assert_eq!(nodes[1]["node_name"], "x\ny");
    }

    #[test]
    fn bad_gcs_replies_fail_without_a_panic() {
        let (ca, head, files) = ray_like();
        // Not even protobuf: the whole reply fails to decode.
        let garbage = gcs_with(&head, &ca, Nodes::Raw(vec![vec![0xff, 0xff, 0xff, 0x07]]));
        let run = all_nodes(&files, &garbage, true, &[]);
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        assert!(!run.stderr.contains("panic"), "{}", run.stderr);
        assert_eq!(run.cause(), "grpc_error");
        assert!(
            run.message().contains("GetAllNodeInfo"),
            "{}",
            run.message()
        );

        // Well-formed, with addresses nobody can dial.
        let mut no_port = node(1, "127.0.0.1", 0, true);
        no_port.node_id.clear();
        let mut huge_port = node(2, "127.0.0.1", 1, true);
        huge_port.node_manager_port = 70000;
        let hostile = node(3, "bad host\x1b[2K", 1, true);
        let gcs = gcs_with(&head, &ca, Nodes::These(vec![no_port, huge_port, hostile]));
        let run = all_nodes(&files, &gcs, false, &[]);
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        assert!(!run.stdout.contains('\x1b'), "{:?}", run.stdout);
        assert_eq!(
            run.stdout.matches(" bad_node_address: ").count(),
            3,
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains(
                "FAIL node ? 127.0.0.1:0 alive bad_node_address: node-manager port 0 is not a port"
            ),
            "{}",
            run.stdout
        );

        // A GCS without GetAllNodeInfo.
        let old = gcs_with(&head, &ca, Nodes::Unimplemented);
        let run = all_nodes(&files, &old, false, &[]);
        assert_eq!(run.code, 1);
        assert!(
            run.stdout
                .starts_with(&format!("FAIL {} not_ray_gcs: ", old.address())),
            "{}",
            run.stdout
        );
        assert!(run.stdout.ends_with("no nodes checked\n"), "{}", run.stdout);
    }

    /// `count` copies of `node` in GetAllNodeInfo, all sent whatever `limit` asks.
    fn gcs_listing(head: &Leaf, ca: &Ca, count: usize, node: GcsNodeInfo) -> Server {
        gcs_with(
            head,
            ca,
            Nodes::Many {
                count,
                node,
                honor_limit: false,
            },
        )
    }

    /// As [`all_nodes`] (text), after a shell prefix, killed (and the test failed) if still
    /// running after `limit`. Its output must stay under a pipe's 64 KB.
    fn all_nodes_within(
        files: &Files,
        gcs: &Server,
        prefix: &str,
        extra: &[&str],
        limit: Duration,
    ) -> crate::util::Output {
        let ws = crate::util::Workspace::new();
        let home = tempfile::tempdir().expect("home");
        let mut a = vec![
            "health-check".to_string(),
            "--address".into(),
            gcs.address(),
            "--all-nodes".into(),
        ];
        a.extend(files.flags());
        a.extend(extra.iter().map(|s| s.to_string()));
        ws.raytls(a)
            .env("HOME", home.path())
            .shell_prefix(prefix)
            .run_within(limit)
    }

    /// The summary: the last line.
    fn summary_line(stdout: &str) -> &str {
        stdout.lines().last().unwrap_or_default()
    }

    #[test]
    fn regression_all_nodes_unbounded_node_list() {
        // A GCS listing 50,000 empty entries (100 KB on the wire). Before, every entry
        // became a task, a report and a line (bad_node_address): 50,000 lines, a summary line
        // naming all 50,000, and memory growing with the list (1,000,000 entries: 14.5 GB).
        let (ca, head, files) = ray_like();
        let gcs = gcs_listing(&head, &ca, 50_000, GcsNodeInfo::default());
        let run = all_nodes(&files, &gcs, false, &[]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.stdout.len() < 2048, "{} bytes", run.stdout.len());
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{}", run.stdout);
        assert!(
            lines[0].starts_with(&format!("FAIL {} too_many_nodes: ", gcs.address())),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].contains("lists 50,000 nodes (alive and dead), more than --max-nodes 10,000"),
            "{}",
            lines[0]
        );
        assert!(lines[1].ends_with("no nodes checked"), "{}", lines[1]);

        // --json: the GCS's object only, with the count.
        let run = all_nodes(&files, &gcs, true, &[]);
        assert_eq!(run.code, 1);
        assert_eq!(run.json().len(), 1, "{}", run.stdout);
        assert_eq!(run.cause(), "too_many_nodes");
        assert!(run.message().contains("50,000 nodes"), "{}", run.message());

        // The cap from --max-nodes or RAYTLS_MAX_NODES: at the cap, every node is checked.
        let small = gcs_listing(&head, &ca, 4, GcsNodeInfo::default());
        let mut a = vec![
            "--address".to_string(),
            small.address(),
            "--all-nodes".into(),
        ];
        a.extend(files.flags());
        let run = health_check(&a, &[("RAYTLS_MAX_NODES", "3")]);
        assert_eq!(run.code, 1);
        assert!(
            run.stdout
                .contains("lists 4 nodes (alive and dead), more than --max-nodes 3"),
            "{}",
            run.stdout
        );
        let run = all_nodes(&files, &small, false, &["--max-nodes", "4"]);
        assert_eq!(run.code, 1);
        assert_eq!(
            run.stdout.matches(" bad_node_address: ").count(),
            4,
            "{}",
            run.stdout
        );

        // A GCS that honours the `limit` we send (Ray does) and says how many it has.
        let ray = gcs_with(
            &head,
            &ca,
            Nodes::Many {
                count: 250_000,
                node: GcsNodeInfo::default(),
                honor_limit: true,
            },
        );
        let run = all_nodes(&files, &ray, true, &["--max-nodes", "20"]);
        assert_eq!(run.cause(), "too_many_nodes");
        assert!(
            run.message()
                .contains("has 250,000 nodes (alive and dead), more than --max-nodes 20"),
            "{}",
            run.message()
        );
    }

    #[test]
    fn regression_all_nodes_silent_nodes_end_at_the_deadline() {
        // 300 nodes that accept TCP and never answer, 16 checks at once (`ulimit -n 64`),
        // --timeout 1s. Before, every one waited its turn: ceil(300/16) x 1 s, and 100,000
        // such nodes took over half an hour at 5 s. Now the node checks end after 4 x
        // --timeout; a node whose turn comes later is counted as not checked.
        let (ca, head, files) = ray_like();
        let silent = silent_tcp();
        let node = fake_gcs::node_at(silent.addr);
        let gcs = gcs_listing(&head, &ca, 300, node.clone());
        // Far above the 4 s deadline plus the GCS's own checks; far below the 19 s of old.
        let limit = Duration::from_secs(60);
        let out = all_nodes_within(&files, &gcs, "ulimit -n 64", &["--timeout", "1s"], limit);
        assert_eq!(
            out.code, 1,
            "{}
{}",
            out.stdout, out.stderr
        );
        let timed_out = out.stdout.matches(" alive timeout: ").count();
        let summary = summary_line(&out.stdout);
        assert!(summary.starts_with("300 nodes (300 alive): "), "{summary}");
        assert!(
            summary.ends_with(
                " not checked: the node checks' deadline (4 x --timeout 1s = 4s) passed first"
            ),
            "{summary}"
        );
        let not_checked: usize = summary
            .rsplit("; ")
            .next()
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in {summary}"));
        // At least one round of 16 was checked (and timed out); the rest was not dialed.
        assert!(timed_out >= 16, "{}", out.stdout);
        assert!(not_checked > 0, "{summary}");
        assert_eq!(timed_out + not_checked, 300, "{summary}");
        assert!(
            summary.contains(&format!("{timed_out} failing: ")),
            "{summary}"
        );

        // --json: an object per node, those not reached with verdict and cause not_checked.
        let gcs = gcs_listing(&head, &ca, 60, node);
        let mut a = vec!["--address".to_string(), gcs.address(), "--all-nodes".into()];
        a.extend(["--json".into(), "--timeout".into(), "1s".into()]);
        a.extend(files.flags());
        let run = health_check_in(Some("ulimit -n 64"), &a, &[]);
        assert_eq!(run.code, 1);
        let nodes = node_objects(&run);
        assert_eq!(nodes.len(), 60, "{}", run.stdout);
        let unchecked: Vec<_> = nodes
            .iter()
            .filter(|n| n["verdict"] == "not_checked")
            .collect();
        assert!(!unchecked.is_empty(), "{}", run.stdout);
        for n in &unchecked {
            assert_eq!(n["cause"], "not_checked");
            assert_eq!(n["answered"], false);
            assert!(
                n["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("deadline (4 x --timeout 1s = 4s)")),
                "{n}"
            );
        }
        assert!(nodes
            .iter()
            .all(|n| n["verdict"] == "not_checked" || n["cause"] == "timeout"));
    }

    #[test]
    fn regression_all_nodes_summary_names_the_first_failures_and_counts_the_rest() {
        // 25 nodes where nothing listens. Before, the summary named all 25 (and 200,000 named
        // 200,000 in one 23 MB line); now the first 10, then how many more.
        let (ca, head, files) = ray_like();
        let refused = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let gcs = gcs_listing(&head, &ca, 25, fake_gcs::node_at(refused));
        let run = all_nodes(&files, &gcs, false, &[]);
        assert_eq!(run.code, 1);
        assert_eq!(
            run.stdout.matches(" alive connection_refused: ").count(),
            25,
            "{}",
            run.stdout
        );
        let summary = summary_line(&run.stdout);
        assert!(
            summary.starts_with("25 nodes (25 alive): 25 failing: "),
            "{summary}"
        );
        assert_eq!(
            summary
                .matches(&format!("{refused} (connection_refused)"))
                .count(),
            10,
            "{summary}"
        );
        assert!(summary.ends_with(" and 15 more"), "{summary}");
    }

    #[test]
    fn all_nodes_usage_errors() {
        let (_ca, _head, files) = ray_like();
        let mut a = args(&[
            "--address",
            "127.0.0.1:1",
            "--address",
            "127.0.0.1:2",
            "--all-nodes",
        ]);
        a.extend(files.flags());
        let run = health_check(&a, &[]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("give one --address"), "{}", run.stderr);
        let mut a = args(&["--address", "127.0.0.1:1", "--min-days-left", "3"]);
        a.extend(files.flags());
        assert_eq!(health_check(&a, &[]).code, 2);
        let mut a = args(&[
            "--address",
            "127.0.0.1:1",
            "--all-nodes",
            "--expect-cert",
            "x",
        ]);
        a.extend(files.flags());
        assert_eq!(health_check(&a, &[]).code, 2);
        for bad in ["0", "100001", "-1", "lots"] {
            let flag = format!("--max-nodes={bad}");
            let mut a = args(&["--address", "127.0.0.1:1", "--all-nodes", &flag]);
            a.extend(files.flags());
            let run = health_check(&a, &[]);
            assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
            assert!(run.stderr.contains("--max-nodes"), "{}", run.stderr);
        }
    }
}

/// CA rotation: a bundle that still lists an old root past its expiry is usable while
/// another root is valid (the check goes on, against the valid one); a file of only expired
/// roots is a local error, as before.
#[test]
fn a_bundle_with_an_expired_old_root_still_checks_against_the_valid_one() {
    let (ca, head, files) = ray_like();
    let old = Ca::new(
        "raytls old CA",
        crate::util::now() - crate::util::days(3650),
        crate::util::now() - crate::util::days(1),
    );
    files.write("bundle.crt", &format!("{}{}", old.cert_pem, ca.cert_pem));
    files.write("old.crt", &old.cert_pem);
    let gcs = fake_gcs(server_config(&head, &ca), Gcs::default());
    let mut a = vec!["--address".to_string(), gcs.address(), "--json".into()];
    a.extend(files.flags_with_ca("bundle.crt"));
    let run = health_check(&a, &[]);
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    let mut a = vec!["--address".to_string(), gcs.address(), "--json".into()];
    a.extend(files.flags_with_ca("old.crt"));
    let run = health_check(&a, &[]);
    assert_eq!(run.code, 2, "{} {}", run.stdout, run.stderr);
    assert!(run.stderr.contains("expired"), "{}", run.stderr);
}

/// `--and-gcs`: the GCS-FT head's liveness probe: the certificate must match AND the GCS
/// must answer; without it `--expect-cert` ends at the handshake (any Ray gRPC port).
#[test]
fn expect_cert_and_gcs_checks_the_gcs_after_the_certificate() {
    let (ca, head, files) = ray_like();
    let on_disk = files.write("served.crt", &head.pem);
    let gcs = fake_gcs(server_config(&head, &ca), Gcs::default());
    let run = health_check(
        &with(
            &files,
            &gcs,
            &["--expect-cert", &path_str(&on_disk), "--and-gcs"],
        ),
        &[],
    );
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert_eq!(run.json()[0]["ray_version"], "2.60.0", "{}", run.stdout);
    // A stale certificate still fails first.
    let renewed = files.write("renewed.crt", &default_leaf(&ca).pem);
    let run = health_check(
        &with(
            &files,
            &gcs,
            &["--expect-cert", &path_str(&renewed), "--and-gcs"],
        ),
        &[],
    );
    assert_failure(&run, "stale_certificate", &["serves another certificate"]);
    // Right certificate, but no GCS behind it: only --and-gcs notices.
    let not_gcs = http1_over_tls(server_config(&head, &ca));
    let run = health_check(
        &with(&files, &not_gcs, &["--expect-cert", &path_str(&on_disk)]),
        &[],
    );
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    let run = health_check(
        &with(
            &files,
            &not_gcs,
            &["--expect-cert", &path_str(&on_disk), "--and-gcs"],
        ),
        &[],
    );
    assert_eq!(run.code, 1, "{} {}", run.stdout, run.stderr);
    // --and-gcs alone means nothing.
    let run = health_check(&with(&files, &gcs, &["--and-gcs"]), &[]);
    assert_eq!(run.code, 2, "{} {}", run.stdout, run.stderr);
}
