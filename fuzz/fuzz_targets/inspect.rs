//! `raytls inspect FILE...` on files with arbitrary contents: `pki::inspect::inspect_files`
//! (certificates, keys of every kind, and which key matches which certificate). A NUL byte
//! splits the input into two files, so key/certificate matching across files runs too.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use raytls::pki::inspect;
use time::OffsetDateTime;

/// One scratch directory per fuzzing process (libFuzzer runs inputs one at a time).
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("raytls-fuzz-inspect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let parts: Vec<&[u8]> = match data.iter().position(|&b| b == 0) {
        Some(i) => vec![&data[..i], &data[i + 1..]],
        None => vec![data],
    };
    let paths: Vec<PathBuf> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let path = scratch().join(format!("file{i}.pem"));
            std::fs::write(&path, part).expect("write the scratch file");
            path
        })
        .collect();
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a valid timestamp");
    if let Ok(reports) = inspect::inspect_files(&paths, now) {
        assert_eq!(reports.len(), paths.len());
    }
});
