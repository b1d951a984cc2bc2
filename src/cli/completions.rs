//! Flags of `raytls completions`.
use clap::Args;
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
