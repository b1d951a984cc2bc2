//! Ray's GCS messages (hand-written prost structs, field numbers from Ray 2.60's
//! `src/ray/protobuf/gcs_service.proto` and `gcs.proto`) and a tonic client that runs over the
//! connection we dialed and handshaked ourselves, so every failure below gRPC stays ours to
//! diagnose.
use std::io;

use http::uri::PathAndQuery;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::client::Grpc;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Request, Status};
use tonic_prost::ProstCodec;

use super::credentials::Token;

/// The messages, by hand: no protoc, no build.rs.
pub mod messages {
    /// `ray.rpc.GcsStatus` (gcs.proto).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GcsStatus {
        #[prost(int32, tag = "1")]
        pub code: i32,
        #[prost(string, tag = "2")]
        pub message: String,
    }

    /// `ray.rpc.GetClusterIdRequest`: no fields.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetClusterIdRequest {}

    /// `ray.rpc.GetClusterIdReply`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetClusterIdReply {
        #[prost(message, optional, tag = "1")]
        pub status: Option<GcsStatus>,
        #[prost(bytes = "vec", tag = "2")]
        pub cluster_id: Vec<u8>,
    }

    /// `ray.rpc.InternalKVGetRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InternalKvGetRequest {
        #[prost(bytes = "vec", tag = "1")]
        pub key: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub namespace: Vec<u8>,
    }

    /// `ray.rpc.InternalKVGetReply`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InternalKvGetReply {
        #[prost(message, optional, tag = "1")]
        pub status: Option<GcsStatus>,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }

    /// `grpc.health.v1.HealthCheckRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HealthCheckRequest {
        #[prost(string, tag = "1")]
        pub service: String,
    }

    /// `grpc.health.v1.HealthCheckResponse`; `status` is the ServingStatus enum.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HealthCheckResponse {
        #[prost(int32, tag = "1")]
        pub status: i32,
    }

    /// `ServingStatus.SERVING`.
    pub const SERVING: i32 = 1;
}

use messages::*;

pub const GET_CLUSTER_ID: &str = "/ray.rpc.NodeInfoGcsService/GetClusterId";
pub const INTERNAL_KV_GET: &str = "/ray.rpc.InternalKVGcsService/InternalKVGet";
pub const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";

/// Where `ray health-check` finds the cluster's Ray version.
pub const CLUSTER_METADATA_KEY: &[u8] = b"CLUSTER_METADATA";
pub const CLUSTER_NAMESPACE: &[u8] = b"cluster";

/// A reply body as the probe decodes it, by method.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    ClusterId(GetClusterIdReply),
    KvGet(InternalKvGetReply),
    Health(HealthCheckResponse),
}

/// Decode the protobuf body of a reply to `path` (one of [`GET_CLUSTER_ID`],
/// [`INTERNAL_KV_GET`], [`HEALTH_CHECK`]) exactly as the client does. The bytes come from the
/// peer: this is the entry point for fuzzing the probe's reply decoding. None for a path the
/// probe never calls.
pub fn decode_reply(path: &str, body: &[u8]) -> Option<Result<Reply, prost::DecodeError>> {
    use prost::Message;
    Some(match path {
        GET_CLUSTER_ID => GetClusterIdReply::decode(body).map(Reply::ClusterId),
        INTERNAL_KV_GET => InternalKvGetReply::decode(body).map(Reply::KvGet),
        HEALTH_CHECK => HealthCheckResponse::decode(body).map(Reply::Health),
        _ => return None,
    })
}

/// The `ray_version` in the JSON value of `cluster`/`CLUSTER_METADATA`, if there is one.
pub fn ray_version(cluster_metadata: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(cluster_metadata)
        .ok()
        .and_then(|v| v.get("ray_version")?.as_str().map(str::to_string))
}

/// A gRPC client of one GCS over one already-established stream.
pub struct GcsClient {
    grpc: Grpc<Channel>,
    auth: Option<MetadataValue<Ascii>>,
}

impl GcsClient {
    /// Start HTTP/2 over `stream`. `authority` (`host:port` as dialed) becomes `:authority`.
    pub async fn over<S>(stream: S, authority: &str, token: Option<&Token>) -> Result<Self, String>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let auth =
            match token {
                // The token was checked to be printable ASCII; the error never shows it.
                Some(t) => Some(MetadataValue::try_from(t.bearer()).map_err(|_| {
                    format!("the token from {} cannot go in a gRPC header", t.source)
                })?),
                None => None,
            };
        let endpoint = Endpoint::from_shared(format!("http://{authority}"))
            .map_err(|e| format!("{authority} does not make a URI: {e}"))?;
        // tonic dials through this connector: it hands over our stream once; a reconnect
        // (after the connection broke) gets an error instead of a new, undiagnosed dial.
        let mut slot = Some(stream);
        let connector = tower::service_fn(move |_: Uri| {
            let stream = slot.take();
            async move {
                stream.map(TokioIo::new).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotConnected, "connection already used")
                })
            }
        });
        let channel = endpoint
            .connect_with_connector(connector)
            .await
            .map_err(|e| format!("HTTP/2 setup failed: {e}"))?;
        Ok(GcsClient {
            grpc: Grpc::new(channel),
            auth,
        })
    }

    async fn unary<Req, Resp>(&mut self, path: &'static str, msg: Req) -> Result<Resp, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut request = Request::new(msg);
        if let Some(auth) = &self.auth {
            request.metadata_mut().insert("authorization", auth.clone());
        }
        self.grpc
            .ready()
            .await
            .map_err(|e| Status::unavailable(format!("connection not ready: {e}")))?;
        let codec: ProstCodec<Req, Resp> = ProstCodec::default();
        self.grpc
            .unary(request, PathAndQuery::from_static(path), codec)
            .await
            .map(|r| r.into_inner())
    }

    pub async fn get_cluster_id(&mut self) -> Result<GetClusterIdReply, Status> {
        self.unary(GET_CLUSTER_ID, GetClusterIdRequest {}).await
    }

    pub async fn internal_kv_get(
        &mut self,
        namespace: &[u8],
        key: &[u8],
    ) -> Result<InternalKvGetReply, Status> {
        let req = InternalKvGetRequest {
            key: key.to_vec(),
            namespace: namespace.to_vec(),
        };
        self.unary(INTERNAL_KV_GET, req).await
    }

    pub async fn health_check(&mut self) -> Result<HealthCheckResponse, Status> {
        let req = HealthCheckRequest {
            service: String::new(),
        };
        self.unary(HEALTH_CHECK, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn decode_reply_reads_what_the_client_reads() {
        let sent = GetClusterIdReply {
            status: None,
            cluster_id: vec![0x3f, 0x9c],
        };
        let got = decode_reply(GET_CLUSTER_ID, &sent.encode_to_vec());
        assert_eq!(got, Some(Ok(Reply::ClusterId(sent))));
        assert!(matches!(
            decode_reply(HEALTH_CHECK, &[0xff, 0xff]),
            Some(Err(_))
        ));
        assert_eq!(decode_reply("/other/Method", &[]), None);
    }

    #[test]
    fn ray_version_from_cluster_metadata() {
        assert_eq!(
            ray_version(br#"{"ray_version": "2.60.0", "python_version": "3.12"}"#).as_deref(),
            Some("2.60.0")
        );
        assert_eq!(ray_version(b"{\"ray_version\": 2}"), None);
        assert_eq!(ray_version(b"\xff not json"), None);
    }
}
