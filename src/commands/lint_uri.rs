//! `raytls lint-uri`: flag URIs that carry credentials; exit 1 if any does.
use crate::cli::lint_uri::LintUriArgs;
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::uri_lint;

pub fn run(args: LintUriArgs) -> Result<ExitCode> {
    let mut flagged = 0usize;
    for uri in &args.uris {
        let report = uri_lint::lint(uri);
        if report.findings.is_empty() {
            crate::outln!("ok: {}", report.redacted);
            continue;
        }
        flagged += 1;
        for finding in &report.findings {
            crate::outln!("credentials: {}: {}", report.redacted, finding.what);
        }
        let host = report.host.as_deref().unwrap_or("HOST");
        crate::outln!(
            "  fix: drop them from the URI (Ray logs URIs and names cache directories after them); \
             put them in netrc (`raytls netrc set --machine {host} --login USER --password-file FILE`) \
             or set RAY_RUNTIME_ENV_BEARER_TOKEN, and rotate the leaked secret"
        );
    }
    if flagged == 0 {
        return Ok(ExitCode::Ok);
    }
    crate::outln!(
        "{flagged} of {} URI{} carr{} credentials",
        args.uris.len(),
        if args.uris.len() == 1 { "" } else { "s" },
        if flagged == 1 { "ies" } else { "y" }
    );
    Ok(ExitCode::Failure)
}
