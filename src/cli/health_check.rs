//! Flags of `raytls health-check` (issue 4).
use clap::Args;

#[derive(Debug, Args)]
pub struct HealthCheckArgs {}
