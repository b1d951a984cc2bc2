//! What a GCS (or anything listening on its port) sends back to `health-check`: the reply
//! body decoded by `probe::grpc::decode_reply` exactly as the client decodes it, for each
//! method the probe calls, and the Ray version read from a KV reply's value. A reply that
//! decodes must encode and decode again to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use raytls::probe::grpc::{self, Reply};

fn reencoded(reply: &Reply) -> Vec<u8> {
    match reply {
        Reply::ClusterId(m) => m.encode_to_vec(),
        Reply::KvGet(m) => m.encode_to_vec(),
        Reply::Health(m) => m.encode_to_vec(),
        Reply::Nodes(m) => m.encode_to_vec(),
    }
}

fuzz_target!(|data: &[u8]| {
    for path in [
        grpc::GET_CLUSTER_ID,
        grpc::INTERNAL_KV_GET,
        grpc::HEALTH_CHECK,
        grpc::GET_ALL_NODE_INFO,
    ] {
        let Some(Ok(reply)) = grpc::decode_reply(path, data) else {
            continue;
        };
        let again = grpc::decode_reply(path, &reencoded(&reply))
            .expect("a path the probe calls")
            .expect("our encoding decodes");
        assert_eq!(again, reply);
        if let Reply::KvGet(kv) = &reply {
            let _ = grpc::ray_version(&kv.value);
        }
    }
    let _ = grpc::ray_version(data);
});
