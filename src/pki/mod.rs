//! The certificate authority: keys, SANs, roles, CA create/adopt, leaf issuance and checks.
pub mod authority;
pub mod der;
pub mod keys;
pub mod pem;
pub mod role;
pub mod san;
