//! Durations on the command line (`500ms`, `1.5s`, `2m`, `1h`, `30d`; a bare number is
//! seconds) and back in messages. Shared by `verify --renew-before/--wait` and
//! `health-check --timeout`, which add their own bounds.
use std::time::Duration;

/// The longest duration any flag takes: ten years, longer than any certificate raytls makes
/// by default. Without a bound, `--wait 10000000000000000000` overflowed adding to `Instant`.
pub const MAX: Duration = Duration::from_secs(3650 * 86_400);

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
    let d = Duration::try_from_secs_f64(value * unit_secs).map_err(|_| bad())?;
    if d > MAX {
        return Err(format!(
            "{input:?} is longer than {}, the longest duration raytls accepts",
            format(MAX)
        ));
    }
    Ok(d)
}

/// `parse`, then at most `max` (named in the error as the flag's own limit).
pub fn parse_at_most(input: &str, max: Duration) -> Result<Duration, String> {
    let d = parse(input)?;
    if d > max {
        return Err(format!("{input:?} is longer than {}", format(max)));
    }
    Ok(d)
}

/// A duration as given back in messages: `5s`, `500ms`, `1.5s`, `30d`.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 86_400_000 && ms.is_multiple_of(86_400_000) {
        format!("{}d", ms / 86_400_000)
    } else if ms >= 3_600_000 && ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms >= 60_000 && ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Time left, as a person reads it: `3h05m`, `2m49s`, `12s` (whole days are said by callers).
pub fn format_left(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        3600.. => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        60.. => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn time_left_reads_as_hours_minutes_seconds() {
        assert_eq!(super::format_left(Duration::from_secs(11_100)), "3h05m");
        assert_eq!(super::format_left(Duration::from_secs(169)), "2m49s");
        assert_eq!(super::format_left(Duration::from_secs(12)), "12s");
        assert_eq!(super::format_left(Duration::ZERO), "0s");
    }

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
        assert_eq!(format(Duration::from_secs(86_400 * 30)), "30d");
        assert_eq!(format(Duration::from_secs(3600)), "1h");
        assert_eq!(format(Duration::from_secs(120)), "2m");
        assert_eq!(format(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn regression_huge_duration_is_an_error_not_an_overflow() {
        let e = parse("10000000000000000000").unwrap_err();
        assert!(e.contains("longer than 3650d"), "{e}");
        assert!(parse("3650d").is_ok());
        assert!(parse("3651d").is_err());
        assert!(parse_at_most("2d", Duration::from_secs(86_400))
            .unwrap_err()
            .contains("longer than 1d"));
    }
}
