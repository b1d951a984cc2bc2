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
    let mut files = vec![OutFile::public("ca.crt", ""), OutFile::secret("ca.key", "")];
    if a.intermediate {
        files.push(OutFile::public(authority::ROOT_FILE, ""));
    }
    files::check_targets(&a.out, &files, Overwrite::from_force(a.force))?;
    let now = super::now();
    let (ca, root_pem) = match &a.root {
        Some(root_dir) if a.intermediate => {
            let root = authority::Authority::load(&authority::CaFiles::in_dir(root_dir), now)?;
            let new = authority::create_intermediate(&root, &a.name, a.key_type, a.days, now)?;
            if let Some(note) = &new.clamped {
                eprintln!("raytls: note: {note}");
            }
            (new.ca, Some(new.root_pem))
        }
        _ => (
            authority::create_ca(&a.name, a.key_type, a.days, now)?,
            None,
        ),
    };
    let mut out = vec![
        OutFile::public("ca.crt", ca.cert_pem.clone()),
        OutFile::secret("ca.key", ca.key.pem()),
    ];
    if let Some(root_pem) = &root_pem {
        out.push(OutFile::public(authority::ROOT_FILE, root_pem.clone()));
    }
    let written = files::write_files(&a.out, &out, Overwrite::from_force(a.force))?;
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
            "created {}CA {cert}: \"{}\", {}, expires {}",
            if root_pem.is_some() {
                "intermediate "
            } else {
                ""
            },
            ca.info.display_name(),
            ca.info.public_key,
            date(ca.info.not_after)
        );
        crate::outln!(
            "wrote {key} (CA private key, mode 0600: keep it out of worker pods where you can)"
        );
        if let Some(root) = written.get(2) {
            crate::outln!(
                "wrote {} (the root's certificate, no key: what Ray pods trust as ca.crt)",
                super::display(root)
            );
        }
    }
    Ok(ExitCode::Ok)
}
