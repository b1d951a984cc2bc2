//! `GET /metrics` in the Prometheus text format: requests by role and result, refusals by
//! reason, a latency histogram, the connection-level refusals, and the CA's expiry.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use super::refusal::Refusal;
use crate::pki::authority::Authority;
use crate::probe::tls::lock;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String), u64>,
    refusals: BTreeMap<&'static str, u64>,
    /// Cumulative counts per bucket, then +Inf.
    latency: [u64; BUCKETS.len() + 1],
    latency_sum: f64,
    connections: BTreeMap<&'static str, u64>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// One `/v1/sign` decision: `result` is `issued` or `refused` (with its reason).
    pub fn record(&self, role: &str, refusal: Option<&Refusal>, elapsed: Duration) {
        let mut m = lock(&self.inner);
        let result = if refusal.is_some() {
            "refused"
        } else {
            "issued"
        };
        *m.requests
            .entry((role.to_string(), result.to_string()))
            .or_default() += 1;
        if let Some(r) = refusal {
            *m.refusals.entry(r.code()).or_default() += 1;
        }
        let s = elapsed.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if s <= *le {
                m.latency[i] += 1;
            }
        }
        m.latency[BUCKETS.len()] += 1;
        m.latency_sum += s;
    }

    /// A connection-level event: `accepted`, `tls_failed`, `evicted` (closed to make room at
    /// the cap in all), `refused_cap` (at the cap with none to evict), `refused_source_cap`.
    pub fn connection(&self, what: &'static str) {
        *lock(&self.inner).connections.entry(what).or_default() += 1;
    }

    pub fn render(&self) -> String {
        let m = lock(&self.inner);
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# HELP raytls_signer_requests_total Sign requests by role and result."
        );
        let _ = writeln!(o, "# TYPE raytls_signer_requests_total counter");
        for ((role, result), n) in &m.requests {
            let _ = writeln!(
                o,
                "raytls_signer_requests_total{{role=\"{role}\",result=\"{result}\"}} {n}"
            );
        }
        let _ = writeln!(
            o,
            "# HELP raytls_signer_refusals_total Refused sign requests by reason."
        );
        let _ = writeln!(o, "# TYPE raytls_signer_refusals_total counter");
        for (reason, n) in &m.refusals {
            let _ = writeln!(o, "raytls_signer_refusals_total{{reason=\"{reason}\"}} {n}");
        }
        let _ = writeln!(
            o,
            "# HELP raytls_signer_request_duration_seconds Time to answer a sign request."
        );
        let _ = writeln!(o, "# TYPE raytls_signer_request_duration_seconds histogram");
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                o,
                "raytls_signer_request_duration_seconds_bucket{{le=\"{le}\"}} {}",
                m.latency[i]
            );
        }
        let count = m.latency[BUCKETS.len()];
        let _ = writeln!(
            o,
            "raytls_signer_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            o,
            "raytls_signer_request_duration_seconds_sum {}",
            m.latency_sum
        );
        let _ = writeln!(o, "raytls_signer_request_duration_seconds_count {count}");
        let _ = writeln!(
            o,
            "# HELP raytls_signer_connections_total Connections by outcome."
        );
        let _ = writeln!(o, "# TYPE raytls_signer_connections_total counter");
        for (what, n) in &m.connections {
            let _ = writeln!(
                o,
                "raytls_signer_connections_total{{outcome=\"{what}\"}} {n}"
            );
        }
        o
    }
}

/// The signing CA's (and, above an intermediate, its root's) notAfter: the metric the
/// renewal sidecars export too, so one alert covers both (examples/monitoring/).
pub fn ca_expiry(ca: &Authority) -> String {
    use crate::text::prometheus::{Exposition, Kind};
    let name = "raytls_ca_expiration_timestamp_seconds";
    let mut e = Exposition::default();
    e.family(
        name,
        Kind::Gauge,
        "notAfter of the CA the signer signs with (ca) and of its root (anchor), as a Unix time.",
    )
    .sample(
        name,
        &[("ca", "signing")],
        ca.info.not_after.unix_timestamp() as f64,
    );
    if ca.anchor_der != ca.cert_der {
        e.sample(
            name,
            &[("ca", "anchor")],
            ca.anchor_info.not_after.unix_timestamp() as f64,
        );
    }
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_histogram() {
        let m = Metrics::default();
        m.record("worker", None, Duration::from_millis(3));
        m.record(
            "worker",
            Some(&Refusal::NameNotAllowed(
                crate::signer::refusal::NameNotAllowed::FqdnNotHead { name: "x".into() },
            )),
            Duration::from_millis(30),
        );
        let t = m.render();
        assert!(
            t.contains("raytls_signer_requests_total{role=\"worker\",result=\"issued\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("raytls_signer_refusals_total{reason=\"name_not_allowed\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("raytls_signer_request_duration_seconds_bucket{le=\"0.005\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("raytls_signer_request_duration_seconds_bucket{le=\"0.05\"} 2"),
            "{t}"
        );
        assert!(
            t.contains("raytls_signer_request_duration_seconds_count 2"),
            "{t}"
        );
    }
}
