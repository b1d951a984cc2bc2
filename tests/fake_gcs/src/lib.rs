//! A fake Ray GCS: real gRPC (tonic's server pieces) over real mutual TLS, speaking Ray's
//! messages as raytls defines them (`raytls::probe::grpc::messages`). Shared by the
//! health-check integration tests, the criterion bench `health` and `gcs_fleet`, the
//! 1,000-endpoint fleet of `bench.sh` (src/bin/gcs_fleet.rs).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use raytls::probe::grpc::messages::*;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tonic::Status;

/// What the fake GCS implements.
#[derive(Clone, Debug)]
pub struct Gcs {
    /// Serve NodeInfoGcsService/GetClusterId and InternalKVGcsService/InternalKVGet.
    pub ray: bool,
    /// Serve grpc.health.v1.Health/Check with this status.
    pub health: Option<i32>,
    /// Require `authorization: Bearer <token>` (RAY_AUTH_MODE=token).
    pub token: Option<String>,
    pub ray_version: String,
    /// What NodeInfoGcsService/GetAllNodeInfo answers (served when `ray`).
    pub nodes: Nodes,
}

/// The GetAllNodeInfo reply of a fake GCS.
#[derive(Clone, Debug, Default)]
pub enum Nodes {
    /// No nodes, status OK.
    #[default]
    Empty,
    /// Not implemented.
    Unimplemented,
    /// A well-formed reply with these nodes.
    These(Vec<GcsNodeInfo>),
    /// Each of these byte strings as one `node_info_list` entry (field 2): a malformed
    /// or hostile GcsNodeInfo, exactly as given.
    Raw(Vec<Vec<u8>>),
    /// `count` copies of `node` (`GcsNodeInfo::default()`: empty entries, 2 bytes each; or
    /// one pointing at a [`silent_listener`]). `honor_limit`: as Ray does, send at most the
    /// request's `limit` of them, with `total` = `count`; otherwise all, whatever was asked
    /// (a GCS older than `limit`, or a hostile one).
    Many {
        count: usize,
        node: GcsNodeInfo,
        honor_limit: bool,
    },
}

/// `GetAllNodeInfoRequest` as the fake reads it: only `limit` (for [`Nodes::Many`]).
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodesRequest {
    #[prost(int64, optional, tag = "1")]
    pub limit: Option<i64>,
}

/// `GetAllNodeInfoReply` with its node entries as raw bytes, for [`Nodes::Raw`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct RawNodesReply {
    #[prost(message, optional, tag = "1")]
    pub status: Option<GcsStatus>,
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub node_info_list: Vec<Vec<u8>>,
    #[prost(int64, tag = "3")]
    pub total: i64,
}

impl Default for Gcs {
    fn default() -> Self {
        Gcs {
            ray: true,
            health: Some(SERVING),
            token: None,
            ray_version: "2.60.0".into(),
            nodes: Nodes::Empty,
        }
    }
}

pub const CLUSTER_ID: [u8; 4] = [0x3f, 0x9c, 0x01, 0xab];

/// Accept connections on `listener` forever, serving each as a fake GCS.
pub async fn serve(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor, gcs: Arc<Gcs>) {
    while let Ok((tcp, _)) = listener.accept().await {
        tokio::spawn(serve_connection(tcp, acceptor.clone(), gcs.clone()));
    }
}

/// One connection: the TLS handshake, then gRPC over HTTP/2 until the client hangs up.
pub async fn serve_connection(tcp: TcpStream, acceptor: tokio_rustls::TlsAcceptor, gcs: Arc<Gcs>) {
    // gRPC servers (Ray's included) set TCP_NODELAY; without it Nagle and delayed ACKs
    // add tens of milliseconds per request on loopback.
    let _ = tcp.set_nodelay(true);
    let tls = match acceptor.accept(tcp).into_fallible().await {
        Ok(tls) => tls,
        Err((_, io)) => {
            // rustls sent its alert: read on until the client hangs up, so that
            // closing with unread data does not RST the alert away.
            drain(io).await;
            return;
        }
    };
    let svc = tower::service_fn(move |req: http::Request<_>| {
        let gcs = gcs.clone();
        async move {
            if let Some(tok) = &gcs.token {
                let sent = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok());
                if sent != Some(format!("Bearer {tok}").as_str()) {
                    return Ok::<_, Infallible>(
                        Status::unauthenticated("invalid or missing token")
                            .into_http::<tonic::body::Body>(),
                    );
                }
            }
            let path = req.uri().path().to_string();
            let resp = match path.as_str() {
                "/ray.rpc.NodeInfoGcsService/GetClusterId" if gcs.ray => {
                    let mut g = tonic::server::Grpc::new(tonic_prost::ProstCodec::<
                        GetClusterIdReply,
                        GetClusterIdRequest,
                    >::default());
                    g.unary(
                        tower::service_fn(|_r: tonic::Request<GetClusterIdRequest>| async {
                            Ok::<_, Status>(tonic::Response::new(GetClusterIdReply {
                                status: Some(GcsStatus::default()),
                                cluster_id: CLUSTER_ID.to_vec(),
                            }))
                        }),
                        req,
                    )
                    .await
                }
                "/ray.rpc.InternalKVGcsService/InternalKVGet" if gcs.ray => {
                    let version = gcs.ray_version.clone();
                    let mut g = tonic::server::Grpc::new(tonic_prost::ProstCodec::<
                        InternalKvGetReply,
                        InternalKvGetRequest,
                    >::default());
                    g.unary(
                        tower::service_fn(move |r: tonic::Request<InternalKvGetRequest>| {
                            let version = version.clone();
                            async move {
                                let r = r.into_inner();
                                let found =
                                    r.key == b"CLUSTER_METADATA" && r.namespace == b"cluster";
                                Ok::<_, Status>(tonic::Response::new(if found {
                                    InternalKvGetReply {
                                        status: Some(GcsStatus::default()),
                                        // Encoded, so a hostile version string
                                        // still arrives as the peer means it.
                                        value: serde_json::json!({
                                            "ray_version": version,
                                            "python_version": "3.11.9",
                                        })
                                        .to_string()
                                        .into_bytes(),
                                    }
                                } else {
                                    InternalKvGetReply {
                                        status: Some(GcsStatus {
                                            code: 17,
                                            message: "not found".into(),
                                        }),
                                        value: vec![],
                                    }
                                }))
                            }
                        }),
                        req,
                    )
                    .await
                }
                "/ray.rpc.NodeInfoGcsService/GetAllNodeInfo"
                    if gcs.ray && !matches!(gcs.nodes, Nodes::Unimplemented) =>
                {
                    let gcs = gcs.clone();
                    let mut g = tonic::server::Grpc::new(tonic_prost::ProstCodec::<
                        RawNodesReply,
                        NodesRequest,
                    >::default());
                    g.unary(
                        tower::service_fn(move |r: tonic::Request<NodesRequest>| {
                            let gcs = gcs.clone();
                            async move {
                                Ok::<_, Status>(tonic::Response::new(nodes_reply(
                                    &gcs.nodes,
                                    r.into_inner().limit,
                                )))
                            }
                        }),
                        req,
                    )
                    .await
                }
                "/grpc.health.v1.Health/Check" if gcs.health.is_some() => {
                    let status = gcs.health.unwrap_or_default();
                    let mut g = tonic::server::Grpc::new(tonic_prost::ProstCodec::<
                        HealthCheckResponse,
                        HealthCheckRequest,
                    >::default());
                    g.unary(
                        tower::service_fn(
                            move |_r: tonic::Request<HealthCheckRequest>| async move {
                                Ok::<_, Status>(tonic::Response::new(HealthCheckResponse {
                                    status,
                                }))
                            },
                        ),
                        req,
                    )
                    .await
                }
                _ => Status::unimplemented("").into_http::<tonic::body::Body>(),
            };
            Ok::<_, Infallible>(resp)
        }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .http2_only()
        .serve_connection(
            TokioIo::new(tls),
            hyper_util::service::TowerToHyperService::new(svc),
        )
        .await;
}

/// The GetAllNodeInfo reply for `nodes`, to a request with this `limit`.
fn nodes_reply(nodes: &Nodes, limit: Option<i64>) -> RawNodesReply {
    let (entries, total) = match nodes {
        Nodes::These(list) => (list.iter().map(|n| n.encode_to_vec()).collect(), 0),
        Nodes::Raw(raw) => (raw.clone(), 0),
        Nodes::Many {
            count,
            node,
            honor_limit,
        } => {
            let sent = match limit {
                Some(l) if *honor_limit && l > 0 => (*count).min(usize::try_from(l).unwrap_or(0)),
                _ => *count,
            };
            (vec![node.encode_to_vec(); sent], *count as i64)
        }
        Nodes::Empty | Nodes::Unimplemented => (Vec::new(), 0),
    };
    RawNodesReply {
        status: Some(GcsStatus::default()),
        node_info_list: entries,
        total,
    }
}

/// A listener on 127.0.0.1:0 that accepts every connection and never sends a byte (a
/// raylet behind a stalled proxy, a hung process): a dial to it ends only at its deadline.
/// Connections are held until the peer hangs up, or for 10 minutes.
pub async fn silent_listener() -> std::io::Result<(TcpListener, std::net::SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Serve a [`silent_listener`] forever.
pub async fn serve_silently(listener: TcpListener) {
    while let Ok((tcp, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut tcp = tcp;
            let mut buf = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(600), async {
                while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
            })
            .await;
        });
    }
}

/// A node entry pointing at `addr` (alive), as the GCS lists a raylet.
pub fn node_at(addr: std::net::SocketAddr) -> GcsNodeInfo {
    GcsNodeInfo {
        node_id: vec![0x5a; 28],
        node_manager_address: addr.ip().to_string(),
        node_manager_port: i32::from(addr.port()),
        state: NODE_ALIVE,
        ..GcsNodeInfo::default()
    }
}

/// Read until the peer hangs up (at most 2 s).
pub async fn drain<S: tokio::io::AsyncRead + Unpin>(mut io: S) {
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}
