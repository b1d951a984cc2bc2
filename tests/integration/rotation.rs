//! CA rotation: trust bundles (`raytls ca trust`), `verify`'s rotation step, `init`/`renew`
//! replacing ca.crt and re-issuing leaves of the old CA, mutual TLS between an old-CA and a
//! new-CA peer that both trust the bundle, and `openssl verify` against a bundle file.
use std::path::{Path, PathBuf};

use crate::mtls::{client_config, exchange, serve, server_config, server_outcome};
use crate::util::{days, now, openssl, read, read_string, s, RcgenCa, Workspace};

const HEAD_IP: &str = "10.0.0.5";
const WORKER_IP: &str = "10.0.0.6";

fn certs_in(p: &Path) -> usize {
    read_string(p)
        .matches("-----BEGIN CERTIFICATE-----")
        .count()
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// An old CA (from 20 days ago) and a new one (from yesterday), unique subjects, each in its
/// own directory; the dates make "newest root" unambiguous.
fn old_and_new(ws: &Workspace) -> (PathBuf, PathBuf) {
    let old = ws.join("ca-old");
    let new = ws.join("ca-new");
    RcgenCa::new("rotation old CA", now() - days(20), now() + days(3650)).write_to(&old);
    RcgenCa::new("rotation new CA", now() - days(1), now() + days(3650)).write_to(&new);
    (old, new)
}

/// Both CA directories trust old + new.
fn bundle_both(ws: &Workspace, old: &Path, new: &Path) {
    ws.run([
        "ca",
        "trust",
        "--ca",
        s(old),
        "--add",
        s(&new.join("ca.crt")),
    ])
    .ok();
    ws.run(["ca", "trust", "--ca", s(new), "--add", s(old)])
        .ok();
}

fn verify_json(ws: &Workspace, dir: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["verify", "--dir", s(dir), "--json"];
    args.extend_from_slice(extra);
    let o = ws.run(args);
    (o.code, json(&o.stdout))
}

#[test]
fn trust_add_writes_one_bundle_that_both_directories_share() {
    let ws = Workspace::new();
    let (old, new) = old_and_new(&ws);
    let o = ws.run([
        "ca",
        "trust",
        "--ca",
        s(&old),
        "--add",
        s(&new.join("ca.crt")),
    ]);
    o.ok();
    assert!(o.stdout.contains("added \"rotation new CA\""), "{o:#?}");
    assert!(o.stdout.contains("(2 roots)"), "{o:#?}");
    let trust = old.join("trust.crt");
    assert_eq!(certs_in(&trust), 2);
    assert_eq!(crate::util::mode(&trust) & 0o777, 0o644);
    // The same again changes nothing and writes nothing.
    let before = std::fs::metadata(&trust).unwrap().modified().unwrap();
    let o = ws.run([
        "ca",
        "trust",
        "--ca",
        s(&old),
        "--add",
        s(&new.join("ca.crt")),
        "--json",
    ]);
    o.ok();
    let v = json(&o.stdout);
    assert_eq!(v["written"], false);
    assert_eq!(v["already_trusted"][0], "rotation new CA");
    assert_eq!(
        std::fs::metadata(&trust).unwrap().modified().unwrap(),
        before
    );
    // The other directory, the other way round (a CA directory as --add): the same bytes,
    // oldest root first, so a pod's ca.crt does not change between steps 1 and 2.
    ws.run(["ca", "trust", "--ca", s(&new), "--add", s(&old)])
        .ok();
    assert_eq!(read(&trust), read(&new.join("trust.crt")));
    let v = json(&ws.run(["ca", "trust", "--ca", s(&new), "--json"]).stdout);
    let subjects: Vec<&str> = v["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["CN=rotation old CA", "CN=rotation new CA"]);
    assert_eq!(v["roots"][1]["own"], true);
    assert_eq!(v["roots"][0]["own"], false);
}

#[test]
fn trust_refuses_a_second_root_with_the_same_subject() {
    let ws = Workspace::new();
    let a = ws.join("a");
    let b = ws.join("b");
    RcgenCa::valid_now("cluster CA").write_to(&a);
    RcgenCa::valid_now("cluster CA").write_to(&b);
    ws.run(["ca", "trust", "--ca", s(&a), "--add", s(&b.join("ca.crt"))])
        .fails_naming("another root with the subject \"CN=cluster CA\"");
    assert!(!a.join("trust.crt").exists(), "no file may be left behind");
}

#[test]
fn trust_refuses_a_leaf_an_intermediate_and_a_file_with_a_key() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let other = ws.make_ca("other");
    let leaf = ws.issue("worker", &other, "w", &["--pod-ip", WORKER_IP]);
    ws.run([
        "ca",
        "trust",
        "--ca",
        s(&ca),
        "--add",
        s(&leaf.join("tls.crt")),
    ])
    .fails_naming("is not a CA certificate");
    ws.make_ca_with("inter", &["--intermediate", "--ca", s(&other)]);
    ws.run([
        "ca",
        "trust",
        "--ca",
        s(&ca),
        "--add",
        s(&ws.join("inter/ca.crt")),
    ])
    .fails_naming("is not a root CA")
    .fails_naming("inter/root.crt");
    let both = ws.join("both.pem");
    let mut pem = read(&other.join("ca.crt"));
    pem.extend(read(&other.join("ca.key")));
    std::fs::write(&both, pem).unwrap();
    let o = ws.run(["ca", "trust", "--ca", s(&ca), "--add", s(&both)]);
    o.fails_naming("holds a private key");
    assert!(!o.stdout.contains("PRIVATE"), "{o:#?}");
    assert!(!o.stderr.contains("PRIVATE KEY-----"), "{o:#?}");
    ws.run([
        "ca",
        "trust",
        "--ca",
        s(&ca),
        "--add",
        s(&other.join("ca.key")),
    ])
    .fails_naming("holds a private key");
    assert!(!ca.join("trust.crt").exists(), "no file may be left behind");
}

#[test]
fn trust_refuses_to_drop_the_own_root_and_a_bundle_without_it() {
    let ws = Workspace::new();
    let (old, new) = old_and_new(&ws);
    bundle_both(&ws, &old, &new);
    let before = read(&new.join("trust.crt"));
    ws.run(["ca", "trust", "--ca", s(&new), "--drop", s(&new)])
        .fails_naming("refusing to drop \"rotation new CA\"");
    assert_eq!(read(&new.join("trust.crt")), before);
    // A trust.crt edited by hand to lack the CA's own root: leaves it signs would be refused.
    std::fs::write(new.join("trust.crt"), read(&old.join("ca.crt"))).unwrap();
    let o = ws.run([
        "issue",
        "worker",
        "--ca",
        s(&new),
        "--out",
        s(&ws.join("w")),
        "--pod-ip",
        WORKER_IP,
    ]);
    o.fails_naming("does not hold this CA's own root \"rotation new CA\"");
    assert!(!ws.join("w").exists());
}

#[test]
fn verify_tells_each_rotation_step_in_words_and_json() {
    let ws = Workspace::new();
    let (old, new) = old_and_new(&ws);
    // Before: one root, the leaf from it. No rotation line for people, "none" in JSON.
    let pod = ws.issue("worker", &old, "pod", &["--pod-ip", WORKER_IP]);
    let o = ws.run(["verify", "--dir", s(&pod)]);
    o.ok();
    let rotation_line = |out: &str| {
        out.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("rotation"))
    };
    assert!(!rotation_line(&o.stdout), "{o:#?}");
    let (code, v) = verify_json(&ws, &pod, &[]);
    assert_eq!(code, 0);
    assert_eq!(v["rotation"]["step"], "none");

    // Step 1: trusts old + new, the leaf still from the old CA.
    bundle_both(&ws, &old, &new);
    ws.run(["renew", "--dir", s(&pod), "--ca", s(&old)]).ok();
    assert_eq!(certs_in(&pod.join("ca.crt")), 2);
    let o = ws.run(["verify", "--dir", s(&pod)]);
    o.ok();
    assert!(
        o.stdout.contains("warn rotation")
            && o.stdout.contains("rotation step 1 of 3 done")
            && o.stdout
                .contains("next: re-issue leaves from the new CA \"rotation new CA\""),
        "{o:#?}"
    );
    let (code, v) = verify_json(&ws, &pod, &[]);
    assert_eq!(code, 0, "a rotation in progress changes no exit code");
    let r = &v["rotation"];
    assert_eq!(r["step"], "trusts_both_leaf_old");
    assert_eq!(r["leaf_root"], "rotation old CA");
    assert_eq!(r["current_root"], "rotation new CA");
    assert_eq!(
        r["roots"],
        serde_json::json!(["rotation old CA", "rotation new CA"])
    );

    // Step 2: the leaf from the new CA.
    ws.run(["renew", "--dir", s(&pod), "--ca", s(&new)]).ok();
    let o = ws.run(["verify", "--dir", s(&pod)]);
    o.ok();
    assert!(o.stdout.contains("rotation step 2 of 3 done"), "{o:#?}");
    assert!(o.stdout.contains("next: drop the old root"), "{o:#?}");
    let (_, v) = verify_json(&ws, &pod, &[]);
    assert_eq!(v["rotation"]["step"], "trusts_both_leaf_new");
    assert_eq!(v["rotation"]["leaf_root"], "rotation new CA");

    // The operator names the current CA: with the old one "current", this leaf is the odd one.
    let (_, v) = verify_json(&ws, &pod, &["--current-ca", s(&old.join("ca.crt"))]);
    assert_eq!(v["rotation"]["step"], "trusts_both_leaf_old");
    // A current CA the pod does not trust at all: step 1 not done here.
    let third = ws.join("third");
    RcgenCa::valid_now("rotation third CA").write_to(&third);
    let (code, v) = verify_json(&ws, &pod, &["--current-ca", s(&third.join("ca.crt"))]);
    assert_eq!(code, 0);
    assert_eq!(v["rotation"]["step"], "current_not_trusted");

    // Step 3: the old root dropped; the pod is back to one root.
    ws.run([
        "ca",
        "trust",
        "--ca",
        s(&new),
        "--drop",
        s(&old.join("ca.crt")),
    ])
    .ok();
    ws.run(["renew", "--dir", s(&pod), "--ca", s(&new)]).ok();
    let (code, v) = verify_json(&ws, &pod, &[]);
    assert_eq!(code, 0);
    assert_eq!(v["rotation"]["step"], "none");
    assert_eq!(certs_in(&pod.join("ca.crt")), 1);

    // A pod that skipped step 2: an old-CA leaf against the new root alone fails (exit 1).
    let late = ws.issue("worker", &old, "late", &["--pod-ip", WORKER_IP]);
    let (code, v) = verify_json(&ws, &late, &["--ca", s(&new.join("ca.crt"))]);
    assert_eq!(code, 1);
    assert_eq!(v["rotation"]["step"], "leaf_not_trusted");
}

#[test]
fn init_and_renew_replace_ca_crt_then_reissue_from_the_new_ca() {
    let ws = Workspace::new();
    let (old, new) = old_and_new(&ws);
    let pod = ws.join("pod");
    let init = |ca: &Path| {
        ws.raytls(["init", "worker", "--ca", s(ca), "--out", s(&pod)])
            .env("POD_IP", WORKER_IP)
            .run()
    };
    init(&old).ok();
    assert_eq!(certs_in(&pod.join("ca.crt")), 1);
    let leaf_before = read(&pod.join("tls.crt"));
    let key_before = read(&pod.join("tls.key"));

    // Step 1: the CA directory trusts both; init keeps the leaf and replaces ca.crt only.
    bundle_both(&ws, &old, &new);
    let o = init(&old);
    o.ok();
    assert!(o.stdout.starts_with("kept worker certificate"), "{o:#?}");
    assert!(
        o.stderr.contains("ca.crt replaced: it now trusts 2 roots"),
        "{o:#?}"
    );
    assert_eq!(read(&pod.join("ca.crt")), read(&old.join("trust.crt")));
    assert_eq!(read(&pod.join("tls.crt")), leaf_before);
    assert_eq!(read(&pod.join("tls.key")), key_before);
    // ..data layout: ca.crt is a name through the swapped link, as the others.
    assert_eq!(
        std::fs::read_link(pod.join("ca.crt")).unwrap(),
        Path::new("..data/ca.crt")
    );

    // Step 2: renew from the new CA re-issues, and says why.
    let o = ws.run(["renew", "--dir", s(&pod), "--ca", s(&new)]);
    o.ok();
    assert!(
        o.stdout.contains(
            "existing certificate was issued by the old CA \"rotation old CA\", not the current CA \"rotation new CA\""
        ),
        "{o:#?}"
    );
    assert_ne!(read(&pod.join("tls.key")), key_before);
    assert_eq!(read(&pod.join("ca.crt")), read(&old.join("trust.crt")));
    let v = openssl(
        ws.path(),
        [
            "verify",
            "-CAfile",
            s(&new.join("ca.crt")),
            s(&pod.join("tls.crt")),
        ],
    );
    assert_eq!(v.code, 0, "the new leaf is from the new CA: {v:#?}");
    // And it stays: a second pass keeps it (no re-issue loop).
    let o = ws.run(["renew", "--dir", s(&pod), "--ca", s(&new)]);
    o.ok();
    assert!(
        o.stdout.contains("nothing to do") || o.stdout.contains("kept"),
        "{o:#?}"
    );
    // The old CA directory (still trusting both) would take the pod back: that is its job.

    // Step 3: the new CA drops the old root; the pod keeps its leaf, ca.crt becomes one root.
    ws.run(["ca", "trust", "--ca", s(&new), "--drop", s(&old)])
        .ok();
    let leaf_new = read(&pod.join("tls.crt"));
    let o = init(&new);
    o.ok();
    assert!(
        o.stderr
            .contains("it now trusts 1 root (\"rotation new CA\")"),
        "{o:#?}"
    );
    assert_eq!(read(&pod.join("tls.crt")), leaf_new);
    assert_eq!(
        read(&pod.join("ca.crt")),
        read(&new.join("ca.crt"))
            .trim_ascii_end()
            .iter()
            .chain(b"\n")
            .copied()
            .collect::<Vec<u8>>()
    );
}

#[tokio::test]
async fn old_and_new_ca_peers_talk_while_both_trust_the_bundle_and_not_after_the_drop() {
    let ws = Workspace::new();
    let (old, new) = old_and_new(&ws);
    bundle_both(&ws, &old, &new);
    // Head from the old CA, worker from the new: each gets the bundle as ca.crt.
    let head = ws.issue("head", &old, "head", &["--pod-ip", HEAD_IP]);
    let worker = ws.issue("worker", &new, "worker", &["--pod-ip", WORKER_IP]);
    assert_eq!(certs_in(&head.join("ca.crt")), 2);
    let (port, mut rx) = serve(server_config(&head, &head.join("ca.crt"))).await;
    exchange(
        port,
        HEAD_IP,
        client_config(Some(&worker), &worker.join("ca.crt")),
    )
    .await
    .expect("old-CA server, new-CA client, both trusting the bundle");
    server_outcome(&mut rx).await.expect("server side");

    // After the drop: a head from the new CA trusting the new root alone refuses a worker
    // that still holds an old-CA leaf (its client certificate).
    let new_head = ws.issue("head", &new, "head2", &["--pod-ip", HEAD_IP]);
    let old_worker = ws.issue("worker", &old, "worker2", &["--pod-ip", WORKER_IP]);
    let (port, mut rx) = serve(server_config(&new_head, &new.join("ca.crt"))).await;
    let client = exchange(
        port,
        HEAD_IP,
        client_config(Some(&old_worker), &old_worker.join("ca.crt")),
    )
    .await;
    assert!(
        client.is_err(),
        "the old-CA client must not complete an exchange"
    );
    let server = server_outcome(&mut rx).await;
    assert!(
        server
            .as_ref()
            .is_err_and(|e| e.to_lowercase().contains("unknown") || e.contains("UnknownIssuer")),
        "the server must refuse the old-CA client certificate: {server:?}"
    );
    // And a client trusting the new root alone refuses a server with an old-CA leaf.
    let (port, _rx) = serve(server_config(&head, &head.join("ca.crt"))).await;
    let err = exchange(
        port,
        HEAD_IP,
        client_config(Some(&worker), &new.join("ca.crt")),
    )
    .await
    .expect_err("the new-root-only client must refuse the old-CA server");
    assert!(err.contains("handshake"), "{err}");
}

#[test]
fn openssl_verifies_leaves_of_both_cas_against_the_bundle_file() {
    let ws = Workspace::new();
    let old = ws.make_ca("ca-old");
    let new = ws.make_ca("ca-new");
    bundle_both(&ws, &old, &new);
    let a = ws.issue("worker", &old, "a", &["--pod-ip", WORKER_IP]);
    let b = ws.issue("worker", &new, "b", &["--pod-ip", WORKER_IP]);
    let bundle = new.join("trust.crt");
    for leaf in [&a, &b] {
        let v = openssl(
            ws.path(),
            ["verify", "-CAfile", s(&bundle), s(&leaf.join("tls.crt"))],
        );
        assert_eq!(v.code, 0, "{v:#?}");
    }
    // openssl sees every root in the bundle file.
    let shown = openssl(ws.path(), ["storeutl", "-noout", "-certs", s(&bundle)]);
    assert!(shown.stdout.contains("Total found: 2"), "{shown:#?}");
    // After the drop, the bundle file is the new root: the old-CA leaf no longer verifies.
    ws.run(["ca", "trust", "--ca", s(&new), "--drop", s(&old)])
        .ok();
    let v = openssl(
        ws.path(),
        ["verify", "-CAfile", s(&bundle), s(&a.join("tls.crt"))],
    );
    assert_ne!(v.code, 0, "{v:#?}");
    let v = openssl(
        ws.path(),
        ["verify", "-CAfile", s(&bundle), s(&b.join("tls.crt"))],
    );
    assert_eq!(v.code, 0, "{v:#?}");
}

#[test]
fn an_expired_old_root_left_in_the_bundle_is_a_warning_when_the_leaf_is_from_the_new_one() {
    let ws = Workspace::new();
    let expired = ws.join("expired");
    RcgenCa::new("rotation expired CA", now() - days(400), now() - days(2)).write_to(&expired);
    let (_, new) = old_and_new(&ws);
    // `ca trust` will not add it...
    ws.run(["ca", "trust", "--ca", s(&new), "--add", s(&expired)])
        .fails_naming("expired");
    // ...but a hand-made ca.crt may still hold it next to the new root.
    let pod = ws.issue("worker", &new, "pod", &["--pod-ip", WORKER_IP]);
    let mut both = read(&expired.join("ca.crt"));
    both.extend(read(&new.join("ca.crt")));
    let ca = ws.join("both.crt");
    std::fs::write(&ca, both).unwrap();
    let o = ws.run(["verify", "--dir", s(&pod), "--ca", s(&ca)]);
    o.ok();
    assert!(
        o.stdout.lines().any(|l| l.starts_with("warn ca ")
            && l.contains("expired")
            && l.contains("chains to \"rotation new CA\"")),
        "{o:#?}"
    );
    // The leaf's own root expired is still a failure.
    let old_leaf_dir = ws.join("old-pod");
    crate::util::rcgen_leaf_into(
        &expired,
        &old_leaf_dir,
        &["localhost"],
        now() - days(300),
        now() + days(30),
    );
    let o = ws.run([
        "verify",
        "--ca",
        s(&expired.join("ca.crt")),
        "--cert",
        s(&old_leaf_dir.join("tls.crt")),
    ]);
    o.expect_code(1);
    assert!(o.stdout.contains("FAIL ca "), "{o:#?}");
}
