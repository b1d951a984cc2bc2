//! No panics on malformed input: broken PEM and DER as the CA's files, and as the files an
//! init container finds in its output directory.
use std::fs;
use std::path::Path;

use crate::util::{openssl, read, read_string, s, Workspace};

/// Deterministic binary garbage (no rand dependency).
fn garbage(n: usize, mut seed: u32) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as u8
        })
        .collect()
}

/// Malformed variants of the PEM file `pem`, whose DER form is `der`.
fn malformed(pem: &str, der: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let lines: Vec<&str> = pem.lines().collect();
    let (begin, end) = (lines[0], lines[lines.len() - 1]);
    let body: Vec<&str> = lines[1..lines.len() - 1].to_vec();
    let half = body.concat();
    let half = &half[..half.len() / 2];
    let mut wrong_body = String::from(begin);
    wrong_body.push('\n');
    wrong_body.push_str(&body.concat().chars().rev().collect::<String>());
    wrong_body.push('\n');
    wrong_body.push_str(end);
    wrong_body.push('\n');
    vec![
        (
            "truncated base64",
            format!("{begin}\n{half}\n{end}\n").into_bytes(),
        ),
        (
            "truncated base64 (odd length)",
            format!("{begin}\n{}\n{end}\n", &half[..half.len() - 1]).into_bytes(),
        ),
        (
            "begin without end",
            format!("{begin}\n{}\n", body.join("\n")).into_bytes(),
        ),
        ("end without begin", format!("{end}\n").into_bytes()),
        ("scrambled base64 body", wrong_body.into_bytes()),
        (
            "base64 of garbage",
            format!("{begin}\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n{end}\n").into_bytes(),
        ),
        (
            "unknown label",
            format!(
                "-----BEGIN RAYTLS THING-----\n{}\n-----END RAYTLS THING-----\n",
                body.join("\n")
            )
            .into_bytes(),
        ),
        ("binary garbage", garbage(700, 7)),
        ("der", der.to_vec()),
        ("truncated der", der[..der.len() / 2].to_vec()),
        ("nul bytes", vec![0u8; 64]),
        ("whitespace", b" \n\t\n".to_vec()),
    ]
}

fn ca_with_der(ws: &Workspace) -> (std::path::PathBuf, Vec<u8>, Vec<u8>) {
    let ca = ws.make_ca("ca");
    openssl(
        ws.path(),
        [
            "x509",
            "-in",
            "ca/ca.crt",
            "-outform",
            "DER",
            "-out",
            "ca.der",
        ],
    )
    .ok();
    openssl(
        ws.path(),
        [
            "pkey",
            "-in",
            "ca/ca.key",
            "-outform",
            "DER",
            "-out",
            "key.der",
        ],
    )
    .ok();
    (ca, read(&ws.join("ca.der")), read(&ws.join("key.der")))
}

#[track_caller]
fn assert_clean_failure(ws: &Workspace, ca: &Path, what: &str) {
    let o = ws.run([
        "issue",
        "head",
        "--ca",
        s(ca),
        "--out",
        "out",
        "--pod-ip",
        "10.0.0.5",
    ]);
    assert!(
        o.code == 1 || o.code == 2,
        "{what}: exit code {}: {o:#?}",
        o.code
    );
    assert!(!o.stderr.contains("panicked"), "{what}: {o:#?}");
    assert!(!ws.join("out").exists(), "{what}: {o:#?}");
}

#[test]
fn malformed_ca_cert_never_panics() {
    let ws = Workspace::new();
    let (ca, der, _) = ca_with_der(&ws);
    let good = read_string(&ca.join("ca.crt"));
    for (what, bytes) in malformed(&good, &der) {
        fs::write(ca.join("ca.crt"), &bytes).unwrap();
        assert_clean_failure(&ws, &ca, &format!("ca.crt: {what}"));
    }
}

#[test]
fn malformed_ca_key_never_panics() {
    let ws = Workspace::new();
    let (ca, _, der) = ca_with_der(&ws);
    let good = read_string(&ca.join("ca.key"));
    for (what, bytes) in malformed(&good, &der) {
        fs::write(ca.join("ca.key"), &bytes).unwrap();
        assert_clean_failure(&ws, &ca, &format!("ca.key: {what}"));
    }
}

/// An init container finding junk in its output directory replaces it.
#[test]
fn init_replaces_malformed_existing_files() {
    let ws = Workspace::new();
    let (ca, _, _) = ca_with_der(&ws);
    let out = ws.join("out");
    let run = || {
        ws.raytls(["init", "worker", "--ca", s(&ca), "--out", s(&out)])
            .env("POD_IP", "10.0.0.7")
            .run()
    };
    run().ok();
    let crt = read_string(&out.join("tls.crt"));
    let key = read_string(&out.join("tls.key"));
    let crt_der = crate::util::cert_der(&out.join("tls.crt"));
    for (file, good, der) in [
        ("tls.crt", &crt, crt_der.clone()),
        ("tls.key", &key, garbage(121, 3)),
    ] {
        for (what, bytes) in malformed(good, &der) {
            // Start from a good pair each time, then break one file.
            fs::write(out.join("tls.crt"), &crt).unwrap();
            fs::write(out.join("tls.key"), &key).unwrap();
            fs::write(out.join(file), &bytes).unwrap();
            let o = run();
            assert_eq!(o.code, 0, "{file}: {what}: {o:#?}");
            assert!(o.stdout.starts_with("issued"), "{file}: {what}: {o:#?}");
            assert!(!o.stderr.contains("panicked"), "{file}: {what}: {o:#?}");
            assert!(
                !crate::util::sans(&out.join("tls.crt")).is_empty(),
                "{file}: {what}"
            );
        }
    }
}

#[test]
fn regression_huge_days_panics() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let out = ws.join("out");
    for days in ["4294967295", "3000000"] {
        let runs = [
            ws.run(["ca", "create", "--out", "new-ca", "--days", days]),
            ws.run([
                "issue",
                "worker",
                "--ca",
                s(&ca),
                "--out",
                s(&out),
                "--pod-ip",
                "10.0.0.7",
                "--days",
                days,
            ]),
            ws.raytls([
                "init",
                "worker",
                "--ca",
                s(&ca),
                "--out",
                s(&out),
                "--days",
                days,
            ])
            .env("POD_IP", "10.0.0.7")
            .run(),
        ];
        for o in runs {
            assert!(!o.stderr.contains("panicked"), "--days {days}: {o:#?}");
            o.expect_code(2).fails_naming("--days");
            assert!(!ws.join("new-ca").exists() && !out.exists(), "{o:#?}");
        }
    }
}
