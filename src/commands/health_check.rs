//! `raytls health-check` (issue 4): read the flags, load our credentials (a problem there is
//! a local configuration error, exit 2, before anything is dialed), check every address
//! concurrently on a tokio runtime built here (the rest of raytls is synchronous), print one
//! line (or JSON object) per address, then a summary.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::health_check::HealthCheckArgs;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::probe::credentials::{self, Credentials, Token};
use crate::probe::health::{self, Options, Report};
use crate::probe::target::{self, Target};

pub fn run(args: HealthCheckArgs) -> Result<ExitCode> {
    let targets = parse_targets(&args.addresses)?;
    let local = load_local(&args);
    let (creds, token) = match local {
        Ok(x) => x,
        Err(e) => {
            if args.json {
                for t in &targets {
                    print_json(&Report::local_config(t.to_string(), e.to_string()));
                }
            }
            return Err(Error::LocalConfig(Box::new(e)));
        }
    };
    let opts = Options {
        timeout: args.timeout,
        expect_ray_version: args.expect_ray_version.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    let reports = runtime.block_on(health::check_all(targets, Arc::new(creds), token, opts));
    // A DNS lookup that outlived its deadline still sits in a blocking thread: do not wait.
    runtime.shutdown_background();

    for r in &reports {
        if args.json {
            print_json(r);
        } else {
            crate::outln!("{}", r.line());
        }
    }
    let unhealthy: Vec<&Report> = reports.iter().filter(|r| !r.healthy).collect();
    if !args.json {
        crate::outln!("{}", summary(reports.len(), &unhealthy));
    }
    Ok(if unhealthy.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Failure
    })
}

fn parse_targets(addresses: &[String]) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    for a in addresses {
        let t = target::parse(a).map_err(|why| Error::InvalidValue {
            source_name: "--address".into(),
            value: a.clone(),
            what: "address (HOST[:PORT] or [IPv6]:PORT)",
            why,
        })?;
        targets.push(t);
    }
    if targets.is_empty() {
        return Err(Error::Usage(
            "give at least one --address HOST[:PORT]".into(),
        ));
    }
    Ok(targets)
}

/// Our CA, certificate, key and token: everything checked before the first packet.
fn load_local(args: &HealthCheckArgs) -> Result<(Credentials, Option<Token>)> {
    let ca = required(&args.ca, "CA certificate", "--ca", "RAY_TLS_CA_CERT")?;
    let cert = required(
        &args.cert,
        "client certificate",
        "--cert",
        "RAY_TLS_SERVER_CERT",
    )?;
    let key = required(&args.key, "client key", "--key", "RAY_TLS_SERVER_KEY")?;
    let creds = credentials::load(ca, cert, key)?;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let token =
        credentials::find_token(args.token_file.as_deref(), &|k| std::env::var(k).ok(), home)?;
    Ok((creds, token))
}

fn required<'a>(v: &'a Option<PathBuf>, what: &str, flag: &str, env: &str) -> Result<&'a Path> {
    match v {
        Some(p) if !p.as_os_str().is_empty() => Ok(p),
        _ => Err(Error::Usage(format!(
            "no {what}: pass {flag} FILE or set {env} (Ray's own variable, set in Ray pods)"
        ))),
    }
}

fn print_json(r: &Report) {
    match serde_json::to_string(r) {
        Ok(s) => crate::outln!("{s}"),
        Err(e) => eprintln!("raytls: cannot render JSON for {}: {e}", r.address),
    }
}

fn summary(total: usize, unhealthy: &[&Report]) -> String {
    if unhealthy.is_empty() {
        return if total == 1 {
            "healthy".into()
        } else {
            format!("all {total} healthy")
        };
    }
    let which: Vec<String> = unhealthy
        .iter()
        .map(|r| format!("{} ({})", r.address, r.cause.code()))
        .collect();
    format!(
        "{} of {total} unhealthy: {}",
        unhealthy.len(),
        which.join(", ")
    )
}
