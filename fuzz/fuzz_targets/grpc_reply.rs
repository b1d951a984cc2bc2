//! What a GCS (or anything listening on its port) sends back to `health-check`: the reply
//! body decoded by `probe::grpc::decode_reply` exactly as the client decodes it, for each
//! method the probe calls, and the Ray version read from a KV reply's value. A reply that
//! decodes must encode and decode again to the same message. The node list is decoded with
//! a cap (entries past it counted, not decoded): up to the cap it must agree with prost's
//! whole-message decoding of `GetAllNodeInfoReply`, entry for entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use raytls::probe::grpc::messages::GetAllNodeInfoReply;
use raytls::probe::grpc::{self, NodeList, Reply};

/// Small, so that inputs list more nodes than it.
const MAX_NODES: usize = 3;

fn reencoded(reply: &Reply) -> Vec<u8> {
    match reply {
        Reply::ClusterId(m) => m.encode_to_vec(),
        Reply::KvGet(m) => m.encode_to_vec(),
        Reply::Health(m) => m.encode_to_vec(),
        Reply::Nodes(m) => m.to_reply().encode_to_vec(),
    }
}

/// The capped decoding against prost's decoding of the whole message.
fn same_as_whole(data: &[u8]) {
    let capped = NodeList::decode(data, MAX_NODES);
    let whole = GetAllNodeInfoReply::decode(data);
    match (&capped, &whole) {
        (Ok(c), Ok(w)) => {
            assert_eq!(c.listed, w.node_info_list.len() as u64);
            assert_eq!(c.status, w.status);
            assert_eq!(c.total, w.total);
            let first = &w.node_info_list[..w.node_info_list.len().min(MAX_NODES)];
            assert_eq!(c.nodes, first);
        }
        // Past the cap an entry is only skipped: a bad one there fails only the whole decode.
        (Ok(c), Err(_)) => assert!(c.listed > MAX_NODES as u64, "{c:?}"),
        (Err(e), Ok(_)) => panic!("capped decoding fails where prost's succeeds: {e}"),
        (Err(_), Err(_)) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    for path in [
        grpc::GET_CLUSTER_ID,
        grpc::INTERNAL_KV_GET,
        grpc::HEALTH_CHECK,
        grpc::GET_ALL_NODE_INFO,
    ] {
        let Some(Ok(reply)) = grpc::decode_reply(path, data, MAX_NODES) else {
            continue;
        };
        let again = grpc::decode_reply(path, &reencoded(&reply), MAX_NODES)
            .expect("a path the probe calls")
            .expect("our encoding decodes");
        match (&again, &reply) {
            // Re-encoded, the node list holds only the entries kept.
            (Reply::Nodes(a), Reply::Nodes(r)) => {
                assert_eq!((&a.status, &a.nodes, a.total), (&r.status, &r.nodes, r.total));
                assert_eq!(a.listed, r.nodes.len() as u64);
            }
            _ => assert_eq!(again, reply),
        }
        if let Reply::KvGet(kv) = &reply {
            let _ = grpc::ray_version(&kv.value);
        }
    }
    same_as_whole(data);
    let _ = grpc::ray_version(data);
});
