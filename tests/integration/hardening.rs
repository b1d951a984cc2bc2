//! Regressions from the adversarial review (issue 11, section 2): each test failed before
//! its fix.
use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::process::Stdio;
use std::time::Duration;

use crate::util::{days, now, rcgen_leaf_into, read_string, Workspace};

/// How long a run may take before it counts as hung (a deadline, not a speed check).
const HANG: Duration = Duration::from_secs(60);

fn holds_private_key(p: &std::path::Path) -> bool {
    read_string(p).contains("PRIVATE KEY")
}

#[test]
fn regression_ca_key_inside_the_ca_cert_file_is_never_copied() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    // The common habit: one file with the certificate and the key.
    let both = format!(
        "{}{}",
        read_string(&ca.join("ca.crt")),
        read_string(&ca.join("ca.key"))
    );
    fs::write(ca.join("ca.crt"), &both).unwrap();
    fs::write(ws.join("combined.pem"), &both).unwrap();

    let o = ws.run([
        "issue", "worker", "--ca", "ca", "--out", "w", "--pod-ip", "10.0.0.7",
    ]);
    o.ok();
    assert!(
        !holds_private_key(&ws.join("w/ca.crt")),
        "CA key copied by issue"
    );
    assert!(
        o.stderr.contains("also holds a private key"),
        "{}",
        o.stderr
    );

    ws.run([
        "issue",
        "client",
        "--ca-cert",
        "combined.pem",
        "--ca-key",
        "combined.pem",
        "--out",
        "c",
    ])
    .ok();
    assert!(
        !holds_private_key(&ws.join("c/ca.crt")),
        "CA key copied via --ca-cert"
    );

    let o = ws.run([
        "init", "worker", "--ca", "ca", "--out", "pod", "--pod-ip", "10.0.0.7",
    ]);
    o.ok();
    assert!(
        !holds_private_key(&ws.join("pod/ca.crt")),
        "CA key copied by init"
    );
    assert!(read_string(&ws.join("pod/ca.crt")).contains("BEGIN CERTIFICATE"));
    // The copy is still the CA the leaf chains to.
    ws.run([
        "verify", "--dir", "pod", "--role", "worker", "--pod-ip", "10.0.0.7",
    ])
    .ok();
}

#[test]
fn regression_init_and_issue_refuse_to_write_into_the_ca_directory() {
    let ws = Workspace::new();
    ws.make_ca("ca");
    let before = ws.files();
    for args in [
        vec![
            "init", "worker", "--ca", "ca", "--out", "ca", "--pod-ip", "10.0.0.7",
        ],
        vec![
            "init", "worker", "--ca", "ca", "--out", "./ca/.", "--pod-ip", "10.0.0.7",
        ],
        vec!["issue", "client", "--ca", "ca", "--out", "ca", "--force"],
    ] {
        ws.run(&args)
            .expect_code(1)
            .fails_naming("holds the CA key");
        assert_eq!(ws.files(), before, "{args:?} wrote something");
    }
}

#[test]
fn regression_not_before_after_not_after_is_a_verdict_not_a_panic() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let pod = ws.join("pod");
    rcgen_leaf_into(
        &ca,
        &pod,
        &["localhost", "127.0.0.1", "10.0.0.7"],
        now() + days(30),
        now() - days(30),
    );
    let o = ws.run([
        "verify",
        "--ca",
        "ca/ca.crt",
        "--cert",
        "pod/tls.crt",
        "--key",
        "pod/tls.key",
    ]);
    o.expect_code(1);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    assert!(o.stdout.contains("FAIL validity"), "{}", o.stdout);
    assert!(o.stdout.contains("never valid"), "{}", o.stdout);

    // init must not crash-loop: it re-issues and says why.
    let o = ws.run([
        "init", "worker", "--ca", "ca", "--out", "pod", "--pod-ip", "10.0.0.7",
    ]);
    o.ok();
    assert!(
        o.stdout.starts_with("issued worker certificate"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("never valid"), "{}", o.stdout);
    ws.run([
        "verify", "--dir", "pod", "--role", "worker", "--pod-ip", "10.0.0.7",
    ])
    .ok();
}

#[test]
fn regression_force_checks_every_target_before_replacing_any() {
    let ws = Workspace::new();
    ws.make_ca("ca");
    let out = ws.issue("worker", &ws.join("ca"), "w", &["--pod-ip", "10.0.0.7"]);
    let old_cert = read_string(&out.join("tls.crt"));
    fs::remove_file(out.join("tls.key")).unwrap();
    fs::create_dir(out.join("tls.key")).unwrap();
    let o = ws.run([
        "issue", "worker", "--ca", "ca", "--out", "w", "--pod-ip", "10.0.0.8", "--force",
    ]);
    o.expect_code(1).fails_naming("tls.key");
    assert_eq!(
        read_string(&out.join("tls.crt")),
        old_cert,
        "tls.crt replaced"
    );
    assert!(
        !fs::read_dir(&out)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".tmp")),
        "temp file left behind"
    );
}

#[test]
fn regression_concurrent_force_issues_never_mix_a_pair() {
    let ws = Workspace::new();
    ws.make_ca("ca");
    ws.issue("worker", &ws.join("ca"), "w", &["--pod-ip", "10.0.0.7"]);
    for round in 0..3 {
        let children: Vec<_> = (0..24)
            .map(|i| {
                ws.raytls([
                    "issue",
                    "worker",
                    "--ca",
                    "ca",
                    "--out",
                    "w",
                    "--pod-ip",
                    &format!("10.0.{round}.{i}"),
                    "--force",
                ])
                .command()
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let v = ws.run(["verify", "--dir", "w", "--json"]);
        let j: serde_json::Value = serde_json::from_str(&v.stdout).unwrap();
        let key_match = j["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == "key_match")
            .unwrap()
            .clone();
        assert_eq!(key_match["status"], "pass", "round {round}: {key_match}");
    }
}

#[test]
fn regression_init_never_keeps_a_pair_a_crash_between_renames_left() {
    // A crash after one rename and before the other leaves one file from each issuance.
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    ws.issue("worker", &ca, "a", &["--pod-ip", "10.0.0.7"]);
    ws.issue("worker", &ca, "b", &["--pod-ip", "10.0.0.7"]);
    fs::create_dir(ws.join("pod")).unwrap();
    fs::copy(ws.join("a/tls.crt"), ws.join("pod/tls.crt")).unwrap();
    fs::copy(ws.join("b/tls.key"), ws.join("pod/tls.key")).unwrap();
    let o = ws.run([
        "init", "worker", "--ca", "ca", "--out", "pod", "--pod-ip", "10.0.0.7",
    ]);
    o.ok();
    assert!(
        o.stdout.starts_with("issued worker certificate"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("does not belong"), "{}", o.stdout);
    ws.run(["verify", "--dir", "pod"]).ok();
}

#[test]
fn regression_huge_durations_are_usage_errors() {
    let ws = Workspace::new();
    for args in [
        vec!["verify", "--dir", ".", "--wait", "10000000000000000000"],
        vec!["verify", "--dir", ".", "--wait", "25h"],
        vec!["verify", "--dir", ".", "--renew-before", "99999999999d"],
        vec![
            "health-check",
            "--address",
            "127.0.0.1:1",
            "--timeout",
            "99999999999s",
        ],
    ] {
        let o = ws.run(&args);
        o.expect_code(2);
        assert!(o.stderr.contains("longer than"), "{args:?}: {}", o.stderr);
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    }
}

#[test]
fn regression_endless_key_file_is_refused_not_read() {
    let ws = Workspace::new();
    ws.make_ca("ca");
    let o = ws
        .raytls([
            "issue",
            "client",
            "--ca-cert",
            "ca/ca.crt",
            "--ca-key",
            "/dev/zero",
            "--out",
            "c",
        ])
        .run_within(HANG);
    o.expect_code(1).fails_naming("/dev/zero");
    assert!(o.stderr.contains("not a regular file"), "{}", o.stderr);
    assert!(!ws.join("c").exists());
}

#[test]
fn regression_a_fifo_in_the_output_dir_does_not_hang_init() {
    let ws = Workspace::new();
    ws.make_ca("ca");
    fs::create_dir(ws.join("pod")).unwrap();
    let fifo = ws.join("pod/tls.crt");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let o = ws
        .raytls([
            "init", "worker", "--ca", "ca", "--out", "pod", "--pod-ip", "10.0.0.7",
        ])
        .run_within(HANG);
    o.ok();
    assert!(o.stdout.contains("not a regular file"), "{}", o.stdout);
    assert!(!fs::metadata(&fifo).unwrap().file_type().is_fifo());
    ws.run(["verify", "--dir", "pod"]).ok();
}

#[test]
fn regression_a_failed_write_removes_the_directories_it_made() {
    let ws = Workspace::new();
    ws.make_ca("ca");
    // `ulimit -f 0` with SIGXFSZ ignored: every write fails with EFBIG, as on a full disk.
    let o = ws
        .raytls(["issue", "client", "--ca", "ca", "--out", "a/b/c"])
        .shell_prefix("trap '' XFSZ; ulimit -f 0")
        .run();
    o.expect_code(1).fails_naming("a/b/c");
    assert!(!ws.join("a").exists(), "left {:?}", ws.files());
    // A directory that was there before stays.
    fs::create_dir(ws.join("keep")).unwrap();
    ws.raytls(["issue", "client", "--ca", "ca", "--out", "keep/x/y"])
        .shell_prefix("trap '' XFSZ; ulimit -f 0")
        .run()
        .expect_code(1);
    assert!(ws.join("keep").is_dir());
    assert!(!ws.join("keep/x").exists());
}

#[test]
fn regression_inspect_escapes_terminal_control_in_certificate_text() {
    let ws = Workspace::new();
    let mut params = rcgen::CertificateParams::new(vec!["ok.test".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "\x1b[2K\rOK fake line");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    fs::write(ws.join("evil.crt"), cert.pem()).unwrap();
    let o = ws.run(["inspect", "evil.crt"]);
    o.ok();
    assert!(!o.stdout.contains('\x1b'), "{:?}", o.stdout);
    assert!(!o.stdout.contains('\r'), "{:?}", o.stdout);
    assert!(
        o.stdout.contains("\\x1b[2K\\x0dOK fake line"),
        "{}",
        o.stdout
    );
    // JSON stays exact: the encoder escapes it.
    let j = ws.run(["inspect", "evil.crt", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert!(v[0]["items"][0]["subject"]
        .as_str()
        .unwrap()
        .contains("\x1b[2K\rOK fake line"));
}

/// Issue 13, pair safety: a reader that reads tls.crt, then tls.key, then tls.crt again and
/// gets the same certificate both times must never hold a key that does not match it, however
/// the files are being replaced meanwhile by 1,000 forced renewals (`renew_dir`, what `raytls renew
/// --force` runs). Renaming the two files one by one fails this (the
/// reader can see old cert, new key, old cert); the `..data` swap of `write_set` passes it.
#[test]
fn pair_safety_a_consistent_read_never_holds_the_wrong_key() {
    use raytls::pki::authority::{Authority, CaFiles, Lifetime};
    use raytls::pki::certinfo::CertInfo;
    use raytls::pki::keys::KeyType;
    use raytls::pki::leafcheck::RenewWhen;
    use raytls::pki::role::{LeafIdentity, Role};
    use raytls::provision::{renew_dir, Renewal, Source};
    use std::sync::atomic::{AtomicBool, Ordering};

    let ws = Workspace::new();
    let ca_dir = ws.make_ca("ca");
    let now = crate::util::now();
    let ca = Authority::load(&CaFiles::in_dir(&ca_dir), now).unwrap();
    let identity = LeafIdentity::new(
        Role::Worker,
        Some("10.0.0.7".parse().unwrap()),
        None,
        None,
        vec![],
    )
    .unwrap();
    let source = Source::Local {
        ca: &ca,
        identity: &identity,
        key_type: KeyType::EcdsaP256,
        lifetime: Lifetime::from_flag(Some(1)),
    };
    // What `raytls renew --force` runs: a new key, a new certificate, one swap.
    let forced = Renewal {
        when: RenewWhen::FractionLeft(1.0 / 3.0),
        force: true,
    };
    let out = ws.join("pod");
    renew_dir(&source, &out, forced, now).unwrap();

    let done = AtomicBool::new(false);
    let (consistent, mismatched) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let (mut consistent, mut mismatched) = (0u32, 0u32);
            while !done.load(Ordering::Relaxed) {
                let (Ok(c1), Ok(k), Ok(c2)) = (
                    fs::read(out.join("tls.crt")),
                    fs::read(out.join("tls.key")),
                    fs::read(out.join("tls.crt")),
                ) else {
                    continue;
                };
                if c1 != c2 {
                    continue; // straddled a swap: the reader would retry
                }
                consistent += 1;
                let cert = raytls::pki::pem::certificates(&out, &c1).unwrap();
                let info = CertInfo::parse(&cert[0]).unwrap();
                let key = raytls::pki::keys::parse(&out, &k).unwrap();
                if !key.matches_public_key(&info.spki_bits) {
                    mismatched += 1;
                }
            }
            (consistent, mismatched)
        });
        for _ in 0..1000 {
            renew_dir(&source, &out, forced, now).unwrap();
        }
        done.store(true, Ordering::Relaxed);
        reader.join().unwrap()
    });
    assert!(consistent > 0, "the reader never got a consistent read");
    assert_eq!(
        mismatched, 0,
        "{mismatched} of {consistent} consistent reads held the wrong key"
    );
    // Only the current version is left behind.
    let versions = fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("..2"))
        .count();
    assert_eq!(versions, 1);
}

/// `issue --force` into a directory `init` wrote replaced the pair in a new `..data` version
/// without ray-tls.env, and deleted the old version: the ray-tls.env name dangled and Ray's
/// `--env-file` could not be read. Every name that points through `..data` must stay readable.
#[test]
fn regression_issue_force_into_an_init_directory_keeps_ray_tls_env() {
    let ws = Workspace::new();
    ws.make_ca("ca");
    ws.raytls(["init", "worker", "--ca", "ca", "--out", "pod"])
        .env("POD_IP", "10.0.0.7")
        .run()
        .ok();
    let env_before = read_string(&ws.join("pod/ray-tls.env"));
    ws.run([
        "issue", "worker", "--ca", "ca", "--out", "pod", "--pod-ip", "10.0.0.7", "--force",
    ])
    .ok();
    assert_eq!(read_string(&ws.join("pod/ray-tls.env")), env_before);
    for name in ["tls.crt", "tls.key", "ca.crt", "ray-tls.env"] {
        assert!(
            fs::metadata(ws.join("pod").join(name)).is_ok(),
            "{name} dangles after issue --force"
        );
    }
    ws.run(["verify", "--dir", "pod"]).ok();
}

/// Issue 19 item 8: write_set took the target of `..data` as the old version's name if it
/// began with `..` and a digit, and removed it with remove_dir_all: `..data ->
/// ..1/../../victim` removed a directory outside the pod's. A version name is one path
/// component, `..` then a digit, nothing else; any other `..data` is refused, one line, and
/// nothing is written or removed.
#[test]
fn regression_write_set_version_name_traversal() {
    let ws = Workspace::new();
    ws.make_ca("ca");
    let init = |pod_ip: &str| {
        ws.raytls(["init", "worker", "--ca", "ca", "--out", "pod"])
            .env("POD_IP", pod_ip)
            .run()
    };
    init("10.0.0.7").ok();
    let pod = ws.join("pod");
    // The victim looks like a version (the pod's files read through it), plus its own file.
    let victim = ws.join("victim");
    fs::create_dir(&victim).unwrap();
    for name in ["tls.crt", "tls.key", "ca.crt", "ray-tls.env"] {
        fs::copy(pod.join(name), victim.join(name)).unwrap();
    }
    fs::write(victim.join("precious"), "keep me\n").unwrap();
    // pod/..1/../../victim is ws/victim once pod/..1 exists.
    fs::create_dir(pod.join("..1")).unwrap();
    fs::remove_file(pod.join("..data")).unwrap();
    std::os::unix::fs::symlink("..1/../../victim", pod.join("..data")).unwrap();
    fs::write(pod.join("..1/pinned"), "").unwrap();
    // The clean-up of stale versions would remove ..1 first, and with it the way to the
    // victim; a ..1 it cannot remove (a read-only mount here; an immutable file, a busy
    // mount or a racing process elsewhere) keeps the path open. Root only: without it the
    // refusal is still checked.
    let pinned = |args: &[&str], pod_ip: Option<&str>| {
        let mut c = ws.raytls(args);
        if let Some(ip) = pod_ip {
            c = c.env("POD_IP", ip);
        }
        if crate::util::is_root() {
            c = c.read_only(&pod.join("..1"));
        }
        c.run()
    };
    let before = ws.files();
    for o in [
        // A new pod IP: init must re-issue.
        pinned(
            &["init", "worker", "--ca", "ca", "--out", "pod"],
            Some("10.0.0.8"),
        ),
        pinned(
            &[
                "issue", "worker", "--ca", "ca", "--out", "pod", "--pod-ip", "10.0.0.7", "--force",
            ],
            None,
        ),
        pinned(&["renew", "--dir", "pod", "--ca", "ca", "--force"], None),
    ] {
        o.fails_naming("..data");
        assert_eq!(read_string(&victim.join("precious")), "keep me\n");
        assert_eq!(ws.files(), before, "{o:#?}");
    }

    // A version-named entry that is a symlink to a directory outside is not ours to remove
    // either: with a sane ..data, init cleans up only its own version directories.
    fs::remove_file(pod.join("..data")).unwrap();
    fs::remove_dir_all(pod.join("..1")).unwrap();
    std::os::unix::fs::symlink(&victim, pod.join("..2")).unwrap();
    init("10.0.0.7").ok();
    assert_eq!(read_string(&victim.join("precious")), "keep me\n");
    ws.run(["verify", "--dir", "pod"]).ok();
}
