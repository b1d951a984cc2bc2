//! Shared helpers: run the built `raytls` binary in a temp dir (hermetic env), run
//! `openssl`, make CAs, read modes, list directories, parse certificates.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_raytls");

/// Env vars of the runner that would change what raytls does: removed from every child
/// unless a test sets them explicitly.
fn is_leaky_env(name: &str) -> bool {
    name == "POD_IP"
        || name == "NETRC"
        || name == "FQ_RAY_IP"
        || name == "RAY_IP"
        || name.starts_with("RAY_")
        || name.starts_with("RAYTLS_")
}

/// The one place a clean raytls command is built (ripgrep's `Dir::command()`): stdin
/// closed, and none of the runner's env vars that would change what raytls does (the
/// developer's or the pod's POD_IP, RAY_TLS_*, RAYTLS_*) unless a test sets them.
/// Every runner in these tests starts here.
pub fn raytls_command() -> Command {
    clean(Command::new(BIN))
}

/// `cmd` with the leaky env removed and stdin closed (for wrappers such as setpriv/bash).
pub fn clean(mut cmd: Command) -> Command {
    cmd.stdin(Stdio::null());
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if is_leaky_env(k) {
                cmd.env_remove(k);
            }
        }
    }
    cmd
}

/// What a run left behind.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Every file and directory under the workspace after the run (relative, sorted).
    pub files: Vec<String>,
}

impl Output {
    /// Panic with the whole run when the exit code is not `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code; run was {self:#?}");
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }

    /// The run failed (non-zero) with a one-line error naming `needle`, and no panic.
    #[track_caller]
    pub fn fails_naming(&self, needle: &str) -> &Self {
        assert_ne!(self.code, 0, "expected failure; run was {self:#?}");
        assert!(
            !self.stderr.contains("panicked"),
            "panic on stderr: {self:#?}"
        );
        assert!(
            self.stderr.contains(needle),
            "stderr does not name {needle:?}: {self:#?}"
        );
        let error_lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.contains("error"))
            .collect();
        assert_eq!(
            error_lines.len(),
            1,
            "expected one error line; stderr was {:?}",
            self.stderr
        );
        self
    }
}

/// A temp workspace the binary runs in (its cwd).
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Workspace {
            dir: tempfile::Builder::new()
                .prefix("raytls-it-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(p)
    }

    /// A `raytls` command with `args`, run in this workspace.
    pub fn raytls<I, S>(&self, args: I) -> Cmd<'_>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Cmd {
            ws: self,
            program: BIN.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            stdin: None,
            as_nobody: false,
            shell_prefix: None,
            read_only: None,
        }
    }

    /// Shortcut: run `raytls args...` with no extra env.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.raytls(args).run()
    }

    /// `raytls ca create --out <ws>/<name>`, asserting success. Returns the CA dir.
    pub fn make_ca(&self, name: &str) -> PathBuf {
        self.make_ca_with(name, &[])
    }

    pub fn make_ca_with(&self, name: &str, extra: &[&str]) -> PathBuf {
        let dir = self.join(name);
        let mut args = vec!["ca".to_string(), "create".into(), "--out".into()];
        args.push(dir.display().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        self.run(args).ok();
        dir
    }

    /// `raytls issue <role> --ca <ca> --out <ws>/<out> [extra...]`, asserting success.
    pub fn issue(&self, role: &str, ca: &Path, out: &str, extra: &[&str]) -> PathBuf {
        let dir = self.join(out);
        let mut args: Vec<OsString> = vec![
            "issue".into(),
            role.into(),
            "--ca".into(),
            ca.into(),
            "--out".into(),
            dir.clone().into(),
        ];
        args.extend(extra.iter().map(OsString::from));
        self.run(args).ok();
        dir
    }

    /// Every path under the workspace, relative, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(self.path(), self.path(), &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.strip_prefix(root).unwrap().display().to_string());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(root, &p, out);
        }
    }
}

pub struct Cmd<'a> {
    ws: &'a Workspace,
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(String, OsString)>,
    stdin: Option<Vec<u8>>,
    as_nobody: bool,
    shell_prefix: Option<String>,
    read_only: Option<PathBuf>,
}

impl Cmd<'_> {
    pub fn env(mut self, k: &str, v: impl Into<OsString>) -> Self {
        self.env.push((k.to_string(), v.into()));
        self
    }

    /// Run as uid/gid 65534 (nobody) through setpriv; only meaningful as root.
    pub fn nobody(mut self) -> Self {
        self.as_nobody = true;
        self
    }

    /// Feed `bytes` to the command's stdin (default: /dev/null).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Run through `bash -c 'PREFIX; exec raytls ARGS'`, e.g. `ulimit -f 0` to make every
    /// write fail as on a full disk.
    pub fn shell_prefix(mut self, prefix: &str) -> Self {
        self.shell_prefix = Some(prefix.to_string());
        self
    }

    /// Run in a private mount namespace of its own (`unshare -m`) where `dir` is a read-only
    /// bind mount of itself: a directory root cannot write either (mode bits do not stop
    /// root), gone with the process. Needs root (CAP_SYS_ADMIN); a failed mount exits 97.
    pub fn read_only(mut self, dir: &Path) -> Self {
        self.read_only = Some(dir.to_path_buf());
        self
    }

    /// The one place a clean raytls command is built (ripgrep's `Dir::command()`): run in the
    /// workspace, stdin closed, without the env vars that would leak the developer's or the
    /// pod's settings into a test.
    pub fn command(&self) -> Command {
        let mut cmd = clean(if self.as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&self.program);
            c
        } else if let Some(prefix) = &self.shell_prefix {
            let mut c = Command::new("bash");
            c.arg("-c")
                .arg(format!("{prefix}; exec \"$0\" \"$@\""))
                .arg(&self.program);
            c
        } else if let Some(dir) = &self.read_only {
            let mut c = Command::new("unshare");
            c.args(["-m", "--propagation", "private", "sh", "-c"])
                .arg("mount --bind -o ro \"$1\" \"$1\" || exit 97; shift; exec \"$@\"")
                .arg("sh")
                .arg(dir)
                .arg(&self.program);
            c
        } else {
            Command::new(&self.program)
        });
        cmd.args(&self.args).current_dir(self.ws.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(self) -> Output {
        let mut cmd = self.command();
        let out = match &self.stdin {
            None => cmd.output().expect("run raytls"),
            Some(bytes) => {
                use std::io::Write;
                let mut child = cmd
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn raytls");
                // A child that exits without reading is not our error: its exit code is.
                let _ = child.stdin.take().expect("piped stdin").write_all(bytes);
                child.wait_with_output().expect("wait raytls")
            }
        };
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            files: self.ws.files(),
        }
    }

    /// Start it in the background (a server), stdout and stderr piped.
    pub fn spawn(self) -> std::process::Child {
        self.command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn raytls")
    }

    /// Run, but kill it and panic if it has not ended within `limit` (a hang is the bug).
    pub fn run_within(self, limit: std::time::Duration) -> Output {
        let mut child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn raytls");
        let start = std::time::Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if start.elapsed() > limit {
                let _ = child.kill();
                panic!("raytls {:?} still running after {limit:?}", self.args);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("output");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            files: self.ws.files(),
        }
    }
}

/// Run `openssl args...` in `cwd`.
pub fn openssl<I, S>(cwd: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        files: Vec::new(),
    }
}

/// `openssl x509 -noout -text -serial` of a PEM file.
pub fn x509_text(cert: &Path) -> String {
    let o = openssl(
        Path::new("/"),
        [
            "x509".as_ref(),
            "-noout".as_ref(),
            "-serial".as_ref(),
            "-text".as_ref(),
            "-in".as_ref(),
            cert.as_os_str(),
        ],
    );
    o.ok();
    o.stdout
}

/// The permission bits of a path.
pub fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

pub fn set_mode(p: &Path, m: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(m))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

/// Names in a directory, sorted (empty if it does not exist).
/// The names a user sees in `p`, sorted: the kubelet-style `..data` and `..<version>`
/// entries of a certificate directory are left out, as `ls` leaves them out.
pub fn list_dir(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(p) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with(".."))
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Name -> bytes of every file directly in `p` (to assert "unchanged").
pub fn snapshot(p: &Path) -> BTreeMap<String, Vec<u8>> {
    list_dir(p)
        .into_iter()
        .filter_map(|n| fs::read(p.join(&n)).ok().map(|b| (n, b)))
        .collect()
}

pub fn read(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

pub fn read_string(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

pub fn is_root() -> bool {
    // No libc dependency for geteuid: ask `id`.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The first certificate of a PEM file, as DER.
pub fn cert_der(path: &Path) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_file_iter(path)
        .expect("pem file")
        .next()
        .expect("one certificate")
        .expect("valid PEM")
        .to_vec()
}

/// The SANs of a certificate file, as strings (IPs in their usual text form).
pub fn sans(path: &Path) -> Vec<String> {
    use x509_parser::prelude::*;
    let der = cert_der(path);
    let (_, cert) = X509Certificate::from_der(&der).expect("parse cert");
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .map(|g| match g {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(b) => match b.len() {
                4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()).to_string(),
                16 => std::net::IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()).to_string(),
                _ => format!("{b:?}"),
            },
            other => format!("{other:?}"),
        })
        .collect()
}

/// (notBefore, notAfter) of a certificate file.
pub fn validity(path: &Path) -> (OffsetDateTime, OffsetDateTime) {
    use x509_parser::prelude::*;
    let der = cert_der(path);
    let (_, cert) = X509Certificate::from_der(&der).expect("parse cert");
    (
        cert.validity().not_before.to_datetime(),
        cert.validity().not_after.to_datetime(),
    )
}

/// The one CA maker of the tests: a self-signed ECDSA P-256 CA made in-process with rcgen
/// (subject `CN=cn`, pathlen 0, keyCertSign + cRLSign), for dates and shapes raytls would
/// never produce and for the probe's in-process servers.
pub struct RcgenCa {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
    params: CertificateParams,
    key: KeyPair,
}

impl RcgenCa {
    pub fn new(cn: &str, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Self {
        Self::with(cn, not_before, not_after, |_| {})
    }

    /// Valid from yesterday for ten years.
    pub fn valid_now(cn: &str) -> Self {
        Self::new(cn, now() - days(1), now() + days(3650))
    }

    /// As [`RcgenCa::new`], with `tweak` applied to the parameters before signing.
    pub fn with(
        cn: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        tweak: impl FnOnce(&mut CertificateParams),
    ) -> Self {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.not_before = not_before;
        p.not_after = not_after;
        tweak(&mut p);
        let cert = p.self_signed(&key).unwrap();
        RcgenCa {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            params: p,
            key,
        }
    }

    /// What signs leaves under this CA.
    pub fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    pub fn write_to(&self, dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("ca.crt"), &self.cert_pem).unwrap();
        fs::write(dir.join("ca.key"), &self.key_pem).unwrap();
    }
}

/// Sign a leaf (serverAuth+clientAuth, the given SANs and dates) with the CA in `ca_dir`
/// and write it as `out/tls.crt` + `out/tls.key`.
pub fn rcgen_leaf_into(
    ca_dir: &Path,
    out: &Path,
    sans: &[&str],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) {
    rcgen_leaf_with_eku(
        ca_dir,
        out,
        sans,
        not_before,
        not_after,
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    )
}

/// Like `rcgen_leaf_into`, with the given EKU list.
pub fn rcgen_leaf_with_eku(
    ca_dir: &Path,
    out: &Path,
    sans: &[&str],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    eku: Vec<ExtendedKeyUsagePurpose>,
) {
    let ca_key = KeyPair::from_pem(&read_string(&ca_dir.join("ca.key"))).expect("CA key");
    let issuer =
        Issuer::from_ca_cert_pem(&read_string(&ca_dir.join("ca.crt")), ca_key).expect("issuer");
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "rcgen leaf");
    p.distinguished_name = dn;
    p.subject_alt_names = sans
        .iter()
        .map(|s| match s.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(s.to_string().try_into().unwrap()),
        })
        .collect();
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = eku;
    p.use_authority_key_identifier_extension = true;
    p.not_before = not_before;
    p.not_after = not_after;
    let cert = p.signed_by(&key, &issuer).unwrap();
    fs::create_dir_all(out).unwrap();
    fs::write(out.join("tls.crt"), cert.pem()).unwrap();
    fs::write(out.join("tls.key"), key.serialize_pem()).unwrap();
    set_mode(&out.join("tls.key"), 0o600);
}

/// The one rustls server config of the tests: `chain` and `key` as the server identity;
/// client certificates required from `client_ca` (or none asked for); these ALPN protocols
/// (Ray's gRPC: `h2`) and protocol versions (`rustls::DEFAULT_VERSIONS`, or TLS 1.2 only).
/// Returned unwrapped so a test can change one more knob.
pub fn rustls_server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<&[CertificateDer<'static>]>,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ServerConfig {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .expect("protocol versions");
    let builder = match client_ca {
        Some(cas) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in cas {
                roots.add(ca.clone()).expect("client CA");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                provider,
            )
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .expect("server cert and key");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// `p` as a `&str` for argument lists (temp paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
