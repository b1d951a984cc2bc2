//! What a GCS (or anything listening on its port) sends back to `health-check`: the prost
//! decoding of the reply messages in `probe::grpc::messages`. A reply that decodes must
//! encode and decode again to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use raytls::probe::grpc::messages::{
    GcsStatus, GetClusterIdReply, HealthCheckResponse, InternalKvGetReply,
};

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(msg) = M::decode(data) {
        let again = M::decode(msg.encode_to_vec().as_slice()).expect("our encoding decodes");
        assert_eq!(again, msg);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<GetClusterIdReply>(data);
    round_trip::<InternalKvGetReply>(data);
    round_trip::<HealthCheckResponse>(data);
    round_trip::<GcsStatus>(data);
});
