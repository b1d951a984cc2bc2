//! `raytls lint-uri`: flag URIs that carry credentials; exit 1 if any does.
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::kit::uri_lint;
use crate::text::escape::escape;
use clap::Args;

#[derive(Debug, Args)]
#[command(
    about = "Flag URIs that carry credentials (user:password@, ?token=, signed URLs)",
    long_about = "Flag runtime_env URIs (working_dir, py_modules, ...) that carry credentials: \
user:password@ or a token as the user name, and parameters such as token=, access_token=, \
X-Amz-Signature=, X-Goog-Signature=, sig= (Azure SAS) in the query or the fragment \
(#access_token=, as OAuth's implicit flow returns it). Ray logs these URIs and names its cache \
directories after them, so the secret leaks. Put the credentials in netrc \
(`raytls netrc set`) or in RAY_RUNTIME_ENV_BEARER_TOKEN instead.\n\n\
Prints one line per URI (secrets replaced by REDACTED) and exits 1 if any URI carries a \
credential, 0 if none does.",
    after_help = "EXAMPLES:
  # Before submitting a job
  raytls lint-uri https://github.com/org/repo/archive/refs/heads/main.zip

  # Every URI in a runtime_env file (one per line)
  raytls lint-uri $(grep -o 'https://[^\"]*' runtime_env.yaml)"
)]
pub struct LintUriArgs {
    /// URIs to check
    #[arg(value_name = "URI", required = true)]
    pub uris: Vec<String>,
}

pub fn run(args: LintUriArgs) -> Result<ExitCode> {
    let mut flagged = 0usize;
    for uri in &args.uris {
        let report = uri_lint::lint(uri);
        // The URI is the user's text and may hold control characters: escaped.
        let shown = escape(&report.redacted);
        if report.findings.is_empty() {
            crate::outln!("ok: {shown}");
            continue;
        }
        flagged += 1;
        for finding in &report.findings {
            crate::outln!("credentials: {shown}: {}", escape(&finding.what));
        }
        let host = escape(report.host.as_deref().unwrap_or("HOST"));
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
