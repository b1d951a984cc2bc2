//! When the sidecar looks next: pure functions of the certificate's dates, the clock and a
//! jitter fraction handed in by the caller, so that each rule is tested without a clock or
//! randomness (linkerd2-proxy's identity client schedules its refresh the same way).
use std::time::Duration;

use time::OffsetDateTime;

use crate::pki::leafcheck::RenewWhen;

/// Never look again sooner than this after a good pass: a certificate that is already due
/// is renewed by the pass itself, so a tighter loop would only hammer the signer.
pub const MIN_CHECK: Duration = Duration::from_secs(10);
/// Look at least hourly, so that a certificate replaced behind the sidecar's back (or a
/// changed ca.crt) is seen within the hour.
pub const MAX_CHECK: Duration = Duration::from_secs(3600);
/// A failed pass is retried after this, doubling up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(2);
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A check comes at most this fraction earlier than scheduled, never later.
pub const MAX_JITTER: f64 = 0.1;

/// When a certificate enters its renewal window: `not_after` minus the window, which is a
/// fraction of the whole lifetime (the backdated `notBefore` included, as `verify` counts
/// it) or a fixed span (`--renew-before`). A window longer than the calendar reaches back
/// gives its first day: due, and no panic.
pub fn renewal_point(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    when: RenewWhen,
) -> OffsetDateTime {
    let window = match when {
        RenewWhen::Within(d) => d,
        RenewWhen::FractionLeft(f) => (not_after - not_before) * f,
    };
    not_after
        .checked_sub(window)
        .unwrap_or(time::PrimitiveDateTime::MIN.assume_utc())
}

/// How long from `now` until the renewal point, held between `min` and `max`; a
/// certificate already past it gives `min`. No jitter: see [`jittered`].
pub fn next_check(
    now: OffsetDateTime,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    when: RenewWhen,
    min: Duration,
    max: Duration,
) -> Duration {
    until(now, renewal_point(not_before, not_after, when)).clamp(min, max)
}

/// The time from `now` to `then`, zero when `then` has passed.
pub fn until(now: OffsetDateTime, then: OffsetDateTime) -> Duration {
    Duration::try_from(then - now).unwrap_or(Duration::ZERO)
}

/// `d` shortened by up to [`MAX_JITTER`] of itself, so that a fleet started together does
/// not renew together. `fraction` in [0, 1] picks how much (0: none, 1: the most); outside
/// that range it is held to it, so the result is never later than `d`.
pub fn jittered(d: Duration, fraction: f64) -> Duration {
    let fraction = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    d.mul_f64(1.0 - fraction * MAX_JITTER)
}

/// A fraction in [0, 1] from the system's random source, for [`jittered`]; 0 (no jitter)
/// should the source fail.
pub fn random_fraction() -> f64 {
    let mut b = [0u8; 1];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    f64::from(b[0]) / 255.0
}

/// The wait before retrying a failed pass: [`FIRST_BACKOFF`], doubling after each failure
/// up to [`MAX_BACKOFF`], back to the first after a success.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: FIRST_BACKOFF,
        }
    }
}

impl Backoff {
    /// A pass failed: how long to wait before the next one.
    pub fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        wait
    }

    /// A pass succeeded: the next failure waits [`FIRST_BACKOFF`] again.
    pub fn reset(&mut self) {
        self.next = FIRST_BACKOFF;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::authority::CLOCK_SKEW;
    use crate::provision::directory::INIT_RENEW_FRACTION;
    use time::macros::datetime;

    const THIRD_LEFT: RenewWhen = RenewWhen::FractionLeft(INIT_RENEW_FRACTION);
    const ISSUED: OffsetDateTime = datetime!(2026-11-28 08:05:46 UTC);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// The dates the signer gives a leaf issued at `ISSUED` for `lifetime`: notBefore is
    /// backdated by the allowed clock skew (5 minutes).
    fn leaf(lifetime: time::Duration) -> (OffsetDateTime, OffsetDateTime) {
        (ISSUED - CLOCK_SKEW, ISSUED + lifetime)
    }

    /// The schedule the sidecar uses, without jitter.
    fn check_at(
        now: OffsetDateTime,
        dates: (OffsetDateTime, OffsetDateTime),
        when: RenewWhen,
    ) -> Duration {
        next_check(now, dates.0, dates.1, when, MIN_CHECK, MAX_CHECK)
    }

    #[test]
    fn the_signer_backdates_not_before_by_five_minutes() {
        // The tests below count on this; if it changes, their expected points move.
        assert_eq!(CLOCK_SKEW, time::Duration::minutes(5));
    }

    #[test]
    fn a_24_hour_leaf_renews_about_16_hours_after_issue() {
        let (nb, na) = leaf(time::Duration::hours(24));
        // A third of 24 h 5 min is 8 h 1 min 40 s: 15 h 58 min 20 s after issue.
        let point = renewal_point(nb, na, THIRD_LEFT);
        assert_eq!(
            point - ISSUED,
            time::Duration::seconds(15 * 3600 + 58 * 60 + 20)
        );
        let from_16h = (point - (ISSUED + time::Duration::hours(16))).abs();
        assert!(from_16h < time::Duration::minutes(2), "{point}");
    }

    #[test]
    fn a_30_day_leaf_renews_at_day_20() {
        let (nb, na) = leaf(time::Duration::days(30));
        let point = renewal_point(nb, na, THIRD_LEFT);
        // A third of 30 d 5 min: 10 d 1 min 40 s, so 1 min 40 s before day 20.
        assert_eq!(
            point,
            ISSUED + time::Duration::days(20) - time::Duration::seconds(100)
        );
    }

    #[test]
    fn renew_before_90_days_is_90_days_before_expiry_whatever_the_lifetime() {
        let within = RenewWhen::Within(time::Duration::days(90));
        let (nb, na) = leaf(time::Duration::days(365));
        assert_eq!(
            renewal_point(nb, na, within),
            ISSUED + time::Duration::days(275)
        );
        // A head's year-long certificate a day after issue: looks again within the hour.
        assert_eq!(
            check_at(ISSUED + time::Duration::days(1), (nb, na), within),
            MAX_CHECK
        );
        // Ten minutes before the point: in ten minutes.
        let now = ISSUED + time::Duration::days(275) - time::Duration::minutes(10);
        assert_eq!(check_at(now, (nb, na), within), secs(600));
        // A 30-day certificate is inside a 90-day window from the start: due at once.
        let (nb, na) = leaf(time::Duration::days(30));
        assert!(renewal_point(nb, na, within) < nb);
        assert_eq!(check_at(ISSUED, (nb, na), within), MIN_CHECK);
    }

    #[test]
    fn the_next_check_is_the_time_to_the_renewal_point_inside_the_clamp() {
        let dates = leaf(time::Duration::hours(24));
        let point = renewal_point(dates.0, dates.1, THIRD_LEFT);
        for (before, want) in [
            (time::Duration::minutes(30), secs(1800)),
            (time::Duration::seconds(3600), MAX_CHECK),
            (time::Duration::seconds(11), secs(11)),
            (time::Duration::seconds(10), MIN_CHECK),
        ] {
            assert_eq!(
                check_at(point - before, dates, THIRD_LEFT),
                want,
                "{before}"
            );
        }
    }

    #[test]
    fn the_next_check_is_at_most_an_hour_away() {
        let dates = leaf(time::Duration::days(30));
        assert_eq!(check_at(ISSUED, dates, THIRD_LEFT), MAX_CHECK);
        let ten_hours = secs(10 * 3600);
        assert_eq!(
            next_check(ISSUED, dates.0, dates.1, THIRD_LEFT, MIN_CHECK, ten_hours),
            ten_hours
        );
    }

    #[test]
    fn the_next_check_is_at_least_ten_seconds_away() {
        let dates = leaf(time::Duration::hours(24));
        let point = renewal_point(dates.0, dates.1, THIRD_LEFT);
        assert_eq!(
            check_at(point - time::Duration::seconds(3), dates, THIRD_LEFT),
            MIN_CHECK
        );
        assert_eq!(check_at(point, dates, THIRD_LEFT), MIN_CHECK);
    }

    #[test]
    fn past_due_is_the_minimum_or_zero_without_one() {
        let dates = leaf(time::Duration::hours(24));
        let point = renewal_point(dates.0, dates.1, THIRD_LEFT);
        // Past the renewal point, and past expiry.
        for now in [
            point + time::Duration::hours(1),
            dates.1 + time::Duration::days(3),
        ] {
            assert_eq!(check_at(now, dates, THIRD_LEFT), MIN_CHECK, "{now}");
            assert_eq!(
                next_check(now, dates.0, dates.1, THIRD_LEFT, Duration::ZERO, MAX_CHECK),
                Duration::ZERO
            );
        }
        assert_eq!(
            until(point, point - time::Duration::seconds(1)),
            Duration::ZERO
        );
    }

    #[test]
    fn a_window_longer_than_time_itself_does_not_overflow() {
        // `renew` maps a `--renew-before` that `time::Duration` cannot hold to its MAX.
        let (nb, na) = leaf(time::Duration::days(30));
        for huge in [time::Duration::days(365 * 1000), time::Duration::MAX] {
            let within = RenewWhen::Within(huge);
            assert_eq!(check_at(ISSUED, (nb, na), within), MIN_CHECK, "{huge}");
        }
    }

    #[test]
    fn jitter_is_at_most_ten_percent_earlier_and_never_later() {
        let d = secs(3600);
        assert_eq!(jittered(d, 0.0), d);
        assert_eq!(jittered(d, 1.0), secs(3240));
        assert_eq!(jittered(d, 0.5), secs(3420));
        for i in 0..=255u8 {
            let j = jittered(d, f64::from(i) / 255.0);
            assert!(j <= d && j >= secs(3240), "{i}: {j:?}");
        }
        // A fraction outside [0, 1] (a broken source) cannot make it later or much earlier.
        for f in [-1.0, 2.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let j = jittered(d, f);
            assert!(j <= d && j >= secs(3240), "{f}: {j:?}");
        }
        // The minimum check jitters too (README: "next check in 9s").
        assert_eq!(jittered(MIN_CHECK, 1.0).as_secs(), 9);
        assert_eq!(jittered(Duration::ZERO, 1.0), Duration::ZERO);
    }

    #[test]
    fn the_random_fraction_is_between_zero_and_one() {
        for _ in 0..100 {
            let f = random_fraction();
            assert!((0.0..=1.0).contains(&f), "{f}");
        }
    }

    #[test]
    fn backoff_doubles_from_2_seconds_up_to_5_minutes() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..10).map(|_| b.failed().as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    }

    #[test]
    fn backoff_starts_again_after_a_success() {
        let mut b = Backoff::default();
        for _ in 0..5 {
            b.failed();
        }
        b.reset();
        assert_eq!(b.failed(), FIRST_BACKOFF);
        assert_eq!(b.failed(), secs(4));
    }
}
