//! The network side: mutual-TLS connect with per-phase deadlines, gRPC health check of a
//! Ray GCS, and the diagnosis of every failure (issue 4).
//!
//! - `target`: parse `--address` (`HOST[:PORT]`, `[IPv6]:PORT`).
//! - `credentials`: our CA/cert/key and the auth token, checked before dialing.
//! - `tls`: resolve, TCP connect, rustls handshake; records what the peer sent and presented.
//! - `grpc`: Ray's GCS messages (hand-written prost) and a tonic client over our stream.
//! - `health`: the phases, what "healthy" means, and the `Cause` of every failure.
pub mod credentials;
pub mod grpc;
pub mod health;
pub mod target;
pub mod tls;

use std::time::Duration;

/// A date as people read it in a message: `2026-11-23 09:00:00 UTC`.
pub fn fmt_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let fmt =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.format(&fmt).unwrap_or_else(|_| t.to_string())
}

/// `5s`, `500ms`, `1m`, `1.5s`, or a bare number of seconds.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{input:?} is not a duration (use e.g. 5s, 500ms, 1m)"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {input:?} (use ms, s or m)"
            ))
        }
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("{input:?} must be more than zero"));
    }
    if secs > 3600.0 {
        return Err(format!("{input:?} is longer than an hour"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A duration as given back in messages: `5s`, `500ms`, `1.5s`.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        for bad in ["", "0s", "s", "5h", "-1s", "1..2s", "99999s", "NaNs"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(fmt_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(fmt_duration(Duration::from_secs(5)), "5s");
    }
}
