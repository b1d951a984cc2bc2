//! Flags of `raytls man`.
use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
#[command(
    about = "Print the man page (roff), or write one page per subcommand",
    after_help = "EXAMPLES:
  # Read it now
  raytls man | man -l -

  # Install raytls.1 and raytls-<subcommand>.1 pages
  raytls man --out-dir /usr/local/share/man/man1"
)]
pub struct ManArgs {
    /// Write raytls.1 and raytls-<subcommand>.1 into DIR instead of printing raytls.1
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Replace pages that exist in DIR
    #[arg(long, requires = "out_dir")]
    pub force: bool,
}
