//! Duration flags (`--timeout`, `--wait`, `--renew-before`): `text::duration::parse` and
//! `parse_at_most` with the flags' bound, then `format` on whatever they accept. A bounded
//! duration must stay within its bound and be safe to add to "now".
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
    if let Ok(d) = duration::parse_at_most(s, duration::MAX) {
        assert!(d <= duration::MAX, "{s:?} gave {d:?}");
        assert!(std::time::Instant::now().checked_add(d).is_some());
        let _ = duration::format(d);
    }
});
