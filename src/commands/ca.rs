//! `raytls ca create`.
use crate::cli::ca::{CaArgs, CaCommand, CaCreateArgs};
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::files::{self, OutFile, Overwrite};
use crate::pki::authority;
use crate::pki::certinfo::date;

pub fn run(args: CaArgs) -> Result<ExitCode> {
    match args.command {
        CaCommand::Create(a) => create(a),
    }
}

fn create(a: CaCreateArgs) -> Result<ExitCode> {
    let files = [OutFile::public("ca.crt", ""), OutFile::secret("ca.key", "")];
    files::check_targets(&a.out, &files, Overwrite::from_force(a.force))?;
    let ca = authority::create_ca(&a.name, a.key_type, a.days, super::now())?;
    let written = files::write_files(
        &a.out,
        &[
            OutFile::public("ca.crt", ca.cert_pem.clone()),
            OutFile::secret("ca.key", ca.key.pem()),
        ],
        Overwrite::from_force(a.force),
    )?;
    let (cert, key) = (super::display(&written[0]), super::display(&written[1]));
    if a.json {
        let v = serde_json::json!({
            "cert": cert, "key": key, "subject": ca.info.subject,
            "key_type": ca.info.public_key.to_string(), "serial": ca.info.serial,
            "not_after": date(ca.info.not_after), "sha256_fingerprint": ca.info.sha256_fingerprint,
        });
        crate::outln!("{v}");
    } else {
        crate::outln!(
            "created CA {cert}: \"{}\", {}, expires {}",
            ca.info.display_name(),
            ca.info.public_key,
            date(ca.info.not_after)
        );
        crate::outln!(
            "wrote {key} (CA private key, mode 0600: keep it out of worker pods where you can)"
        );
    }
    Ok(ExitCode::Ok)
}
