//! The exit codes raytls documents in `--help`, in one place (fd and step do this).

/// What a script can test with `$?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for was done, or every check passed.
    Ok = 0,
    /// A certificate problem, a file problem, or an unhealthy peer.
    Failure = 1,
    /// Bad usage: unknown flag, malformed value, or unusable local input.
    Usage = 2,
    /// `verify`: everything is valid but the certificate is due for renewal.
    NeedsRenewal = 3,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// The EXIT CODES section appended to the top-level `--help`.
pub const EXIT_CODES_HELP: &str = "\
EXIT CODES:
  0  success: files written, or every check passed
  1  failure: a CA/certificate/file problem, or an unhealthy endpoint
  2  usage: unknown flag, malformed value (IP, DNS name, duration); for verify,
     inspect and health-check also an unreadable input file
  3  verify only: valid, but due for renewal (see --renew-before)";
