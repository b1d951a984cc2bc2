//! `raytls inspect`: certificate fields (checked against openssl where it has an answer),
//! bundles, keys in every format and which certificate they belong to, no key material in
//! the output, `--json`, and exit 2 naming the file for anything else.
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn exit(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "wrong exit code; run was {self:#?}");
        assert!(!self.stderr.contains("panicked"), "panic: {self:#?}");
        self
    }

    /// The value of row `key` ("subject", "SANs", ...) in the block of certificate
    /// `header` (the text before ": certificate", e.g. "leaf.crt" or
    /// "bundle.crt (certificate 2 of 2)").
    #[track_caller]
    fn row(&self, header: &str, key: &str) -> String {
        let start = format!("{header}: certificate");
        let mut lines = self.stdout.lines().skip_while(|l| *l != start);
        assert!(
            lines.next().is_some(),
            "no block {start:?}; run was {self:#?}"
        );
        lines
            .take_while(|l| l.starts_with("  "))
            .find_map(|l| {
                let rest = l.trim_start().strip_prefix(key)?;
                rest.starts_with("  ").then(|| rest.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no row {key:?} under {start:?}; run was {self:#?}"))
    }

    /// The one line describing the private key in `file`.
    #[track_caller]
    fn key_line(&self, file: &str) -> String {
        let start = format!("{file}: private key, ");
        self.stdout
            .lines()
            .find(|l| l.starts_with(&start))
            .unwrap_or_else(|| panic!("no key line for {file}; run was {self:#?}"))
            .to_string()
    }

    /// Exit 2, nothing on stdout, one stderr line naming `file` and saying `what`.
    #[track_caller]
    fn refused(&self, file: &str, what: &str) -> &Self {
        self.exit(2);
        let err = self.stderr.trim();
        assert_eq!(err.lines().count(), 1, "one error line; run was {self:#?}");
        assert!(err.contains(file), "stderr does not name {file}: {self:#?}");
        assert!(
            err.contains(what),
            "stderr does not say {what:?}: {self:#?}"
        );
        self
    }
}

fn testdata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// `raytls inspect args...` run in `cwd`, with the runner's Ray/pod environment removed.
fn inspect_in<I, S>(cwd: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let out = crate::util::raytls_command()
        .arg("inspect")
        .args(args.into_iter().map(Into::into))
        .current_dir(cwd)
        .output()
        .expect("run raytls");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `raytls inspect files...` in testdata/, so reports name files as given.
fn inspect(files: &[&str]) -> Run {
    inspect_in(&testdata_dir(), files)
}

fn raytls(args: &[&str]) {
    let out = crate::util::raytls_command()
        .args(args)
        .output()
        .expect("run raytls");
    assert!(out.status.success(), "raytls {args:?} failed: {out:?}");
}

/// `openssl x509 -noout -fingerprint -sha256 -in FILE`, the part after `=`.
fn sha256_fingerprint(file: &Path) -> String {
    openssl_x509(file, &["-fingerprint", "-sha256"])
}

/// `openssl x509 -noout OPTIONS... -in FILE`, the part after `=`.
fn openssl_x509(file: &Path, options: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout"])
        .args(options)
        .arg("-in")
        .arg(file)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .split_once('=')
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| panic!("unexpected openssl output {text:?}"))
}

/// A serial as a hex number: no colons, no leading zeros, upper case (openssl pads to
/// whole bytes, raytls prints the DER bytes).
fn serial_number(s: &str) -> String {
    let hex: String = s.chars().filter(|c| *c != ':').collect();
    hex.trim_start_matches('0').to_ascii_uppercase()
}

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("raytls-inspect-")
        .tempdir()
        .expect("temp dir")
}

fn not_after(file: &Path) -> OffsetDateTime {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_file(file).expect("PEM certificate");
    let (_, c) = x509_parser::parse_x509_certificate(&der).expect("X.509");
    c.validity().not_after.to_datetime()
}

// ---- certificates ----

#[test]
fn leaf_fields_match_openssl() {
    let r = inspect(&["leaf.crt"]);
    r.exit(0);
    let leaf = testdata_dir().join("leaf.crt");
    assert_eq!(r.row("leaf.crt", "subject"), "O=raytls testdata, CN=leaf");
    assert_eq!(
        r.row("leaf.crt", "issuer"),
        "O=raytls testdata, CN=raytls testdata RSA CA"
    );
    assert_eq!(
        serial_number(&r.row("leaf.crt", "serial")),
        serial_number(&openssl_x509(&leaf, &["-serial"]))
    );
    assert_eq!(r.row("leaf.crt", "SHA-256"), sha256_fingerprint(&leaf));
    assert_eq!(r.row("leaf.crt", "key"), "ECDSA P-256");
    assert_eq!(r.row("leaf.crt", "signature"), "sha256WithRSAEncryption");
    assert_eq!(
        r.row("leaf.crt", "SANs"),
        "localhost, 127.0.0.1, 10.0.0.5, raycluster-head-svc.default.svc.cluster.local"
    );
    assert_eq!(
        r.row("leaf.crt", "key usage"),
        "digitalSignature, keyEncipherment"
    );
    assert_eq!(r.row("leaf.crt", "EKU"), "serverAuth, clientAuth");
    assert_eq!(r.row("leaf.crt", "CA"), "no");
    let days = (not_after(&leaf) - OffsetDateTime::now_utc()).whole_days();
    assert!(
        r.row("leaf.crt", "valid")
            .ends_with(&format!("(expires in {days} days)")),
        "{r:#?}"
    );
}

#[test]
fn rsa_ca_is_self_signed_with_path_length_and_rsa_2048() {
    let r = inspect(&["ca-rsa.crt"]);
    r.exit(0);
    let ca = testdata_dir().join("ca-rsa.crt");
    assert_eq!(
        r.row("ca-rsa.crt", "subject"),
        "O=raytls testdata, CN=raytls testdata RSA CA"
    );
    assert_eq!(r.row("ca-rsa.crt", "issuer"), "(self-signed)");
    assert_eq!(r.row("ca-rsa.crt", "key"), "RSA 2048");
    assert_eq!(r.row("ca-rsa.crt", "CA"), "yes, path length 0");
    assert_eq!(r.row("ca-rsa.crt", "key usage"), "keyCertSign, cRLSign");
    assert_eq!(r.row("ca-rsa.crt", "SANs"), "none");
    assert_eq!(r.row("ca-rsa.crt", "EKU"), "(none: any)");
    assert_eq!(
        serial_number(&r.row("ca-rsa.crt", "serial")),
        serial_number(&openssl_x509(&ca, &["-serial"]))
    );
}

#[test]
fn raytls_ca_shows_its_name_self_signed_and_ecdsa() {
    let t = tmp();
    let ca = t.path().join("ca");
    raytls(&[
        "ca",
        "create",
        "--out",
        ca.to_str().unwrap(),
        "--name",
        "prod-ray CA",
    ]);
    let r = inspect_in(t.path(), ["ca/ca.crt"]);
    r.exit(0);
    assert!(
        r.row("ca/ca.crt", "subject").contains("CN=prod-ray CA"),
        "{r:#?}"
    );
    assert_eq!(r.row("ca/ca.crt", "issuer"), "(self-signed)");
    assert_eq!(r.row("ca/ca.crt", "key"), "ECDSA P-256");
    assert!(r.row("ca/ca.crt", "CA").starts_with("yes"), "{r:#?}");
    assert!(
        r.row("ca/ca.crt", "key usage").contains("keyCertSign"),
        "{r:#?}"
    );
    assert_eq!(
        serial_number(&r.row("ca/ca.crt", "serial")),
        serial_number(&openssl_x509(&ca.join("ca.crt"), &["-serial"]))
    );
}

/// An rcgen leaf under a fresh raytls CA in `t/ca`, expiring `not_after`; `t/leaf.crt`.
fn rcgen_leaf(t: &Path, not_after: OffsetDateTime) -> PathBuf {
    let ca = t.join("ca");
    raytls(&["ca", "create", "--out", ca.to_str().unwrap()]);
    let ca_key = KeyPair::from_pem(&fs::read_to_string(ca.join("ca.key")).unwrap()).unwrap();
    let issuer =
        Issuer::from_ca_cert_pem(&fs::read_to_string(ca.join("ca.crt")).unwrap(), ca_key).unwrap();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "hundred days");
    p.distinguished_name = dn;
    p.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().unwrap()),
        SanType::IpAddress("::1".parse().unwrap()),
    ];
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.not_before = OffsetDateTime::now_utc() - Duration::days(1);
    p.not_after = not_after;
    let cert = p.signed_by(&key, &issuer).unwrap();
    let out = t.join("leaf.crt");
    fs::write(&out, cert.pem()).unwrap();
    out
}

#[test]
fn expires_in_n_days_counts_whole_days() {
    let t = tmp();
    rcgen_leaf(
        t.path(),
        OffsetDateTime::now_utc() + Duration::days(100) + Duration::hours(2),
    );
    let r = inspect_in(t.path(), ["leaf.crt"]);
    r.exit(0);
    assert!(
        r.row("leaf.crt", "valid")
            .ends_with("(expires in 100 days)"),
        "{r:#?}"
    );
    assert_eq!(r.row("leaf.crt", "subject"), "CN=hundred days");
    assert_eq!(r.row("leaf.crt", "SANs"), "localhost, ::1");
    assert_eq!(r.row("leaf.crt", "EKU"), "serverAuth");
    assert_eq!(r.row("leaf.crt", "key usage"), "digitalSignature");
    let v: serde_json::Value =
        serde_json::from_str(&inspect_in(t.path(), ["--json", "leaf.crt"]).stdout).unwrap();
    assert_eq!(v[0]["items"][0]["expires_in_days"], 100, "{v}");
}

#[test]
fn expired_certificate_says_how_long_ago() {
    let r = inspect(&["expired.crt"]);
    r.exit(0);
    let days =
        (OffsetDateTime::now_utc() - not_after(&testdata_dir().join("expired.crt"))).whole_days();
    let valid = r.row("expired.crt", "valid");
    assert!(
        valid.starts_with("2020-01-01 00:00:00 UTC to 2021-01-01 00:00:00 UTC"),
        "{valid}"
    );
    assert!(
        valid.ends_with(&format!("(EXPIRED {days} days ago)")),
        "{valid}"
    );
}

#[test]
fn sha1_and_rsa_1024_and_ed25519_certificates_show_what_they_are() {
    let r = inspect(&["sha1.crt", "rsa1024.crt", "ed25519.crt"]);
    r.exit(0);
    assert_eq!(r.row("sha1.crt", "signature"), "sha1WithRSAEncryption");
    assert_eq!(r.row("rsa1024.crt", "key"), "RSA 1024");
    assert_eq!(r.row("ed25519.crt", "key"), "Ed25519");
}

#[test]
fn bundle_shows_both_certificates() {
    let r = inspect(&["bundle.crt"]);
    r.exit(0);
    let first = "bundle.crt (certificate 1 of 2)";
    let second = "bundle.crt (certificate 2 of 2)";
    assert_eq!(r.row(first, "subject"), "O=raytls testdata, CN=leaf");
    assert_eq!(
        r.row(second, "subject"),
        "O=raytls testdata, CN=raytls testdata RSA CA"
    );
    assert_eq!(r.row(second, "issuer"), "(self-signed)");
    let fp = |f: &str| sha256_fingerprint(&testdata_dir().join(f));
    assert_eq!(r.row(first, "SHA-256"), fp("leaf.crt"));
    assert_eq!(r.row(second, "SHA-256"), fp("ca-rsa.crt"));
    assert_eq!(r.stdout.matches(": certificate").count(), 2, "{r:#?}");
}

// ---- keys ----

#[test]
fn keys_in_every_format_show_type_and_matching_certificate() {
    let r = inspect(&[
        "leaf.crt",
        "ca-rsa.crt",
        "leaf.key",
        "leaf.pkcs8.key",
        "ca-rsa.key",
        "serverauth.key",
    ]);
    r.exit(0);
    assert_eq!(
        r.key_line("leaf.key"),
        "leaf.key: private key, ECDSA P-256 (SEC1); matches leaf.crt"
    );
    assert_eq!(
        r.key_line("leaf.pkcs8.key"),
        "leaf.pkcs8.key: private key, ECDSA P-256 (PKCS#8); matches leaf.crt"
    );
    assert_eq!(
        r.key_line("ca-rsa.key"),
        "ca-rsa.key: private key, RSA 2048 (PKCS#1); matches ca-rsa.crt"
    );
    assert_eq!(
        r.key_line("serverauth.key"),
        "serverauth.key: private key, ECDSA P-256 (SEC1); matches none of the certificates given"
    );
}

#[test]
fn key_matches_a_certificate_inside_a_bundle() {
    let r = inspect(&["bundle.crt", "ca-rsa.key", "leaf.key"]);
    r.exit(0);
    assert!(
        r.key_line("leaf.key")
            .ends_with("matches bundle.crt (certificate 1)"),
        "{r:#?}"
    );
    assert!(
        r.key_line("ca-rsa.key")
            .ends_with("matches bundle.crt (certificate 2)"),
        "{r:#?}"
    );
}

#[test]
fn raytls_issued_key_matches_its_certificate_not_the_ca() {
    let t = tmp();
    let ca = t.path().join("ca");
    let out = t.path().join("w");
    raytls(&["ca", "create", "--out", ca.to_str().unwrap()]);
    raytls(&[
        "issue",
        "worker",
        "--ca",
        ca.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--pod-ip",
        "10.0.0.7",
    ]);
    let r = inspect_in(&out, ["ca.crt", "tls.crt", "tls.key"]);
    r.exit(0);
    assert_eq!(
        r.key_line("tls.key"),
        "tls.key: private key, ECDSA P-256 (PKCS#8); matches tls.crt"
    );
    assert!(r.row("tls.crt", "SANs").contains("10.0.0.7"), "{r:#?}");
    assert_eq!(r.row("tls.crt", "EKU"), "serverAuth, clientAuth");
    assert_eq!(r.row("ca.crt", "issuer"), "(self-signed)");
}

#[test]
fn ed25519_key_is_shown_with_its_problem() {
    let r = inspect(&["ed25519.crt", "ed25519.key"]);
    r.exit(0);
    let line = r.key_line("ed25519.key");
    assert!(
        line.starts_with("ed25519.key: private key, Ed25519 (PKCS#8); matches ed25519.crt"),
        "{line}"
    );
    assert!(line.contains("Ray cannot use it"), "{line}");
}

#[test]
fn rsa_1024_key_shows_its_size_and_certificate() {
    let r = inspect(&["rsa1024.crt", "rsa1024.key"]);
    r.exit(0);
    let line = r.key_line("rsa1024.key");
    assert!(
        line.starts_with("rsa1024.key: private key, RSA 1024 (PKCS#1); matches rsa1024.crt"),
        "{line}"
    );
    assert!(
        line.contains("2048"),
        "the problem says the minimum: {line}"
    );
}

#[test]
fn output_never_contains_key_material() {
    let keys = [
        "leaf.key",
        "leaf.pkcs8.key",
        "ca-rsa.key",
        "ed25519.key",
        "rsa1024.key",
        "sha1.key",
    ];
    let mut args = vec!["leaf.crt", "ca-rsa.crt", "ed25519.crt", "rsa1024.crt"];
    args.extend(keys);
    let text = inspect(&args);
    text.exit(0);
    let mut json_args = vec!["--json"];
    json_args.extend(&args);
    let json = inspect(&json_args);
    json.exit(0);
    for out in [&text.stdout, &text.stderr, &json.stdout, &json.stderr] {
        assert!(!out.contains("PRIVATE KEY"), "{out}");
        assert!(!out.contains("-----BEGIN"), "{out}");
        for k in keys {
            let pem = fs::read_to_string(testdata_dir().join(k)).unwrap();
            let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            // Any 16 consecutive base64 characters of the key would be a leak.
            for chunk in b64.as_bytes().chunks(16).filter(|c| c.len() == 16) {
                let chunk = std::str::from_utf8(chunk).unwrap();
                assert!(
                    !out.contains(chunk),
                    "{k}: output contains {chunk:?}: {out}"
                );
            }
        }
    }
}

#[test]
fn json_parses_with_certificates_and_keys() {
    let r = inspect(&["--json", "bundle.crt", "leaf.key"]);
    r.exit(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    let files = v.as_array().expect("an array, one object per file");
    assert_eq!(files.len(), 2, "{v}");
    assert_eq!(files[0]["file"], "bundle.crt");
    let items = files[0]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{v}");
    assert_eq!(items[0]["kind"], "certificate");
    assert_eq!(items[0]["index"], 1);
    assert_eq!(items[0]["subject"], "O=raytls testdata, CN=leaf");
    assert_eq!(items[0]["is_ca"], false);
    assert_eq!(items[0]["eku"]["server_auth"], true);
    assert_eq!(items[0]["eku"]["client_auth"], true);
    assert_eq!(items[0]["public_key"]["type"], "ec");
    assert_eq!(items[0]["public_key"]["curve"], "P-256");
    assert!(
        items[0]["sans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "10.0.0.5"),
        "{v}"
    );
    assert!(items[0]["expires_in_days"].as_i64().unwrap() > 0, "{v}");
    assert_eq!(items[1]["index"], 2);
    assert_eq!(items[1]["is_ca"], true);
    assert_eq!(items[1]["path_len"], 0);
    assert_eq!(items[1]["self_signed"], true);
    assert_eq!(items[1]["public_key"]["type"], "rsa");
    assert_eq!(items[1]["public_key"]["bits"], 2048);
    assert_eq!(
        items[1]["sha256_fingerprint"],
        inspect(&["bundle.crt"]).row("bundle.crt (certificate 2 of 2)", "SHA-256")
    );
    let key = &files[1]["items"][0];
    assert_eq!(files[1]["file"], "leaf.key");
    assert_eq!(key["kind"], "private_key");
    assert_eq!(key["format"], "SEC1");
    assert_eq!(key["algorithm"], "ECDSA P-256");
    assert_eq!(key["matches"][0], "bundle.crt (certificate 1)");
}

// ---- unknown or broken input ----

#[test]
fn a_csr_is_refused_as_a_csr() {
    inspect(&["csr.pem"]).refused("csr.pem", "a CSR");
}

#[test]
fn a_non_pem_file_is_refused_as_not_pem() {
    inspect(&["not-pem.txt"]).refused("not-pem.txt", "not PEM");
    inspect(&["leaf.der"]).refused("leaf.der", "not PEM");
}

#[test]
fn an_encrypted_key_is_refused_as_encrypted() {
    let r = inspect(&["encrypted.key"]);
    r.refused("encrypted.key", "encrypted");
    assert!(!r.stderr.contains("PRIVATE KEY"), "{r:#?}");
}

#[test]
fn missing_and_empty_files_are_refused_naming_them() {
    let t = tmp();
    fs::write(t.path().join("empty.pem"), "").unwrap();
    inspect_in(t.path(), ["empty.pem"]).refused("empty.pem", "empty");
    inspect_in(t.path(), ["gone.pem"]).refused("gone.pem", "cannot read");
}

#[test]
fn one_bad_file_among_good_ones_is_exit_2_naming_it() {
    let r = inspect(&["leaf.crt", "csr.pem", "leaf.key"]);
    r.refused("csr.pem", "a CSR");
    assert!(
        !r.stderr.contains("leaf.crt"),
        "names only the bad file: {r:#?}"
    );
}

#[test]
fn no_files_is_a_usage_error() {
    inspect(&[]).exit(2);
}

#[test]
fn regression_unwritable_stdout_is_an_error_not_a_panic() {
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = crate::util::raytls_command()
        .args(["inspect", "leaf.crt"])
        .current_dir(testdata_dir())
        .stdout(Stdio::from(full))
        .output()
        .expect("run raytls");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    assert_ne!(
        out.status.code(),
        Some(0),
        "a write error is not success: {stderr}"
    );
}
