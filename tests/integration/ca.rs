//! `raytls ca create`: files, modes, and the CA's extensions as openssl reads them.
use crate::util::{mode, s, x509_text, Workspace};

#[test]
fn ca_create_writes_cert_0644_and_key_0600() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    assert_eq!(crate::util::list_dir(&ca), ["ca.crt", "ca.key"]);
    assert_eq!(mode(&ca.join("ca.crt")), 0o644);
    assert_eq!(mode(&ca.join("ca.key")), 0o600);
}

#[test]
fn ca_has_critical_ca_constraints_key_usage_and_ski() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let text = x509_text(&ca.join("ca.crt"));
    assert!(
        text.contains("X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:1"),
        "{text}"
    );
    assert!(
        text.contains("X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign"),
        "{text}"
    );
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
    assert!(text.contains("NIST CURVE: P-256"), "{text}");
}

/// The hex digits of `serial=...` from `openssl x509 -serial`.
fn serial(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("serial="))
        .expect("serial line")
        .to_string()
}

fn subject(text: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Subject: "))
        .expect("subject line")
        .to_string()
}

#[test]
fn ca_serial_is_random_positive_16_bytes() {
    let ws = Workspace::new();
    let a = x509_text(&ws.make_ca("a").join("ca.crt"));
    let b = x509_text(&ws.make_ca("b").join("ca.crt"));
    for t in [&a, &b] {
        let sn = serial(t);
        assert_eq!(sn.len(), 32, "16 bytes: {sn}");
        let first = u8::from_str_radix(&sn[..2], 16).unwrap();
        assert!(first < 0x80, "serial must be positive: {sn}");
        assert!(first != 0, "16 significant bytes: {sn}");
    }
    assert_ne!(serial(&a), serial(&b));
}

#[test]
fn two_cas_with_the_same_name_have_different_subjects() {
    let ws = Workspace::new();
    let a = x509_text(&ws.make_ca_with("a", &["--name", "prod CA"]).join("ca.crt"));
    let b = x509_text(&ws.make_ca_with("b", &["--name", "prod CA"]).join("ca.crt"));
    assert!(subject(&a).contains("prod CA"), "{a}");
    assert_ne!(subject(&a), subject(&b));
}

#[test]
fn ca_create_p384_and_days() {
    let ws = Workspace::new();
    let ca = ws.make_ca_with("ca", &["--key-type", "ecdsa-p384", "--days", "30"]);
    let text = x509_text(&ca.join("ca.crt"));
    assert!(text.contains("NIST CURVE: P-384"), "{text}");
    let (nb, na) = crate::util::validity(&ca.join("ca.crt"));
    let life = na - nb;
    assert!(
        life >= crate::util::days(30) && life <= crate::util::days(31),
        "{life}"
    );
}

#[test]
fn ca_create_json_is_parseable() {
    let ws = Workspace::new();
    let out = ws.run(["ca", "create", "--out", "ca", "--json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json");
    assert!(v["cert"].as_str().unwrap().ends_with("ca.crt"), "{v}");
    assert!(v["key"].as_str().unwrap().ends_with("ca.key"), "{v}");
}

#[test]
fn ca_create_refuses_to_overwrite_without_force() {
    let ws = Workspace::new();
    let ca = ws.make_ca("ca");
    let before = crate::util::snapshot(&ca);
    ws.run(["ca", "create", "--out", s(&ca)])
        .expect_code(1)
        .fails_naming("ca.crt");
    assert_eq!(crate::util::snapshot(&ca), before);
    ws.run(["ca", "create", "--out", s(&ca), "--force"]).ok();
    let after = crate::util::snapshot(&ca);
    assert_ne!(after["ca.crt"], before["ca.crt"]);
    assert_ne!(after["ca.key"], before["ca.key"]);
    assert_eq!(mode(&ca.join("ca.key")), 0o600);
}

#[test]
fn ca_create_days_zero_is_a_usage_error() {
    let ws = Workspace::new();
    ws.run(["ca", "create", "--out", "ca", "--days", "0"])
        .expect_code(2)
        .fails_naming("--days");
    assert!(!ws.join("ca").exists());
}

#[test]
fn ca_create_empty_name_is_a_usage_error() {
    let ws = Workspace::new();
    ws.run(["ca", "create", "--out", "ca", "--name", "  "])
        .expect_code(2)
        .fails_naming("--name");
    assert!(!ws.join("ca").exists());
}

#[test]
fn ca_create_refuses_when_only_the_key_exists() {
    let ws = Workspace::new();
    let ca = ws.join("ca");
    std::fs::create_dir(&ca).unwrap();
    std::fs::write(ca.join("ca.key"), "precious\n").unwrap();
    ws.run(["ca", "create", "--out", s(&ca)])
        .expect_code(1)
        .fails_naming("ca.key");
    assert_eq!(crate::util::list_dir(&ca), ["ca.key"]);
    assert_eq!(crate::util::read_string(&ca.join("ca.key")), "precious\n");
}

#[test]
fn ca_create_makes_a_missing_out_dir_0700() {
    let ws = Workspace::new();
    let ca = ws.make_ca("nested/ca");
    assert_eq!(mode(&ca), 0o700);
}
