//! What the user asked us to dial: `HOST[:PORT]`, `[IPv6]:PORT` or a bare IP, parsed once at
//! the edge so the rest of the probe never sees a raw string.
use std::fmt;
use std::net::IpAddr;

use rustls_pki_types::{DnsName, ServerName};

/// Ray's GCS port when `--address` has none.
pub const DEFAULT_GCS_PORT: u16 = 6379;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Dns(String),
}

/// One address to check. The host is kept exactly as dialed: the server certificate must
/// cover it (Ray's clients check the name they dial, with no override).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: Host,
    pub port: u16,
}

impl Target {
    /// The TLS server name: the host as dialed (an IP SAN for an IP, a DNS SAN for a name).
    pub fn server_name(&self) -> ServerName<'static> {
        match &self.host {
            Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
            // Checked by `parse`, so this conversion cannot fail; fall back to the IP form
            // of nothing rather than panic if it ever did.
            Host::Dns(name) => DnsName::try_from(name.clone())
                .map(ServerName::DnsName)
                .unwrap_or(ServerName::IpAddress(IpAddr::from([0, 0, 0, 0]).into())),
        }
    }

    /// `host` as it appears in a URI or a `host:port` pair (IPv6 in brackets).
    pub fn host_for_uri(&self) -> String {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
            Host::Ip(ip) => ip.to_string(),
            Host::Dns(name) => name.clone(),
        }
    }

    /// The host alone, for messages ("cannot resolve HOST", "does not cover HOST").
    pub fn host_text(&self) -> String {
        match &self.host {
            Host::Ip(ip) => ip.to_string(),
            Host::Dns(name) => name.clone(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host_for_uri(), self.port)
    }
}

/// Parse `HOST`, `HOST:PORT`, `IP`, `IPv6`, `[IPv6]` or `[IPv6]:PORT`; the port defaults to 6379.
pub fn parse(input: &str) -> Result<Target, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty address".into());
    }
    if s.contains("://") {
        return Err("give HOST:PORT, without a scheme such as ray:// or http://".into());
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address opened with '[' needs a closing ']'")?;
        let ip: std::net::Ipv6Addr = inside
            .parse()
            .map_err(|_| format!("{inside:?} in brackets is not an IPv6 address"))?;
        let port = match after {
            "" => DEFAULT_GCS_PORT,
            p => parse_port(
                p.strip_prefix(':')
                    .ok_or("expected ':PORT' after ']'".to_string())?,
            )?,
        };
        return Ok(Target {
            host: Host::Ip(IpAddr::V6(ip)),
            port,
        });
    }
    // A bare IP (IPv4, or IPv6 without a port) first: IPv6 is full of colons.
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Target {
            host: Host::Ip(ip),
            port: DEFAULT_GCS_PORT,
        });
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, parse_port(p)?),
        None => (s, DEFAULT_GCS_PORT),
    };
    if host.contains(':') {
        return Err("an IPv6 address with a port must be written [ADDR]:PORT".into());
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Target {
            host: Host::Ip(ip),
            port,
        });
    }
    if host.is_empty() {
        return Err("no host before ':PORT'".into());
    }
    DnsName::try_from(host.to_string())
        .map_err(|_| format!("{host:?} is neither an IP address nor a valid DNS name"))?;
    Ok(Target {
        host: Host::Dns(host.to_ascii_lowercase()),
        port,
    })
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{p:?} is not a port (1-65535)")),
        Ok(port) => Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let t = parse("10.0.0.5").unwrap();
        assert_eq!(t.to_string(), "10.0.0.5:6379");
        assert_eq!(parse("10.0.0.5:6380").unwrap().port, 6380);
        assert_eq!(parse("[::1]:7000").unwrap().to_string(), "[::1]:7000");
        assert_eq!(parse("[::1]").unwrap().to_string(), "[::1]:6379");
        assert_eq!(parse("::1").unwrap().to_string(), "[::1]:6379");
        let t = parse("Head-Svc.ns.svc.cluster.local:6379").unwrap();
        assert_eq!(t.host, Host::Dns("head-svc.ns.svc.cluster.local".into()));
        assert_eq!(parse("localhost").unwrap().to_string(), "localhost:6379");
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        for bad in [
            "",
            ":6379",
            "host:0",
            "host:99999",
            "host:",
            "[::1",
            "[nope]:1",
            "[::1]6379",
            "fe80::1:zz",
            "ray://head:10001",
            "bad name:1",
            "a:b:c",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
