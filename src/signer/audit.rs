//! One JSON line per decision: time, peer, role, how it proved the role, SANs, serial,
//! not_after, result, reason. Never a token, never a key, never the CSR.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::probe::tls::lock;

#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    pub time: String,
    pub peer: String,
    /// The role asked for (absent when the body could not be read).
    pub role: Option<&'a str>,
    /// `token` or `client_cert` once authenticated.
    pub auth: Option<&'a str>,
    pub sans: &'a [String],
    pub serial: Option<&'a str>,
    pub not_after: Option<&'a str>,
    /// `issued` or `refused`.
    pub result: &'a str,
    pub status: u16,
    /// The refusal code (`name_not_allowed`, `rate_limited`...), absent when issued.
    pub reason: Option<&'a str>,
    pub message: Option<&'a str>,
    /// `--kubernetes`: namespace, pod, pod UID, ServiceAccount and RayCluster, as far as
    /// the request got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<&'a crate::signer::kubernetes::Who>,
}

enum Sink {
    Stdout,
    File(PathBuf, std::fs::File),
    Off,
}

pub struct Audit {
    sink: Mutex<Sink>,
}

impl Audit {
    /// `-` is standard output; anything else a file opened for appending (0640 when new).
    pub fn open(target: Option<&Path>) -> Result<Self> {
        let sink = match target {
            None => Sink::Off,
            Some(p) if p.as_os_str() == "-" => Sink::Stdout,
            Some(p) => {
                use std::os::unix::fs::OpenOptionsExt;
                let f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o640)
                    .open(p)
                    .map_err(|e| Error::write(p, e))?;
                Sink::File(p.to_path_buf(), f)
            }
        };
        Ok(Audit {
            sink: Mutex::new(sink),
        })
    }

    pub fn log(&self, entry: &Entry<'_>) {
        let Ok(mut line) = serde_json::to_string(entry) else {
            return;
        };
        line.push('\n');
        let mut sink = lock(&self.sink);
        match &mut *sink {
            Sink::Off => {}
            Sink::Stdout => crate::out!("{line}"),
            Sink::File(path, f) => {
                // An audit line that cannot be written is said once per failure on stderr;
                // the decision itself stands.
                if let Err(e) = f.write_all(line.as_bytes()) {
                    eprintln!(
                        "raytls serve: cannot write audit log {}: {e}",
                        path.display()
                    );
                }
            }
        }
    }
}
