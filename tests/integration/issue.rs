//! `raytls issue head|worker|client`: files, modes, SANs by role, leaf extensions, validity.
use crate::util::{days, list_dir, mode, now, s, sans, snapshot, validity, x509_text, Workspace};

#[test]
fn issue_writes_cert_key_and_ca_copy_with_modes() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.issue("worker", &ca, "w", &["--pod-ip", "10.0.0.7"]);
    assert_eq!(list_dir(&out), ["ca.crt", "tls.crt", "tls.key"]);
    assert_eq!(mode(&out.join("tls.crt")), 0o644);
    assert_eq!(mode(&out.join("tls.key")), 0o600);
    assert_eq!(mode(&out.join("ca.crt")), 0o644);
    assert_eq!(
        crate::util::read(&out.join("ca.crt")),
        crate::util::read(&ca.join("ca.crt"))
    );
}

#[test]
fn head_sans_are_localhost_loopback_pod_ip_fqdn_ray_ip_and_extras() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.issue(
        "head",
        &ca,
        "h",
        &[
            "--pod-ip",
            "10.0.0.5",
            "--fqdn",
            "raycluster-head-svc.default.svc.cluster.local",
            "--ray-ip",
            "raycluster-head-svc",
            "--san",
            "extra.example.com",
            "--san",
            "192.0.2.1",
        ],
    );
    assert_eq!(
        sans(&out.join("tls.crt")),
        [
            "localhost",
            "127.0.0.1",
            "10.0.0.5",
            "raycluster-head-svc.default.svc.cluster.local",
            "raycluster-head-svc",
            "extra.example.com",
            "192.0.2.1"
        ]
    );
}

#[test]
fn head_sans_from_env_fallbacks() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    ws.raytls(["issue", "head", "--ca", s(&ca), "--out", "h"])
        .env("POD_IP", "10.1.2.3")
        .env("FQ_RAY_IP", "head-svc.ns.svc.cluster.local")
        .env("RAY_IP", "head-svc")
        .run()
        .ok();
    assert_eq!(
        sans(&ws.join("h/tls.crt")),
        [
            "localhost",
            "127.0.0.1",
            "10.1.2.3",
            "head-svc.ns.svc.cluster.local",
            "head-svc"
        ]
    );
}

#[test]
fn worker_sans_ignore_fqdn() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    ws.raytls([
        "issue",
        "worker",
        "--ca",
        s(&ca),
        "--out",
        "w",
        "--san",
        "w1.example.com",
    ])
    .env("POD_IP", "10.0.0.7")
    .env("FQ_RAY_IP", "head-svc.ns.svc.cluster.local")
    .env("RAY_IP", "head-svc")
    .run()
    .ok();
    assert_eq!(
        sans(&ws.join("w/tls.crt")),
        ["localhost", "127.0.0.1", "10.0.0.7", "w1.example.com"]
    );
}

#[test]
fn client_sans_are_only_the_extras() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.issue("client", &ca, "c", &["--san", "submitter.example.com"]);
    assert_eq!(sans(&out.join("tls.crt")), ["submitter.example.com"]);
    // A client needs no pod IP and gets none from the environment either.
    ws.raytls(["issue", "client", "--ca", s(&ca), "--out", "c2"])
        .env("POD_IP", "10.0.0.9")
        .run()
        .ok();
    assert!(sans(&ws.join("c2/tls.crt")).is_empty());
}

#[test]
fn ipv6_pod_ip_adds_ipv6_loopback() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.issue("worker", &ca, "w", &["--pod-ip", "fd00::7"]);
    let got = sans(&out.join("tls.crt"));
    for want in ["localhost", "127.0.0.1", "::1", "fd00::7"] {
        assert!(got.iter().any(|g| g == want), "{want} missing from {got:?}");
    }
}

#[test]
fn leaf_extensions_are_what_ray_needs() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.issue("head", &ca, "h", &["--pod-ip", "10.0.0.5"]);
    let text = x509_text(&out.join("tls.crt"));
    assert!(
        text.contains("X509v3 Basic Constraints: critical\n                CA:FALSE"),
        "{text}"
    );
    assert!(
        text.contains("X509v3 Key Usage: critical\n                Digital Signature\n"),
        "{text}"
    );
    assert!(
        text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
        "{text}"
    );
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
    // The AKI is the CA's SKI.
    let ca_text = x509_text(&ca.join("ca.crt"));
    let ski = |t: &str, header: &str| {
        let mut lines = t.lines();
        lines.find(|l| l.contains(header)).expect(header);
        lines.next().unwrap().trim().to_string()
    };
    assert_eq!(
        ski(&text, "Authority Key Identifier"),
        ski(&ca_text, "Subject Key Identifier")
    );
}

#[test]
fn leaf_not_before_is_a_few_minutes_in_the_past_and_default_is_365_days() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let t0 = now();
    let out = ws.issue("worker", &ca, "w", &["--pod-ip", "10.0.0.7"]);
    let (nb, na) = validity(&out.join("tls.crt"));
    assert!(
        nb < t0 - time::Duration::minutes(1),
        "notBefore {nb} vs {t0}"
    );
    assert!(nb > t0 - time::Duration::hours(1), "notBefore {nb} vs {t0}");
    assert!(na > t0 + days(364) && na < t0 + days(366), "notAfter {na}");
}

#[test]
fn explicit_days_sets_validity() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let t0 = now();
    let out = ws.issue(
        "worker",
        &ca,
        "w",
        &["--pod-ip", "10.0.0.7", "--days", "10"],
    );
    let (_, na) = validity(&out.join("tls.crt"));
    assert!(na > t0 + days(9) && na < t0 + days(11), "notAfter {na}");
}

#[test]
fn default_validity_is_clamped_to_a_ca_expiring_sooner_with_a_note() {
    let ws = Workspace::new();
    let ca = ws.make_ca_with("ca", &["--days", "30"]);
    let out = ws
        .raytls([
            "issue",
            "worker",
            "--ca",
            s(&ca),
            "--out",
            "w",
            "--pod-ip",
            "10.0.0.7",
        ])
        .run();
    out.ok();
    assert!(out.stderr.contains("note"), "{out:#?}");
    let (_, leaf_na) = validity(&ws.join("w/tls.crt"));
    let (_, ca_na) = validity(&ca.join("ca.crt"));
    assert!(leaf_na <= ca_na, "leaf {leaf_na} outlives CA {ca_na}");
    assert!(leaf_na > now() + days(29));
}

#[test]
fn explicit_days_beyond_the_ca_is_an_error() {
    let ws = Workspace::new();
    let ca = ws.make_ca_with("ca", &["--days", "30"]);
    let out = ws.run([
        "issue",
        "worker",
        "--ca",
        s(&ca),
        "--out",
        "w",
        "--pod-ip",
        "10.0.0.7",
        "--days",
        "60",
    ]);
    out.fails_naming("--days");
    assert!(!ws.join("w").exists(), "{out:#?}");
}

#[test]
fn days_zero_is_a_usage_error() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.run([
        "issue",
        "worker",
        "--ca",
        s(&ca),
        "--out",
        "w",
        "--pod-ip",
        "10.0.0.7",
        "--days",
        "0",
    ]);
    out.expect_code(2).fails_naming("--days");
    assert!(!ws.join("w").exists(), "{out:#?}");
}

#[test]
fn p384_leaf_key() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.issue(
        "worker",
        &ca,
        "w",
        &["--pod-ip", "10.0.0.7", "--key-type", "ecdsa-p384"],
    );
    assert!(x509_text(&out.join("tls.crt")).contains("NIST CURVE: P-384"));
}

#[test]
fn ca_cert_and_ca_key_flags_work_like_ca_dir() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    ws.run([
        "issue",
        "worker",
        "--ca-cert",
        s(&ca.join("ca.crt")),
        "--ca-key",
        s(&ca.join("ca.key")),
        "--out",
        "w",
        "--pod-ip",
        "10.0.0.7",
    ])
    .ok();
    assert_eq!(list_dir(&ws.join("w")), ["ca.crt", "tls.crt", "tls.key"]);
}

#[test]
fn existing_files_are_kept_without_force_and_replaced_with_it() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.issue("worker", &ca, "w", &["--pod-ip", "10.0.0.7"]);
    let before = snapshot(&out);
    let args = [
        "issue",
        "worker",
        "--ca",
        s(&ca),
        "--out",
        "w",
        "--pod-ip",
        "10.0.0.8",
    ];
    ws.run(args).expect_code(1).fails_naming("--force");
    assert_eq!(snapshot(&out), before);
    let mut forced = args.to_vec();
    forced.push("--force");
    ws.run(forced).ok();
    let after = snapshot(&out);
    assert_ne!(after["tls.crt"], before["tls.crt"]);
    assert_ne!(after["tls.key"], before["tls.key"]);
    assert!(sans(&out.join("tls.crt")).contains(&"10.0.0.8".to_string()));
    assert_eq!(mode(&out.join("tls.key")), 0o600);
}

#[test]
fn issue_json_is_parseable() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.run([
        "issue",
        "head",
        "--ca",
        s(&ca),
        "--out",
        "h",
        "--pod-ip",
        "10.0.0.5",
        "--json",
    ]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json");
    assert_eq!(v["action"], "issued");
    assert_eq!(v["role"], "head");
    assert!(v["sans"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "10.0.0.5"));
}

#[test]
fn head_and_worker_need_a_pod_ip() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    for role in ["head", "worker"] {
        ws.run(["issue", role, "--ca", s(&ca), "--out", "x"])
            .expect_code(2)
            .fails_naming("POD_IP");
        assert!(!ws.join("x").exists());
    }
}

#[test]
fn one_existing_target_blocks_the_whole_set() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.join("w");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("ca.crt"), "mine\n").unwrap();
    ws.run([
        "issue",
        "worker",
        "--ca",
        s(&ca),
        "--out",
        s(&out),
        "--pod-ip",
        "10.0.0.7",
    ])
    .expect_code(1)
    .fails_naming("ca.crt");
    assert_eq!(list_dir(&out), ["ca.crt"]);
    assert_eq!(crate::util::read_string(&out.join("ca.crt")), "mine\n");
}

#[test]
fn san_accepts_bracketed_ipv6_and_dedups() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.issue(
        "worker",
        &ca,
        "w",
        &[
            "--pod-ip",
            "10.0.0.7",
            "--san",
            "[fd00::1]",
            "--san",
            "localhost",
            "--san",
            "10.0.0.7",
            "--san",
            "Mixed.Case.Example",
        ],
    );
    assert_eq!(
        sans(&out.join("tls.crt")),
        [
            "localhost",
            "127.0.0.1",
            "10.0.0.7",
            "fd00::1",
            "mixed.case.example"
        ]
    );
}

#[test]
fn wildcard_san_in_leftmost_label_is_accepted() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.issue("client", &ca, "c", &["--san", "*.ray.example.com"]);
    assert_eq!(sans(&out.join("tls.crt")), ["*.ray.example.com"]);
}

#[test]
fn issue_is_not_valid_before_the_ca() {
    // A CA made a moment ago: the leaf's backdated notBefore must not precede the CA's.
    let ws = Workspace::new();
    let ca = ws.join("ca");
    crate::util::RcgenCa::new(
        "fresh CA",
        now() - time::Duration::seconds(30),
        now() + days(30),
    )
    .write_to(&ca);
    let out = ws.issue("worker", &ca, "w", &["--pod-ip", "10.0.0.7"]);
    let (leaf_nb, leaf_na) = validity(&out.join("tls.crt"));
    let (ca_nb, ca_na) = validity(&ca.join("ca.crt"));
    assert!(leaf_nb >= ca_nb, "leaf {leaf_nb} before CA {ca_nb}");
    assert!(leaf_na <= ca_na, "leaf {leaf_na} after CA {ca_na}");
}

#[test]
fn modes_do_not_follow_the_umask() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    for (umask, dir) in [("000", "loose"), ("077", "tight")] {
        let script = format!(
            "umask {umask} && exec \"$0\" issue worker --ca \"$1\" --out {dir} --pod-ip 10.0.0.7"
        );
        let st = std::process::Command::new("sh")
            .args(["-c", &script, crate::util::BIN, s(&ca)])
            .current_dir(ws.path())
            .env_remove("POD_IP")
            .status()
            .unwrap();
        assert!(st.success(), "umask {umask}");
        let out = ws.join(dir);
        assert_eq!(mode(&out.join("tls.key")), 0o600, "umask {umask}");
        assert_eq!(mode(&out.join("tls.crt")), 0o644, "umask {umask}");
        assert_eq!(mode(&out.join("ca.crt")), 0o644, "umask {umask}");
    }
}

#[test]
fn force_replaces_a_symlinked_key_without_writing_through_it() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.issue("worker", &ca, "w", &["--pod-ip", "10.0.0.7"]);
    let victim = ws.join("victim");
    std::fs::write(&victim, "do not touch\n").unwrap();
    std::fs::remove_file(out.join("tls.key")).unwrap();
    std::os::unix::fs::symlink(&victim, out.join("tls.key")).unwrap();
    ws.run([
        "issue",
        "worker",
        "--ca",
        s(&ca),
        "--out",
        "w",
        "--pod-ip",
        "10.0.0.7",
        "--force",
    ])
    .ok();
    assert_eq!(crate::util::read_string(&victim), "do not touch\n");
    // tls.key is now our own key, a regular file in place of the link, not the victim.
    assert!(std::fs::symlink_metadata(out.join("tls.key"))
        .unwrap()
        .file_type()
        .is_file());
    assert!(crate::util::read_string(&out.join("tls.key")).contains("PRIVATE KEY"));
    assert_eq!(mode(&out.join("tls.key")), 0o600);
}

#[test]
fn pod_ip_flag_wins_over_the_env() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    ws.raytls([
        "issue",
        "worker",
        "--ca",
        s(&ca),
        "--out",
        "w",
        "--pod-ip",
        "10.0.0.8",
    ])
    .env("POD_IP", "10.0.0.9")
    .run()
    .ok();
    assert_eq!(
        sans(&ws.join("w/tls.crt")),
        ["localhost", "127.0.0.1", "10.0.0.8"]
    );
}

#[test]
fn regression_ray_ip_is_an_ip_address() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let o = ws
        .raytls(["issue", "head", "--ca", s(&ca), "--out", "h"])
        .env("POD_IP", "10.0.0.5")
        .env("FQ_RAY_IP", "raycluster-head-svc.default.svc.cluster.local")
        .env("RAY_IP", "127.0.0.1")
        .run();
    o.ok();
    assert_eq!(
        sans(&ws.join("h/tls.crt")),
        [
            "localhost",
            "127.0.0.1",
            "10.0.0.5",
            "raycluster-head-svc.default.svc.cluster.local"
        ]
    );
    // The same through init, as in a head pod.
    let out = ws.join("init-head");
    ws.raytls(["init", "head", "--ca", s(&ca), "--out", s(&out)])
        .env("POD_IP", "10.0.0.5")
        .env("RAY_IP", "127.0.0.1")
        .run()
        .ok();
}

#[test]
fn leaf_serials_are_random_positive_16_bytes() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let a = ws.issue("client", &ca, "a", &[]);
    let b = ws.issue("client", &ca, "b", &[]);
    let serial = |dir: &std::path::Path| {
        x509_text(&dir.join("tls.crt"))
            .lines()
            .find_map(|l| l.strip_prefix("serial=").map(str::to_string))
            .expect("serial")
    };
    let (sa, sb) = (serial(&a), serial(&b));
    for sn in [&sa, &sb] {
        assert_eq!(sn.len(), 32, "{sn}");
        let first = u8::from_str_radix(&sn[..2], 16).unwrap();
        assert!(first > 0 && first < 0x80, "{sn}");
    }
    assert_ne!(sa, sb);
}

#[test]
fn regression_outlives_ca_advises_days_zero() {
    let ws = Workspace::new();
    let ca = ws.join("ca");
    crate::util::RcgenCa::new(
        "short CA",
        now() - days(1),
        now() + time::Duration::hours(12),
    )
    .write_to(&ca);
    let o = ws.run([
        "issue",
        "worker",
        "--ca",
        s(&ca),
        "--out",
        "w",
        "--pod-ip",
        "10.0.0.7",
        "--days",
        "1",
    ]);
    o.fails_naming("--days");
    assert!(!o.stderr.contains("--days 0"), "{o:#?}");
}

#[test]
fn default_validity_under_a_ca_with_hours_left_is_clamped() {
    let ws = Workspace::new();
    let ca = ws.join("ca");
    crate::util::RcgenCa::new(
        "short CA",
        now() - days(1),
        now() + time::Duration::hours(12),
    )
    .write_to(&ca);
    let o = ws.run([
        "issue",
        "worker",
        "--ca",
        s(&ca),
        "--out",
        "w",
        "--pod-ip",
        "10.0.0.7",
    ]);
    o.ok();
    assert!(o.stderr.contains("note"), "{o:#?}");
    let (_, leaf_na) = validity(&ws.join("w/tls.crt"));
    let (_, ca_na) = validity(&ca.join("ca.crt"));
    assert!(leaf_na <= ca_na);
}

/// A CA made moments ago on a clock a little ahead (openssl does not backdate notBefore)
/// starts after our `now`; the leaf starts with it and must still be issued.
#[test]
fn regression_ca_starting_a_minute_in_the_future_still_signs() {
    let ws = Workspace::new();
    let ca = ws.join("ca");
    crate::util::RcgenCa::new(
        "ahead CA",
        now() + time::Duration::minutes(1),
        now() + days(3650),
    )
    .write_to(&ca);
    let o = ws.run([
        "issue",
        "worker",
        "--ca",
        s(&ca),
        "--out",
        "w",
        "--pod-ip",
        "10.0.0.7",
    ]);
    o.ok();
    assert!(ws.join("w/tls.crt").exists());
}

/// The Secret `kubectl create secret generic NAME --from-file=DIR` makes of a directory
/// (client-side dry run: no cluster needed), as name -> bytes.
fn kubectl_secret_of(
    ws: &Workspace,
    dir: &std::path::Path,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    use base64::Engine;
    let out = std::process::Command::new("kubectl")
        .args(["create", "secret", "generic", "head-tls"])
        .arg(format!("--from-file={}", s(dir)))
        .args(["--dry-run=client", "-o", "json"])
        // No cluster and no kubeconfig of the runner's: a client-side dry run needs neither.
        .env("KUBECONFIG", ws.join("no-kubeconfig"))
        .env("HOME", ws.path())
        .current_dir(ws.path())
        .output()
        .expect("run kubectl (/usr/bin/kubectl)");
    assert!(
        out.status.success(),
        "kubectl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    secret["data"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let b = base64::engine::general_purpose::STANDARD
                        .decode(v.as_str().unwrap())
                        .unwrap();
                    (k.clone(), b)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Issue 19 item 7: `issue --out ./head` wrote the `..data` layout (tls.crt, tls.key, ca.crt
/// symlinks), and `kubectl create secret generic head-tls --from-file=./head` skips what is
/// not a regular file: a Secret with no data, without a word. `issue` is a hand-off: it
/// writes regular files, which kubectl (and zip, tar, scp) take as they are.
#[test]
fn regression_issue_out_dir_makes_a_kubectl_secret() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.issue("head", &ca, "head", &["--pod-ip", "10.0.0.5"]);
    assert_eq!(list_dir(&out), ["ca.crt", "tls.crt", "tls.key"]);
    let all: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(all.len(), 3, "only the three files: {all:?}");
    for name in ["ca.crt", "tls.crt", "tls.key"] {
        let meta = std::fs::symlink_metadata(out.join(name)).unwrap();
        assert!(meta.file_type().is_file(), "{name} is not a regular file");
    }
    let secret = kubectl_secret_of(&ws, &out);
    assert_eq!(
        secret.keys().collect::<Vec<_>>(),
        ["ca.crt", "tls.crt", "tls.key"]
    );
    for (name, bytes) in &secret {
        assert_eq!(bytes, &crate::util::read(&out.join(name)), "{name}");
    }
    assert_eq!(secret["ca.crt"], crate::util::read(&ca.join("ca.crt")));
    assert!(String::from_utf8_lossy(&secret["tls.key"]).contains("PRIVATE KEY"));
}

/// `issue --force` into a pod directory `init` wrote keeps that directory's `..data` layout
/// (the running Ray keeps its pair-safe swap and ray-tls.env); `renew` of a directory `issue`
/// wrote keeps regular files and writes no ray-tls.env, so it still makes the same Secret.
#[test]
fn a_directory_keeps_its_layout_across_issue_force_and_renew() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    ws.raytls(["init", "worker", "--ca", "ca", "--out", "pod"])
        .env("POD_IP", "10.0.0.7")
        .run()
        .ok();
    ws.run([
        "issue", "worker", "--ca", "ca", "--out", "pod", "--pod-ip", "10.0.0.7", "--force",
    ])
    .ok();
    for name in ["tls.crt", "tls.key", "ca.crt", "ray-tls.env"] {
        assert_eq!(
            std::fs::read_link(ws.join("pod").join(name)).unwrap(),
            std::path::Path::new("..data").join(name),
            "{name}"
        );
    }
    ws.run(["verify", "--dir", "pod"]).ok();

    let out = ws.issue("head", &ca, "head", &["--pod-ip", "10.0.0.5"]);
    let before = crate::util::snapshot(&out);
    let o = ws.run(["renew", "--dir", "head", "--ca", "ca", "--force"]);
    o.ok();
    assert!(o.stdout.starts_with("issued head certificate"), "{o:#?}");
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for name in ["ca.crt", "tls.crt", "tls.key"] {
        let meta = std::fs::symlink_metadata(out.join(name)).unwrap();
        assert!(meta.file_type().is_file(), "{name} is not a regular file");
    }
    assert_eq!(mode(&out.join("tls.key")), 0o600);
    let after = crate::util::snapshot(&out);
    assert_ne!(after["tls.crt"], before["tls.crt"]);
    assert_ne!(after["tls.key"], before["tls.key"]);
    assert_eq!(
        kubectl_secret_of(&ws, &out).keys().collect::<Vec<_>>(),
        ["ca.crt", "tls.crt", "tls.key"]
    );
    ws.run([
        "verify", "--dir", "head", "--role", "head", "--pod-ip", "10.0.0.5",
    ])
    .ok();
}
