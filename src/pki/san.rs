//! Subject alternative names, parsed at the edge: a string becomes `San::Ip` or `San::Dns`
//! (IP first, as rustls-cert-gen does) and nothing downstream sees a raw string.
use std::fmt;
use std::net::IpAddr;

use crate::error::{Error, Result};

/// A validated DNS name (lower-case; a wildcard only as the whole leftmost label).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct DnsName(String);

impl DnsName {
    /// Parse a DNS name; `source_name` (a flag or env var) is named in the error.
    pub fn parse(source_name: &str, input: &str) -> Result<Self> {
        let bad = |why: &str| Error::InvalidValue {
            source_name: source_name.to_string(),
            value: input.to_string(),
            what: "DNS name",
            why: why.to_string(),
        };
        let name = input.strip_suffix('.').unwrap_or(input);
        if name.is_empty() {
            return Err(bad("it is empty"));
        }
        if name.len() > 253 {
            return Err(bad("longer than 253 characters"));
        }
        for (i, label) in name.split('.').enumerate() {
            if label == "*" {
                if i != 0 {
                    return Err(bad(
                        "a wildcard '*' may only be the leftmost label, e.g. *.example.com",
                    ));
                }
                if !name.contains('.') {
                    return Err(bad("a bare '*' matches nothing; use *.domain"));
                }
                continue;
            }
            if label.is_empty() {
                return Err(bad("it has an empty label (two dots in a row)"));
            }
            if label.len() > 63 {
                return Err(bad(&format!(
                    "label {label:?} is longer than 63 characters"
                )));
            }
            if let Some(c) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
            {
                let what = match c {
                    ' ' => "a space".to_string(),
                    '_' => "an underscore (not allowed in host names)".to_string(),
                    '*' => "a '*' inside a label (wildcards must be a whole leftmost label)"
                        .to_string(),
                    c => format!("{c:?}"),
                };
                return Err(bad(&format!("it contains {what}")));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(bad(&format!("label {label:?} starts or ends with '-'")));
            }
        }
        if name
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(bad("it looks like an IP address but does not parse as one"));
        }
        Ok(DnsName(name.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(untagged)]
pub enum San {
    Ip(IpAddr),
    Dns(DnsName),
}

impl San {
    /// Parse a `--san` value: an IP address if it parses as one, else a DNS name.
    pub fn parse(source_name: &str, input: &str) -> Result<Self> {
        let trimmed = input.trim();
        // `[::1]` is how people write IPv6 next to ports; accept it here too.
        let unbracketed = trimmed
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(trimmed);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(San::Ip(ip));
        }
        DnsName::parse(source_name, trimmed).map(San::Dns)
    }

    pub fn localhost() -> Self {
        San::Dns(DnsName("localhost".into()))
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Ip(ip) => write!(f, "{ip}"),
            San::Dns(d) => write!(f, "{d}"),
        }
    }
}

impl From<&San> for rcgen::SanType {
    fn from(s: &San) -> Self {
        match s {
            San::Ip(ip) => rcgen::SanType::IpAddress(*ip),
            // DnsName is validated to be ASCII and at most 253 characters, so the conversion
            // to rcgen's Ia5String cannot fail; fall back to an IP type never reached.
            San::Dns(d) => match d.0.clone().try_into() {
                Ok(ia5) => rcgen::SanType::DnsName(ia5),
                Err(_) => rcgen::SanType::IpAddress(IpAddr::from([0, 0, 0, 0])),
            },
        }
    }
}

/// Parse a pod IP (from `--pod-ip` or `POD_IP`). Ray dials this address from other pods,
/// so it must be a real, non-loopback unicast address.
pub fn parse_pod_ip(source_name: &str, input: &str) -> Result<IpAddr> {
    let bad = |why: &str| Error::InvalidValue {
        source_name: source_name.to_string(),
        value: input.to_string(),
        what: "pod IP address",
        why: why.to_string(),
    };
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(bad(
            "it is empty (is the downward API fieldRef status.podIP set on this container?)",
        ));
    }
    let unbracketed = trimmed
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(trimmed);
    let ip: IpAddr = unbracketed.parse().map_err(|_| {
        bad(
            if unbracketed.chars().all(|c| c.is_ascii_digit() || c == '.') {
                "not an IPv4 address (four numbers 0-255 separated by dots)"
            } else {
                "not an IPv4 or IPv6 address"
            },
        )
    })?;
    // ::ffff:127.0.0.1 is 127.0.0.1: judge (and certify) the address in its plain form.
    let ip = ip.to_canonical();
    if ip.is_loopback() {
        return Err(bad("it is a loopback address; Ray dials the pod IP from other pods, so use the pod's own address"));
    }
    if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::from([255, 255, 255, 255]) {
        return Err(bad("it is not a unicast address a peer can dial"));
    }
    Ok(ip)
}

/// Append `san` unless already present, keeping the order the user will read.
pub fn push_unique(list: &mut Vec<San>, san: San) {
    if !list.contains(&san) {
        list.push(san);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_first_then_dns() {
        assert_eq!(
            San::parse("--san", "10.0.0.5").unwrap(),
            San::Ip("10.0.0.5".parse().unwrap())
        );
        assert_eq!(
            San::parse("--san", "[fd00::1]").unwrap(),
            San::Ip("fd00::1".parse().unwrap())
        );
        assert_eq!(
            San::parse("--san", "Head.Svc.Cluster.Local")
                .unwrap()
                .to_string(),
            "head.svc.cluster.local"
        );
        assert_eq!(
            San::parse("--san", "*.ray.io").unwrap().to_string(),
            "*.ray.io"
        );
    }

    #[test]
    fn bad_dns_names_say_why() {
        for (input, why) in [
            ("has space.com", "a space"),
            ("under_score.svc", "underscore"),
            (&format!("{}.com", "a".repeat(64)), "longer than 63"),
            ("a.*.com", "leftmost"),
            ("a*.com", "inside a label"),
            ("-a.com", "starts or ends"),
            ("a..com", "empty label"),
            ("", "empty"),
            ("10.0.0.300", "looks like an IP"),
        ] {
            let err = San::parse("--san", input).unwrap_err().to_string();
            assert!(err.contains(why), "{input:?}: {err}");
            assert!(err.contains("--san"), "{err}");
        }
    }

    #[test]
    fn pod_ip_must_be_dialable() {
        assert!(parse_pod_ip("POD_IP", "10.1.2.3").is_ok());
        assert!(parse_pod_ip("POD_IP", "fd00::5").is_ok());
        for (input, why) in [
            ("", "empty"),
            ("  ", "empty"),
            ("10.0.0.256", "not an IPv4"),
            ("garbage", "not an IPv4 or IPv6"),
            ("127.0.0.1", "loopback"),
            ("0.0.0.0", "unicast"),
        ] {
            let err = parse_pod_ip("POD_IP", input).unwrap_err().to_string();
            assert!(
                err.contains(why) && err.contains("POD_IP"),
                "{input:?}: {err}"
            );
        }
    }
}
