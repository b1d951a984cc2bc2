//! `raytls env`: print or write the RAY_TLS_* environment.
use crate::cli::env::EnvArgs;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::files::{self, Mode, Overwrite};
use crate::ray_env::{RayTlsEnv, CA_FILE, CERT_FILE, KEY_FILE};

pub fn run(a: EnvArgs) -> Result<ExitCode> {
    for f in [CERT_FILE, KEY_FILE, CA_FILE] {
        let p = a.dir.join(f);
        if !p.is_file() {
            return Err(Error::Other(format!(
                "{} is missing: make the files first (raytls issue ... --out {} or raytls init)",
                p.display(),
                a.dir.display()
            )));
        }
    }
    let mut env = RayTlsEnv::for_dir(&a.dir)?;
    if let Some(t) = &a.token_file {
        if !t.is_file() {
            return Err(Error::Other(format!(
                "token file {} is missing (make one with `raytls token generate --out {}`)",
                t.display(),
                t.display()
            )));
        }
        env = env.with_token_file(t)?;
    }
    let text = env.render(a.format);
    match &a.out {
        None => crate::out!("{text}"),
        Some(path) => {
            files::write_file(
                path,
                text.as_bytes(),
                Mode::Public,
                Overwrite::from_force(a.force),
            )?;
            crate::outln!("wrote {} ({:?} format)", path.display(), a.format);
        }
    }
    Ok(ExitCode::Ok)
}
