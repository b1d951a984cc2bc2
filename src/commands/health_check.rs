//! `raytls health-check` (issue 4).
use crate::cli::health_check::HealthCheckArgs;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;

pub fn run(_args: HealthCheckArgs) -> Result<ExitCode> {
    Err(Error::Usage("health-check is not built yet".into()))
}
