//! Per-peer limits: a token bucket of requests per source address, so one pod in a retry loop
//! (or a hostile client) gets 429s while every other pod is answered at once; and a count of
//! open connections per source address, so one peer cannot hold every connection slot; and
//! the registry of open connections, so that when every slot is taken an idle one is closed
//! for a newcomer rather than the newcomer turned away.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

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

/// The open connections of the signer, each with its source, its start and whether a request
/// that passed authentication is in flight on it; when every slot is taken, `evict_one`
/// closes one that has none. A connection registers only once it holds one of the
/// `--max-connections` slots, so the map never holds more entries than that.
#[derive(Default)]
pub struct Connections {
    inner: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    open: HashMap<u64, Open>,
}

struct Open {
    peer: IpAddr,
    since: Instant,
    /// Requests on it now past authentication: while there is one it is never evicted.
    authenticated: usize,
    /// Already chosen: not chosen twice while its task closes it.
    evicted: bool,
    close: Arc<Notify>,
}

/// One open connection in the registry; leaves it when dropped.
pub struct Registered {
    conns: Arc<Connections>,
    id: u64,
    close: Arc<Notify>,
}

/// A request in flight on a registered connection. Once `authenticated` is called the
/// connection cannot be evicted until this is dropped (the request answered or abandoned).
pub struct InFlight<'a> {
    conn: &'a Registered,
    authenticated: AtomicBool,
}

impl Connections {
    pub fn new() -> Arc<Self> {
        Arc::new(Connections::default())
    }

    pub fn register(self: &Arc<Self>, peer: IpAddr, now: Instant) -> Registered {
        let close = Arc::new(Notify::new());
        let mut r = crate::probe::tls::lock(&self.inner);
        let id = r.next_id;
        r.next_id += 1;
        r.open.insert(
            id,
            Open {
                peer,
                since: now,
                authenticated: 0,
                evicted: false,
                close: close.clone(),
            },
        );
        Registered {
            conns: self.clone(),
            id,
            close,
        }
    }

    /// Tell one connection with no authenticated request in flight to close, and return its
    /// source; None when every connection is in the middle of an authenticated request.
    ///
    /// The victim is the oldest connection of the source that holds the most. Not simply the
    /// oldest: an attacker reopens each connection the moment it is closed, so its
    /// connections are the youngest and oldest-first would close a pod's connection still in
    /// its handshake; a pod holds one or two connections, a flood from a few addresses holds
    /// up to --max-connections-per-source from each. Among the connections of that source
    /// (and between sources that hold as many), the one open longest without an
    /// authenticated request is the likeliest to be idle on purpose: a pod's handshake and
    /// request take milliseconds.
    pub fn evict_one(&self) -> Option<IpAddr> {
        let mut r = crate::probe::tls::lock(&self.inner);
        let mut held: HashMap<IpAddr, usize> = HashMap::new();
        for c in r.open.values().filter(|c| !c.evicted) {
            *held.entry(c.peer).or_default() += 1;
        }
        let holds = |peer: &IpAddr| held.get(peer).copied().unwrap_or(0);
        let (&id, _) = r
            .open
            .iter()
            .filter(|(_, c)| !c.evicted && c.authenticated == 0)
            .max_by(|(ia, a), (ib, b)| {
                holds(&a.peer)
                    .cmp(&holds(&b.peer))
                    .then(b.since.cmp(&a.since))
                    // Opened at the same instant: the first registered.
                    .then(ib.cmp(ia))
            })?;
        let victim = r.open.get_mut(&id)?;
        victim.evicted = true;
        // notify_one keeps the wake-up for a task not yet waiting.
        victim.close.notify_one();
        Some(victim.peer)
    }
}

impl Registered {
    /// Completes once `evict_one` chose this connection: then close it.
    pub async fn evicted(&self) {
        self.close.notified().await;
    }

    /// A request begins on this connection.
    pub fn request(&self) -> InFlight<'_> {
        InFlight {
            conn: self,
            authenticated: AtomicBool::new(false),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Open) -> T) -> Option<T> {
        crate::probe::tls::lock(&self.conns.inner)
            .open
            .get_mut(&self.id)
            .map(f)
    }
}

impl InFlight<'_> {
    /// The request passed authentication: its connection is not evicted from now on. A
    /// connection chosen before this stays chosen (the choice and this mark are made under
    /// one lock, so an authenticated request is never the one chosen).
    pub fn authenticated(&self) {
        if !self.authenticated.swap(true, Ordering::SeqCst) {
            self.conn.with(|c| c.authenticated += 1);
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if *self.authenticated.get_mut() {
            self.conn
                .with(|c| c.authenticated = c.authenticated.saturating_sub(1));
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        crate::probe::tls::lock(&self.conns.inner)
            .open
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Whether `c` was told to close (without waiting for it).
    fn told_to_close(c: &Registered) -> bool {
        let wake = std::pin::pin!(c.evicted());
        // The permit notify_one stored completes the first poll; it is taken by it, so ask
        // once per connection.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        std::future::Future::poll(wake, &mut cx).is_ready()
    }

    #[test]
    fn evicts_from_the_source_that_holds_the_most_oldest_first() {
        let conns = Connections::new();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // A pod's connection, the oldest of all; a flood of three from one address.
        let pod = conns.register(ip("127.0.0.50"), at(0));
        let flood: Vec<Registered> = (1..=3)
            .map(|i| conns.register(ip("127.0.0.2"), at(i)))
            .collect();
        let other = conns.register(ip("127.0.0.3"), at(5));
        assert_eq!(conns.evict_one(), Some(ip("127.0.0.2")));
        assert!(told_to_close(&flood[0]), "the flood's oldest first");
        assert!(!told_to_close(&flood[1]) && !told_to_close(&pod));
        // The chosen one is not chosen again while it closes: the flood's next oldest.
        assert_eq!(conns.evict_one(), Some(ip("127.0.0.2")));
        assert!(told_to_close(&flood[1]));
        // Now every source holds one: the oldest of them, whoever it is.
        assert_eq!(conns.evict_one(), Some(ip("127.0.0.50")));
        assert!(told_to_close(&pod));
        drop(other);
    }

    #[test]
    fn a_connection_with_an_authenticated_request_is_never_evicted() {
        let conns = Connections::new();
        let t0 = Instant::now();
        let busy = conns.register(ip("127.0.0.2"), t0);
        let idle = conns.register(ip("127.0.0.3"), t0 + Duration::from_millis(1));
        {
            let request = busy.request();
            request.authenticated();
            request.authenticated();
            // An unauthenticated request does not protect its connection.
            let _unauthenticated = idle.request();
            assert_eq!(conns.evict_one(), Some(ip("127.0.0.3")));
            assert_eq!(conns.evict_one(), None, "only an authenticated one is left");
        }
        // Answered: idle again, so evictable.
        assert_eq!(conns.evict_one(), Some(ip("127.0.0.2")));
        assert!(told_to_close(&busy) && told_to_close(&idle));
    }

    #[test]
    fn connections_leave_the_registry_when_dropped() {
        let conns = Connections::new();
        let a = conns.register(ip("127.0.0.2"), Instant::now());
        let b = conns.register(ip("::1"), Instant::now());
        drop((a, b));
        assert!(crate::probe::tls::lock(&conns.inner).open.is_empty());
        assert_eq!(conns.evict_one(), None);
    }

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
