//! `raytls init head|worker`: the idempotent init-container flow.
use std::path::{Path, PathBuf};

use crate::util::{
    days, is_root, list_dir, mode, now, rcgen_leaf_into, read, read_string, s, sans, set_mode,
    Output, Workspace,
};

fn init(ws: &Workspace, role: &str, ca: &Path, out: &Path, pod_ip: &str) -> Output {
    ws.raytls(["init", role, "--ca", s(ca), "--out", s(out)])
        .env("POD_IP", pod_ip)
        .env("FQ_RAY_IP", "head-svc.default.svc.cluster.local")
        .run()
}

fn first_line(o: &Output) -> &str {
    o.stdout.lines().next().unwrap_or("")
}

/// A CA and a first `init worker` run into `<ws>/out`.
fn initialised(ws: &Workspace, role: &str) -> (PathBuf, PathBuf) {
    let ca = ws.make_ca("ca");
    let out = ws.join("out");
    let o = init(ws, role, &ca, &out, "10.0.0.7");
    o.ok();
    assert!(first_line(&o).starts_with("issued"), "{o:#?}");
    (ca, out)
}

#[test]
fn init_writes_cert_key_ca_and_env_file() {
    let ws = Workspace::new();
    let (ca, out) = initialised(&ws, "head");
    assert_eq!(
        list_dir(&out),
        ["ca.crt", "ray-tls.env", "tls.crt", "tls.key"]
    );
    assert_eq!(mode(&out.join("tls.key")), 0o600);
    assert_eq!(mode(&out.join("tls.crt")), 0o644);
    assert_eq!(read(&out.join("ca.crt")), read(&ca.join("ca.crt")));
    let env = read_string(&out.join("ray-tls.env"));
    assert!(env.contains("RAY_USE_TLS=1\n"), "{env}");
    for (k, f) in [
        ("RAY_TLS_SERVER_CERT", "tls.crt"),
        ("RAY_TLS_SERVER_KEY", "tls.key"),
        ("RAY_TLS_CA_CERT", "ca.crt"),
    ] {
        assert!(
            env.contains(&format!("{k}={}\n", out.join(f).display())),
            "{k}: {env}"
        );
    }
    assert_eq!(
        sans(&out.join("tls.crt")),
        [
            "localhost",
            "127.0.0.1",
            "10.0.0.7",
            "head-svc.default.svc.cluster.local"
        ]
    );
}

#[test]
fn second_init_keeps_cert_and_key_byte_identical() {
    let ws = Workspace::new();
    let (ca, out) = initialised(&ws, "worker");
    let (crt, key) = (read(&out.join("tls.crt")), read(&out.join("tls.key")));
    let o = init(&ws, "worker", &ca, &out, "10.0.0.7");
    o.ok();
    assert!(first_line(&o).starts_with("kept"), "{o:#?}");
    assert_eq!(read(&out.join("tls.crt")), crt);
    assert_eq!(read(&out.join("tls.key")), key);
}

/// Re-run init and assert it issued a new certificate and key.
#[track_caller]
fn assert_reissued(ws: &Workspace, ca: &Path, out: &Path, pod_ip: &str, reason: &str) {
    let crt = std::fs::read(out.join("tls.crt")).unwrap_or_default();
    let o = init(ws, "worker", ca, out, pod_ip);
    o.ok();
    let line = first_line(&o);
    assert!(line.starts_with("issued"), "{o:#?}");
    assert!(line.contains(reason), "reason {reason:?} missing: {o:#?}");
    assert_ne!(read(&out.join("tls.crt")), crt);
    assert_eq!(mode(&out.join("tls.key")), 0o600);
    assert!(sans(&out.join("tls.crt")).contains(&pod_ip.to_string()));
    // And now it is stable again.
    let again = init(ws, "worker", ca, out, pod_ip);
    assert!(first_line(&again).starts_with("kept"), "{again:#?}");
}

#[test]
fn init_reissues_when_pod_ip_changes() {
    let ws = Workspace::new();
    let (ca, out) = initialised(&ws, "worker");
    assert_reissued(&ws, &ca, &out, "10.0.0.99", "10.0.0.99");
}

#[test]
fn init_reissues_when_key_does_not_match() {
    let ws = Workspace::new();
    let (ca, out) = initialised(&ws, "worker");
    let other = ws.issue("worker", &ca, "other", &["--pod-ip", "10.0.0.7"]);
    std::fs::copy(other.join("tls.key"), out.join("tls.key")).unwrap();
    assert_reissued(&ws, &ca, &out, "10.0.0.7", "key");
}

#[test]
fn init_reissues_when_cert_is_from_another_ca() {
    let ws = Workspace::new();
    let (_, out) = initialised(&ws, "worker");
    let ca2 = ws.make_ca("ca2");
    assert_reissued(&ws, &ca2, &out, "10.0.0.7", "verify");
    assert_eq!(read(&out.join("ca.crt")), read(&ca2.join("ca.crt")));
}

#[test]
fn init_reissues_when_cert_is_garbage() {
    let ws = Workspace::new();
    let (ca, out) = initialised(&ws, "worker");
    std::fs::write(out.join("tls.crt"), "not a certificate\n").unwrap();
    assert_reissued(&ws, &ca, &out, "10.0.0.7", "tls.crt");
}

#[test]
fn init_reissues_when_less_than_a_third_of_the_lifetime_is_left() {
    let ws = Workspace::new();
    let (ca, out) = initialised(&ws, "worker");
    let t = now();
    rcgen_leaf_into(
        &ca,
        &out,
        &["localhost", "127.0.0.1", "10.0.0.7"],
        t - days(300),
        t + days(10),
    );
    assert_reissued(&ws, &ca, &out, "10.0.0.7", "renewal");
}

#[test]
fn init_keeps_a_foreign_cert_with_enough_lifetime_left() {
    // Counterpart of the near-expiry test: the rcgen leaf itself is acceptable.
    let ws = Workspace::new();
    let (ca, out) = initialised(&ws, "worker");
    let t = now();
    rcgen_leaf_into(
        &ca,
        &out,
        &["localhost", "127.0.0.1", "10.0.0.7"],
        t - days(10),
        t + days(300),
    );
    let crt = read(&out.join("tls.crt"));
    let o = init(&ws, "worker", &ca, &out, "10.0.0.7");
    o.ok();
    assert!(first_line(&o).starts_with("kept"), "{o:#?}");
    assert_eq!(read(&out.join("tls.crt")), crt);
}

#[test]
fn init_works_with_a_read_only_ca_dir() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    set_mode(&ca.join("ca.crt"), 0o444);
    set_mode(&ca.join("ca.key"), 0o444);
    set_mode(&ca, 0o555);
    let before = crate::util::snapshot(&ca);
    // As root the mode bits mean nothing; run as nobody so they do.
    let pod = ws.join("pod");
    std::fs::create_dir(&pod).unwrap();
    set_mode(&pod, 0o777);
    set_mode(ws.path(), 0o755);
    let out = pod.join("tls");
    let mut cmd = ws
        .raytls(["init", "worker", "--ca", s(&ca), "--out", s(&out)])
        .env("POD_IP", "10.0.0.7");
    if is_root() {
        cmd = cmd.nobody();
    }
    let o = cmd.run();
    o.ok();
    assert!(first_line(&o).starts_with("issued"), "{o:#?}");
    assert_eq!(
        list_dir(&out),
        ["ca.crt", "ray-tls.env", "tls.crt", "tls.key"]
    );
    assert_eq!(crate::util::snapshot(&ca), before);
    assert_eq!(list_dir(&ca), ["ca.crt", "ca.key"]);
}

#[test]
fn init_refuses_the_client_role() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.join("out");
    init(&ws, "client", &ca, &out, "10.0.0.7")
        .expect_code(2)
        .fails_naming("client");
    assert!(!out.exists());
}

#[test]
fn init_json_says_kept_on_second_run() {
    let ws = Workspace::new();
    let (ca, out) = initialised(&ws, "worker");
    let o = ws
        .raytls(["init", "worker", "--ca", s(&ca), "--out", s(&out), "--json"])
        .env("POD_IP", "10.0.0.7")
        .run();
    o.ok();
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).expect("json");
    assert_eq!(v["action"], "kept", "{v}");
}

#[test]
fn init_reissues_a_server_auth_only_certificate() {
    let ws = Workspace::new();
    let (ca, out) = initialised(&ws, "worker");
    let t = now();
    crate::util::rcgen_leaf_with_eku(
        &ca,
        &out,
        &["localhost", "127.0.0.1", "10.0.0.7"],
        t - days(1),
        t + days(300),
        vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth],
    );
    assert_reissued(&ws, &ca, &out, "10.0.0.7", "TLS client");
}

#[test]
fn init_reissues_an_expired_certificate() {
    let ws = Workspace::new();
    let (ca, out) = initialised(&ws, "worker");
    let t = now();
    rcgen_leaf_into(
        &ca,
        &out,
        &["localhost", "127.0.0.1", "10.0.0.7"],
        t - days(30),
        t - days(1),
    );
    assert_reissued(&ws, &ca, &out, "10.0.0.7", "expired");
}

#[test]
fn init_reissues_when_the_key_is_missing() {
    let ws = Workspace::new();
    let (ca, out) = initialised(&ws, "worker");
    std::fs::remove_file(out.join("tls.key")).unwrap();
    assert_reissued(&ws, &ca, &out, "10.0.0.7", "tls.key");
}

#[test]
fn init_keeps_the_cert_but_restores_a_damaged_ca_copy_and_env_file() {
    let ws = Workspace::new();
    let (ca, out) = initialised(&ws, "worker");
    let (crt, key) = (read(&out.join("tls.crt")), read(&out.join("tls.key")));
    let env = read(&out.join("ray-tls.env"));
    std::fs::write(out.join("ca.crt"), "stale\n").unwrap();
    std::fs::remove_file(out.join("ray-tls.env")).unwrap();
    let o = init(&ws, "worker", &ca, &out, "10.0.0.7");
    o.ok();
    assert!(first_line(&o).starts_with("kept"), "{o:#?}");
    assert_eq!(read(&out.join("tls.crt")), crt);
    assert_eq!(read(&out.join("tls.key")), key);
    assert_eq!(read(&out.join("ca.crt")), read(&ca.join("ca.crt")));
    assert_eq!(read(&out.join("ray-tls.env")), env);
    assert_eq!(mode(&out.join("ray-tls.env")), 0o644);
}

#[test]
fn init_days_zero_is_a_usage_error_and_writes_nothing() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.join("out");
    ws.raytls([
        "init",
        "worker",
        "--ca",
        s(&ca),
        "--out",
        s(&out),
        "--days",
        "0",
    ])
    .env("POD_IP", "10.0.0.7")
    .run()
    .expect_code(2)
    .fails_naming("--days");
    assert!(!out.exists());
}

#[test]
fn init_head_with_ipv6_pod_ip() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.join("out");
    init(&ws, "head", &ca, &out, "fd00::5").ok();
    let got = sans(&out.join("tls.crt"));
    for want in ["localhost", "127.0.0.1", "::1", "fd00::5"] {
        assert!(got.iter().any(|g| g == want), "{want} missing: {got:?}");
    }
    let again = init(&ws, "head", &ca, &out, "fd00::5");
    assert!(first_line(&again).starts_with("kept"), "{again:#?}");
}

#[test]
fn regression_init_leaves_a_world_readable_key() {
    let ws = Workspace::new();
    let (ca, out) = initialised(&ws, "worker");
    set_mode(&out.join("tls.key"), 0o644);
    init(&ws, "worker", &ca, &out, "10.0.0.7").ok();
    assert_eq!(mode(&out.join("tls.key")), 0o600);
}

#[test]
fn init_out_path_that_is_a_file_is_an_error() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.join("not-a-dir");
    std::fs::write(&out, "x").unwrap();
    let before = ws.files();
    let o = init(&ws, "worker", &ca, &out, "10.0.0.7");
    o.expect_code(1).fails_naming("not-a-dir");
    assert_eq!(o.files, before);
}

#[test]
fn init_reads_its_dirs_from_raytls_env_vars() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.join("from-env");
    ws.raytls(["init", "worker"])
        .env("RAYTLS_CA_DIR", &ca)
        .env("RAYTLS_OUT_DIR", &out)
        .env("POD_IP", "10.0.0.7")
        .run()
        .ok();
    assert_eq!(
        list_dir(&out),
        ["ca.crt", "ray-tls.env", "tls.crt", "tls.key"]
    );
}
