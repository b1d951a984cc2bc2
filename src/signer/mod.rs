//! The signer: `raytls serve` holds the CA key, and each pod gets a certificate for its own
//! address without ever seeing that key. The pod proves its role with a role-scoped token
//! (or, to renew, with a certificate from this CA), and **the server, not the request,
//! decides the names**: the IP SAN is the TCP peer address the request came from.
//!
//! - `api`: the endpoints, the JSON of `POST /v1/sign` and of an error answer.
//! - `refusal`: every reason to say no, as data; its code, status and message.
//! - `policy`: who gets which names.
//! - `auth`: role tokens (constant-time) and the role of a client certificate.
//! - `limits`: per-peer rate limit.
//! - `audit`, `metrics`: one JSON line per decision; Prometheus text.
//! - `server`: `raytls serve`'s configuration, the bound server, `/healthz` and `/metrics`;
//!   `tls` (rustls, client certificates checked again at each request), `http` (HTTP/1.1,
//!   the accept loop, the hostile-client limits, graceful shutdown) and `issue` (one
//!   `POST /v1/sign`: authorization, issuance, audit) serve it.
//! - `client`: what `init --signer` and `issue client --signer` use.
//! - `kubernetes`: `serve --kubernetes`, pods attested through the API server, one CA per
//!   RayCluster.
pub mod api;
pub mod audit;
pub mod auth;
pub mod client;
mod http;
mod issue;
pub mod kubernetes;
pub mod limits;
pub mod metrics;
pub mod policy;
pub mod refusal;
pub mod server;
mod tls;

/// Peer-supplied text as it may appear in a message for a person: quoted, cut at 200
/// characters, control and bidi characters escaped (`text::escape`).
pub fn escape(s: &str) -> String {
    format!("\"{}\"", printable_cut(s, 200))
}

/// Text from a peer (a server's error message) for a terminal: cut at 500 characters,
/// control and bidi characters escaped; not quoted.
pub fn printable(s: &str) -> String {
    printable_cut(s, 500)
}

fn printable_cut(s: &str, max: usize) -> String {
    let mut cut: String = s.chars().take(max).collect();
    if cut.len() < s.len() {
        cut.push_str("...");
    }
    crate::text::escape::escape(&cut).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_neutralises_terminal_controls() {
        assert_eq!(super::escape("a.b"), "\"a.b\"");
        assert_eq!(super::escape("\u{1b}[31mred\n"), "\"\\x1b[31mred\\x0a\"");
        assert!(super::escape(&"x".repeat(500)).ends_with("...\""));
        assert_eq!(super::printable("ok\u{202e}"), "ok\\u{202e}");
    }
}
