//! The certificate authority: keys, SANs, roles, CA create/adopt, leaf issuance and checks.
pub mod authority;
pub mod certinfo;
pub mod chain;
pub mod csr;
pub mod der;
pub mod keys;
pub mod leafcheck;
pub mod pem;
pub mod role;
pub mod san;
