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

    /// `ray.rpc.GetAllNodeInfoRequest` (gcs_service.proto): `limit` = 1, `node_selectors`
    /// = 2, `state_filter` = 3. No filter: every node the GCS knows, alive and dead; at most
    /// `limit` of them (a GCS older than the field ignores it and sends them all).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetAllNodeInfoRequest {
        #[prost(int64, optional, tag = "1")]
        pub limit: Option<i64>,
    }

    /// `ray.rpc.GetAllNodeInfoReply`: `status` = 1, `node_info_list` = 2, `total` = 3 (how
    /// many nodes the GCS has, before `limit`; `num_filtered` = 4 is not read). The probe
    /// decodes it as a [`super::NodeList`], which stops decoding entries past a cap; this
    /// whole-message form is what tests and the fuzz target compare that with.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetAllNodeInfoReply {
        #[prost(message, optional, tag = "1")]
        pub status: Option<GcsStatus>,
        #[prost(message, repeated, tag = "2")]
        pub node_info_list: Vec<GcsNodeInfo>,
        #[prost(int64, tag = "3")]
        pub total: i64,
    }

    /// `ray.rpc.GcsNodeInfo` (gcs.proto), the fields the cluster view reads. Tags checked
    /// against Ray 2.60's generated `gcs_pb2` (scripts/cluster-view-interop.sh reads a real
    /// cluster with them).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GcsNodeInfo {
        #[prost(bytes = "vec", tag = "1")]
        pub node_id: Vec<u8>,
        /// The node's IP: the GCS dials its raylet here, with this as the TLS server name.
        #[prost(string, tag = "2")]
        pub node_manager_address: String,
        #[prost(int32, tag = "5")]
        pub node_manager_port: i32,
        /// [`NODE_ALIVE`] or [`NODE_DEAD`].
        #[prost(int32, tag = "7")]
        pub state: i32,
        #[prost(string, tag = "8")]
        pub node_manager_hostname: String,
        #[prost(string, tag = "12")]
        pub node_name: String,
        #[prost(uint64, tag = "23")]
        pub start_time_ms: u64,
        #[prost(uint64, tag = "24")]
        pub end_time_ms: u64,
        #[prost(bool, tag = "25")]
        pub is_head_node: bool,
        #[prost(message, optional, tag = "29")]
        pub death_info: Option<NodeDeathInfo>,
    }

    /// `GcsNodeInfo.GcsNodeState.ALIVE`.
    pub const NODE_ALIVE: i32 = 0;
    /// `GcsNodeInfo.GcsNodeState.DEAD`.
    pub const NODE_DEAD: i32 = 1;

    /// `ray.rpc.NodeDeathInfo`: `reason` is the `Reason` enum ([`death_reason_name`]).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NodeDeathInfo {
        #[prost(int32, tag = "1")]
        pub reason: i32,
        #[prost(string, tag = "2")]
        pub reason_message: String,
    }

    /// `NodeDeathInfo.Reason.UNEXPECTED_TERMINATION`: what the GCS records when its health
    /// checks of a node fail (`health check failed due to missing too many heartbeats`).
    pub const DEATH_UNEXPECTED_TERMINATION: i32 = 2;

    /// `NodeDeathInfo.Reason` by its name in gcs.proto.
    pub fn death_reason_name(reason: i32) -> String {
        match reason {
            0 => "UNSPECIFIED".into(),
            1 => "EXPECTED_TERMINATION".into(),
            2 => "UNEXPECTED_TERMINATION".into(),
            3 => "AUTOSCALER_DRAIN_PREEMPTED".into(),
            4 => "AUTOSCALER_DRAIN_IDLE".into(),
            n => format!("reason {n}"),
        }
    }
}

use messages::*;

pub const GET_CLUSTER_ID: &str = "/ray.rpc.NodeInfoGcsService/GetClusterId";
pub const INTERNAL_KV_GET: &str = "/ray.rpc.InternalKVGcsService/InternalKVGet";
pub const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
pub const GET_ALL_NODE_INFO: &str = "/ray.rpc.NodeInfoGcsService/GetAllNodeInfo";

/// Where `ray health-check` finds the cluster's Ray version.
pub const CLUSTER_METADATA_KEY: &[u8] = b"CLUSTER_METADATA";
pub const CLUSTER_NAMESPACE: &[u8] = b"cluster";

/// A reply body as the probe decodes it, by method.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    ClusterId(GetClusterIdReply),
    KvGet(InternalKvGetReply),
    Health(HealthCheckResponse),
    Nodes(NodeList),
}

/// Decode the protobuf body of a reply to `path` (one of [`GET_CLUSTER_ID`],
/// [`INTERNAL_KV_GET`], [`HEALTH_CHECK`], [`GET_ALL_NODE_INFO`]) exactly as the client does
/// (a node list with at most `max_nodes` entries decoded). The bytes come from the peer:
/// this is the entry point for fuzzing the probe's reply decoding. None for a path the probe
/// never calls.
pub fn decode_reply(
    path: &str,
    body: &[u8],
    max_nodes: usize,
) -> Option<Result<Reply, prost::DecodeError>> {
    use prost::Message;
    Some(match path {
        GET_CLUSTER_ID => GetClusterIdReply::decode(body).map(Reply::ClusterId),
        INTERNAL_KV_GET => InternalKvGetReply::decode(body).map(Reply::KvGet),
        HEALTH_CHECK => HealthCheckResponse::decode(body).map(Reply::Health),
        GET_ALL_NODE_INFO => NodeList::decode(body, max_nodes).map(Reply::Nodes),
        _ => return None,
    })
}

/// A `GetAllNodeInfoReply` with at most a cap of its node entries decoded, and all of them
/// counted. The reply is up to tonic's 4 MB, and an empty entry takes 2 bytes on the wire but
/// a few hundred decoded (with its report, a few KB): decoded whole, a million entries cost
/// gigabytes. Past the cap the entries are only skipped (their framing is still checked), so
/// a reply costs its bytes plus at most `max_nodes` decoded nodes however many it lists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeList {
    pub status: Option<GcsStatus>,
    /// The first `max_nodes` entries, decoded.
    pub nodes: Vec<GcsNodeInfo>,
    /// How many entries the reply holds (decoded or not).
    pub listed: u64,
    /// `total`: how many nodes the GCS says it has (Ray fills it in; 0 if not).
    pub total: i64,
}

impl NodeList {
    /// Decode as prost decodes `GetAllNodeInfoReply` (field by field, the last `total`
    /// wins, repeated `status` fields merge), keeping only the first `max_nodes` entries.
    pub fn decode(mut buf: impl bytes::Buf, max_nodes: usize) -> Result<Self, prost::DecodeError> {
        use prost::encoding::{self, DecodeContext, WireType};
        let mut list = NodeList::default();
        while buf.has_remaining() {
            let (tag, wire_type) = encoding::decode_key(&mut buf)?;
            let ctx = DecodeContext::default();
            match tag {
                1 => encoding::message::merge(
                    wire_type,
                    list.status.get_or_insert_with(GcsStatus::default),
                    &mut buf,
                    ctx,
                )?,
                2 => {
                    list.listed += 1;
                    if list.nodes.len() < max_nodes {
                        let mut node = GcsNodeInfo::default();
                        encoding::message::merge(wire_type, &mut node, &mut buf, ctx)?;
                        list.nodes.push(node);
                    } else {
                        encoding::check_wire_type(WireType::LengthDelimited, wire_type)?;
                        encoding::skip_field(wire_type, tag, &mut buf, ctx)?;
                    }
                }
                3 => encoding::int64::merge(wire_type, &mut list.total, &mut buf, ctx)?,
                _ => encoding::skip_field(wire_type, tag, &mut buf, ctx)?,
            }
        }
        Ok(list)
    }

    /// How many nodes the GCS has, as best the reply tells: its `total` when that says more
    /// than it sent (Ray honours `limit`), else the entries counted.
    pub fn nodes_at_gcs(&self) -> u64 {
        u64::try_from(self.total).unwrap_or(0).max(self.listed)
    }

    /// The message as a whole-reply encoder would send it (the entries kept).
    pub fn to_reply(&self) -> GetAllNodeInfoReply {
        GetAllNodeInfoReply {
            status: self.status.clone(),
            node_info_list: self.nodes.clone(),
            total: self.total,
        }
    }
}

/// The codec of `GetAllNodeInfo`: the request by prost, the reply as a [`NodeList`] capped
/// at `max_nodes` (tonic hands the decoder the whole message, at most 4 MB, already read).
struct NodeListCodec {
    max_nodes: usize,
}

struct NodeListDecoder {
    max_nodes: usize,
}

impl tonic::codec::Codec for NodeListCodec {
    type Encode = GetAllNodeInfoRequest;
    type Decode = NodeList;
    type Encoder = tonic_prost::ProstEncoder<GetAllNodeInfoRequest>;
    type Decoder = NodeListDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        NodeListDecoder {
            max_nodes: self.max_nodes,
        }
    }
}

impl tonic::codec::Decoder for NodeListDecoder {
    type Item = NodeList;
    type Error = Status;

    fn decode(
        &mut self,
        buf: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<NodeList>, Status> {
        // As tonic-prost reports a reply that does not decode.
        NodeList::decode(buf, self.max_nodes)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
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
        let codec: ProstCodec<Req, Resp> = ProstCodec::default();
        self.unary_with(path, msg, codec).await
    }

    async fn unary_with<C>(
        &mut self,
        path: &'static str,
        msg: C::Encode,
        codec: C,
    ) -> Result<C::Decode, Status>
    where
        C: tonic::codec::Codec + Send + 'static,
        C::Encode: Send + Sync,
        C::Decode: Send + Sync,
    {
        let mut request = Request::new(msg);
        if let Some(auth) = &self.auth {
            request.metadata_mut().insert("authorization", auth.clone());
        }
        self.grpc
            .ready()
            .await
            .map_err(|e| Status::unavailable(format!("connection not ready: {e}")))?;
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

    /// Every node the GCS knows (alive and dead), as `ray.nodes()` asks for them, up to
    /// `max_nodes`: the GCS is asked for one more (so that too many shows), and whatever it
    /// sends past `max_nodes` is counted, not decoded.
    pub async fn get_all_node_info(&mut self, max_nodes: usize) -> Result<NodeList, Status> {
        let limit = i64::try_from(max_nodes)
            .unwrap_or(i64::MAX)
            .saturating_add(1);
        let req = GetAllNodeInfoRequest { limit: Some(limit) };
        self.unary_with(GET_ALL_NODE_INFO, req, NodeListCodec { max_nodes })
            .await
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
        let got = decode_reply(GET_CLUSTER_ID, &sent.encode_to_vec(), 10);
        assert_eq!(got, Some(Ok(Reply::ClusterId(sent))));
        assert!(matches!(
            decode_reply(HEALTH_CHECK, &[0xff, 0xff], 10),
            Some(Err(_))
        ));
        assert_eq!(decode_reply("/other/Method", &[], 10), None);
    }

    /// Ray 2.60's encoding (with fields the probe does not read: raylet_socket_name,
    /// resources_total, total), from `gcs_service_pb2.GetAllNodeInfoReply.SerializeToString()`.
    const RAY_ENCODED_NODES_REPLY: [u8; 124] = [
        0x0a, 0x00, 0x12, 0x76, 0x0a, 0x02, 0x01, 0x02, 0x12, 0x09, 0x31, 0x30, 0x2e, 0x37, 0x37,
        0x2e, 0x30, 0x2e, 0x32, 0x1a, 0x06, 0x2f, 0x74, 0x6d, 0x70, 0x2f, 0x73, 0x28, 0xc1, 0xb8,
        0x02, 0x38, 0x01, 0x5a, 0x0e, 0x0a, 0x03, 0x43, 0x50, 0x55, 0x11, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xf0, 0x3f, 0x62, 0x01, 0x77, 0xb8, 0x01, 0xe8, 0x07, 0xc0, 0x01, 0x88, 0xa4,
        0x01, 0xea, 0x01, 0x3a, 0x08, 0x02, 0x12, 0x36, 0x68, 0x65, 0x61, 0x6c, 0x74, 0x68, 0x20,
        0x63, 0x68, 0x65, 0x63, 0x6b, 0x20, 0x66, 0x61, 0x69, 0x6c, 0x65, 0x64, 0x20, 0x64, 0x75,
        0x65, 0x20, 0x74, 0x6f, 0x20, 0x6d, 0x69, 0x73, 0x73, 0x69, 0x6e, 0x67, 0x20, 0x74, 0x6f,
        0x6f, 0x20, 0x6d, 0x61, 0x6e, 0x79, 0x20, 0x68, 0x65, 0x61, 0x72, 0x74, 0x62, 0x65, 0x61,
        0x74, 0x73, 0x18, 0x01,
    ];

    /// Bytes as Ray 2.60's `gcs_pb2.GetAllNodeInfoReply` encodes them (made with the Ray
    /// venv: a reply with status OK and one dead node: node_id b"\x01\x02", address
    /// 10.77.0.2, port 40001, DEAD, node_name "w", start 1000, end 21000, death_info
    /// UNEXPECTED_TERMINATION "health check failed due to missing too many heartbeats").
    #[test]
    fn get_all_node_info_reply_decodes_rays_encoding() {
        let ray: &[u8] = &RAY_ENCODED_NODES_REPLY;
        let Some(Ok(Reply::Nodes(r))) = decode_reply(GET_ALL_NODE_INFO, ray, 10) else {
            panic!("does not decode");
        };
        assert_eq!((r.nodes.len(), r.listed), (1, 1));
        let n = &r.nodes[0];
        assert_eq!(n.node_id, vec![1, 2]);
        assert_eq!(n.node_manager_address, "10.77.0.2");
        assert_eq!(n.node_manager_port, 40001);
        assert_eq!(n.state, NODE_DEAD);
        assert_eq!(n.node_name, "w");
        assert_eq!((n.start_time_ms, n.end_time_ms), (1000, 21000));
        assert!(!n.is_head_node);
        let d = n.death_info.as_ref().expect("death_info");
        assert_eq!(d.reason, DEATH_UNEXPECTED_TERMINATION);
        assert_eq!(death_reason_name(d.reason), "UNEXPECTED_TERMINATION");
        assert_eq!(
            d.reason_message,
            "health check failed due to missing too many heartbeats"
        );
    }

    fn reply_with(n: usize) -> GetAllNodeInfoReply {
        GetAllNodeInfoReply {
            status: Some(GcsStatus::default()),
            node_info_list: (0..n)
                .map(|i| GcsNodeInfo {
                    node_id: vec![i as u8; 28],
                    node_manager_address: format!("10.0.0.{i}"),
                    node_manager_port: 40000 + i as i32,
                    ..GcsNodeInfo::default()
                })
                .collect(),
            total: 0,
        }
    }

    #[test]
    fn node_list_decodes_as_the_whole_reply_up_to_the_cap() {
        let sent = reply_with(5);
        let bytes = sent.encode_to_vec();
        for cap in [5, 6, 100] {
            let got = NodeList::decode(&bytes[..], cap).expect("decodes");
            assert_eq!(got.to_reply(), sent, "cap {cap}");
            assert_eq!(got.listed, 5);
        }
        assert_eq!(
            GetAllNodeInfoReply::decode(&RAY_ENCODED_NODES_REPLY[..])
                .expect("whole")
                .node_info_list,
            NodeList::decode(&RAY_ENCODED_NODES_REPLY[..], 1)
                .expect("capped")
                .nodes
        );
    }

    #[test]
    fn node_list_past_the_cap_is_counted_not_decoded() {
        let bytes = reply_with(7).encode_to_vec();
        let got = NodeList::decode(&bytes[..], 2).expect("decodes");
        assert_eq!((got.nodes.len(), got.listed, got.nodes_at_gcs()), (2, 7, 7));
        assert_eq!(got.nodes[1].node_manager_address, "10.0.0.1");
        // What Ray sends with `limit`: fewer entries, and `total`.
        let mut limited = reply_with(3);
        limited.total = 250_000;
        let got = NodeList::decode(&limited.encode_to_vec()[..], 2).expect("decodes");
        assert_eq!((got.listed, got.nodes_at_gcs()), (3, 250_000));
        // A million empty entries: 2 MB on the wire, nothing decoded past the cap.
        let mut flood = Vec::with_capacity(2_000_000);
        for _ in 0..1_000_000 {
            flood.extend_from_slice(&[0x12, 0x00]);
        }
        let got = NodeList::decode(&flood[..], 10).expect("decodes");
        assert_eq!((got.nodes.len(), got.listed), (10, 1_000_000));
        // Past the cap an entry is skipped, but its framing is still checked.
        for bad in [&[0x10, 0x01][..], &[0x12, 0x05, 0x00][..]] {
            let mut b = reply_with(1).encode_to_vec();
            b.extend_from_slice(bad);
            assert!(NodeList::decode(&b[..], 1).is_err(), "{bad:?}");
            assert!(GetAllNodeInfoReply::decode(&b[..]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn get_all_node_info_asks_for_one_more_than_the_cap() {
        let req = GetAllNodeInfoRequest { limit: Some(11) };
        // Field 1, varint 11: what Ray's `GetAllNodeInfoRequest(limit=11)` encodes.
        assert_eq!(req.encode_to_vec(), vec![0x08, 0x0b]);
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
