//! The signer: `raytls serve` holds the CA key, and each pod gets a certificate for its own
//! address without ever seeing that key. The pod proves its role with a role-scoped token
//! (or, to renew, with a certificate from this CA), and **the server, not the request,
//! decides the names**: the IP SAN is the TCP peer address the request came from.
//!
//! - `api`: the JSON of `POST /v1/sign` and the error vocabulary (status + code + message).
//! - `policy`: who gets which names.
//! - `auth`: role tokens (constant-time) and the role of a client certificate.
//! - `limits`: per-peer rate limit.
//! - `audit`, `metrics`: one JSON line per decision; Prometheus text.
//! - `server`: HTTPS (rustls, HTTP/1.1) with the hostile-client limits and graceful shutdown.
//! - `client`: what `init --signer` and `issue client --signer` use.
pub mod api;
pub mod audit;
pub mod auth;
pub mod client;
pub mod limits;
pub mod metrics;
pub mod policy;
pub mod server;

/// Peer-supplied text as it may appear in a message for a person: quoted, with control
/// characters and non-ASCII escaped, and cut at 200 characters.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(200) + 2);
    out.push('"');
    push_printable(&mut out, s, 200, true);
    out.push('"');
    out
}

/// Text from a peer (a server's error message) for a terminal: control characters and
/// non-ASCII escaped, cut at 500 characters; not quoted.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(500));
    push_printable(&mut out, s, 500, false);
    out
}

fn push_printable(out: &mut String, s: &str, max: usize, quoted: bool) {
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push_str("...");
            break;
        }
        match c {
            '"' if quoted => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            c => out.extend(c.escape_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_neutralises_terminal_controls() {
        assert_eq!(super::escape("a.b"), "\"a.b\"");
        assert_eq!(super::escape("\u{1b}[31mred\n"), "\"\\u{1b}[31mred\\n\"");
        assert_eq!(super::escape("é\"\\"), "\"\\u{e9}\\\"\\\\\"");
        assert!(super::escape(&"x".repeat(500)).ends_with("...\""));
    }
}
