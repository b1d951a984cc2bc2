//! One file per subcommand: its flags (clap `Args`, help with EXAMPLES) and its `run`: read
//! the flags, call the library, print one line per outcome. No crypto, parsing or network
//! code here. Flags shared by several commands and their mapping to domain types live in
//! `cli::args`; the printing of an issue/init outcome, shared by three commands, in `outcome`.
use time::OffsetDateTime;

use crate::cli::{Cli, Command};
use crate::error::Result;
use crate::exit_code::ExitCode;

pub mod ca;
pub mod completions;
pub mod env;
pub mod health_check;
pub mod init;
pub mod inspect;
pub mod issue;
pub mod lint_uri;
pub mod man;
pub mod netrc;
pub mod outcome;
pub mod quickstart;
pub mod renew;
pub mod serve;
pub mod token;
pub mod verify;

/// Run the chosen command; its `ExitCode` is what the process exits with.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Ca(args) => ca::run(args),
        Command::Issue(args) => issue::run(args),
        Command::Init(args) => init::run(args),
        Command::Env(args) => env::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Quickstart(args) => quickstart::run(args),
        Command::HealthCheck(args) => health_check::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Renew(args) => renew::run(args),
        Command::Token(args) => token::run(args),
        Command::Netrc(args) => netrc::run(args),
        Command::LintUri(args) => lint_uri::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}
