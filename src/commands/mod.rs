//! One file per subcommand: read the flags, call the library, print one line per outcome.
use crate::cli::{Cli, Command};
use crate::error::Result;
use crate::exit_code::ExitCode;

pub mod completions;
pub mod health_check;
pub mod lint_uri;
pub mod man;
pub mod netrc;
mod stdout;
pub mod token;

/// Run the chosen command; its `ExitCode` is what the process exits with.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::HealthCheck(args) => health_check::run(args),
        Command::Token(args) => token::run(args),
        Command::Netrc(args) => netrc::run(args),
        Command::LintUri(args) => lint_uri::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}
