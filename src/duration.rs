//! Durations on the command line: `500ms`, `5s`, `2m`, `1h`, `30d` (a bare number is seconds).

/// Parse a duration flag value; the error says what is accepted (clap shows it with the flag).
pub fn parse(input: &str) -> Result<std::time::Duration, String> {
    let s = input.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let bad = || format!("{input:?} is not a duration: use e.g. 500ms, 5s, 2m, 1h or 30d");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = |mult: u64| {
        n.checked_mul(mult)
            .map(std::time::Duration::from_secs)
            .ok_or_else(bad)
    };
    match unit.trim() {
        "ms" => Ok(std::time::Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::time::Duration;

    #[test]
    fn units() {
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse("7").unwrap(), Duration::from_secs(7));
        assert_eq!(parse("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("30d").unwrap(), Duration::from_secs(30 * 86_400));
        for bad in ["", "d", "5x", "-1s", "1.5s", "99999999999999999999d"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
