//! `raytls man`: the clap_mangen page on stdout, or one page per subcommand in a directory.
use crate::cli::Cli;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::provision::files::{self, OutFile, Overwrite};
use clap::Args;
use clap::CommandFactory;
use std::path::PathBuf;

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

pub fn run(args: ManArgs) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    // Building propagates the version to subcommands, so every page shows it.
    cmd.build();
    let Some(dir) = args.out_dir else {
        crate::out!("{}", String::from_utf8_lossy(&render(&cmd)?));
        return Ok(ExitCode::Ok);
    };
    let mut pages = vec![OutFile::public("raytls.1", render(&cmd)?)];
    collect_subpages("raytls", &cmd, &mut pages)?;
    let written = files::write_files(&dir, &pages, Overwrite::from_force(args.force))?;
    for path in written {
        crate::outln!("wrote {}", path.display());
    }
    Ok(ExitCode::Ok)
}

/// raytls-token.1, raytls-token-generate.1, ...: one page per (nested) subcommand.
fn collect_subpages(prefix: &str, cmd: &clap::Command, pages: &mut Vec<OutFile>) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{prefix}-{}", sub.get_name());
        let page = sub
            .clone()
            .display_name(name.clone())
            .bin_name(name.clone());
        pages.push(OutFile::public(&format!("{name}.1"), render(&page)?));
        collect_subpages(&name, sub, pages)?;
    }
    Ok(())
}

fn render(cmd: &clap::Command) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .map_err(|e| Error::Internal {
            what: "render the man page",
            why: e.to_string(),
        })?;
    Ok(buf)
}
