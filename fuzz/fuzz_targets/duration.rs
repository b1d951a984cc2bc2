//! Duration flags (`--timeout`, `--wait`, `--renew-before`): `text::duration::parse`, and
//! `format` on whatever it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use raytls::text::duration;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = duration::parse(s) {
        let _ = duration::format(d);
    }
});
