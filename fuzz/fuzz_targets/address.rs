//! Addresses and names from flags, env vars and the GCS's node list: `probe::target::parse`
//! (`--address`, `--check-served`, every node address `--all-nodes` dials), `San::parse`
//! (`--san`, names read back from a certificate) and `parse_pod_ip` (POD_IP). Whatever they
//! accept must print, become a TLS server name and a URI host, and parse again to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use raytls::pki::san::{self, San};
use raytls::probe::target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = target::parse(s) {
        let _ = t.server_name();
        let shown = t.to_string();
        let again = target::parse(&shown)
            .unwrap_or_else(|e| panic!("{s:?} -> {shown:?} does not parse again: {e}"));
        assert_eq!(again.to_string(), shown, "{s:?}");
        let _ = t.host_for_uri();
        let _ = t.host_text();
    }
    if let Ok(n) = San::parse("--san", s) {
        let shown = n.to_string();
        let again = San::parse("--san", &shown)
            .unwrap_or_else(|e| panic!("{s:?} -> {shown:?} does not parse again: {e}"));
        assert_eq!(again, n, "{s:?}");
    }
    let _ = san::parse_pod_ip("POD_IP", s);
});
