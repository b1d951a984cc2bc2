//! `raytls netrc set|check`: credentials for runtime_env URIs, kept out of the URIs.
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::kit::netrc;
use crate::provision::files::{self, Mode, Overwrite};
use crate::text::escape::escape;
use clap::{Args, Subcommand};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
#[command(
    about = "Keep runtime_env download credentials in netrc instead of in URIs",
    after_help = "EXAMPLES:
  # Store a GitHub token for working_dir/py_modules URIs on github.com
  raytls netrc set --machine github.com --login alice --password-file ./gh-token

  # Check ~/.netrc (or $NETRC) for a loose mode and malformed lines
  raytls netrc check"
)]
pub struct NetrcArgs {
    #[command(subcommand)]
    pub command: NetrcCommand,
}

#[derive(Debug, Subcommand)]
pub enum NetrcCommand {
    Set(NetrcSetArgs),
    Check(NetrcCheckArgs),
}

#[derive(Debug, Args)]
#[command(
    about = "Create or update one machine entry, leaving the rest of the file untouched",
    long_about = "Create or update the entry for one machine in a netrc file, which Ray reads \
to download runtime_env URIs that need credentials (Ray's guide: never put credentials in the \
URI). Other entries, comments and macdefs stay byte for byte as they were; a second entry for \
the same machine is removed, since curl and Python's netrc disagree on which one wins. The \
file is replaced atomically with mode 0600 (a symlink is followed). The password is read from \
a file (first line, trimmed) so it never appears in the shell history or `ps`.",
    after_help = "EXAMPLES:
  # A GitHub personal access token for https://github.com/... URIs
  raytls netrc set --machine github.com --login alice --password-file ./gh-token

  # From stdin, into a netrc file that will become a Kubernetes Secret
  printf %s \"$GITLAB_TOKEN\" | raytls netrc set --machine gitlab.example.com \\
      --login oauth2 --password-file - --file ./netrc
  kubectl create secret generic netrc --from-file=.netrc=./netrc"
)]
pub struct NetrcSetArgs {
    /// Host name the credentials are for, as it appears in the URI (no scheme, no port)
    #[arg(long, value_name = "HOST")]
    pub machine: String,

    /// User name for that host
    #[arg(long, value_name = "USER")]
    pub login: String,

    /// File whose first line is the password or token; `-` reads stdin
    #[arg(long, value_name = "FILE")]
    pub password_file: PathBuf,

    /// The netrc file to edit (default: $NETRC, else ~/.netrc)
    #[arg(long, value_name = "PATH", env = "NETRC")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(
    about = "Report a loose file mode, a foreign owner and malformed lines",
    long_about = "Check a netrc file: its mode (others must not read it: 0600), its owner \
(this user), and every line (keywords, values, names that can never match such as URLs or \
host:port, duplicate machines, `default` not last, machines without a password). Prints one \
line per problem as PATH:LINE: message and exits 1 if there is any; never prints a password.",
    after_help = "EXAMPLES:
  # The netrc Ray will read on this machine
  raytls netrc check

  # A netrc file about to become a Kubernetes Secret
  raytls netrc check --file ./netrc"
)]
pub struct NetrcCheckArgs {
    /// The netrc file to check (default: $NETRC, else ~/.netrc)
    #[arg(long, value_name = "PATH", env = "NETRC")]
    pub file: Option<PathBuf>,
}

pub fn run(args: NetrcArgs) -> Result<ExitCode> {
    match args.command {
        NetrcCommand::Set(args) => set(args),
        NetrcCommand::Check(args) => check(args),
    }
}

/// --file, else $NETRC (clap reads it into --file), else ~/.netrc.
fn netrc_path(file: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(f) = file {
        return Ok(f);
    }
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => Ok(PathBuf::from(home).join(".netrc")),
        _ => Err(Error::NoNetrcPath),
    }
}

/// The most `netrc set` reads of a password file (or stdin): a token is a few hundred
/// bytes; the cap keeps `--password-file /dev/zero` from reading until memory runs out.
/// (A FIFO stays allowed: `--password-file <(pass show github)` is a habit worth keeping.)
const MAX_PASSWORD_FILE: u64 = 64 << 10;

/// The most `netrc check` and `netrc set` read of a netrc file. Real ones are a few KB;
/// 80,000 entries are 3 MB.
const MAX_NETRC_FILE: u64 = 64 << 20;

/// The first line of the password file (or stdin for `-`), trimmed, as Ray reads tokens.
fn read_password(path: &Path) -> Result<String> {
    let mut bytes = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_PASSWORD_FILE)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::read("<stdin>", e))
    } else {
        fs::File::open(path)
            .and_then(|f| f.take(MAX_PASSWORD_FILE).read_to_end(&mut bytes))
            .map_err(|e| Error::read(path, e))
    };
    read?;
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let text = std::str::from_utf8(first_line).map_err(|_| {
        Error::read(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "its first line is not UTF-8",
            ),
        )
    })?;
    Ok(text.trim().to_string())
}

/// The text of a netrc file, or `None` if there is none yet. Only a regular file is read
/// (a FIFO at ~/.netrc would hang us), and at most `MAX_NETRC_FILE` bytes.
fn read_netrc(path: &Path) -> Result<Option<String>> {
    match fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::read(path, e)),
        Ok(_) => {}
    }
    let bytes = crate::fsio::read_input(path, MAX_NETRC_FILE)?;
    String::from_utf8(bytes).map(Some).map_err(|_| {
        Error::read(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            ),
        )
    })
}

/// Lock the directory that holds the netrc file. When it does not exist yet (`--file
/// new/dir/netrc`: the write creates it) lock its nearest existing ancestor instead, and
/// move to the directory itself if another `set` made it while we waited. (Left open: a
/// `set` that starts between another's mkdir and its rename can still race it.)
fn lock_netrc_dir(dir: &Path) -> Result<files::DirLock> {
    loop {
        let existing = dir
            .ancestors()
            .find(|a| a.as_os_str().is_empty() || a.is_dir())
            .unwrap_or(Path::new(""));
        let lock = files::lock_dir(existing)?;
        if existing == dir || !dir.is_dir() {
            return Ok(lock);
        }
    }
}

fn set(args: NetrcSetArgs) -> Result<ExitCode> {
    netrc::check_value("--machine", &args.machine, false)?;
    if let Some(why) = netrc::machine_name_problem(&args.machine) {
        return Err(Error::InvalidValue {
            source_name: "--machine".into(),
            value: args.machine.clone(),
            what: "netrc machine name",
            why,
        });
    }
    netrc::check_value("--login", &args.login, false)?;
    let password = read_password(&args.password_file)?;
    netrc::check_value("--password-file", &password, true).map_err(|e| match e {
        Error::InvalidValue { why, .. } => Error::InvalidValue {
            source_name: "--password-file".into(),
            value: args.password_file.display().to_string(),
            what: "password file (first line, the password, not shown)",
            why,
        },
        other => other,
    })?;

    let path = netrc_path(args.file)?;
    // Follow a symlink (dotfiles managers link ~/.netrc): replace the file it points to,
    // not the link.
    let target = match fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::canonicalize(&path).map_err(|e| Error::read(&path, e))?
        }
        _ => path.clone(),
    };
    // Two `netrc set` at once (a provisioning script looping in parallel) would each read
    // the old file and the last rename would drop the other's entry: serialize them on the
    // file's directory, and read the file only once we hold the lock.
    let _lock = lock_netrc_dir(target.parent().unwrap_or(Path::new("")))?;
    let old = read_netrc(&target)?.unwrap_or_default();
    let outcome = netrc::set_machine(&old, &args.machine, &args.login, &password, &target)?;
    // Replacing is the point of `set`; other entries are carried over byte for byte.
    files::write_file(
        &target,
        outcome.text.as_bytes(),
        Mode::Secret,
        Overwrite::Replace,
    )?;
    let verb = if outcome.updated {
        "updated machine"
    } else {
        "added machine"
    };
    crate::outln!(
        "{verb} {} (login {}) in {} (mode 0600)",
        escape(&args.machine),
        escape(&args.login),
        escape(&target.display().to_string())
    );
    if outcome.removed_duplicates > 0 {
        crate::outln!(
            "removed {} duplicate entr{} for {}",
            outcome.removed_duplicates,
            if outcome.removed_duplicates == 1 {
                "y"
            } else {
                "ies"
            },
            escape(&args.machine)
        );
    }
    Ok(ExitCode::Ok)
}

fn check(args: NetrcCheckArgs) -> Result<ExitCode> {
    let path = netrc_path(args.file)?;
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::Missing {
            path,
            hint:
                "create it with `raytls netrc set --machine HOST --login USER --password-file FILE`"
                    .into(),
        }),
        Err(e) => return Err(Error::read(&path, e)),
    };
    // The path and every message carry file- or user-supplied text (machine names): escaped.
    let shown = escape(&path.display().to_string()).into_owned();
    let mut problems = 0usize;
    for why in netrc::file_problems(&path, &meta) {
        crate::outln!("{shown}: {}", escape(&why));
        problems += 1;
    }
    if meta.is_file() {
        let text = read_netrc(&path)?.unwrap_or_default();
        let parsed = netrc::parse(&text);
        for p in &parsed.problems {
            crate::outln!("{shown}:{}: {}", p.line, escape(&p.message));
            problems += 1;
        }
        if problems == 0 {
            use std::os::unix::fs::PermissionsExt;
            crate::outln!(
                "ok: {shown}: {} machine entr{}, mode {:04o}",
                parsed.machines().count(),
                if parsed.machines().count() == 1 {
                    "y"
                } else {
                    "ies"
                },
                meta.permissions().mode() & 0o777
            );
            return Ok(ExitCode::Ok);
        }
    }
    crate::outln!(
        "{shown}: {problems} problem{}",
        if problems == 1 { "" } else { "s" }
    );
    Ok(ExitCode::Failure)
}
