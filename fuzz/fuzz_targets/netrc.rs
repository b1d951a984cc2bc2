//! A netrc file as `raytls netrc check` and `netrc set` read it: `kit::netrc::parse` and
//! `kit::netrc::set_machine`. Every entry span must be a valid slice of the text (`set`
//! splices by span), and after a successful `set` the file must parse cleanly with the
//! machine exactly once, every other machine kept.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use raytls::kit::netrc;

const MACHINE: &str = "fuzz.example.com";

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = netrc::parse(src);
    for entry in &parsed.entries {
        assert!(
            src.get(entry.span.clone()).is_some(),
            "span {:?} is not a slice of the text",
            entry.span
        );
    }
    for problem in &parsed.problems {
        assert!(problem.line >= 1);
    }

    let Ok(outcome) = netrc::set_machine(src, MACHINE, "fuzzuser", "fuzzpass", Path::new("netrc"))
    else {
        return;
    };
    let after = netrc::parse(&outcome.text);
    assert!(
        after.malformed().next().is_none(),
        "set_machine wrote a malformed file: {:?}\n{:?}",
        after.problems,
        outcome.text
    );
    let ours: Vec<_> = after.machines().filter(|(m, _)| *m == MACHINE).collect();
    assert_eq!(ours.len(), 1, "{:?}", outcome.text);
    assert_eq!(ours[0].1.login.as_deref(), Some("fuzzuser"));
    assert!(ours[0].1.has_password);
    let others = |n: &netrc::Netrc| -> Vec<String> {
        n.machines()
            .filter(|(m, _)| *m != MACHINE)
            .map(|(m, _)| m.to_string())
            .collect()
    };
    assert_eq!(others(&parsed), others(&after), "{:?}", outcome.text);
});
