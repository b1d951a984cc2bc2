//! `raytls quickstart`: a CA, a head and a worker in one directory, safe to re-run.
use crate::util::{list_dir, mode, sans, snapshot, Workspace};

#[test]
fn quickstart_makes_ca_head_and_worker() {
    let ws = Workspace::new();
    ws.run(["quickstart", "--out", "qs"]).ok();
    let qs = ws.join("qs");
    assert_eq!(list_dir(&qs), ["ca", "head", "worker"]);
    assert_eq!(list_dir(&qs.join("ca")), ["ca.crt", "ca.key"]);
    for d in ["head", "worker"] {
        assert_eq!(
            list_dir(&qs.join(d)),
            ["ca.crt", "ray-tls.env", "tls.crt", "tls.key"],
            "{d}"
        );
        assert_eq!(mode(&qs.join(d).join("tls.key")), 0o600);
    }
    assert_eq!(mode(&qs.join("ca/ca.key")), 0o600);
    assert_eq!(
        sans(&qs.join("head/tls.crt")),
        [
            "localhost",
            "127.0.0.1",
            "192.0.2.10",
            "raycluster-head-svc.default.svc.cluster.local"
        ]
    );
    assert_eq!(
        sans(&qs.join("worker/tls.crt")),
        ["localhost", "127.0.0.1", "192.0.2.11"]
    );
}

#[test]
fn quickstart_twice_keeps_everything() {
    let ws = Workspace::new();
    ws.run(["quickstart", "--out", "qs"]).ok();
    let qs = ws.join("qs");
    let before: Vec<_> = ["ca", "head", "worker"]
        .iter()
        .map(|d| snapshot(&qs.join(d)))
        .collect();
    let o = ws.run(["quickstart", "--out", "qs"]);
    o.ok();
    assert!(o.stdout.contains("kept"), "{o:#?}");
    assert!(!o.stdout.contains("issued"), "{o:#?}");
    let after: Vec<_> = ["ca", "head", "worker"]
        .iter()
        .map(|d| snapshot(&qs.join(d)))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn quickstart_custom_ips() {
    let ws = Workspace::new();
    ws.run([
        "quickstart",
        "--out",
        "qs",
        "--head-ip",
        "10.0.0.5",
        "--worker-ip",
        "10.0.0.6",
    ])
    .ok();
    assert!(sans(&ws.join("qs/head/tls.crt")).contains(&"10.0.0.5".to_string()));
    assert!(sans(&ws.join("qs/worker/tls.crt")).contains(&"10.0.0.6".to_string()));
}

#[test]
fn quickstart_bad_head_ip_is_a_usage_error() {
    let ws = Workspace::new();
    ws.run(["quickstart", "--out", "qs", "--head-ip", "10.0.0.256"])
        .expect_code(2)
        .fails_naming("--head-ip");
    assert!(!ws.join("qs").exists());
}

#[test]
fn quickstart_rerun_with_a_new_head_ip_reissues_only_the_head() {
    let ws = Workspace::new();
    ws.run(["quickstart", "--out", "qs"]).ok();
    let qs = ws.join("qs");
    let ca = snapshot(&qs.join("ca"));
    let worker = snapshot(&qs.join("worker"));
    let head_crt = crate::util::read(&qs.join("head/tls.crt"));
    ws.run(["quickstart", "--out", "qs", "--head-ip", "10.1.1.1"])
        .ok();
    assert_eq!(snapshot(&qs.join("ca")), ca);
    assert_eq!(snapshot(&qs.join("worker")), worker);
    assert_ne!(crate::util::read(&qs.join("head/tls.crt")), head_crt);
    assert!(sans(&qs.join("head/tls.crt")).contains(&"10.1.1.1".to_string()));
}
