//! `raytls completions SHELL`: the clap_complete script on stdout.
use crate::cli::Cli;
use crate::error::Result;
use crate::exit_code::ExitCode;
use clap::Args;
use clap::CommandFactory;
use clap_complete::Shell;

#[derive(Debug, Args)]
#[command(
    about = "Print a shell completion script (bash, zsh, fish, elvish, powershell)",
    after_help = "EXAMPLES:
  # bash, for this shell only / for every new shell
  source <(raytls completions bash)
  raytls completions bash > ~/.local/share/bash-completion/completions/raytls

  # zsh (a directory on $fpath) and fish
  raytls completions zsh > ~/.zfunc/_raytls
  raytls completions fish > ~/.config/fish/completions/raytls.fish"
)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

pub fn run(args: CompletionsArgs) -> Result<ExitCode> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "raytls", &mut buf);
    crate::out!("{}", String::from_utf8_lossy(&buf));
    Ok(ExitCode::Ok)
}
