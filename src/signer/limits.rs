//! Per-peer limits: a token bucket of requests per source address, so one pod in a retry loop
//! (or a hostile client) gets 429s while every other pod is answered at once; and a count of
//! open connections per source address, so one peer cannot hold every connection slot.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
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
    max_tracked: usize,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl PeerLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self::tracking(limit, MAX_TRACKED)
    }

    fn tracking(limit: RateLimit, max_tracked: usize) -> Self {
        PeerLimiter {
            limit,
            max_tracked,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one request's worth for `peer`, or say how long until it may ask again.
    pub fn check(&self, peer: IpAddr, now: Instant) -> Result<(), Duration> {
        let RateLimit { per_second, burst } = self.limit;
        let mut map = crate::probe::tls::lock(&self.buckets);
        let refilled = |b: &Bucket| b.tokens + now.duration_since(b.at).as_secs_f64() * per_second;
        if map.len() >= self.max_tracked && !map.contains_key(&peer) {
            map.retain(|_, b| refilled(b) < burst);
            // Still full: every tracked peer asked within the refill time (many addresses,
            // e.g. an IPv6 prefix, or a slow --rate). Forget the one closest to a full
            // bucket, so the map has a hard bound whatever the peers and the settings.
            if map.len() >= self.max_tracked {
                let fullest = map
                    .iter()
                    .max_by(|a, b| refilled(a.1).total_cmp(&refilled(b.1)))
                    .map(|(ip, _)| *ip);
                if let Some(ip) = fullest {
                    map.remove(&ip);
                }
            }
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

/// Open connections per source address, at most `per_source` each. An address is tracked
/// only while it has a connection open, so the map never holds more entries than there are
/// open connections (itself capped by `--max-connections`).
pub struct SourceCap {
    per_source: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection of a source; gives its slot back when dropped.
pub struct SourceSlot {
    cap: Arc<SourceCap>,
    peer: IpAddr,
}

impl SourceCap {
    pub fn new(per_source: usize) -> Arc<Self> {
        Arc::new(SourceCap {
            per_source,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `peer`, or None when it already has `per_source`.
    pub fn try_acquire(self: &Arc<Self>, peer: IpAddr) -> Option<SourceSlot> {
        let mut open = crate::probe::tls::lock(&self.open);
        let n = open.entry(peer).or_insert(0);
        if *n >= self.per_source {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            cap: self.clone(),
            peer,
        })
    }

    /// Connections open from `peer` now.
    pub fn open_from(&self, peer: IpAddr) -> usize {
        crate::probe::tls::lock(&self.open)
            .get(&peer)
            .copied()
            .unwrap_or(0)
    }

    /// Source addresses with a connection open now.
    pub fn sources(&self) -> usize {
        crate::probe::tls::lock(&self.open).len()
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = crate::probe::tls::lock(&self.cap.open);
        if let Some(n) = open.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_tracked_peers_stay_bounded_when_none_has_refilled() {
        // A slow refill (burst 20 at 0.001/s) kept every bucket below full, so the cleanup
        // removed none and each new address grew the map.
        let l = PeerLimiter::tracking(
            RateLimit {
                per_second: 0.001,
                burst: 20.0,
            },
            100,
        );
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let ip = IpAddr::from(std::net::Ipv6Addr::from(0xfd00_u128 << 112 | u128::from(i)));
            assert!(l.check(ip, t0).is_ok());
        }
        assert!(crate::probe::tls::lock(&l.buckets).len() <= 100);
    }

    #[test]
    fn source_cap_per_address_and_forgets_closed_sources() {
        let cap = SourceCap::new(2);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "::1".parse().unwrap();
        let a1 = cap.try_acquire(a).expect("first");
        let a2 = cap.try_acquire(a).expect("second");
        assert!(cap.try_acquire(a).is_none(), "a third from one address");
        let b1 = cap.try_acquire(b).expect("another address is not limited");
        assert_eq!((cap.open_from(a), cap.sources()), (2, 2));
        drop(a1);
        let a3 = cap.try_acquire(a).expect("a slot came back");
        drop((a2, a3, b1));
        assert_eq!(cap.sources(), 0, "no entry kept for closed sources");
    }

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
