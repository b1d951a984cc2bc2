//! `raytls issue head|worker|client`.
use crate::cli::issue::IssueArgs;
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::files::Overwrite;
use crate::pki::authority::{Authority, Lifetime};
use crate::provision;

pub const DEFAULT_LEAF_DAYS: u32 = 365;

pub fn run(a: IssueArgs) -> Result<ExitCode> {
    let now = super::now();
    if let Some(client) = a.signer.client(&a.out)? {
        if a.role != crate::pki::role::Role::Client {
            return Err(crate::error::Error::Usage(format!(
                "issue {} --signer would certify this machine's address; run `raytls init {}` --signer in the pod instead (issue --signer is for client certificates)",
                a.role, a.role
            )));
        }
        let job = super::signer_job(&client, a.role, &a.leaf, a.signer.wait)?;
        let outcome = provision::signer::issue_to_dir(
            &job,
            &a.out,
            Overwrite::from_force(a.force),
            now,
            |line| eprintln!("raytls: {line}"),
        )?;
        super::print_outcome(&outcome, a.json);
        return Ok(ExitCode::Ok);
    }
    let identity = super::leaf_identity(a.role, &a.leaf)?;
    let ca = Authority::load(&super::ca_files(&a.ca)?, now)?;
    let outcome = provision::issue_to_dir(
        &ca,
        &identity,
        a.leaf.key_type,
        Lifetime::from_flag(a.days, DEFAULT_LEAF_DAYS),
        &a.out,
        Overwrite::from_force(a.force),
        now,
    )?;
    super::print_outcome(&outcome, a.json);
    Ok(ExitCode::Ok)
}
