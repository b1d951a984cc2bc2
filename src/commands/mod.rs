//! One file per subcommand: read the flags, call the library, print one line per outcome.
use crate::cli::{Cli, Command};
use crate::error::Result;
use crate::exit_code::ExitCode;

pub mod health_check;

/// Run the chosen command; its `ExitCode` is what the process exits with.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::HealthCheck(args) => health_check::run(args),
    }
}
