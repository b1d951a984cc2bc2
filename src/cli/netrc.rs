//! Flags of `raytls netrc` (credentials for runtime_env remote URIs).
use std::path::PathBuf;

use clap::{Args, Subcommand};

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
