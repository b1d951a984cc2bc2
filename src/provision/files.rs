//! The one place raytls writes to disk.
//!
//! Every file goes to a temp file in the target directory, created with its final mode
//! (0600 for secrets, from the first byte: `O_EXCL` + mode at `open`, as minica does),
//! fsynced, then renamed into place, and the directory fsynced. A set of files is
//! all-or-nothing as far as we can make it: every target is checked before anything is
//! written, every temp file is written before the first rename, and a failure removes
//! the temp files (and the directory, if we made it).
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Who may read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Private keys and tokens: 0600.
    Secret,
    /// Certificates and env files: 0644.
    Public,
}

impl Mode {
    pub fn bits(self) -> u32 {
        match self {
            Mode::Secret => 0o600,
            Mode::Public => 0o644,
        }
    }
}

/// One file to write: its name inside the target directory, contents and mode.
#[derive(Debug, Clone)]
pub struct OutFile {
    pub name: String,
    pub contents: Vec<u8>,
    pub mode: Mode,
}

impl OutFile {
    pub fn secret(name: &str, contents: impl Into<Vec<u8>>) -> Self {
        OutFile {
            name: name.to_string(),
            contents: contents.into(),
            mode: Mode::Secret,
        }
    }

    pub fn public(name: &str, contents: impl Into<Vec<u8>>) -> Self {
        OutFile {
            name: name.to_string(),
            contents: contents.into(),
            mode: Mode::Public,
        }
    }
}

/// Whether existing files may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Refuse if any target exists (the default; `--force` lifts it).
    Refuse,
    /// Replace atomically (`--force`, and `init`, which is idempotent by design).
    Replace,
}

impl Overwrite {
    pub fn from_force(force: bool) -> Self {
        if force {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        }
    }
}

/// Fail before writing anything if a target may not be replaced: it exists and we may not
/// overwrite, or it is something a file cannot replace (a directory). Checking every
/// target first is what makes `--force` all-or-nothing: with `tls.key` a directory, the
/// new tls.crt must not land beside a key that stays old.
pub fn check_targets(dir: &Path, files: &[OutFile], overwrite: Overwrite) -> Result<()> {
    for f in files {
        let path = dir.join(&f.name);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if overwrite == Overwrite::Refuse {
            return Err(Error::Exists { path });
        }
        if meta.is_dir() {
            return Err(Error::write(
                &path,
                std::io::Error::other("it is a directory; a file cannot replace it"),
            ));
        }
    }
    Ok(())
}

/// Write `files` into `dir` (created, mode 0755 or 0700 if it holds a secret, when missing),
/// holding the directory's lock (`lock_dir`) from the check of the targets to the last
/// rename, so that concurrent raytls writers into one directory take turns.
pub fn write_files(dir: &Path, files: &[OutFile], overwrite: Overwrite) -> Result<Vec<PathBuf>> {
    check_targets(dir, files, overwrite)?;
    let created = ensure_dir(dir, files.iter().any(|f| f.mode == Mode::Secret))?;
    let mut temps: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(files.len());
    let result = (|| {
        let _lock = lock_dir(dir)?;
        // Again under the lock: another writer may have made a target since.
        check_targets(dir, files, overwrite)?;
        for f in files {
            let target = dir.join(&f.name);
            let temp = temp_path(dir, &f.name);
            // Pushed before writing, so a failure mid-write still removes the temp file.
            temps.push((temp.clone(), target));
            // Name the file the user asked for, not our temp file.
            write_new_synced(&temp, &f.contents, f.mode)
                .map_err(|e| Error::write(dir.join(&f.name), e))?;
        }
        // The key before the certificate: a crash between the two renames leaves a new key
        // beside the old certificate, a pair that `init` and `verify` see does not match
        // (key_match) and re-issue, never one they would keep.
        temps.sort_by_key(|(_, target)| files_rename_rank(target));
        for (temp, target) in &temps {
            fs::rename(temp, target).map_err(|e| Error::write(target, e))?;
        }
        sync_dir(dir);
        Ok(())
    })();
    if let Err(e) = result {
        for (temp, _) in &temps {
            let _ = fs::remove_file(temp);
        }
        // Deepest first; remove_dir only removes a directory that is still empty.
        for d in created.iter().rev() {
            let _ = fs::remove_dir(d);
        }
        return Err(e);
    }
    // In the caller's order, whatever order the renames took.
    Ok(files.iter().map(|f| dir.join(&f.name)).collect())
}

/// Secrets are renamed first (see `write_files`).
fn files_rename_rank(target: &Path) -> u8 {
    let is_key = target
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".key"));
    u8::from(!is_key)
}

/// The symlink that names the current version of a set written by `write_set`.
pub const DATA_LINK: &str = "..data";

/// Write a set of files that must change together (a certificate, its key, the CA and the
/// env file) the way the kubelet writes Secret volumes: the files go into a new directory
/// `DIR/..<timestamp>`, then one rename swaps the symlink `DIR/..data` to it, and each
/// well-known name (`DIR/tls.crt`) is a symlink through `..data`. A reader that opens
/// `tls.crt` and `tls.key` may straddle one swap (two files can always do that), but it can
/// never see a certificate and a key that were never written together at one instant, as
/// renaming the files one by one allows. `keep` names files of the current set to carry
/// over unchanged (hard links: their bytes are not copied), e.g. init's kept certificate
/// and key when only ca.crt changes. Files of the current version that neither names (init's
/// ray-tls.env when `issue --force` rewrites the pair) are carried over the same way, so a
/// name that points through `..data` never dangles. Returns the paths written (not the kept
/// ones).
pub fn write_set(
    dir: &Path,
    files: &[OutFile],
    keep: &[&str],
    overwrite: Overwrite,
) -> Result<Vec<PathBuf>> {
    check_targets(dir, files, overwrite)?;
    let holds_secret = files.iter().any(|f| f.mode == Mode::Secret);
    let created = ensure_dir(dir, holds_secret)?;
    let mut version: Option<PathBuf> = None;
    let result = (|| {
        let _lock = lock_dir(dir)?;
        check_targets(dir, files, overwrite)?;
        let v = new_version_dir(dir, holds_secret)?;
        version = Some(v.clone());
        let carried = carried_over(dir, files, keep);
        let keep: Vec<&str> = keep
            .iter()
            .copied()
            .chain(carried.iter().map(String::as_str))
            .collect();
        for name in &keep {
            let current = current_file(dir, name)?;
            fs::hard_link(&current, v.join(name)).map_err(|e| Error::write(dir.join(name), e))?;
        }
        for f in files {
            write_new_synced(&v.join(&f.name), &f.contents, f.mode)
                .map_err(|e| Error::write(dir.join(&f.name), e))?;
        }
        sync_dir(&v);
        let old = fs::read_link(dir.join(DATA_LINK)).ok();
        swap_symlink(
            dir,
            DATA_LINK,
            v.file_name().map(PathBuf::from).unwrap_or_default(),
        )?;
        // From here on the new set is what `..data` names. Each name becomes a symlink
        // through it once (a directory written before this layout held plain files); the
        // key first, so that an interrupted migration leaves a pair key_match refuses.
        let mut names: Vec<&str> = files
            .iter()
            .map(|f| f.name.as_str())
            .chain(keep.iter().copied())
            .collect();
        names.sort_by_key(|n| files_rename_rank(Path::new(n)));
        for name in names {
            let through = Path::new(DATA_LINK).join(name);
            if fs::read_link(dir.join(name)).ok().as_deref() != Some(through.as_path()) {
                swap_symlink(dir, name, through)?;
            }
        }
        sync_dir(dir);
        if let Some(old) = old.filter(|o| is_version_name(o)) {
            let _ = fs::remove_dir_all(dir.join(old));
        }
        Ok(())
    })();
    if let Err(e) = result {
        // Only reached before the swap or during a one-time migration: the new version is
        // not (yet fully) named, so it goes; a migration's half stays, and key_match sees it.
        let named = fs::read_link(dir.join(DATA_LINK)).ok();
        if let Some(v) = version.filter(|v| named.as_deref() != v.file_name().map(Path::new)) {
            let _ = fs::remove_dir_all(v);
        }
        for d in created.iter().rev() {
            let _ = fs::remove_dir(d);
        }
        return Err(e);
    }
    Ok(files.iter().map(|f| dir.join(&f.name)).collect())
}

/// The names of the current version that the new set neither writes nor keeps, and that
/// the directory still shows through `..data`.
fn carried_over(dir: &Path, files: &[OutFile], keep: &[&str]) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir.join(DATA_LINK)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !files.iter().any(|f| f.name == *n) && !keep.contains(&n.as_str()))
        .filter(|n| {
            fs::read_link(dir.join(n)).ok().as_deref() == Some(&Path::new(DATA_LINK).join(n))
        })
        .collect()
}

/// `..2026_11_28_05_30_00.123456789_1a2b3c`, created with the set's directory mode, after
/// removing what an interrupted earlier write may have left (versions `..data` does not
/// name, a stray temp link).
fn new_version_dir(dir: &Path, holds_secret: bool) -> Result<PathBuf> {
    let named = fs::read_link(dir.join(DATA_LINK)).ok();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = PathBuf::from(e.file_name());
            if is_version_name(&name) && named.as_deref() != Some(name.as_path()) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let mut rnd = [0u8; 3];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut rnd);
    let name = format!(
        "..{:04}_{:02}_{:02}_{:02}_{:02}_{:02}.{:09}_{}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.nanosecond(),
        crate::text::hex::lower(&rnd)
    );
    let path = dir.join(name);
    let mode = if holds_secret { 0o700 } else { 0o755 };
    fs::DirBuilder::new()
        .mode(mode)
        .create(&path)
        .map_err(|e| Error::write(&path, e))?;
    // The umask may have removed bits; the Ray container reads through this directory.
    fs::set_permissions(&path, fs::Permissions::from_mode(mode))
        .map_err(|e| Error::write(&path, e))?;
    Ok(path)
}

/// Our version directories: `..` then a digit (never `..data`).
fn is_version_name(name: &Path) -> bool {
    name.to_str().is_some_and(|n| {
        n.strip_prefix("..")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// The real file behind `dir/name` today, which must live inside `dir` (a symlink an
/// attacker pointed elsewhere is not carried over).
fn current_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let real = fs::canonicalize(dir.join(name)).map_err(|e| Error::read(dir.join(name), e))?;
    let real_dir = fs::canonicalize(dir).map_err(|e| Error::read(dir, e))?;
    let inside = real
        .parent()
        .is_some_and(|p| p == real_dir || p.parent() == Some(real_dir.as_path()));
    if !inside || !fs::metadata(&real).map(|m| m.is_file()).unwrap_or(false) {
        return Err(Error::read(
            dir.join(name),
            std::io::Error::other("it is not a file of this directory"),
        ));
    }
    Ok(real)
}

/// Make `dir/name` a symlink to `target` with one rename (atomic for readers).
fn swap_symlink(dir: &Path, name: &str, target: PathBuf) -> Result<()> {
    let temp = temp_path(dir, name);
    std::os::unix::fs::symlink(&target, &temp).map_err(|e| Error::write(dir.join(name), e))?;
    fs::rename(&temp, dir.join(name)).map_err(|e| {
        let _ = fs::remove_file(&temp);
        Error::write(dir.join(name), e)
    })
}

/// Write one file atomically (its directory is created if missing).
pub fn write_file(path: &Path, contents: &[u8], mode: Mode, overwrite: Overwrite) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::NotAFilePath {
            path: path.to_path_buf(),
        })?
        .to_string_lossy()
        .into_owned();
    write_files(
        dir,
        &[OutFile {
            name,
            contents: contents.to_vec(),
            mode,
        }],
        overwrite,
    )
    .map(|_| ())
}

/// Create `dir` and any missing parents. Returns the directories we created, outermost
/// first, so that a failure can remove them again (`issue --out a/b/c` on a full disk must
/// not leave `a/` and `a/b/` behind).
fn ensure_dir(dir: &Path, holds_secret: bool) -> Result<Vec<PathBuf>> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(Vec::new()),
        Ok(_) => {
            return Err(Error::write(
                dir,
                std::io::Error::other("exists and is not a directory"),
            ))
        }
        Err(_) => {}
    }
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && fs::symlink_metadata(a).is_err())
        .map(Path::to_path_buf)
        .collect();
    let mode = if holds_secret { 0o700 } else { 0o755 };
    let mut created = Vec::new();
    for d in missing.iter().rev() {
        match fs::DirBuilder::new().mode(mode).create(d) {
            Ok(()) => created.push(d.clone()),
            // Another writer made it meanwhile: fine, but it is not ours to remove.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                for c in created.iter().rev() {
                    let _ = fs::remove_dir(c);
                }
                return Err(Error::write(dir, e));
            }
        }
    }
    Ok(created)
}

fn temp_path(dir: &Path, name: &str) -> PathBuf {
    let mut rnd = [0u8; 6];
    // A collision only makes create_new fail with a clear error, so a fallback is harmless.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut rnd);
    let suffix: String = crate::text::hex::lower(&rnd);
    dir.join(format!(".{name}.raytls-{suffix}.tmp"))
}

/// Create a new file with its final mode from the first byte, write, fsync.
fn write_new_synced(path: &Path, contents: &[u8], mode: Mode) -> std::io::Result<()> {
    let mut file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode.bits())
        .open(path)?;
    // The umask may have removed bits from a public file's mode; set it exactly.
    file.set_permissions(fs::Permissions::from_mode(mode.bits()))?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Put an existing file's mode back to `mode` (e.g. a kept key someone made 0644).
/// Returns the old mode if it had to change.
pub fn ensure_mode(path: &Path, mode: Mode) -> Result<Option<u32>> {
    let old = fs::metadata(path)
        .map_err(|e| Error::read(path, e))?
        .permissions()
        .mode()
        & 0o777;
    if old == mode.bits() {
        return Ok(None);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode.bits()))
        .map_err(|e| Error::write(path, e))?;
    Ok(Some(old))
}

fn sync_dir(dir: &Path) {
    // Makes the renames durable; a filesystem that cannot fsync a directory is not an error.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// An advisory exclusive lock (`flock`) on a directory, held until dropped. raytls
/// processes that write into the same directory (two `issue --force`, two `netrc set`)
/// take it around their read-check-write, so they serialize instead of mixing a
/// certificate from one with a key from the other. Locking the directory itself leaves no
/// lock file behind. Within one process the lock is re-entrant: `write_files` takes it
/// too, under a caller that already holds it.
pub struct DirLock {
    /// None when this process already held the lock (the outer guard releases it).
    held: Option<(File, (u64, u64))>,
}

/// Directories (device, inode) this process holds the lock of.
static HELD: std::sync::Mutex<Vec<(u64, u64)>> = std::sync::Mutex::new(Vec::new());

/// Wait for and take the lock on `dir` (which must exist).
pub fn lock_dir(dir: &Path) -> Result<DirLock> {
    use std::os::unix::fs::MetadataExt;
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let file = File::open(dir).map_err(|e| Error::write(dir, e))?;
    let meta = file.metadata().map_err(|e| Error::write(dir, e))?;
    let id = (meta.dev(), meta.ino());
    {
        let held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        if held.contains(&id) {
            return Ok(DirLock { held: None });
        }
    }
    file.lock().map_err(|e| Error::write(dir, e))?;
    HELD.lock().unwrap_or_else(|p| p.into_inner()).push(id);
    Ok(DirLock {
        held: Some((file, id)),
    })
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if let Some((_file, id)) = self.held.take() {
            HELD.lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|h| *h != id);
            // Closing `_file` releases the flock.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_0600_and_public_is_0644() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            OutFile::secret("k", "secret"),
            OutFile::public("c", "public"),
        ];
        write_files(dir.path(), &files, Overwrite::Refuse).unwrap();
        let mode = |n| {
            fs::metadata(dir.path().join(n))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("k"), 0o600);
        assert_eq!(mode("c"), 0o644);
        assert_eq!(fs::read_to_string(dir.path().join("k")).unwrap(), "secret");
    }

    #[test]
    fn refuses_to_overwrite_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b"), "old").unwrap();
        let files = [OutFile::public("a", "new"), OutFile::public("b", "new")];
        let err = write_files(dir.path(), &files, Overwrite::Refuse).unwrap_err();
        assert!(matches!(err, Error::Exists { .. }));
        assert!(!dir.path().join("a").exists());
        assert_eq!(fs::read_to_string(dir.path().join("b")).unwrap(), "old");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp files left behind");
    }

    #[test]
    fn replace_overwrites_atomically() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), "old").unwrap();
        write_files(
            dir.path(),
            &[OutFile::secret("a", "new")],
            Overwrite::Replace,
        )
        .unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("a")).unwrap(), "new");
        let m = fs::metadata(dir.path().join("a"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(m, 0o600);
    }
}
