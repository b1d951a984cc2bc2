//! The small neighbours of the certificate work: Ray's auth token, netrc credentials for
//! runtime_env downloads, and a lint for credentials in URIs.
pub mod auth_token;
pub mod netrc;
pub mod uri_lint;
