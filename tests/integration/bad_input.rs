//! Bad input: each case fails with one stderr line naming the input, a non-zero exit code
//! (2 for malformed values, 1 for unusable files), and leaves no new file anywhere.
use std::fs;
use std::path::{Path, PathBuf};

use crate::openssl::openssl_ca;
use crate::util::{days, is_root, now, openssl, s, set_mode, Output, RcgenCa, Workspace};

/// Run `raytls args` with `env` and assert it was rejected naming `needle` with `code`,
/// and that the workspace holds exactly the files it held before.
#[track_caller]
fn assert_rejected(
    ws: &Workspace,
    args: &[&str],
    env: &[(&str, &str)],
    code: i32,
    needle: &str,
) -> Output {
    let before = ws.files();
    let mut cmd = ws.raytls(args);
    for (k, v) in env {
        cmd = cmd.env(k, *v);
    }
    let o = cmd.run();
    o.expect_code(code).fails_naming(needle);
    assert_eq!(o.files, before, "the run left files behind: {o:#?}");
    o
}

fn issue_worker<'a>(ca: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["issue", "worker", "--ca", s(ca), "--out", "out"];
    v.extend_from_slice(extra);
    v
}

fn issue_with_files<'a>(cert: &'a Path, key: &'a Path) -> Vec<&'a str> {
    vec![
        "issue",
        "worker",
        "--ca-cert",
        s(cert),
        "--ca-key",
        s(key),
        "--out",
        "out",
        "--pod-ip",
        "10.0.0.7",
    ]
}

// ---- pod IP ----

#[test]
fn regression_empty_pod_ip() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    for role in ["head", "worker"] {
        let mut args = issue_worker(&ca, &[]);
        args[1] = role;
        assert_rejected(&ws, &args, &[("POD_IP", "")], 2, "POD_IP");
    }
    let out = ws.join("out");
    let init = ["init", "worker", "--ca", s(&ca), "--out", s(&out)];
    assert_rejected(&ws, &init, &[("POD_IP", "")], 2, "POD_IP");
}

#[test]
fn garbage_pod_ip() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let o = assert_rejected(
        &ws,
        &issue_worker(&ca, &[]),
        &[("POD_IP", "not-an-ip")],
        2,
        "POD_IP",
    );
    assert!(o.stderr.contains("not-an-ip"), "{o:#?}");
}

#[test]
fn out_of_range_pod_ip() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let o = assert_rejected(
        &ws,
        &issue_worker(&ca, &["--pod-ip", "10.0.0.256"]),
        &[],
        2,
        "--pod-ip",
    );
    assert!(o.stderr.contains("10.0.0.256"), "{o:#?}");
    assert_rejected(
        &ws,
        &issue_worker(&ca, &[]),
        &[("POD_IP", "10.0.0.256")],
        2,
        "POD_IP",
    );
}

#[test]
fn loopback_pod_ip() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    for ip in ["127.0.0.1", "::1"] {
        let o = assert_rejected(&ws, &issue_worker(&ca, &[]), &[("POD_IP", ip)], 2, "POD_IP");
        assert!(o.stderr.contains("loopback"), "{o:#?}");
    }
}

// ---- DNS names ----

fn bad_dns_names() -> Vec<String> {
    vec![
        "has space.example.com".into(),
        "under_score.svc".into(),
        format!("{}.example.com", "a".repeat(64)),
        "a.*.b".into(),
    ]
}

#[test]
fn bad_dns_name_in_san() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    for name in bad_dns_names() {
        let o = assert_rejected(
            &ws,
            &issue_worker(&ca, &["--pod-ip", "10.0.0.7", "--san", &name]),
            &[],
            2,
            "--san",
        );
        assert!(o.stderr.contains(&name), "{o:#?}");
    }
}

#[test]
fn bad_dns_name_in_fqdn() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    for name in bad_dns_names() {
        let mut args = issue_worker(&ca, &["--pod-ip", "10.0.0.7", "--fqdn", &name]);
        args[1] = "head";
        let o = assert_rejected(&ws, &args, &[], 2, "--fqdn");
        assert!(o.stderr.contains(&name), "{o:#?}");
        // The same name from the environment names the env var.
        let mut args = issue_worker(&ca, &["--pod-ip", "10.0.0.7"]);
        args[1] = "head";
        assert_rejected(&ws, &args, &[("FQ_RAY_IP", &name)], 2, "FQ_RAY_IP");
    }
}

// ---- the CA ----

#[test]
fn ca_dir_missing() {
    let ws = Workspace::new();
    let missing = ws.join("no-such-ca");
    assert_rejected(
        &ws,
        &issue_worker(&missing, &["--pod-ip", "10.0.0.7"]),
        &[],
        1,
        "no-such-ca",
    );
    let out = ws.join("out");
    assert_rejected(
        &ws,
        &["init", "worker", "--ca", s(&missing), "--out", s(&out)],
        &[("POD_IP", "10.0.0.7")],
        1,
        "no-such-ca",
    );
}

#[test]
fn ca_cert_file_missing() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let missing = ws.join("missing.crt");
    assert_rejected(
        &ws,
        &issue_with_files(&missing, &ca.join("ca.key")),
        &[],
        1,
        "missing.crt",
    );
}

/// A CA dir whose ca.key is replaced by `contents`; asserts the error names ca.key.
#[track_caller]
fn rejects_ca_key(contents: &[u8], also: &str) {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    fs::write(ca.join("ca.key"), contents).unwrap();
    let o = assert_rejected(
        &ws,
        &issue_worker(&ca, &["--pod-ip", "10.0.0.7"]),
        &[],
        1,
        "ca.key",
    );
    assert!(o.stderr.contains(also), "{also:?} missing: {o:#?}");
}

#[test]
fn ca_key_is_a_certificate() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    rejects_ca_key(&crate::util::read(&ca.join("ca.crt")), "certificate");
}

#[test]
fn ca_key_is_a_csr() {
    let ws = Workspace::new();
    ws.make_ca("ca");
    openssl(
        ws.path(),
        [
            "req",
            "-new",
            "-key",
            "ca/ca.key",
            "-subj",
            "/CN=csr",
            "-out",
            "req.csr",
        ],
    )
    .ok();
    rejects_ca_key(&crate::util::read(&ws.join("req.csr")), "CSR");
}

#[test]
fn ca_key_is_garbage_text() {
    rejects_ca_key(b"this is not a key\n", "ca.key");
}

#[test]
fn ca_key_is_empty() {
    rejects_ca_key(b"", "empty");
}

#[test]
fn ca_key_is_encrypted() {
    let ws = Workspace::new();
    ws.make_ca("ca");
    openssl(
        ws.path(),
        [
            "pkey",
            "-in",
            "ca/ca.key",
            "-aes256",
            "-passout",
            "pass:secret",
            "-out",
            "enc.key",
        ],
    )
    .ok();
    rejects_ca_key(&crate::util::read(&ws.join("enc.key")), "encrypted");
}

#[test]
fn ed25519_ca_key_mentions_ray() {
    let ws = Workspace::new();
    let ca = openssl_ca(&ws, "ca", "ed25519");
    let o = assert_rejected(
        &ws,
        &issue_worker(&ca, &["--pod-ip", "10.0.0.7"]),
        &[],
        1,
        "ca.key",
    );
    assert!(o.stderr.contains("Ray"), "{o:#?}");
}

#[test]
fn ca_key_does_not_match_ca_cert() {
    let ws = Workspace::new();
    let a = ws.make_ca("a");
    let b = ws.make_ca("b");
    let o = assert_rejected(
        &ws,
        &issue_with_files(&a.join("ca.crt"), &b.join("ca.key")),
        &[],
        1,
        "b/ca.key",
    );
    assert!(o.stderr.contains("a/ca.crt"), "{o:#?}");
}

#[test]
fn leaf_is_not_a_ca() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let leaf = ws.issue("worker", &ca, "leaf", &["--pod-ip", "10.0.0.7"]);
    let o = assert_rejected(
        &ws,
        &issue_with_files(&leaf.join("tls.crt"), &leaf.join("tls.key")),
        &[],
        1,
        "tls.crt",
    );
    assert!(o.stderr.contains("not a CA"), "{o:#?}");
}

#[test]
fn expired_ca() {
    let ws = Workspace::new();
    let ca = ws.join("ca");
    RcgenCa::new("expired CA", now() - days(400), now() - days(35)).write_to(&ca);
    let o = assert_rejected(
        &ws,
        &issue_worker(&ca, &["--pod-ip", "10.0.0.7"]),
        &[],
        1,
        "ca.crt",
    );
    assert!(o.stderr.contains("expired"), "{o:#?}");
}

// ---- the output ----

/// The workspace and CA made readable to nobody, and an existing 0555 dir.
fn read_only_out(ws: &Workspace) -> (PathBuf, PathBuf) {
    let ca = ws.make_ca("ca");
    set_mode(ws.path(), 0o755);
    set_mode(&ca, 0o755);
    set_mode(&ca.join("ca.key"), 0o644);
    let ro = ws.join("ro");
    fs::create_dir(&ro).unwrap();
    set_mode(&ro, 0o555);
    (ca, ro)
}

#[test]
fn output_dir_not_writable() {
    // As root, mode bits are ignored: run as nobody so they apply. Not root: they already do.
    let ws = Workspace::new();
    let (ca, ro) = read_only_out(&ws);
    let nested = ro.join("sub");
    for out in [&ro, &nested] {
        let before = ws.files();
        let mut cmd = ws.raytls([
            "issue",
            "worker",
            "--ca",
            s(&ca),
            "--out",
            s(out),
            "--pod-ip",
            "10.0.0.7",
        ]);
        if is_root() {
            cmd = cmd.nobody();
        }
        let o = cmd.run();
        o.expect_code(1).fails_naming(s(&ro));
        assert_eq!(o.files, before, "{o:#?}");
    }
    // Same for init.
    let before = ws.files();
    let mut cmd = ws
        .raytls(["init", "worker", "--ca", s(&ca), "--out", s(&ro)])
        .env("POD_IP", "10.0.0.7");
    if is_root() {
        cmd = cmd.nobody();
    }
    let o = cmd.run();
    o.expect_code(1).fails_naming(s(&ro));
    assert_eq!(o.files, before, "{o:#?}");
}

#[test]
fn unknown_flag_and_role_are_usage_errors() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    assert_rejected(&ws, &issue_worker(&ca, &["--bogus"]), &[], 2, "--bogus");
    let mut args = issue_worker(&ca, &["--pod-ip", "10.0.0.7"]);
    args[1] = "queen";
    assert_rejected(&ws, &args, &[], 2, "queen");
    assert_rejected(
        &ws,
        &["issue", "worker", "--out", "out", "--pod-ip", "10.0.0.7"],
        &[],
        2,
        "--ca",
    );
}

#[test]
fn regression_ipv4_mapped_loopback_pod_ip() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let o = assert_rejected(
        &ws,
        &issue_worker(&ca, &[]),
        &[("POD_IP", "::ffff:127.0.0.1")],
        2,
        "POD_IP",
    );
    assert!(o.stderr.contains("loopback"), "{o:#?}");
}

#[test]
fn unspecified_and_multicast_pod_ips() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    for ip in [
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "255.255.255.255",
        "fe80::1%eth0",
    ] {
        let o = assert_rejected(&ws, &issue_worker(&ca, &[]), &[("POD_IP", ip)], 2, "POD_IP");
        assert!(o.stderr.contains(ip), "{o:#?}");
    }
}

#[test]
fn ca_key_missing_from_ca_dir() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    fs::remove_file(ca.join("ca.key")).unwrap();
    assert_rejected(
        &ws,
        &issue_worker(&ca, &["--pod-ip", "10.0.0.7"]),
        &[],
        1,
        "ca.key",
    );
}

#[test]
fn empty_san_is_a_usage_error() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    assert_rejected(
        &ws,
        &issue_worker(&ca, &["--pod-ip", "10.0.0.7", "--san", ""]),
        &[],
        2,
        "--san",
    );
}

#[test]
fn regression_unwritable_out_dir_error_names_a_temp_file() {
    let ws = Workspace::new();
    let (ca, ro) = read_only_out(&ws);
    let mut cmd = ws.raytls([
        "issue",
        "worker",
        "--ca",
        s(&ca),
        "--out",
        s(&ro),
        "--pod-ip",
        "10.0.0.7",
    ]);
    if is_root() {
        cmd = cmd.nobody();
    }
    let o = cmd.run();
    o.expect_code(1).fails_naming(s(&ro));
    assert!(!o.stderr.contains(".tmp"), "{o:#?}");
}

#[test]
fn ca_not_yet_valid() {
    let ws = Workspace::new();
    let ca = ws.join("ca");
    RcgenCa::new("future CA", now() + days(2), now() + days(400)).write_to(&ca);
    let o = assert_rejected(
        &ws,
        &issue_worker(&ca, &["--pod-ip", "10.0.0.7"]),
        &[],
        1,
        "ca.crt",
    );
    assert!(o.stderr.contains("not valid until"), "{o:#?}");
}

#[test]
fn ca_without_key_cert_sign() {
    let ws = Workspace::new();
    let ca = openssl_ca(&ws, "ca", "ec-no-keycertsign");
    let o = assert_rejected(
        &ws,
        &issue_worker(&ca, &["--pod-ip", "10.0.0.7"]),
        &[],
        1,
        "ca.crt",
    );
    assert!(o.stderr.contains("keyCertSign"), "{o:#?}");
}

#[test]
fn rsa_1024_ca_key_is_refused() {
    let ws = Workspace::new();
    let ca = openssl_ca(&ws, "ca", "rsa1024");
    let o = assert_rejected(
        &ws,
        &issue_worker(&ca, &["--pod-ip", "10.0.0.7"]),
        &[],
        1,
        "ca.key",
    );
    assert!(o.stderr.contains("2048"), "{o:#?}");
}

// ---- serve --kubernetes --cluster-key ----

/// Issue 24 item 7: `--cluster-key` was checked for its length only, so 32 × `a` became the
/// master key of every cluster CA. A key of low estimated entropy is a usage error naming
/// the file (never the key), before any Kubernetes client is made, and nothing is written
/// (not even the --audit-log file).
#[test]
fn regression_cluster_key_of_one_repeated_character_is_refused() {
    let ws = Workspace::new();
    let ca = ws.make_ca("root");
    let weak = [
        ("a32.key", "a".repeat(32)),
        ("a64.key", "a".repeat(64)),
        ("ab.key", "ab".repeat(16)),
        ("short.key", "0123456789abcdef".to_string()),
    ];
    for (name, key) in &weak {
        fs::write(ws.join(name), format!("{key}\n")).unwrap();
    }
    let missing = ws.join("no-kubeconfig");
    let serve = |key: &str, audit: bool| {
        let mut args = vec![
            "serve".to_string(),
            "--kubernetes".into(),
            "--ca".into(),
            s(&ca).into(),
            "--cluster-key".into(),
            key.into(),
            "--kubeconfig".into(),
            s(&missing).into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        if audit {
            args.extend(["--audit-log".into(), "audit.log".into()]);
        }
        args
    };
    for (name, key) in &weak {
        let args = serve(name, true);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = assert_rejected(&ws, &args, &[("KUBECONFIG", s(&missing))], 2, name);
        assert!(o.stderr.contains("cluster master key"), "{o:#?}");
        assert!(!o.stderr.contains(key.as_str()), "the key itself: {o:#?}");
        assert!(
            !o.stderr.contains("kubeconfig"),
            "checked before the client: {o:#?}"
        );
    }
    // A key from `raytls token generate` passes the check: the next error is the client's.
    ws.run(["token", "generate", "--out", "good.key"]).ok();
    let args = serve("good.key", false);
    let o = ws.raytls(&args).env("KUBECONFIG", s(&missing)).run();
    o.expect_code(2).fails_naming("--kubeconfig");
    assert!(!o.stderr.contains("master key"), "{o:#?}");
}
