//! `raytls netrc set|check`: credentials for runtime_env URIs, kept out of the URIs.
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::kit::netrc;
use crate::provision::files::{self, Mode, Overwrite};
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
        _ => Err(Error::Usage(
            "no netrc file to use: HOME is not set; pass --file PATH or set NETRC".into(),
        )),
    }
}

/// The first line of the password file (or stdin for `-`), trimmed, as Ray reads tokens.
fn read_password(path: &Path) -> Result<String> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::read("<stdin>", e))?;
    } else {
        text = fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
    }
    Ok(text.lines().next().unwrap_or("").trim().to_string())
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
    let old = match fs::read_to_string(&target) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::read(&target, e)),
    };
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
        args.machine,
        args.login,
        target.display()
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
            args.machine
        );
    }
    Ok(ExitCode::Ok)
}

fn check(args: NetrcCheckArgs) -> Result<ExitCode> {
    let path = netrc_path(args.file)?;
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Other(format!(
                "{} does not exist; create it with `raytls netrc set --machine HOST --login USER --password-file FILE`",
                path.display()
            )))
        }
        Err(e) => return Err(Error::read(&path, e)),
    };
    let mut problems = 0usize;
    for why in netrc::file_problems(&path, &meta) {
        crate::outln!("{}: {why}", path.display());
        problems += 1;
    }
    if meta.is_file() {
        let text = fs::read_to_string(&path).map_err(|e| Error::read(&path, e))?;
        let parsed = netrc::parse(&text);
        for p in &parsed.problems {
            crate::outln!("{}:{}: {}", path.display(), p.line, p.message);
            problems += 1;
        }
        if problems == 0 {
            use std::os::unix::fs::PermissionsExt;
            crate::outln!(
                "ok: {}: {} machine entr{}, mode {:04o}",
                path.display(),
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
        "{}: {problems} problem{}",
        path.display(),
        if problems == 1 { "" } else { "s" }
    );
    Ok(ExitCode::Failure)
}
