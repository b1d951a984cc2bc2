//! Durations on the command line (`500ms`, `1.5s`, `2m`, `1h`, `30d`; a bare number is
//! seconds) and back in messages. Shared by `verify --renew-before/--wait` and
//! `health-check --timeout`, which adds its own bounds.
use std::time::Duration;

/// Parse a duration flag value; the error says what is accepted (clap shows it with the flag).
pub fn parse(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let bad = || format!("{input:?} is not a duration: use e.g. 500ms, 5s, 1.5s, 2m, 1h or 30d");
    let value: f64 = num.parse().map_err(|_| bad())?;
    let unit_secs = match unit.trim() {
        "ms" => 0.001,
        "" | "s" | "sec" | "secs" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(value * unit_secs).map_err(|_| bad())
}

/// A duration as given back in messages: `5s`, `500ms`, `1.5s`.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
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
    fn units() {
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("7").unwrap(), Duration::from_secs(7));
        assert_eq!(parse("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("30d").unwrap(), Duration::from_secs(30 * 86_400));
        for bad in ["", "d", "5x", "-1s", "1..2s", "NaNs", "1e999d"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(format(Duration::from_millis(500)), "500ms");
        assert_eq!(format(Duration::from_secs(5)), "5s");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
    }
}
