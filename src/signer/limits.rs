//! Per-peer rate limit: a token bucket per source address, so one pod in a retry loop (or
//! a hostile client) gets 429s while every other pod is answered at once.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before idle (full) ones are dropped.
const MAX_TRACKED: usize = 65_536;

#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Requests per second per peer, sustained.
    pub per_second: f64,
    /// Requests a peer may make at once.
    pub burst: f64,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct PeerLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl PeerLimiter {
    pub fn new(limit: RateLimit) -> Self {
        PeerLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one request's worth for `peer`, or say how long until it may ask again.
    pub fn check(&self, peer: IpAddr, now: Instant) -> Result<(), Duration> {
        let RateLimit { per_second, burst } = self.limit;
        let mut map = crate::probe::tls::lock(&self.buckets);
        if map.len() >= MAX_TRACKED && !map.contains_key(&peer) {
            map.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_secs_f64() * per_second < burst
            });
        }
        let b = map.entry(peer).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * per_second).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_per_peer() {
        let l = PeerLimiter::new(RateLimit {
            per_second: 2.0,
            burst: 3.0,
        });
        let t0 = Instant::now();
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a, t0).is_ok());
        }
        let wait = l.check(a, t0).unwrap_err();
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(l.check(b, t0).is_ok(), "another peer is not limited");
        assert!(l.check(a, t0 + Duration::from_millis(600)).is_ok());
    }
}
