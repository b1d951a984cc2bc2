//! `raytls lint-uri` on arbitrary text: `kit::uri_lint::lint`. A URI with no finding is
//! shown unchanged, and redacting is idempotent (the redacted URI redacts to itself).
#![no_main]

use libfuzzer_sys::fuzz_target;
use raytls::kit::uri_lint;

fuzz_target!(|data: &[u8]| {
    let Ok(uri) = std::str::from_utf8(data) else {
        return;
    };
    let report = uri_lint::lint(uri);
    if report.findings.is_empty() {
        assert_eq!(report.redacted, uri);
    }
    let again = uri_lint::lint(&report.redacted);
    assert_eq!(again.redacted, report.redacted);
});
