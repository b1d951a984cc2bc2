//! One error type for the certificate side of raytls. Every variant carries the input
//! a user must look at (a path, a SAN, a flag), and its message says how to fix it.
//! Messages are one line: `main` prints them after `raytls: error: `.
use std::path::PathBuf;

use crate::exit_code::ExitCode;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- bad values given on the command line or in the environment (exit 2) ----
    #[error("{source_name}={value:?} is not a valid {what}: {why}")]
    InvalidValue {
        /// The flag or env var the value came from, e.g. `--san` or `POD_IP`.
        source_name: String,
        value: String,
        what: &'static str,
        why: String,
    },

    #[error(
        "no pod IP for the {role} certificate: set POD_IP (fieldRef status.podIP) or pass --pod-ip; \
         Ray dials the pod IP between pods, so the certificate must hold it"
    )]
    MissingPodIp { role: &'static str },

    #[error("no CA given: pass --ca DIR (with ca.crt and ca.key) or --ca-cert FILE --ca-key FILE")]
    NoCa,

    #[error("init runs in Ray pods: use `raytls init head` or `raytls init worker` (for a client identity: raytls issue client)")]
    InitIsForPods,

    #[error("--from-env: {var} is not set (is this a Ray container with RAY_USE_TLS=1?)")]
    FromEnvUnset { var: &'static str },

    #[error(
        "verify needs --ca FILE and --cert FILE (and --key FILE), or --dir DIR, or --from-env"
    )]
    NothingToVerify,

    #[error("no netrc file to use: HOME is not set; pass --file PATH or set NETRC")]
    NoNetrcPath,

    #[error("{path}:{line}: {problem}; not editing a malformed netrc (run `raytls netrc check --file {path}` and fix it first)")]
    MalformedNetrc {
        path: PathBuf,
        line: usize,
        problem: String,
    },

    /// The spliced file would not read back as intended (see `kit::netrc::set_machine`).
    #[error("{path}: cannot set machine {machine} without changing how netrc readers see the rest of the file; edit it by hand, then run `raytls netrc check --file {path}`")]
    NetrcEditUnsafe { path: PathBuf, machine: String },

    #[error("{path} is not a file path")]
    NotAFilePath { path: PathBuf },

    #[error("{0}")]
    Usage(String),

    // ---- files ----
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The output directory does not take new files (read-only, no permission): found
    /// before anything was signed for it (`provision::files::stage`).
    #[error("cannot write into {dir}: {source}")]
    NotWritable {
        dir: PathBuf,
        source: std::io::Error,
    },

    /// An output directory's `..data` is not a link raytls (or the kubelet) makes: it names
    /// something other than one `..<digits...>` version directory beside it.
    #[error("{link} is not a version link raytls writes: {why}; nothing was written or removed (move it away by hand)")]
    ForeignDataLink { link: PathBuf, why: String },

    #[error("{path} already exists; pass --force to overwrite it")]
    Exists { path: PathBuf },

    #[error("{path} is {found}, not {expected}")]
    WrongPem {
        path: PathBuf,
        expected: &'static str,
        found: String,
    },

    #[error("{path} is an encrypted private key; raytls needs it unencrypted (e.g. `openssl pkey -in {path} -out key.pem`, then keep key.pem 0600)")]
    EncryptedKey { path: PathBuf },

    #[error("{path}: {why}")]
    UnsupportedKey { path: PathBuf, why: String },

    #[error("{path}: {why}")]
    BadCertificate { path: PathBuf, why: String },

    #[error("{path} does not exist; {hint}")]
    Missing { path: PathBuf, hint: String },

    // ---- the certificate authority ----
    #[error("CA directory {dir} does not exist; create a CA with `raytls ca create --out {dir}` or point --ca at the directory holding ca.crt and ca.key")]
    NoCaDir { dir: PathBuf },

    #[error("{key} does not match {cert}: they are not a key pair (wrong file, or a CA that was re-created)")]
    KeyDoesNotMatchCert { key: PathBuf, cert: PathBuf },

    #[error(
        "{path} is not a CA certificate ({why}); pass the CA's ca.crt, not a leaf such as tls.crt"
    )]
    NotACa { path: PathBuf, why: String },

    #[error(
        "the CA in {path} expired on {not_after}; create a new CA (raytls ca create) and re-issue"
    )]
    CaExpired { path: PathBuf, not_after: String },

    #[error("the CA in {path} is not valid until {not_before}; check this machine's clock")]
    CaNotYetValid { path: PathBuf, not_before: String },

    #[error("{asked} would outlive the CA in {ca}, which expires on {ca_not_after} ({max_days} days from now); use --days {max_days} or less")]
    OutlivesCa {
        asked: String,
        max_days: i64,
        ca: PathBuf,
        ca_not_after: String,
    },

    #[error("refusing to write into {out}: it holds the CA key {key}, and Ray's pods must never see it; write the certificate to another directory (e.g. --out /etc/ray/tls)")]
    CaKeyInOutputDir { out: PathBuf, key: PathBuf },

    #[error("{asked} would outlive the CA in {ca}, which expires on {ca_not_after}, in less than a day: create a new CA (raytls ca create) and re-issue")]
    CaExpiresWithinADay {
        asked: String,
        ca: PathBuf,
        ca_not_after: String,
    },

    #[error("the CA in {root} allows no intermediate CA below it (basicConstraints pathlen:0; roots made by raytls before intermediates existed, and every intermediate, say so): make a new root with `raytls ca create` (pathlen 1) and sign the intermediate with that")]
    RootForbidsIntermediate { root: PathBuf },

    #[error("{cert} was not issued by the root in {root} (its issuer is \"{issuer}\", the root is \"{root_subject}\"); put the root that signed this intermediate there")]
    IntermediateNotFromRoot {
        cert: PathBuf,
        root: PathBuf,
        issuer: String,
        root_subject: String,
    },

    // ---- trust bundles (CA rotation) ----
    #[error("{path}: another root with the subject \"{subject}\" is already trusted (SHA-256 {other_fingerprint}); two CAs with one subject make Ray's TLS report a bad signature instead of an unknown CA: give the new CA its own name (raytls ca create adds a random suffix)")]
    TrustSameSubject {
        path: PathBuf,
        subject: String,
        other_fingerprint: String,
    },

    #[error("{path} is not a root CA: \"{subject}\" is issued by \"{issuer}\"; a trust bundle holds roots, so add the root it chains to{hint}")]
    NotARoot {
        path: PathBuf,
        subject: String,
        issuer: String,
        /// ` (the root is probably DIR/root.crt)`, or empty.
        hint: String,
    },

    #[error("{path} holds a private key; a trust bundle is copied to every pod, so it takes a file with certificates only (e.g. the CA's ca.crt, never ca.key)")]
    KeyInTrustFile { path: PathBuf },

    #[error("{trust} does not hold this CA's own root \"{root}\" ({root_path}): pods would refuse the leaves it signs; add it with `raytls ca trust --ca DIR --add {root_path}`")]
    TrustLacksOwnRoot {
        trust: PathBuf,
        root: String,
        root_path: PathBuf,
    },

    #[error("refusing to drop \"{root}\" from {trust}: it is this CA's own root, which its leaves chain to; a CA stops being trusted when the new CA's directory drops it (raytls ca trust --ca NEW_DIR --drop OLD)")]
    DropOwnRoot { trust: PathBuf, root: String },

    // ---- the signer (raytls serve) and its clients ----
    #[error("the signer {signer} refused: {why}")]
    SignerRefused { signer: String, why: String },

    #[error(
        "no certificate from the signer {signer} within {waited} ({tries} tries); last: {last}"
    )]
    SignerUnavailable {
        signer: String,
        waited: String,
        tries: u32,
        last: String,
    },

    /// A server that chains to `--signer-ca` but is not the signer (a pod's leaf).
    #[error("refusing {signer} as the signer: {why}")]
    NotTheSigner { signer: String, why: String },

    #[error("the signer {signer} answered with {why}")]
    SignerAnswer { signer: String, why: String },

    #[error("the signer {signer} certified {sans} for this pod, not POD_IP {pod_ip}: it sees our requests come from another address (a proxy, an ingress or NAT in between?); Ray peers dial {pod_ip}, so the signer must see the pod's own address")]
    SignerSawAnotherAddress {
        signer: String,
        sans: String,
        pod_ip: std::net::IpAddr,
    },

    #[error("cannot listen on {addr}: {why}")]
    Listen { addr: String, why: String },

    #[error("cannot generate a {key_type} key: {why}")]
    KeyGeneration { key_type: String, why: String },

    #[error("the operating system's random number generator failed")]
    Random,

    #[error("cannot sign the certificate: {0}")]
    Signing(String),

    // ---- a network check whose own inputs are unusable (nothing was dialed) ----
    /// An input the user pointed a checking command at cannot be used: `health-check`'s own
    /// CA, certificate, key or token (nothing was dialed), or a file given to `verify` or
    /// `inspect`. Exit 2, as their help documents, whatever the inner error's own code is:
    /// this is the one way a command says "your input, not the thing checked, is wrong".
    #[error("{0}")]
    LocalConfig(Box<Error>),

    // ---- the machine itself ----
    #[error("cannot {what}: {why}")]
    Internal { what: &'static str, why: String },
}

impl Error {
    /// Values the user typed wrong are usage errors (2); everything else is a failure (1).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::InvalidValue { .. }
            | Error::MissingPodIp { .. }
            | Error::NoCa
            | Error::InitIsForPods
            | Error::FromEnvUnset { .. }
            | Error::NothingToVerify
            | Error::NotAFilePath { .. }
            | Error::NoNetrcPath
            | Error::Usage(_)
            | Error::LocalConfig(_) => ExitCode::Usage,
            _ => ExitCode::Failure,
        }
    }

    /// A short, fixed name for what kind of failure this is: the `reason` label of
    /// `raytls_renew_failures_total` (bounded: never text from a peer or a file).
    pub fn reason(&self) -> &'static str {
        match self {
            Error::LocalConfig(inner) => inner.reason(),
            Error::SignerUnavailable { .. } => "signer_unavailable",
            Error::SignerRefused { .. } => "signer_refused",
            Error::SignerAnswer { .. } | Error::SignerSawAnotherAddress { .. } => "signer_answer",
            Error::Write { .. } | Error::Exists { .. } => "write",
            // The pod's own certificate: expired, unparseable, not the key's.
            Error::BadCertificate { .. } | Error::KeyDoesNotMatchCert { .. } => "certificate",
            Error::Read { .. }
            | Error::Missing { .. }
            | Error::WrongPem { .. }
            | Error::EncryptedKey { .. }
            | Error::UnsupportedKey { .. } => "files",
            Error::NoCa
            | Error::NoCaDir { .. }
            | Error::NotACa { .. }
            | Error::CaExpired { .. }
            | Error::CaNotYetValid { .. }
            | Error::OutlivesCa { .. }
            | Error::CaExpiresWithinADay { .. } => "ca",
            Error::KeyGeneration { .. } | Error::Random | Error::Signing(_) => "crypto",
            e if e.exit_code() == ExitCode::Usage => "config",
            _ => "other",
        }
    }

    pub fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Read {
            path: path.into(),
            source,
        }
    }

    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Write {
            path: path.into(),
            source,
        }
    }
}
