//! `raytls init head|worker`: the KubeRay init-container entrypoint.
use crate::cli::init::InitArgs;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::pki::authority::{Authority, CaFiles, Lifetime};
use crate::pki::role::Role;
use crate::provision;

pub fn run(a: InitArgs) -> Result<ExitCode> {
    if a.role == Role::Client {
        return Err(Error::Usage(
            "init runs in Ray pods: use `raytls init head` or `raytls init worker` (for a client identity: raytls issue client)".into(),
        ));
    }
    let now = super::now();
    if let Some(client) = a.signer.client(&a.out)? {
        let job = super::signer_job(&client, a.role, &a.leaf, a.signer.wait)?;
        let outcome = provision::signer::init_dir(
            &job,
            a.signer
                .signer_ca
                .as_deref()
                .unwrap_or(std::path::Path::new("")),
            &a.out,
            now,
            |line| eprintln!("raytls: {line}"),
        )?;
        super::print_outcome(&outcome, a.json);
        return Ok(ExitCode::Ok);
    }
    let identity = super::leaf_identity(a.role, &a.leaf)?;
    let ca = Authority::load(&CaFiles::in_dir(&a.ca), now)?;
    let outcome = provision::init_dir(
        &ca,
        &identity,
        a.leaf.key_type,
        Lifetime::from_flag(a.days, super::issue::DEFAULT_LEAF_DAYS),
        &a.out,
        now,
    )?;
    super::print_outcome(&outcome, a.json);
    Ok(ExitCode::Ok)
}
