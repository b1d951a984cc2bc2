//! The failure vocabulary of the probe: where a check stopped ([`Phase`]), why ([`Cause`],
//! whose snake_case codes are a stable `--json` interface), and the message that goes with
//! it ([`Failure`]). Its own module so that `tls` (which finds most causes) and `health`
//! (which finds the rest and reports them) both build on it without importing each other.
use serde::Serialize;

/// Why a check failed. The snake_case codes are a stable interface (`--json` `cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Ok,
    ResolveFailed,
    ConnectionRefused,
    ConnectFailed,
    Timeout,
    NotTls,
    ClosedDuringHandshake,
    TlsHandshakeFailed,
    UnknownCa,
    NameMismatch,
    Expired,
    NotYetValid,
    NoServerAuthEku,
    BadServerCert,
    ClientCertRejected,
    LocalConfig,
    Unauthenticated,
    NotRayGcs,
    NotServing,
    GrpcError,
    VersionMismatch,
    /// `--expect-cert`: the server presents another certificate than the one on disk (Ray
    /// loads its certificate only at start: restart it to load the renewed one).
    StaleCertificate,
    /// `--all-nodes`: a node's certificate expires within `--min-days-left`.
    ExpiresSoon,
    /// `--all-nodes`: the GCS lists a node as dead, and its address does not answer.
    NodeDead,
    /// `--all-nodes`: the GCS lists an address for a node that cannot be dialed.
    BadNodeAddress,
    /// `--all-nodes`: the GCS lists more nodes than `--max-nodes`; none is dialed.
    TooManyNodes,
    /// `--all-nodes`: the node's turn came after the deadline of the node checks.
    NotChecked,
}

impl Cause {
    pub fn code(self) -> &'static str {
        match self {
            Cause::Ok => "ok",
            Cause::ResolveFailed => "resolve_failed",
            Cause::ConnectionRefused => "connection_refused",
            Cause::ConnectFailed => "connect_failed",
            Cause::Timeout => "timeout",
            Cause::NotTls => "not_tls",
            Cause::ClosedDuringHandshake => "closed_during_handshake",
            Cause::TlsHandshakeFailed => "tls_handshake_failed",
            Cause::UnknownCa => "unknown_ca",
            Cause::NameMismatch => "name_mismatch",
            Cause::Expired => "expired",
            Cause::NotYetValid => "not_yet_valid",
            Cause::NoServerAuthEku => "no_server_auth_eku",
            Cause::BadServerCert => "bad_server_cert",
            Cause::ClientCertRejected => "client_cert_rejected",
            Cause::LocalConfig => "local_config",
            Cause::Unauthenticated => "unauthenticated",
            Cause::NotRayGcs => "not_ray_gcs",
            Cause::NotServing => "not_serving",
            Cause::GrpcError => "grpc_error",
            Cause::VersionMismatch => "version_mismatch",
            Cause::StaleCertificate => "stale_certificate",
            Cause::ExpiresSoon => "expires_soon",
            Cause::NodeDead => "node_dead",
            Cause::BadNodeAddress => "bad_node_address",
            Cause::TooManyNodes => "too_many_nodes",
            Cause::NotChecked => "not_checked",
        }
    }
}

/// Where a check stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Config,
    Resolve,
    Connect,
    Tls,
    Grpc,
    Done,
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub cause: Cause,
    pub phase: Phase,
    pub message: String,
}

impl Failure {
    pub fn new(cause: Cause, phase: Phase, message: String) -> Self {
        Failure {
            cause,
            phase,
            message,
        }
    }
}
