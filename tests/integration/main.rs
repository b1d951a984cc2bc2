//! Integration tests: one binary, one module per area (ripgrep's layout).
mod bad_input;
mod ca;
mod env;
mod hardening;
mod health_check;
mod init;
mod inspect;
mod issue;
mod kit;
mod mtls;
mod no_panic;
mod openssl;
mod probe_util;
mod quickstart;
mod signer;
mod util;
mod verify;
