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
