//! raytls: parse arguments, run one command, map its outcome to an exit code.
use clap::Parser;
use raytls::cli::Cli;
use raytls::exit_code::ExitCode;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            std::process::exit(if e.use_stderr() {
                ExitCode::Usage.code()
            } else {
                0
            });
        }
    };
    let code = match raytls::commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // One line, whatever a path or a peer put into the message.
            eprintln!(
                "raytls: error: {}",
                raytls::text::escape::escape(&err.to_string())
            );
            err.exit_code()
        }
    };
    // A reader that went away (`| head`) has what it wanted (ripgrep's rule); a full disk
    // lost output, which is a failure.
    if let Some(kind) =
        raytls::text::output::stdout_error().filter(|k| *k != std::io::ErrorKind::BrokenPipe)
    {
        eprintln!("raytls: error: cannot write to standard output: {kind}");
        std::process::exit(ExitCode::Failure.code());
    }
    std::process::exit(code.code());
}
