//! Flags of `raytls lint-uri`.
use clap::Args;

#[derive(Debug, Args)]
#[command(
    about = "Flag URIs that carry credentials (user:password@, ?token=, signed URLs)",
    long_about = "Flag runtime_env URIs (working_dir, py_modules, ...) that carry credentials: \
user:password@ or a token as the user name, and query parameters such as token=, access_token=, \
X-Amz-Signature=, X-Goog-Signature=, sig= (Azure SAS). Ray logs these URIs and names its cache \
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
