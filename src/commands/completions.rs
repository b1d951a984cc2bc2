//! `raytls completions SHELL`: the clap_complete script on stdout.
use clap::CommandFactory;

use crate::cli::completions::CompletionsArgs;
use crate::cli::Cli;
use crate::error::Result;
use crate::exit_code::ExitCode;

pub fn run(args: CompletionsArgs) -> Result<ExitCode> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "raytls", &mut buf);
    crate::out!("{}", String::from_utf8_lossy(&buf));
    Ok(ExitCode::Ok)
}
