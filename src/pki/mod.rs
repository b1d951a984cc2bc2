//! The certificate authority and the one certificate model: keys, SANs, roles, CA
//! create/adopt, leaf issuance, chain and leaf checks, and what `inspect` and `verify` read
//! from files. Everything that parses X.509 lives here.
pub mod authority;
pub mod certinfo;
pub mod chain;
pub mod cluster_ca;
pub mod csr;
pub mod der;
pub mod inspect;
pub mod keys;
pub mod leafcheck;
pub mod pem;
pub mod role;
pub mod san;
pub mod trust;
pub mod verify;
