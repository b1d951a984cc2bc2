//! The one place raytls writes to disk.
//!
//! Every file goes to a temp file in the target directory, created with its final mode
//! (0600 for secrets, from the first byte: `O_EXCL` + mode at `open`, as minica does),
//! fsynced, then renamed into place, and the directory fsynced. A set of files is
//! all-or-nothing as far as we can make it: every target is checked before anything is
//! written, every temp file is written before the first rename, and a failure removes
//! the temp files (and the directory, if we made it). Two layouts (`Layout`): regular
//! files for a hand-off (`issue`), the kubelet's `..data` swap for a directory Ray reads
//! (`init`, `renew`). `stage` does everything but the contents, so that a command can
//! prove the directory takes the files before it asks anyone to sign them.
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
    check_names(dir, files.iter().map(|f| f.name.as_str()), overwrite)
}

fn check_names<'a>(
    dir: &Path,
    names: impl IntoIterator<Item = &'a str>,
    overwrite: Overwrite,
) -> Result<()> {
    for name in names {
        let path = dir.join(name);
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

/// How a set of files sits in its directory. The directory's consumer decides: a hand-off
/// is copied by tools that skip or follow symlinks, a running Ray needs its pair to change
/// at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Regular files, each replaced by a rename of its own (`issue`: a hand-off that
    /// `kubectl create secret generic --from-file=DIR`, zip or scp take as it is; kubectl
    /// skips symlinks, zip follows them). The directory lock keeps raytls writers from
    /// mixing two pairs; a reader outside raytls that opens the files during the write may
    /// get the new tls.key beside the old tls.crt for the instant between two renames (the
    /// key goes first), a pair that does not match, which `raytls verify` reports.
    Plain,
    /// The kubelet's Secret-volume layout (`init`, `renew`: a directory a running Ray
    /// reads): the files live in a version directory `..<timestamp>`, one rename swaps the
    /// symlink `..data` to a new one, and each name is a symlink through `..data`.
    Versioned,
}

impl Layout {
    /// The layout `dir` has: `Versioned` with a `..data` entry (a broken one is refused
    /// when written, not worked around), `Plain` when one of `names` is there, None when
    /// neither is (a new or empty directory: the writer's own layout).
    pub fn found_in(dir: &Path, names: &[&str]) -> Option<Layout> {
        if fs::symlink_metadata(dir.join(DATA_LINK)).is_ok() {
            Some(Layout::Versioned)
        } else if names
            .iter()
            .any(|n| fs::symlink_metadata(dir.join(n)).is_ok())
        {
            Some(Layout::Plain)
        } else {
            None
        }
    }
}

/// Write `files` into `dir` (created, mode 0755 or 0700 if it holds a secret, when missing)
/// as regular files (`Layout::Plain`), holding the directory's lock (`lock_dir`) from the
/// check of the targets to the last rename, so that concurrent raytls writers into one
/// directory take turns.
pub fn write_files(dir: &Path, files: &[OutFile], overwrite: Overwrite) -> Result<Vec<PathBuf>> {
    stage(dir, Layout::Plain, &names_of(files), overwrite)?.commit(files, &[])
}

/// Write a set of files that must change together (a certificate, its key, the CA and the
/// env file) the way the kubelet writes Secret volumes (`Layout::Versioned`): the files go
/// into a new directory `DIR/..<timestamp>`, then one rename swaps the symlink `DIR/..data`
/// to it, and each well-known name (`DIR/tls.crt`) is a symlink through `..data`. A reader
/// that opens `tls.crt` and `tls.key` may straddle one swap (two files can always do that),
/// but it can never see a certificate and a key that were never written together at one
/// instant, as renaming the files one by one allows. `keep` names files of the current set
/// to carry over unchanged (hard links: their bytes are not copied), e.g. init's kept
/// certificate and key when only ca.crt changes. Files of the current version that neither
/// names (init's ray-tls.env when `issue --force` rewrites the pair) are carried over the
/// same way, so a name that points through `..data` never dangles. Returns the paths
/// written (not the kept ones).
pub fn write_set(
    dir: &Path,
    files: &[OutFile],
    keep: &[&str],
    overwrite: Overwrite,
) -> Result<Vec<PathBuf>> {
    stage(dir, Layout::Versioned, &names_of(files), overwrite)?.commit(files, keep)
}

fn names_of(files: &[OutFile]) -> Vec<(&str, Mode)> {
    files.iter().map(|f| (f.name.as_str(), f.mode)).collect()
}

/// A write that has proven the directory takes it before the contents exist: the targets
/// are checked, the directory exists, its lock is held, and every new file is already
/// created, empty, with its final mode (the temp files of `Plain`, the version directory
/// and its files of `Versioned`). `issue`, `init` and `renew` stage before they ask a
/// signer or a CA for a certificate, so a directory that cannot be written (read-only, no
/// permission) costs no certificate. Dropped without `commit`, it removes what it made.
pub struct Staged {
    dir: PathBuf,
    layout: Layout,
    /// Directories `ensure_dir` made, outermost first.
    created: Vec<PathBuf>,
    /// `Versioned`: the new version directory, and the one `..data` names now (checked).
    version: Option<PathBuf>,
    current: Option<String>,
    slots: Vec<Slot>,
    committed: bool,
    /// Held until the commit is done; dropped last (after `Drop::drop` has cleaned up).
    _lock: DirLock,
}

/// One new file: created at `path` (a temp file, or inside the version directory).
struct Slot {
    name: String,
    mode: Mode,
    path: PathBuf,
    file: File,
}

/// Prepare to write the files `names` (with their modes) into `dir` in `layout`; see
/// `Staged`. The errors of a directory that refuses new files are `Error::NotWritable`.
pub fn stage(
    dir: &Path,
    layout: Layout,
    names: &[(&str, Mode)],
    overwrite: Overwrite,
) -> Result<Staged> {
    check_names(dir, names.iter().map(|(n, _)| *n), overwrite)?;
    let holds_secret = names.iter().any(|(_, m)| *m == Mode::Secret);
    let created = ensure_dir(dir, holds_secret)?;
    let lock = match lock_dir(dir) {
        Ok(l) => l,
        Err(e) => {
            remove_created(&created);
            return Err(e);
        }
    };
    let mut staged = Staged {
        dir: dir.to_path_buf(),
        layout,
        created,
        version: None,
        current: None,
        slots: Vec::with_capacity(names.len()),
        committed: false,
        _lock: lock,
    };
    // Again under the lock: another writer may have made a target since.
    check_names(dir, names.iter().map(|(n, _)| *n), overwrite)?;
    let not_writable = |e| Error::NotWritable {
        dir: dir.to_path_buf(),
        source: e,
    };
    let into = match layout {
        Layout::Plain => dir.to_path_buf(),
        Layout::Versioned => {
            staged.current = current_version(dir)?;
            let v = new_version_dir(dir, holds_secret, staged.current.as_deref())?;
            staged.version = Some(v.clone());
            v
        }
    };
    for (name, mode) in names {
        let path = match layout {
            Layout::Plain => temp_path(dir, name),
            Layout::Versioned => into.join(name),
        };
        let file = open_new(&path, *mode).map_err(not_writable)?;
        staged.slots.push(Slot {
            name: name.to_string(),
            mode: *mode,
            path,
            file,
        });
    }
    Ok(staged)
}

impl Staged {
    /// Write `files` (exactly the names staged, with their modes) and put them in place;
    /// `keep` as for `write_set` (`Versioned` only; a plain file stays where it is anyway).
    /// Returns the paths written, in the order of `files`.
    pub fn commit(mut self, files: &[OutFile], keep: &[&str]) -> Result<Vec<PathBuf>> {
        let staged_as_given = files.len() == self.slots.len()
            && files.iter().all(|f| {
                self.slots
                    .iter()
                    .any(|s| s.name == f.name && s.mode == f.mode)
            });
        if !staged_as_given {
            return Err(Error::Internal {
                what: "write the files",
                why: "they are not the files that were staged".into(),
            });
        }
        for f in files {
            let slot = self.slots.iter_mut().find(|s| s.name == f.name);
            if let Some(slot) = slot {
                // Name the file the user asked for, not our temp file.
                write_synced(&mut slot.file, &f.contents)
                    .map_err(|e| Error::write(self.dir.join(&f.name), e))?;
            }
        }
        match self.layout {
            Layout::Plain => self.put_plain()?,
            Layout::Versioned => self.put_versioned(files, keep)?,
        }
        self.committed = true;
        // In the caller's order, whatever order the renames took.
        Ok(files.iter().map(|f| self.dir.join(&f.name)).collect())
    }

    fn put_plain(&mut self) -> Result<()> {
        // The key before the certificate: a crash between the two renames leaves a new key
        // beside the old certificate, a pair that `init` and `verify` see does not match
        // (key_match) and re-issue, never one they would keep.
        self.slots
            .sort_by_key(|s| files_rename_rank(Path::new(&s.name)));
        for s in &self.slots {
            let target = self.dir.join(&s.name);
            fs::rename(&s.path, &target).map_err(|e| Error::write(&target, e))?;
        }
        sync_dir(&self.dir);
        Ok(())
    }

    fn put_versioned(&mut self, files: &[OutFile], keep: &[&str]) -> Result<()> {
        let dir = self.dir.as_path();
        let Some(v) = self.version.clone() else {
            return Err(Error::Internal {
                what: "write the files",
                why: "no version directory was staged".into(),
            });
        };
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
        sync_dir(&v);
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
        if let Some(old) = &self.current {
            remove_version(dir, old);
        }
        Ok(())
    }
}

impl Drop for Staged {
    /// Not committed: remove what was made. A version `..data` already names stays (a
    /// failed one-time migration's half: key_match sees it); the lock is still held here.
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        match self.layout {
            Layout::Plain => {
                for s in &self.slots {
                    let _ = fs::remove_file(&s.path);
                }
            }
            Layout::Versioned => {
                let named = fs::read_link(self.dir.join(DATA_LINK)).ok();
                if let Some(v) = &self.version {
                    if named.as_deref() != v.file_name().map(Path::new) {
                        // Our own directory, made by new_version_dir: no link in its path.
                        let _ = fs::remove_dir_all(v);
                    }
                }
            }
        }
        remove_created(&self.created);
    }
}

/// Deepest first; remove_dir only removes a directory that is still empty.
fn remove_created(created: &[PathBuf]) {
    for d in created.iter().rev() {
        let _ = fs::remove_dir(d);
    }
}

/// Secrets are renamed first (see `Staged::put_plain`).
fn files_rename_rank(target: &Path) -> u8 {
    let is_key = target
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".key"));
    u8::from(!is_key)
}

/// The symlink that names the current version of a set written by `write_set`.
pub const DATA_LINK: &str = "..data";

/// The version `DIR/..data` names today, checked: None without `..data` (a new directory,
/// or plain files to migrate); else one version name (`is_version_name`: no `/`, so never
/// a path out of `dir`) that is a real directory beside it, or missing (a dangling link
/// is repaired by the swap). Anything else is `Error::ForeignDataLink`: nothing that a
/// link names is ever removed unchecked.
fn current_version(dir: &Path) -> Result<Option<String>> {
    let link = dir.join(DATA_LINK);
    let meta = match fs::symlink_metadata(&link) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::read(&link, e)),
    };
    let foreign = |why: String| Error::ForeignDataLink {
        link: link.clone(),
        why,
    };
    if !meta.file_type().is_symlink() {
        return Err(foreign("it is not a symlink".into()));
    }
    let target = fs::read_link(&link).map_err(|e| Error::read(&link, e))?;
    let Some(name) = target.to_str().filter(|n| is_version_name(n)) else {
        return Err(foreign(format!(
            "it points at \"{}\", not a version directory beside it (..2026_11_28_05_30_00.123456789_1a2b3c)",
            target.display()
        )));
    };
    match fs::symlink_metadata(dir.join(name)) {
        Ok(m) if m.file_type().is_dir() => Ok(Some(name.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(name.to_string())),
        Ok(_) => Err(foreign(format!(
            "it points at \"{name}\", which is not a directory (a symlink or a file)"
        ))),
        Err(e) => Err(Error::read(dir.join(name), e)),
    }
}

/// Remove the version directory `name` of `dir`: only a valid version name (one path
/// component) and only a real directory, never what a symlink of that name points at.
fn remove_version(dir: &Path, name: &str) {
    if !is_version_name(name) {
        return;
    }
    let path = dir.join(name);
    if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_dir()) {
        let _ = fs::remove_dir_all(path);
    }
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
/// removing what an interrupted earlier write may have left (version directories other
/// than `current`, the one `..data` names; entries of a directory listing are one path
/// component, and a symlink with a version name is left alone, not followed).
fn new_version_dir(dir: &Path, holds_secret: bool, current: Option<&str>) -> Result<PathBuf> {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if current != Some(name.as_str()) {
                remove_version(dir, &name);
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
        .map_err(|e| Error::NotWritable {
            dir: dir.to_path_buf(),
            source: e,
        })?;
    // The umask may have removed bits; the Ray container reads through this directory.
    fs::set_permissions(&path, fs::Permissions::from_mode(mode))
        .map_err(|e| Error::write(&path, e))?;
    Ok(path)
}

/// A version directory's name, strictly: `..`, a digit, then only ASCII letters, digits,
/// `_` and `.` (ours and the kubelet's, `..2026_11_28_05_30_00.123456789`). One path
/// component: never `.`, `..`, `..data` or anything with a `/` (`..1/../../victim`).
fn is_version_name(name: &str) -> bool {
    name.strip_prefix("..").is_some_and(|rest| {
        rest.starts_with(|c: char| c.is_ascii_digit())
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
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
                remove_created(&created);
                return Err(Error::NotWritable {
                    dir: dir.to_path_buf(),
                    source: e,
                });
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

/// Create a new file with its final mode from the first byte (`O_EXCL`: never an existing
/// file or a symlink's target).
fn open_new(path: &Path, mode: Mode) -> std::io::Result<File> {
    let file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode.bits())
        .open(path)?;
    // The umask may have removed bits from a public file's mode; set it exactly.
    file.set_permissions(fs::Permissions::from_mode(mode.bits()))?;
    Ok(file)
}

fn write_synced(file: &mut File, contents: &[u8]) -> std::io::Result<()> {
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
    #[test]
    fn version_names_are_one_path_component() {
        for ok in [
            "..2026_11_28_05_30_00.123456789_1a2b3c",
            "..2026_11_28_05_30_00.123456789",
            "..1",
        ] {
            assert!(is_version_name(ok), "{ok}");
        }
        for bad in [
            "..1/../../victim",
            "..1/x",
            "..data",
            "..",
            ".",
            "",
            "../1",
            "/..1",
            "..1\n",
            "..1 x",
            "2026_11_28",
        ] {
            assert!(!is_version_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_foreign_data_link_is_refused_and_nothing_is_removed() {
        let ws = tempfile::tempdir().unwrap();
        let dir = ws.path().join("pod");
        write_set(&dir, &[OutFile::public("a", "1")], &[], Overwrite::Replace).unwrap();
        let victim = ws.path().join("victim");
        fs::create_dir(&victim).unwrap();
        fs::create_dir(dir.join("..1")).unwrap();
        fs::remove_file(dir.join(DATA_LINK)).unwrap();
        std::os::unix::fs::symlink("..1/../../victim", dir.join(DATA_LINK)).unwrap();
        let err =
            write_set(&dir, &[OutFile::public("a", "2")], &[], Overwrite::Replace).unwrap_err();
        assert!(matches!(err, Error::ForeignDataLink { .. }), "{err}");
        assert!(err.to_string().contains("..1/../../victim"), "{err}");
        assert!(victim.is_dir() && dir.join("..1").is_dir());
        // A version name that is a symlink, not a directory: refused too.
        fs::remove_file(dir.join(DATA_LINK)).unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("..2")).unwrap();
        std::os::unix::fs::symlink("..2", dir.join(DATA_LINK)).unwrap();
        let err =
            write_set(&dir, &[OutFile::public("a", "2")], &[], Overwrite::Replace).unwrap_err();
        assert!(matches!(err, Error::ForeignDataLink { .. }), "{err}");
        assert!(victim.is_dir());
    }

    #[test]
    fn a_staged_write_that_is_dropped_leaves_nothing() {
        for layout in [Layout::Plain, Layout::Versioned] {
            let ws = tempfile::tempdir().unwrap();
            let dir = ws.path().join("a/b");
            let staged = stage(&dir, layout, &[("k", Mode::Secret)], Overwrite::Refuse).unwrap();
            assert!(dir.is_dir());
            drop(staged);
            assert!(!ws.path().join("a").exists(), "{layout:?}");
        }
    }

    #[test]
    fn commit_writes_exactly_what_was_staged() {
        let ws = tempfile::tempdir().unwrap();
        let staged = stage(
            ws.path(),
            Layout::Plain,
            &[("k", Mode::Secret)],
            Overwrite::Refuse,
        )
        .unwrap();
        let err = staged
            .commit(&[OutFile::public("k", "x")], &[])
            .unwrap_err();
        assert!(matches!(err, Error::Internal { .. }), "{err}");
        let names: Vec<_> = fs::read_dir(ws.path()).unwrap().collect();
        assert!(names.is_empty(), "temp file left behind");
    }

    #[test]
    fn each_layout_is_found_as_written() {
        let ws = tempfile::tempdir().unwrap();
        let (plain, versioned) = (ws.path().join("p"), ws.path().join("v"));
        assert_eq!(Layout::found_in(&plain, &["k"]), None);
        write_files(&plain, &[OutFile::secret("k", "1")], Overwrite::Refuse).unwrap();
        write_set(
            &versioned,
            &[OutFile::secret("k", "1")],
            &[],
            Overwrite::Refuse,
        )
        .unwrap();
        assert_eq!(Layout::found_in(&plain, &["k"]), Some(Layout::Plain));
        assert_eq!(
            Layout::found_in(&versioned, &["k"]),
            Some(Layout::Versioned)
        );
        assert!(fs::symlink_metadata(plain.join("k")).unwrap().is_file());
        assert!(fs::symlink_metadata(versioned.join("k"))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
