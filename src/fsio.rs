//! Reading input files, bounded: only a regular file (a FIFO, socket or device is refused
//! before it can block), at most a cap of bytes, errors that name the file. The low place
//! every reader of certificate, key, token and netrc files shares (`pki`, `probe`,
//! `provision`, `signer`, `commands`); the one writer is `provision::files`.
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};

/// The most raytls reads of a certificate, key or CA bundle file. Real ones are a few KB
/// (a long chain or a big trust bundle a few hundred); the cap keeps `--ca-key /dev/zero`
/// from reading until memory runs out.
pub const MAX_PEM_FILE: u64 = 4 << 20;

/// Read an input file whole: only a regular file (a FIFO or device at a path would block
/// or never end: another container sharing an emptyDir could wedge an init container that
/// way), and at most `max` bytes. Errors name the file.
pub fn read_input(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    // O_NONBLOCK: opening a FIFO with no writer would block before we could look at it.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::read(path, e))?;
    let meta = file.metadata().map_err(|e| Error::read(path, e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, socket or device)"
        };
        return Err(Error::read(
            path,
            std::io::Error::other(format!("it is {what}")),
        ));
    }
    if meta.len() > max {
        return Err(Error::read(
            path,
            std::io::Error::other(format!(
                "it is {} bytes, more than the {} bytes raytls reads from such a file",
                meta.len(),
                max
            )),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // take(max + 1): a file that grows while we read is still bounded.
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::read(path, e))?;
    if bytes.len() as u64 > max {
        return Err(Error::read(
            path,
            std::io::Error::other(format!("it grew past {max} bytes while being read")),
        ));
    }
    Ok(bytes)
}
