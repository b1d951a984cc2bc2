//! Renewal as a service (`raytls renew --watch`, a pod's native sidecar): a [`Renewer`]
//! runs one pass (keep or renew DIR's certificate, which the caller supplies), looks at
//! what Ray serves (`--check-served`), updates the metrics, hands one [`Pass`] to the log,
//! and sleeps until the next check: before the renewal point, at least hourly, jittered;
//! after a failure, with backoff. Only a configuration error ends it.
//!
//! `schedule` holds the timing rules as pure functions, `current` what a renewal starts
//! from (the certificate in DIR and its names), `served` the question put to Ray.
pub mod current;
pub mod schedule;
pub mod served;

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

pub use current::{chosen_lifetime, current_certificate, dir_config, Names};
pub use served::{Served, ServedCheck};

use self::schedule::{Backoff, MAX_CHECK, MIN_CHECK};
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::pki::trust::TrustBundle;
use crate::provision::directory::{Action, Outcome, Renewal};
use crate::provision::ray_env::CA_FILE;
use crate::provision::watch_metrics::{CertState, WatchMetrics};

/// What one pass of the loop came to, for the sidecar's log line.
pub enum Pass<'a> {
    /// The certificate was kept or renewed; the next check comes after `next`.
    Done {
        outcome: &'a Outcome,
        served: Option<&'a Served>,
        next: Duration,
    },
    /// The pass failed; it is tried again after `next` (the backoff).
    Failed { error: &'a Error, next: Duration },
}

/// The watch loop over one directory.
pub struct Renewer {
    dir: PathBuf,
    renewal: Renewal,
    served: Option<ServedCheck>,
    metrics: Option<Arc<WatchMetrics>>,
    backoff: Backoff,
    /// How much earlier than scheduled each check comes, in [0, 1] of the jitter; random
    /// in service, fixed in tests.
    jitter: fn() -> f64,
}

impl Renewer {
    pub fn new(dir: &Path, renewal: Renewal) -> Self {
        Renewer {
            dir: dir.to_path_buf(),
            renewal,
            served: None,
            metrics: None,
            backoff: Backoff::default(),
            jitter: schedule::random_fraction,
        }
    }

    /// After each good pass, ask the Ray process at `address` which certificate it serves.
    pub fn check_served(mut self, address: Option<&str>) -> Self {
        self.served = address.map(ServedCheck::new);
        self
    }

    /// Keep `metrics` (served by `watch_metrics::serve`) up to date.
    pub fn metrics(mut self, metrics: Option<Arc<WatchMetrics>>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Pass after pass until one fails with a configuration error (exit code 2), which it
    /// returns; every other failure is logged and retried.
    pub fn run(
        &mut self,
        mut pass: impl FnMut() -> Result<Outcome>,
        mut log: impl FnMut(Pass<'_>),
    ) -> Result<Infallible> {
        loop {
            let wait = self.step(&mut pass, &mut log)?;
            std::thread::sleep(wait);
        }
    }

    /// One pass and what follows it, without the sleep: how long to wait before the next.
    pub fn step(
        &mut self,
        pass: &mut dyn FnMut() -> Result<Outcome>,
        log: &mut dyn FnMut(Pass<'_>),
    ) -> Result<Duration> {
        match pass() {
            Ok(outcome) => {
                self.backoff.reset();
                let next = schedule::jittered(self.until_renewal(now()), (self.jitter)());
                let served = self.served.as_mut().map(|s| s.check(&self.dir));
                if let Some(m) = &self.metrics {
                    let renewed = matches!(outcome.action, Action::Issued);
                    m.pass_ok(&outcome.role, renewed, self.cert_state(), now());
                    if let Some(s) = &served {
                        m.served(s.restart_due());
                    }
                }
                log(Pass::Done {
                    outcome: &outcome,
                    served: served.as_ref(),
                    next,
                });
                Ok(next)
            }
            Err(e) if e.exit_code() == ExitCode::Usage => Err(e),
            Err(e) => {
                if let Some(m) = &self.metrics {
                    m.pass_failed(e.reason(), self.cert_state());
                }
                let next = self.backoff.failed();
                log(Pass::Failed { error: &e, next });
                Ok(next)
            }
        }
    }

    /// How long until the certificate in DIR enters its renewal window, within the check
    /// bounds; the shortest when it cannot be read (the next pass will say why).
    fn until_renewal(&self, now: OffsetDateTime) -> Duration {
        let Ok(current) = current_certificate(&self.dir) else {
            return MIN_CHECK;
        };
        let info = &current.info;
        schedule::next_check(
            now,
            info.not_before,
            info.not_after,
            self.renewal.when,
            MIN_CHECK,
            MAX_CHECK,
        )
    }

    /// What the metrics say about DIR: the certificate's expiry and renewal point, and the
    /// expiry of the root in ca.crt it chains to. None when tls.crt is unreadable.
    fn cert_state(&self) -> Option<CertState> {
        let current = current_certificate(&self.dir).ok()?;
        let ca_not_after = TrustBundle::read(&self.dir.join(CA_FILE))
            .ok()
            .and_then(|bundle| {
                bundle
                    .issuer_of(&current.certs[0], &current.certs[1..], now())
                    .map(|root| root.info.not_after)
            });
        let info = &current.info;
        Some(CertState {
            not_after: info.not_after,
            renew_at: schedule::renewal_point(info.not_before, info.not_after, self.renewal.when),
            ca_not_after,
        })
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::authority::{create_ca, Authority, CaFiles, Lifetime};
    use crate::pki::keys::KeyType;
    use crate::pki::role::{LeafIdentity, Role};
    use crate::provision::directory::{init_dir, renew_dir, Source};

    /// A pod directory with a worker certificate for `hours` from a local CA, and the CA.
    fn pod(hours: i64) -> (tempfile::TempDir, Authority, LeafIdentity) {
        let now = now();
        let tmp = tempfile::tempdir().unwrap();
        let ca = create_ca("raytls test", KeyType::EcdsaP256, 3650, now).unwrap();
        std::fs::write(tmp.path().join("ca.crt"), &ca.cert_pem).unwrap();
        std::fs::write(tmp.path().join("ca.key"), ca.key.pem()).unwrap();
        let ca = Authority::load(&CaFiles::in_dir(tmp.path()), now).unwrap();
        let identity =
            LeafIdentity::new(Role::Worker, Some([10, 0, 0, 7].into()), None, None, vec![])
                .unwrap();
        init_dir(&local(&ca, &identity, hours), &tmp.path().join("pod"), now).unwrap();
        (tmp, ca, identity)
    }

    fn local<'a>(ca: &'a Authority, identity: &'a LeafIdentity, hours: i64) -> Source<'a> {
        Source::Local {
            ca,
            identity,
            key_type: KeyType::EcdsaP256,
            lifetime: Lifetime::Explicit(time::Duration::hours(hours)),
        }
    }

    fn unavailable() -> Error {
        Error::SignerUnavailable {
            signer: "https://signer:8443".into(),
            waited: "1s".into(),
            tries: 1,
            last: "connection refused".into(),
        }
    }

    /// What each pass logged: Ok(next check) or Err(next try).
    fn step(r: &mut Renewer, mut pass: impl FnMut() -> Result<Outcome>) -> Result<Duration> {
        let mut logged = None;
        let next = r.step(&mut pass, &mut |p| {
            logged = Some(match p {
                Pass::Done { next, .. } => Ok(next),
                Pass::Failed { next, .. } => Err(next),
            })
        });
        if let Ok(next) = &next {
            let logged = logged.expect("a pass that goes on is logged");
            assert_eq!(logged.unwrap_or_else(|e| e), *next);
        }
        next
    }

    #[test]
    fn a_kept_certificate_is_looked_at_again_within_the_hour_jittered() {
        let (tmp, ca, identity) = pod(30 * 24);
        let dir = tmp.path().join("pod");
        let mut r = Renewer::new(&dir, Renewal::INIT);
        let mut pass = || renew_dir(&local(&ca, &identity, 30 * 24), &dir, Renewal::INIT, now());
        r.jitter = || 0.0;
        assert_eq!(step(&mut r, &mut pass).unwrap(), MAX_CHECK);
        r.jitter = || 1.0;
        assert_eq!(step(&mut r, &mut pass).unwrap(), Duration::from_secs(3240));
    }

    #[test]
    fn a_renewal_point_within_the_hour_is_the_next_check() {
        // A one-hour certificate (65 minutes from its backdated notBefore) renews with a
        // third of that, 21 min 40 s, left: 38 min 20 s after issue, inside the hour.
        let (tmp, ca, identity) = pod(1);
        let dir = tmp.path().join("pod");
        let mut r = Renewer::new(&dir, Renewal::INIT);
        r.jitter = || 0.0;
        let next = step(&mut r, || {
            renew_dir(&local(&ca, &identity, 1), &dir, Renewal::INIT, now())
        })
        .unwrap();
        let want = Duration::from_secs(38 * 60 + 20);
        assert!(
            next <= want && next + Duration::from_secs(30) > want,
            "{next:?}"
        );
    }

    #[test]
    fn failures_back_off_and_a_success_starts_the_backoff_again() {
        let (tmp, ca, identity) = pod(30 * 24);
        let dir = tmp.path().join("pod");
        let mut r = Renewer::new(&dir, Renewal::INIT);
        r.jitter = || 0.0;
        let secs = Duration::from_secs;
        for want in [2, 4, 8, 16] {
            assert_eq!(step(&mut r, || Err(unavailable())).unwrap(), secs(want));
        }
        let ok = || renew_dir(&local(&ca, &identity, 30 * 24), &dir, Renewal::INIT, now());
        assert_eq!(step(&mut r, ok).unwrap(), MAX_CHECK);
        assert_eq!(step(&mut r, || Err(unavailable())).unwrap(), secs(2));
    }

    #[test]
    fn a_configuration_error_ends_the_loop_and_is_not_logged() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nothing");
        let mut r = Renewer::new(&dir, Renewal::INIT);
        let mut logged = false;
        let e = r
            .run(
                || current_certificate(&dir).map(|_| unreachable!()),
                |_| logged = true,
            )
            .unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Usage, "{e}");
        assert!(!logged);
    }

    #[test]
    fn without_a_readable_certificate_a_good_pass_looks_again_soon() {
        // The pass's outcome is what the caller says; the schedule reads DIR/tls.crt.
        let (tmp, ca, identity) = pod(30 * 24);
        let dir = tmp.path().join("pod");
        let outcome =
            renew_dir(&local(&ca, &identity, 30 * 24), &dir, Renewal::INIT, now()).unwrap();
        let elsewhere = tmp.path().join("empty");
        let mut r = Renewer::new(&elsewhere, Renewal::INIT);
        r.jitter = || 1.0;
        assert_eq!(
            step(&mut r, || Ok(outcome.clone())).unwrap(),
            Duration::from_secs(9)
        );
    }
}
