//! Integration tests: one binary, one module per area (ripgrep's layout).
mod ca;
mod issue;
mod util;
