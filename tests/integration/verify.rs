//! `raytls verify`: every check has a passing and a failing case, asserting the exit code
//! and the reason on that check's line. Fixtures come from `testdata/` (openssl, see its
//! README), from the binary itself (`ca create`, `issue`), or from rcgen in the test for
//! shapes neither makes (dates, EKU, CA flag, a second CA with the same subject).
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

const POD_IP: &str = "10.0.0.5";
const FQDN: &str = "raycluster-head-svc.default.svc.cluster.local";

// ---- running the binary ----

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The `(tag, message)` of the line for check `code` ("ok", "FAIL", "warn", "RENEW").
    #[track_caller]
    fn check(&self, code: &str) -> (String, String) {
        self.find(code)
            .unwrap_or_else(|| panic!("no line for check {code:?}; run was {self:#?}"))
    }

    fn find(&self, code: &str) -> Option<(String, String)> {
        self.stdout.lines().find_map(|l| {
            let mut words = l.split_whitespace();
            let tag = words.next()?;
            (words.next()? == code).then(|| {
                // "TAG CODE   message": drop the first two words.
                let rest = l.trim_start()[tag.len()..].trim_start();
                let msg = rest[code.len()..].trim().to_string();
                (tag.to_string(), msg)
            })
        })
    }

    /// Check `code` has status `tag` and its message contains every one of `needles`.
    #[track_caller]
    fn expect(&self, code: &str, tag: &str, needles: &[&str]) -> &Self {
        let (t, msg) = self.check(code);
        assert_eq!(t, tag, "check {code}: wrong status; run was {self:#?}");
        for n in needles {
            assert!(
                msg.contains(n),
                "check {code}: message {msg:?} lacks {n:?}; run was {self:#?}"
            );
        }
        self
    }

    #[track_caller]
    fn exit(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "wrong exit code; run was {self:#?}");
        assert!(!self.stderr.contains("panicked"), "panic: {self:#?}");
        self
    }

    /// Exit 2 with one error line on stderr that names `file` and contains `needles`.
    #[track_caller]
    fn unreadable(&self, file: &str, needles: &[&str]) -> &Self {
        self.exit(2);
        let err = self.stderr.trim();
        assert_eq!(err.lines().count(), 1, "one error line; run was {self:#?}");
        assert!(err.contains(file), "stderr does not name {file}: {self:#?}");
        for n in needles {
            assert!(err.contains(n), "stderr lacks {n:?}: {self:#?}");
        }
        self
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("--json output does not parse ({e}): {self:#?}"))
    }
}

/// A `raytls` command with the runner's Ray/pod environment removed, so only what a test
/// sets explicitly reaches the child.
fn cmd<I, S>(args: I, env: &[(&str, &OsStr)]) -> Command
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut c = crate::util::raytls_command();
    c.args(args.into_iter().map(Into::into))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn raytls_env<I, S>(args: I, env: &[(&str, &OsStr)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let out = cmd(args, env).output().expect("run raytls");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn raytls<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    raytls_env(args, &[])
}

/// `raytls verify --ca CA --cert CERT [--key KEY] extra...`
fn verify(ca: &Path, cert: &Path, key: Option<&Path>, extra: &[&str]) -> Run {
    let mut args: Vec<OsString> = vec![
        "verify".into(),
        "--ca".into(),
        ca.into(),
        "--cert".into(),
        cert.into(),
    ];
    if let Some(k) = key {
        args.extend(["--key".into(), k.into()]);
    }
    args.extend(extra.iter().map(OsString::from));
    raytls(args)
}

/// `raytls verify --dir DIR extra...`
fn verify_dir(dir: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<OsString> = vec!["verify".into(), "--dir".into(), dir.into()];
    args.extend(extra.iter().map(OsString::from));
    raytls(args)
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// The RSA CA of testdata/ and one of its leaves: `(ca, cert, key)`.
fn fixture(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    (
        testdata("ca-rsa.crt"),
        testdata(&format!("{name}.crt")),
        testdata(&format!("{name}.key")),
    )
}

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("raytls-verify-")
        .tempdir()
        .expect("temp dir")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `raytls ca create --out DIR [extra...]`.
fn ca_create(dir: &Path, extra: &[&str]) {
    let mut args = vec!["ca", "create", "--out", s(dir)];
    args.extend(extra);
    raytls(args).exit(0);
}

/// `raytls issue ROLE --ca CA --out OUT extra...`: OUT holds ca.crt, tls.crt, tls.key.
fn issue(role: &str, ca: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec!["issue", role, "--ca", s(ca), "--out", s(out)];
    args.extend(extra);
    raytls(args).exit(0);
}

/// A CA dir and a head set for POD_IP and FQDN under it (in `t/ca` and `t/head`).
fn head_set(t: &Path) -> (PathBuf, PathBuf) {
    let ca = t.join("ca");
    let head = t.join("head");
    ca_create(&ca, &[]);
    issue("head", &ca, &head, &["--pod-ip", POD_IP, "--fqdn", FQDN]);
    (ca, head)
}

// ---- rcgen-made certificates ----

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A self-signed rcgen CA (ECDSA P-256) with subject `O=raytls, CN=cn`, written as
/// `dir/ca.crt` + `dir/ca.key`.
fn rcgen_ca(dir: &Path, cn: &str, not_before: OffsetDateTime, not_after: OffsetDateTime) {
    crate::util::RcgenCa::with(cn, not_before, not_after, |p| {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "raytls");
        dn.push(DnType::CommonName, cn);
        p.distinguished_name = dn;
        // Path length 1, so that one test can put an intermediate under it.
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    })
    .write_to(dir);
}

/// Leaf parameters as raytls issues them for a head pod: the head SANs, EKU
/// serverAuth+clientAuth, not a CA, valid from a minute ago for a year.
fn leaf_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "rcgen leaf");
    p.distinguished_name = dn;
    p.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().unwrap()),
        SanType::IpAddress("127.0.0.1".parse().unwrap()),
        SanType::IpAddress(POD_IP.parse().unwrap()),
        SanType::DnsName(FQDN.try_into().unwrap()),
    ];
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.not_before = now() - Duration::minutes(1);
    p.not_after = now() + Duration::days(365);
    p
}

/// Sign `params` with the CA in `ca_dir` (ca.crt + PKCS#8 ca.key) and write `out/` as
/// `issue` does: ca.crt (a copy), tls.crt, tls.key.
fn rcgen_leaf(ca_dir: &Path, params: CertificateParams, out: &Path) {
    let ca_pem = fs::read_to_string(ca_dir.join("ca.crt")).unwrap();
    let ca_key = KeyPair::from_pem(&fs::read_to_string(ca_dir.join("ca.key")).unwrap())
        .expect("CA key (PKCS#8)");
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).expect("issuer");
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    fs::create_dir_all(out).unwrap();
    fs::write(out.join("ca.crt"), ca_pem).unwrap();
    fs::write(out.join("tls.crt"), cert.pem()).unwrap();
    fs::write(out.join("tls.key"), key.serialize_pem()).unwrap();
}

/// A raytls CA in `t/ca` and an rcgen leaf from `params` in `t/leaf`.
fn raytls_ca_rcgen_leaf(t: &Path, params: CertificateParams) -> PathBuf {
    let ca = t.join("ca");
    ca_create(&ca, &[]);
    let leaf = t.join("leaf");
    rcgen_leaf(&ca, params, &leaf);
    leaf
}

// ---- the good case: every check passes ----

#[test]
fn good_openssl_set_passes_every_check_for_a_head() {
    let (ca, cert, key) = fixture("leaf");
    let r = verify(
        &ca,
        &cert,
        Some(&key),
        &["--role", "head", "--pod-ip", POD_IP, "--fqdn", FQDN],
    );
    r.exit(0)
        .expect("ca", "ok", &["is a CA", "RSA 2048"])
        .expect("chain_server", "ok", &["TLS server"])
        .expect("chain_client", "ok", &["TLS client"])
        .expect("key_match", "ok", &["matches"])
        .expect("leaf_not_ca", "ok", &["leaf"])
        .expect("sans", "ok", &[POD_IP, FQDN, "localhost", "127.0.0.1"])
        .expect("eku", "ok", &["serverAuth and clientAuth"])
        .expect("ray_compat", "ok", &["usable by Ray"])
        .expect("validity", "ok", &["days left"]);
    assert!(r.find("outlives_ca").is_none(), "{r:#?}");
    assert!(!r.stdout.contains("FAIL"), "{r:#?}");
    assert!(r.stdout.contains("Ray will accept these files"), "{r:#?}");
}

#[test]
fn dir_with_a_raytls_issued_head_set_passes() {
    let t = tmp();
    let (_, head) = head_set(t.path());
    verify_dir(
        &head,
        &["--role", "head", "--pod-ip", POD_IP, "--fqdn", FQDN],
    )
    .exit(0)
    .expect("key_match", "ok", &[])
    .expect("sans", "ok", &[POD_IP, FQDN]);
}

#[test]
fn dir_missing_its_key_is_unreadable_input() {
    let t = tmp();
    let (_, head) = head_set(t.path());
    fs::remove_file(head.join("tls.key")).unwrap();
    verify_dir(&head, &[]).unreadable("tls.key", &[]);
}

#[test]
fn json_report_parses_with_ok_needs_renewal_and_checks() {
    let (ca, cert, key) = fixture("leaf");
    let r = verify(&ca, &cert, Some(&key), &["--json"]);
    r.exit(0);
    let v = r.json();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["needs_renewal"], false, "{v}");
    let checks = v["checks"].as_array().expect("checks array");
    let codes: Vec<&str> = checks.iter().map(|c| c["code"].as_str().unwrap()).collect();
    for code in [
        "ca",
        "chain_server",
        "chain_client",
        "key_match",
        "leaf_not_ca",
        "sans",
        "eku",
        "ray_compat",
        "validity",
    ] {
        assert!(codes.contains(&code), "no {code} in {v}");
    }
    for c in checks {
        assert_eq!(c["status"], "pass", "{c}");
        assert!(!c["message"].as_str().unwrap().is_empty(), "{c}");
    }
}

#[test]
fn json_report_of_a_failure_and_of_a_renewal() {
    let (ca, cert, key) = fixture("serverauth");
    let r = verify(&ca, &cert, Some(&key), &["--json"]);
    r.exit(1);
    let v = r.json();
    assert_eq!(v["ok"], false, "{v}");
    let eku = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "eku")
        .expect("eku check");
    assert_eq!(eku["status"], "fail", "{v}");
    assert!(
        eku["message"].as_str().unwrap().contains("clientAuth"),
        "{v}"
    );

    let t = tmp();
    let mut p = leaf_params();
    p.not_after = now() + Duration::days(10);
    let leaf = raytls_ca_rcgen_leaf(t.path(), p);
    let r = verify_dir(&leaf, &["--json"]);
    r.exit(3);
    let v = r.json();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["needs_renewal"], true, "{v}");
    let validity = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "validity")
        .expect("validity check");
    assert_eq!(validity["status"], "renew", "{v}");
}

// ---- ca ----

#[test]
fn ca_check_fails_when_the_ca_file_is_a_leaf() {
    let (_, cert, key) = fixture("leaf");
    verify(&cert, &cert, Some(&key), &[]).exit(1).expect(
        "ca",
        "FAIL",
        &["leaf.crt", "not a CA certificate"],
    );
}

#[test]
fn ca_check_fails_when_the_ca_has_expired() {
    let t = tmp();
    let ca = t.path().join("ca");
    rcgen_ca(
        &ca,
        "old CA",
        now() - Duration::days(400),
        now() - Duration::days(5),
    );
    let mut p = leaf_params();
    p.not_before = now() - Duration::days(300);
    p.not_after = now() - Duration::days(10);
    rcgen_leaf(&ca, p, &t.path().join("leaf"));
    verify_dir(&t.path().join("leaf"), &[])
        .exit(1)
        .expect("ca", "FAIL", &["ca.crt", "expired"]);
}

// ---- chain_server / chain_client ----

#[test]
fn chain_fails_for_a_leaf_of_another_ca() {
    let t = tmp();
    let (_, head) = head_set(t.path());
    let other = t.path().join("other-ca");
    ca_create(&other, &[]);
    verify(
        &other.join("ca.crt"),
        &head.join("tls.crt"),
        Some(&head.join("tls.key")),
        &[],
    )
    .exit(1)
    .expect("chain_server", "FAIL", &["TLS server", "unknown issuer"])
    .expect("chain_client", "FAIL", &["TLS client", "unknown issuer"])
    .expect("key_match", "ok", &[]);
}

#[test]
fn chain_fails_for_a_leaf_of_another_ca_with_the_same_subject() {
    let t = tmp();
    let real = t.path().join("real");
    let impostor = t.path().join("impostor");
    rcgen_ca(
        &real,
        "same name",
        now() - Duration::days(1),
        now() + Duration::days(3650),
    );
    rcgen_ca(
        &impostor,
        "same name",
        now() - Duration::days(1),
        now() + Duration::days(3650),
    );
    rcgen_leaf(&impostor, leaf_params(), &t.path().join("leaf"));
    // The premise: same subject bytes, different keys.
    let subject = |p: &Path| {
        let der = pem_cert_der(p);
        let (_, c) = x509_parser::parse_x509_certificate(&der).unwrap();
        (c.subject().as_raw().to_vec(), c.public_key().raw.to_vec())
    };
    let (rs, rk) = subject(&real.join("ca.crt"));
    let (is, ik) = subject(&impostor.join("ca.crt"));
    assert_eq!(rs, is);
    assert_ne!(rk, ik);
    verify(
        &real.join("ca.crt"),
        &t.path().join("leaf/tls.crt"),
        Some(&t.path().join("leaf/tls.key")),
        &[],
    )
    .exit(1)
    .expect(
        "chain_server",
        "FAIL",
        &["does not verify with this CA's key"],
    )
    .expect(
        "chain_client",
        "FAIL",
        &["does not verify with this CA's key"],
    );
}

fn pem_cert_der(p: &Path) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_file(p)
        .expect("a PEM certificate")
        .to_vec()
}

#[test]
fn chain_client_fails_for_a_server_auth_only_leaf() {
    let (ca, cert, key) = fixture("serverauth");
    verify(&ca, &cert, Some(&key), &[])
        .exit(1)
        .expect("chain_server", "ok", &[])
        .expect(
            "chain_client",
            "FAIL",
            &["TLS client", "extended key usage"],
        );
}

#[test]
fn chain_server_fails_for_a_client_auth_only_leaf() {
    let t = tmp();
    let mut p = leaf_params();
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let leaf = raytls_ca_rcgen_leaf(t.path(), p);
    verify_dir(&leaf, &[])
        .exit(1)
        .expect(
            "chain_server",
            "FAIL",
            &["TLS server", "extended key usage"],
        )
        .expect("chain_client", "ok", &[]);
}

// ---- key_match ----

#[test]
fn key_match_fails_for_the_key_of_another_certificate() {
    let (ca, cert, _) = fixture("leaf");
    verify(&ca, &cert, Some(&testdata("serverauth.key")), &[])
        .exit(1)
        .expect(
            "key_match",
            "FAIL",
            &["does not belong to this certificate"],
        );
}

#[test]
fn key_match_passes_for_pkcs8_and_sec1_keys_of_the_cert() {
    let (ca, cert, key) = fixture("leaf");
    verify(&ca, &cert, Some(&key), &[])
        .exit(0)
        .expect("key_match", "ok", &["matches"]);
    verify(&ca, &cert, Some(&testdata("leaf.pkcs8.key")), &[])
        .exit(0)
        .expect("key_match", "ok", &["matches"]);
}

#[test]
fn key_match_is_skipped_without_a_key() {
    let (ca, cert, _) = fixture("leaf");
    let r = verify(&ca, &cert, None, &[]);
    r.exit(0);
    assert!(r.find("key_match").is_none(), "{r:#?}");
}

// ---- leaf_not_ca ----

#[test]
fn leaf_not_ca_fails_for_a_ca_certificate_used_as_leaf() {
    let t = tmp();
    let mut p = leaf_params();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let leaf = raytls_ca_rcgen_leaf(t.path(), p);
    verify_dir(&leaf, &[])
        .exit(1)
        .expect("leaf_not_ca", "FAIL", &["is a CA", "leaf"]);
}

#[test]
fn leaf_not_ca_fails_for_the_ca_itself_as_cert() {
    let t = tmp();
    let ca = t.path().join("ca");
    ca_create(&ca, &[]);
    verify(
        &ca.join("ca.crt"),
        &ca.join("ca.crt"),
        Some(&ca.join("ca.key")),
        &[],
    )
    .exit(1)
    .expect("ca", "ok", &[])
    .expect("key_match", "ok", &[])
    .expect("leaf_not_ca", "FAIL", &["CA:TRUE"]);
}

// ---- sans, --role, --pod-ip, --fqdn, --san ----

#[test]
fn sans_pass_and_fail_for_extra_san() {
    let (ca, cert, key) = fixture("leaf");
    verify(
        &ca,
        &cert,
        Some(&key),
        &["--san", "localhost", "--san", POD_IP],
    )
    .exit(0)
    .expect("sans", "ok", &[]);
    verify(
        &ca,
        &cert,
        Some(&key),
        &["--san", "localhost", "--san", "gcs.example.com"],
    )
    .exit(1)
    .expect("sans", "FAIL", &["does not cover gcs.example.com"]);
}

#[test]
fn head_role_fails_naming_a_missing_fqdn() {
    let t = tmp();
    let (_, head) = head_set(t.path());
    verify_dir(
        &head,
        &[
            "--role",
            "head",
            "--pod-ip",
            POD_IP,
            "--fqdn",
            "other-head-svc.default.svc.cluster.local",
        ],
    )
    .exit(1)
    .expect(
        "sans",
        "FAIL",
        &["does not cover other-head-svc.default.svc.cluster.local"],
    );
}

#[test]
fn head_role_fails_naming_a_missing_pod_ip() {
    let t = tmp();
    let (_, head) = head_set(t.path());
    verify_dir(
        &head,
        &["--role", "head", "--pod-ip", "10.0.0.99", "--fqdn", FQDN],
    )
    .exit(1)
    .expect("sans", "FAIL", &["does not cover 10.0.0.99"]);
}

#[test]
fn head_role_reads_fqdn_from_fq_ray_ip() {
    let t = tmp();
    let (_, head) = head_set(t.path());
    let args = |dir: &Path| -> Vec<OsString> {
        vec![
            "verify".into(),
            "--dir".into(),
            dir.into(),
            "--role".into(),
            "head".into(),
            "--pod-ip".into(),
            POD_IP.into(),
        ]
    };
    raytls_env(args(&head), &[("FQ_RAY_IP", OsStr::new(FQDN))])
        .exit(0)
        .expect("sans", "ok", &[FQDN]);
    raytls_env(
        args(&head),
        &[("FQ_RAY_IP", OsStr::new("elsewhere.example.com"))],
    )
    .exit(1)
    .expect("sans", "FAIL", &["does not cover elsewhere.example.com"]);
}

#[test]
fn worker_role_needs_localhost_and_the_pod_ip() {
    let t = tmp();
    let ca = t.path().join("ca");
    let worker = t.path().join("worker");
    ca_create(&ca, &[]);
    issue("worker", &ca, &worker, &["--pod-ip", "10.0.0.7"]);
    verify_dir(&worker, &["--role", "worker", "--pod-ip", "10.0.0.7"])
        .exit(0)
        .expect("sans", "ok", &["localhost", "127.0.0.1", "10.0.0.7"]);
    verify_dir(&worker, &["--role", "worker", "--pod-ip", "10.0.0.8"])
        .exit(1)
        .expect("sans", "FAIL", &["does not cover 10.0.0.8"]);

    // A leaf with only the pod IP: localhost and 127.0.0.1 are missing.
    let mut p = leaf_params();
    p.subject_alt_names = vec![SanType::IpAddress("10.0.0.7".parse().unwrap())];
    rcgen_leaf(&ca, p, &t.path().join("ip-only"));
    verify_dir(
        &t.path().join("ip-only"),
        &["--role", "worker", "--pod-ip", "10.0.0.7"],
    )
    .exit(1)
    .expect(
        "sans",
        "FAIL",
        &["localhost", "127.0.0.1", "it covers 10.0.0.7"],
    );
}

#[test]
fn worker_role_reads_pod_ip_from_env() {
    let t = tmp();
    let ca = t.path().join("ca");
    let worker = t.path().join("worker");
    ca_create(&ca, &[]);
    issue("worker", &ca, &worker, &["--pod-ip", "10.0.0.7"]);
    let args: Vec<OsString> = vec![
        "verify".into(),
        "--dir".into(),
        worker.clone().into(),
        "--role".into(),
        "worker".into(),
    ];
    raytls_env(args.clone(), &[("POD_IP", OsStr::new("10.0.0.7"))])
        .exit(0)
        .expect("sans", "ok", &["10.0.0.7"]);
    let r = raytls_env(args, &[("POD_IP", OsStr::new("10.0.0.9"))]);
    r.exit(1)
        .expect("sans", "FAIL", &["does not cover 10.0.0.9"]);
    assert!(r.find("pod_ip_unchecked").is_none(), "{r:#?}");
}

#[test]
fn worker_role_without_pod_ip_warns_pod_ip_unchecked() {
    let t = tmp();
    let ca = t.path().join("ca");
    let worker = t.path().join("worker");
    ca_create(&ca, &[]);
    issue("worker", &ca, &worker, &["--pod-ip", "10.0.0.7"]);
    verify_dir(&worker, &["--role", "worker"])
        .exit(0)
        .expect("pod_ip_unchecked", "warn", &["pod IP"])
        .expect("sans", "ok", &[]);
    let r = verify_dir(&worker, &["--role", "worker", "--pod-ip", "10.0.0.7"]);
    r.exit(0);
    assert!(r.find("pod_ip_unchecked").is_none(), "{r:#?}");
}

#[test]
fn invalid_pod_ip_is_a_usage_error() {
    let (ca, cert, key) = fixture("leaf");
    let r = verify(
        &ca,
        &cert,
        Some(&key),
        &["--role", "worker", "--pod-ip", "not-an-ip"],
    );
    r.exit(2);
    assert!(r.stderr.contains("not-an-ip"), "{r:#?}");
}

// ---- eku ----

#[test]
fn eku_passes_with_both_and_with_none() {
    let (ca, cert, key) = fixture("leaf");
    verify(&ca, &cert, Some(&key), &[])
        .exit(0)
        .expect("eku", "ok", &["serverAuth and clientAuth"]);

    let t = tmp();
    let mut p = leaf_params();
    p.extended_key_usages = vec![];
    let leaf = raytls_ca_rcgen_leaf(t.path(), p);
    verify_dir(&leaf, &[])
        .exit(0)
        .expect("eku", "ok", &["no EKU"])
        .expect("chain_server", "ok", &[])
        .expect("chain_client", "ok", &[]);
}

#[test]
fn eku_fails_for_server_auth_only_naming_client_auth() {
    let (ca, cert, key) = fixture("serverauth");
    verify(&ca, &cert, Some(&key), &[])
        .exit(1)
        .expect("eku", "FAIL", &["lacks clientAuth", "Ray"]);
}

#[test]
fn eku_fails_for_client_auth_only_naming_server_auth() {
    let t = tmp();
    let mut p = leaf_params();
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let leaf = raytls_ca_rcgen_leaf(t.path(), p);
    verify_dir(&leaf, &[])
        .exit(1)
        .expect("eku", "FAIL", &["lacks serverAuth"]);
}

// ---- ray_compat ----

#[test]
fn ray_compat_passes_for_ecdsa_and_rsa_2048() {
    let (ca, cert, key) = fixture("leaf");
    verify(&ca, &cert, Some(&key), &[]).exit(0).expect(
        "ray_compat",
        "ok",
        &["ECDSA P-256", "usable by Ray"],
    );
    // The RSA 2048 CA, checked as a leaf of itself: only ray_compat matters here.
    verify(&ca, &ca, Some(&testdata("ca-rsa.key")), &[])
        .exit(1)
        .expect("ray_compat", "ok", &["RSA 2048", "usable by Ray"]);
}

#[test]
fn ray_compat_fails_for_ed25519_naming_ray() {
    let (ca, cert, key) = fixture("ed25519");
    verify(&ca, &cert, Some(&key), &[])
        .exit(1)
        .expect("ray_compat", "FAIL", &["Ed25519", "Ray"])
        .expect("key_match", "FAIL", &["Ed25519", "Ray"]);
}

#[test]
fn ray_compat_fails_for_rsa_1024_naming_ray() {
    let (ca, cert, key) = fixture("rsa1024");
    verify(&ca, &cert, Some(&key), &[]).exit(1).expect(
        "ray_compat",
        "FAIL",
        &["RSA 1024", "Ray", "2048"],
    );
}

#[test]
fn ray_compat_fails_for_sha1_signature_naming_ray() {
    let (ca, cert, key) = fixture("sha1");
    verify(&ca, &cert, Some(&key), &[])
        .exit(1)
        .expect(
            "ray_compat",
            "FAIL",
            &["sha1WithRSAEncryption", "Ray", "SHA-1"],
        )
        .expect("chain_server", "FAIL", &["SHA-1"]);
}

// ---- outlives_ca ----

#[test]
fn outlives_ca_is_a_warning_and_exit_0() {
    let t = tmp();
    let ca = t.path().join("ca");
    ca_create(&ca, &["--days", "100"]);
    let mut p = leaf_params();
    p.not_after = now() + Duration::days(365);
    rcgen_leaf(&ca, p, &t.path().join("leaf"));
    verify_dir(&t.path().join("leaf"), &[]).exit(0).expect(
        "outlives_ca",
        "warn",
        &["but the CA expires on"],
    );
}

#[test]
fn no_outlives_ca_line_when_the_ca_outlives_the_leaf() {
    let t = tmp();
    let leaf = raytls_ca_rcgen_leaf(t.path(), leaf_params());
    let r = verify_dir(&leaf, &[]);
    r.exit(0);
    assert!(r.find("outlives_ca").is_none(), "{r:#?}");
}

// ---- validity ----

#[test]
fn validity_fails_for_an_expired_openssl_leaf() {
    let (ca, cert, key) = fixture("expired");
    verify(&ca, &cert, Some(&key), &[])
        .exit(1)
        .expect("validity", "FAIL", &["expired on 2021-01-01"])
        // Reported once, by the time check, not as a chain failure too.
        .expect("chain_server", "ok", &[]);
}

#[test]
fn validity_fails_for_a_backdated_rcgen_leaf() {
    let t = tmp();
    let mut p = leaf_params();
    p.not_before = now() - Duration::days(400);
    p.not_after = now() - Duration::days(35);
    let leaf = raytls_ca_rcgen_leaf(t.path(), p);
    verify_dir(&leaf, &[])
        .exit(1)
        .expect("validity", "FAIL", &["expired on"]);
}

#[test]
fn validity_fails_for_a_not_yet_valid_leaf() {
    let t = tmp();
    let mut p = leaf_params();
    p.not_before = now() + Duration::days(10);
    p.not_after = now() + Duration::days(400);
    let leaf = raytls_ca_rcgen_leaf(t.path(), p);
    verify_dir(&leaf, &[])
        .exit(1)
        .expect("validity", "FAIL", &["not valid until"]);
}

#[test]
fn validity_within_renew_before_is_needs_renewal_exit_3() {
    let t = tmp();
    let mut p = leaf_params();
    p.not_after = now() + Duration::days(10) + Duration::hours(1);
    let leaf = raytls_ca_rcgen_leaf(t.path(), p);
    // Default --renew-before is 30d.
    let r = verify_dir(&leaf, &[]);
    r.exit(3)
        .expect("validity", "RENEW", &["10 days left", "due for renewal"]);
    assert!(r.stdout.contains("due for renewal"), "{r:#?}");
    verify_dir(&leaf, &["--renew-before", "20d"])
        .exit(3)
        .expect("validity", "RENEW", &["due for renewal"]);
    verify_dir(&leaf, &["--renew-before", "5d"]).exit(0).expect(
        "validity",
        "ok",
        &["10 days left"],
    );
}

#[test]
fn a_failure_outranks_needs_renewal() {
    let t = tmp();
    let mut p = leaf_params();
    p.not_after = now() + Duration::days(10);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = raytls_ca_rcgen_leaf(t.path(), p);
    verify_dir(&leaf, &[])
        .exit(1)
        .expect("validity", "RENEW", &[])
        .expect("eku", "FAIL", &[]);
}

// ---- --from-env ----

fn env_of(dir: &Path) -> [(&'static str, OsString); 3] {
    [
        ("RAY_TLS_CA_CERT", dir.join("ca.crt").into()),
        ("RAY_TLS_SERVER_CERT", dir.join("tls.crt").into()),
        ("RAY_TLS_SERVER_KEY", dir.join("tls.key").into()),
    ]
}

#[test]
fn from_env_reads_the_ray_tls_variables() {
    let t = tmp();
    let (_, head) = head_set(t.path());
    let env = env_of(&head);
    let env: Vec<(&str, &OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    raytls_env(
        [
            "verify",
            "--from-env",
            "--role",
            "head",
            "--pod-ip",
            POD_IP,
            "--fqdn",
            FQDN,
        ],
        &env,
    )
    .exit(0)
    .expect("key_match", "ok", &[])
    .expect("sans", "ok", &[POD_IP]);

    // The env points at another pod's files: the pod IP check fails.
    raytls_env(
        [
            "verify",
            "--from-env",
            "--role",
            "worker",
            "--pod-ip",
            "10.0.0.6",
        ],
        &env,
    )
    .exit(1)
    .expect("sans", "FAIL", &["does not cover 10.0.0.6"]);
}

#[test]
fn from_env_with_a_variable_missing_is_exit_2_naming_it() {
    let t = tmp();
    let (_, head) = head_set(t.path());
    let env = env_of(&head);
    for missing in [
        "RAY_TLS_CA_CERT",
        "RAY_TLS_SERVER_CERT",
        "RAY_TLS_SERVER_KEY",
    ] {
        let env: Vec<(&str, &OsStr)> = env
            .iter()
            .filter(|(k, _)| *k != missing)
            .map(|(k, v)| (*k, v.as_os_str()))
            .collect();
        let r = raytls_env(["verify", "--from-env"], &env);
        r.exit(2);
        assert!(
            r.stderr.contains(missing),
            "stderr does not name {missing}: {r:#?}"
        );
    }
}

#[test]
fn from_env_pointing_at_a_missing_file_is_exit_2_naming_it() {
    let t = tmp();
    let (_, head) = head_set(t.path());
    let gone = t.path().join("gone.crt");
    let env = [
        ("RAY_TLS_CA_CERT", head.join("ca.crt").into_os_string()),
        ("RAY_TLS_SERVER_CERT", gone.into_os_string()),
        ("RAY_TLS_SERVER_KEY", head.join("tls.key").into_os_string()),
    ];
    let env: Vec<(&str, &OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    raytls_env(["verify", "--from-env"], &env).unreadable("gone.crt", &[]);
}

// ---- unreadable input and usage ----

#[test]
fn missing_files_are_exit_2_naming_the_file() {
    let (ca, cert, key) = fixture("leaf");
    let t = tmp();
    let gone = t.path().join("no-such.pem");
    verify(&gone, &cert, Some(&key), &[]).unreadable("no-such.pem", &[]);
    verify(&ca, &gone, Some(&key), &[]).unreadable("no-such.pem", &[]);
    verify(&ca, &cert, Some(&gone), &[]).unreadable("no-such.pem", &[]);
}

#[test]
fn a_csr_as_cert_is_exit_2_naming_the_file() {
    let (ca, _, key) = fixture("leaf");
    verify(&ca, &testdata("csr.pem"), Some(&key), &[]).unreadable("csr.pem", &["CSR"]);
}

#[test]
fn garbage_inputs_are_exit_2_naming_the_file() {
    let (ca, cert, key) = fixture("leaf");
    let garbage = testdata("not-pem.txt");
    verify(&garbage, &cert, Some(&key), &[]).unreadable("not-pem.txt", &["not PEM"]);
    verify(&ca, &garbage, Some(&key), &[]).unreadable("not-pem.txt", &["not PEM"]);
    verify(&ca, &cert, Some(&garbage), &[]).unreadable("not-pem.txt", &[]);
    verify(&ca, &testdata("leaf.der"), Some(&key), &[]).unreadable("leaf.der", &["DER"]);
}

#[test]
fn an_encrypted_key_is_exit_2_naming_the_file() {
    let (ca, cert, _) = fixture("leaf");
    verify(&ca, &cert, Some(&testdata("encrypted.key")), &[])
        .unreadable("encrypted.key", &["encrypted"]);
}

#[test]
fn a_cert_given_as_key_is_exit_2_naming_the_file() {
    let (ca, cert, _) = fixture("leaf");
    verify(&ca, &cert, Some(&cert), &[]).unreadable("leaf.crt", &["certificate"]);
}

#[test]
fn no_inputs_is_a_usage_error() {
    let r = raytls(["verify"]);
    r.exit(2);
    assert!(r.stderr.contains("--ca"), "{r:#?}");
}

// ---- --wait ----

/// Write `src` over `dst` atomically: a temp file in the same directory, then rename.
fn replace_atomically(src: &Path, dst: &Path) {
    let tmp = dst.with_extension("new");
    fs::copy(src, &tmp).unwrap();
    fs::rename(&tmp, dst).unwrap();
}

#[test]
fn wait_succeeds_once_the_files_gain_the_pod_ip() {
    let t = tmp();
    let ca = t.path().join("ca");
    ca_create(&ca, &[]);
    // cert-manager's first Secret: issued before the pod had its IP.
    let mounted = t.path().join("mounted");
    issue("worker", &ca, &mounted, &["--pod-ip", "10.0.0.6"]);
    let fresh = t.path().join("fresh");
    issue("worker", &ca, &fresh, &["--pod-ip", "10.0.0.7"]);

    let mut child = cmd(
        [
            OsString::from("verify"),
            "--dir".into(),
            mounted.clone().into(),
            "--role".into(),
            "worker".into(),
            "--pod-ip".into(),
            "10.0.0.7".into(),
            "--wait".into(),
            "10s".into(),
        ],
        &[],
    )
    .spawn()
    .expect("spawn raytls");
    // Replace the files only once raytls says it is waiting, so that its first look
    // certainly saw the old ones (no sleep to tune). The "~1 s" of the brief is this wait.
    let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("read stderr");
    assert!(
        first.contains("waiting") && first.contains("10.0.0.7"),
        "first stderr line should say it waits for the pod IP: {first:?}"
    );
    replace_atomically(&fresh.join("tls.key"), &mounted.join("tls.key"));
    replace_atomically(&fresh.join("tls.crt"), &mounted.join("tls.crt"));
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("read stderr");
    let out = child.wait_with_output().expect("wait for raytls");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: first + &rest,
    };
    r.exit(0).expect("sans", "ok", &["10.0.0.7"]);
    assert!(!r.stdout.contains("FAIL"), "{r:#?}");
}

#[test]
fn wait_that_never_succeeds_fails_with_the_last_report() {
    let t = tmp();
    let ca = t.path().join("ca");
    let mounted = t.path().join("mounted");
    ca_create(&ca, &[]);
    issue("worker", &ca, &mounted, &["--pod-ip", "10.0.0.6"]);
    let r = verify_dir(
        &mounted,
        &["--role", "worker", "--pod-ip", "10.0.0.7", "--wait", "2s"],
    );
    r.exit(1)
        .expect("sans", "FAIL", &["does not cover 10.0.0.7"]);
    assert!(r.stderr.contains("waiting"), "{r:#?}");
}

#[test]
fn wait_on_files_that_never_appear_is_exit_2() {
    let t = tmp();
    let r = verify_dir(&t.path().join("not-mounted-yet"), &["--wait", "2s"]);
    r.exit(2);
    assert!(r.stderr.contains("not-mounted-yet"), "{r:#?}");
    assert!(r.stderr.contains("waiting"), "{r:#?}");
}

// ---- found while writing these tests ----

#[test]
fn regression_empty_pod_ip_is_a_usage_error_naming_pod_ip() {
    let t = tmp();
    let ca = t.path().join("ca");
    let worker = t.path().join("worker");
    ca_create(&ca, &[]);
    issue("worker", &ca, &worker, &["--pod-ip", "10.0.0.7"]);
    let args: Vec<OsString> = vec![
        "verify".into(),
        "--dir".into(),
        worker.into(),
        "--role".into(),
        "worker".into(),
    ];
    let r = raytls_env(args, &[("POD_IP", OsStr::new(""))]);
    r.exit(2);
    assert!(r.stderr.contains("POD_IP"), "{r:#?}");
}

#[test]
fn pod_ip_without_role_is_not_silently_ignored() {
    let t = tmp();
    let ca = t.path().join("ca");
    let worker = t.path().join("worker");
    ca_create(&ca, &[]);
    issue("worker", &ca, &worker, &["--pod-ip", "10.0.0.7"]);
    let r = verify_dir(&worker, &["--pod-ip", "10.0.0.99"]);
    assert_ne!(r.code, 0, "10.0.0.99 was not checked: {r:#?}");
    assert!(
        r.stdout.contains("10.0.0.99") || r.stderr.contains("10.0.0.99"),
        "{r:#?}"
    );
}

#[test]
fn a_cert_file_that_is_leaf_plus_root_passes() {
    let (ca, _, key) = fixture("leaf");
    verify(&ca, &testdata("bundle.crt"), Some(&key), &[])
        .exit(0)
        .expect("chain_server", "ok", &[])
        .expect("key_match", "ok", &[]);
}

#[test]
fn chain_uses_intermediates_from_the_cert_file() {
    let t = tmp();
    let root = t.path().join("root");
    rcgen_ca(
        &root,
        "root",
        now() - Duration::days(1),
        now() + Duration::days(3650),
    );
    // An intermediate CA under the root (pathlen 0: it signs leaves only).
    let root_key = KeyPair::from_pem(&fs::read_to_string(root.join("ca.key")).unwrap()).unwrap();
    let root_issuer =
        Issuer::from_ca_cert_pem(&fs::read_to_string(root.join("ca.crt")).unwrap(), root_key)
            .unwrap();
    let int_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "intermediate");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = now() - Duration::days(1);
    p.not_after = now() + Duration::days(3000);
    let int_cert = p.signed_by(&int_key, &root_issuer).unwrap();
    let int_dir = t.path().join("intermediate");
    fs::create_dir_all(&int_dir).unwrap();
    fs::write(int_dir.join("ca.crt"), int_cert.pem()).unwrap();
    fs::write(int_dir.join("ca.key"), int_key.serialize_pem()).unwrap();
    let leaf = t.path().join("leaf");
    rcgen_leaf(&int_dir, leaf_params(), &leaf);
    // The premise: openssl accepts this chain.
    let ok = Command::new("openssl")
        .args(["verify", "-purpose", "sslserver", "-CAfile"])
        .arg(root.join("ca.crt"))
        .arg("-untrusted")
        .arg(int_dir.join("ca.crt"))
        .arg(leaf.join("tls.crt"))
        .output()
        .expect("run openssl");
    assert!(ok.status.success(), "openssl verify: {ok:?}");
    // tls.crt = leaf + intermediate, ca.crt = the root: what a TLS peer sends and trusts.
    let chain = fs::read_to_string(leaf.join("tls.crt")).unwrap() + &int_cert.pem();
    fs::write(leaf.join("tls.crt"), chain).unwrap();
    fs::copy(root.join("ca.crt"), leaf.join("ca.crt")).unwrap();
    verify_dir(&leaf, &[])
        .exit(0)
        .expect("chain_server", "ok", &[])
        .expect("chain_client", "ok", &[]);
}
