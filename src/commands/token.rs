//! `raytls token generate`: a Ray auth token as stdout, a 0600 file, or a Kubernetes Secret.
use crate::cli::token::{TokenArgs, TokenCommand, TokenGenerateArgs};
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::files::{self, Mode, Overwrite};
use crate::token;

pub fn run(args: TokenArgs) -> Result<ExitCode> {
    match args.command {
        TokenCommand::Generate(args) => generate(args),
    }
}

fn generate(args: TokenGenerateArgs) -> Result<ExitCode> {
    // Names are checked before the token exists, so a typo costs nothing.
    if let Some(name) = &args.k8s_secret {
        token::check_secret_name("--k8s-secret", name)?;
    }
    if let Some(ns) = &args.namespace {
        token::check_namespace("--namespace", ns)?;
    }
    let tok = token::generate()?;
    let text = match &args.k8s_secret {
        Some(name) => token::k8s_secret_manifest(name, args.namespace.as_deref(), &tok),
        None => format!("{tok}\n"),
    };
    match &args.out {
        None => crate::out!("{}", text),
        Some(path) => {
            // A Secret manifest holds the token too, so both kinds of file are 0600.
            files::write_file(
                path,
                text.as_bytes(),
                Mode::Secret,
                Overwrite::from_force(args.force),
            )?;
            let what = match &args.k8s_secret {
                Some(name) => format!("Kubernetes Secret {name} (key {})", token::SECRET_KEY),
                None => "Ray auth token".to_string(),
            };
            crate::outln!("wrote {what} to {} (mode 0600)", path.display());
        }
    }
    Ok(ExitCode::Ok)
}
