//! One integration test binary (ripgrep's layout): each module tests one subcommand by
//! running the built `raytls`.
mod health_check;
mod probe_util;
