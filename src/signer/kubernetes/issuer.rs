//! The ServiceAccount issuer, so that tokens are verified here (`jwt`) rather than by a
//! TokenReview per certificate: its discovery document and key set, read through the API
//! server (`/.well-known/openid-configuration`, `/openid/v1/jwks`; every ServiceAccount may
//! read them through the default ClusterRoleBinding `system:service-account-issuer-discovery`),
//! and a watch of ServiceAccounts, metadata only, for the check a TokenReview makes that
//! local verification would otherwise skip: the token's ServiceAccount still exists, with
//! that UID.
//!
//! The key set is fetched at start, again every `REFRESH` (a key the issuer dropped stops
//! verifying), and when a token names a key not in the set, at most once per `REFETCH_EVERY`
//! (a key added by a restarted API server is picked up at once, and a flood of tokens with
//! made-up key IDs costs at most one request per `REFETCH_EVERY`).
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::Client;

use super::jwt::{self, Expect, Jwks, TokenError, Verified};
use crate::signer::refusal::{KubeFailure, Refusal, TokenExpired, TokenInvalid, WrongAudience};

/// The key set is read again after this long in any case.
pub const REFRESH: Duration = Duration::from_secs(300);
/// At most one fetch for unknown key IDs per this long.
pub const REFETCH_EVERY: Duration = Duration::from_secs(10);

type ServiceAccountMeta = PartialObjectMeta<ServiceAccount>;

// A panic elsewhere while a guard was held leaves a value that is still whole here.
fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Why a token was not verified here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalError {
    /// The token itself is refused (a forged signature, another issuer, expired, ...).
    Token(TokenError),
    /// The token's ServiceAccount is gone, or was made again under its name (another UID).
    ServiceAccountGone { namespace: String, name: String },
    /// No key set yet (the discovery endpoints could not be read): the caller may review.
    NoKeys(String),
    /// The ServiceAccount watch has not listed yet (or cannot: no RBAC for it).
    NotListed,
}

impl std::fmt::Display for LocalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocalError::Token(e) => e.fmt(f),
            LocalError::ServiceAccountGone { namespace, name } => write!(
                f,
                "the token's ServiceAccount {namespace}/{name} no longer exists with the UID it was issued for"
            ),
            LocalError::NoKeys(why) => write!(
                f,
                "the ServiceAccount issuer's keys could not be read: {}",
                crate::text::escape::escape(why)
            ),
            LocalError::NotListed => {
                f.write_str("the signer's ServiceAccount watch has not listed yet")
            }
        }
    }
}

impl LocalError {
    /// A review could still accept the token: the key may be newer than the set, the
    /// ServiceAccount newer than the watch (`--token-review on-miss` asks the API server).
    pub fn review_could_differ(&self) -> bool {
        matches!(
            self,
            LocalError::Token(TokenError::UnknownKey(_))
                | LocalError::ServiceAccountGone { .. }
                | LocalError::NoKeys(_)
                | LocalError::NotListed
        )
    }
}

/// Refused here: the same codes a review's answer gives (an expired token `token_expired`,
/// another audience `wrong_audience`, the rest `token_invalid`).
impl From<LocalError> for Refusal {
    fn from(e: LocalError) -> Refusal {
        match e {
            LocalError::Token(TokenError::Expired) => Refusal::TokenExpired(TokenExpired::Claims),
            LocalError::Token(TokenError::Audience) => {
                Refusal::WrongAudience(WrongAudience::NotInReview)
            }
            LocalError::NoKeys(why) => Refusal::KubernetesUnavailable {
                doing: "read the ServiceAccount issuer's keys",
                why: KubeFailure::Error(why),
            },
            LocalError::NotListed => Refusal::KubernetesUnavailable {
                doing: "list ServiceAccounts",
                why: KubeFailure::Error("the watch has not listed yet".into()),
            },
            e => Refusal::TokenInvalid(TokenInvalid::NotVerified { why: e.to_string() }),
        }
    }
}

/// The issuer's name and keys as last read.
#[derive(Debug, Clone)]
struct Keys {
    issuer: String,
    jwks: Arc<Jwks>,
}

/// What `/healthz` and the start-up line say about local verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerStatus {
    pub issuer: Option<String>,
    pub keys: usize,
    pub last_error: Option<String>,
    /// Keys read and the ServiceAccount watch listed: tokens can be settled here.
    pub ready: bool,
}

pub struct Issuer {
    client: Client,
    keys: RwLock<Option<Keys>>,
    last_error: RwLock<Option<String>>,
    /// One fetch at a time; the instant of the last one.
    fetch: tokio::sync::Mutex<Option<Instant>>,
    service_accounts: Store<ServiceAccountMeta>,
    service_accounts_listed: Arc<AtomicBool>,
    /// Requests made for the key set (discovery + JWKS count as one fetch each).
    fetches: AtomicUsize,
    /// `REFETCH_EVERY` (shorter in tests).
    refetch_every: Duration,
}

impl Issuer {
    /// Start the ServiceAccount watch and the key fetches (the first at once).
    pub fn start(client: Client) -> Arc<Self> {
        Self::start_with(client, REFETCH_EVERY)
    }

    fn start_with(client: Client, refetch_every: Duration) -> Arc<Self> {
        let service_accounts = super::attest::reflect(
            "serviceaccounts",
            Api::<ServiceAccountMeta>::all(client.clone()),
            watcher::Config::default(),
            super::attest::strip_partial,
        );
        let issuer = Arc::new(Issuer {
            client,
            keys: RwLock::new(None),
            last_error: RwLock::new(None),
            fetch: tokio::sync::Mutex::new(None),
            service_accounts,
            service_accounts_listed: Arc::new(AtomicBool::new(false)),
            fetches: AtomicUsize::new(0),
            refetch_every,
        });
        let i = issuer.clone();
        tokio::spawn(async move {
            let _ = i.service_accounts.wait_until_ready().await;
            i.service_accounts_listed.store(true, Ordering::SeqCst);
        });
        let i = issuer.clone();
        tokio::spawn(async move {
            loop {
                match i.refetch(Duration::ZERO).await {
                    Ok(()) => {
                        let s = i.status();
                        eprintln!(
                            "raytls serve: ServiceAccount issuer {}: {} key(s); tokens are verified locally",
                            crate::text::escape::escape(s.issuer.as_deref().unwrap_or("?")),
                            s.keys
                        );
                    }
                    Err(e) => eprintln!(
                        "raytls serve: the ServiceAccount issuer's keys: {}",
                        crate::text::escape::escape(&e)
                    ),
                }
                // Quicker retries until a first success.
                let wait = if i.status().keys == 0 {
                    i.refetch_every
                } else {
                    REFRESH
                };
                tokio::time::sleep(wait).await;
            }
        });
        issuer
    }

    pub fn status(&self) -> IssuerStatus {
        let keys = read(&self.keys);
        let n = keys.as_ref().map_or(0, |k| k.jwks.len());
        IssuerStatus {
            issuer: keys.as_ref().map(|k| k.issuer.clone()),
            keys: n,
            last_error: read(&self.last_error).clone(),
            ready: n > 0 && self.service_accounts_listed.load(Ordering::SeqCst),
        }
    }

    /// Fetches of the key set since start.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The ServiceAccount watch has listed once and the keys have been read.
    pub fn ready(&self) -> bool {
        self.status().ready
    }

    /// Fetch the discovery document and the key set, unless one was fetched less than
    /// `min_age` ago. Concurrent callers wait for one fetch.
    async fn refetch(&self, min_age: Duration) -> Result<(), String> {
        let mut last = self.fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < min_age) {
            return Ok(());
        }
        *last = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = self.read_keys().await;
        match &result {
            Ok(keys) => {
                *write(&self.keys) = Some(keys.clone());
                *write(&self.last_error) = None;
            }
            Err(e) => *write(&self.last_error) = Some(e.clone()),
        }
        result.map(|_| ())
    }

    async fn read_keys(&self) -> Result<Keys, String> {
        let get = |path: &'static str| async move {
            let request = http::Request::get(path)
                .body(Vec::new())
                .map_err(|e| e.to_string())?;
            self.client
                .request_text(request)
                .await
                .map_err(|e| format!("GET {path}: {e}"))
        };
        let discovery = get("/.well-known/openid-configuration").await?;
        let issuer = serde_json::from_str::<serde_json::Value>(&discovery)
            .ok()
            .and_then(|v| v.get("issuer")?.as_str().map(str::to_string))
            .ok_or("the discovery document names no issuer")?;
        let jwks = get("/openid/v1/jwks").await?;
        let jwks = Jwks::parse(jwks.as_bytes()).map_err(|e| e.to_string())?;
        Ok(Keys {
            issuer,
            jwks: Arc::new(jwks),
        })
    }

    /// Verify a token for `audience` at `now` (Unix seconds): its signature against the
    /// issuer's keys (fetched again once for an unknown key ID), its claims, and that its
    /// ServiceAccount exists with the UID the token names.
    pub async fn verify(
        &self,
        token: &str,
        audience: &str,
        now: i64,
    ) -> Result<Verified, LocalError> {
        if !self.service_accounts_listed.load(Ordering::SeqCst) {
            return Err(LocalError::NotListed);
        }
        let check = |keys: &Keys| {
            jwt::verify(
                token,
                &keys.jwks,
                &Expect {
                    issuer: &keys.issuer,
                    audience,
                    now,
                },
            )
        };
        let current = read(&self.keys).clone();
        let mut result = match &current {
            Some(keys) => check(keys),
            None => Err(TokenError::UnknownKey(String::new())),
        };
        if matches!(result, Err(TokenError::UnknownKey(_))) {
            let _ = self.refetch(self.refetch_every).await;
            let again = read(&self.keys).clone();
            match &again {
                Some(keys) => result = check(keys),
                None => {
                    return Err(LocalError::NoKeys(
                        self.status()
                            .last_error
                            .unwrap_or_else(|| "not fetched yet".into()),
                    ))
                }
            }
        }
        let verified = result.map_err(LocalError::Token)?;
        let sa = self
            .service_accounts
            .get(&ObjectRef::new(&verified.service_account).within(&verified.namespace));
        let uid = sa.as_ref().and_then(|s| s.metadata.uid.as_deref());
        if uid != Some(verified.service_account_uid.as_str()) {
            return Err(LocalError::ServiceAccountGone {
                namespace: verified.namespace.clone(),
                name: verified.service_account.clone(),
            });
        }
        Ok(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::kubernetes::jwt::tests::{claims, Ec, ISS, NOW};
    use serde_json::json;

    /// A stand-in for the API server, in-process: the discovery document, the key set of
    /// `keys` (read again on every GET, so a test can add a key), ServiceAccount `ray/default`
    /// with `sa_uid`, and an empty answer to watches (the watcher then watches again). Counts
    /// the GETs of the key set.
    fn api(
        keys: Arc<RwLock<Vec<serde_json::Value>>>,
        sa_uid: &'static str,
        jwks_gets: Arc<AtomicUsize>,
    ) -> Client {
        let svc = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            let (keys, jwks_gets) = (keys.clone(), jwks_gets.clone());
            async move {
                let path = req.uri().path().to_string();
                let watch = req.uri().query().is_some_and(|q| q.contains("watch=true"));
                let body = match path.as_str() {
                    "/.well-known/openid-configuration" => json!({"issuer": ISS}).to_string(),
                    "/openid/v1/jwks" => {
                        jwks_gets.fetch_add(1, Ordering::SeqCst);
                        json!({"keys": *read(&keys)}).to_string()
                    }
                    "/api/v1/serviceaccounts" if watch => String::new(),
                    "/api/v1/serviceaccounts" => json!({
                        "kind": "ServiceAccountList", "apiVersion": "v1",
                        "metadata": {"resourceVersion": "1"},
                        "items": [{"metadata": {"name": "default", "namespace": "ray", "uid": sa_uid, "resourceVersion": "1"}}],
                    })
                    .to_string(),
                    _ => return Ok::<_, std::convert::Infallible>(
                        http::Response::builder().status(404).body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}"))).unwrap()
                    ),
                };
                Ok(http::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from(body),
                )))
            }
        });
        Client::new(svc, "default")
    }

    async fn ready(issuer: &Issuer) {
        for _ in 0..100 {
            if issuer.ready() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the issuer never got ready: {:?}", issuer.status());
    }

    #[tokio::test]
    async fn tokens_are_verified_against_the_api_servers_keys_and_service_accounts() {
        let (k1, k2) = (Ec::new(), Ec::new());
        let keys = Arc::new(RwLock::new(vec![k1.jwk("k1")]));
        let gets = Arc::new(AtomicUsize::new(0));
        let every = Duration::from_millis(500);
        let issuer = Issuer::start_with(api(keys.clone(), "sa-uid-1", gets.clone()), every);
        ready(&issuer).await;
        assert_eq!(issuer.status().issuer.as_deref(), Some(ISS));
        let header = |kid: &str| json!({"alg": "ES256", "kid": kid});

        let v = issuer
            .verify(&k1.sign(header("k1"), &claims()), "raytls", NOW)
            .await
            .unwrap();
        assert_eq!(v.service_account_uid, "sa-uid-1");
        // Another audience than the caller's.
        assert_eq!(
            issuer
                .verify(&k1.sign(header("k1"), &claims()), "vault", NOW)
                .await,
            Err(LocalError::Token(TokenError::Audience))
        );
        // A ServiceAccount made again under its name: another UID than the token's.
        let mut c = claims();
        c["kubernetes.io"]["serviceaccount"]["uid"] = json!("sa-uid-old");
        assert!(matches!(
            issuer
                .verify(&k1.sign(header("k1"), &c), "raytls", NOW)
                .await,
            Err(LocalError::ServiceAccountGone { .. })
        ));

        // A key the issuer added since: within `every` of the last read the token is an
        // unknown key (never a wrong verdict); after it, the set is read again once and the
        // token verifies.
        write(&keys).push(k2.jwk("k2"));
        let t2 = k2.sign(header("k2"), &claims());
        let early = issuer.verify(&t2, "raytls", NOW).await;
        assert!(
            early.is_ok() || early == Err(LocalError::Token(TokenError::UnknownKey("k2".into()))),
            "{early:?}"
        );
        tokio::time::sleep(every + Duration::from_millis(100)).await;
        let before = gets.load(Ordering::SeqCst);
        issuer.verify(&t2, "raytls", NOW).await.unwrap();
        assert!(gets.load(Ordering::SeqCst) <= before + 1);
        assert_eq!(issuer.status().keys, 2);
        // Made-up key IDs cost at most one fetch per `every`, however many arrive.
        let now_gets = gets.load(Ordering::SeqCst);
        for i in 0..50 {
            let t = k2.sign(header(&format!("forged-{i}")), &claims());
            assert!(issuer.verify(&t, "raytls", NOW).await.is_err());
        }
        assert!(
            gets.load(Ordering::SeqCst) <= now_gets + 1,
            "{} fetches",
            gets.load(Ordering::SeqCst) - now_gets
        );
    }

    #[test]
    fn local_refusals_keep_the_codes_a_review_gives() {
        let code = |e: LocalError| {
            let r = Refusal::from(e);
            (r.status(), r.code())
        };
        assert_eq!(
            code(LocalError::Token(TokenError::Expired)),
            (401, "token_expired")
        );
        assert_eq!(
            code(LocalError::Token(TokenError::Audience)),
            (401, "wrong_audience")
        );
        for e in [
            TokenError::Signature,
            TokenError::UnknownKey("k".into()),
            TokenError::Issuer("https://other".into()),
            TokenError::Algorithm("none".into()),
            TokenError::Malformed("x"),
            TokenError::NotServiceAccount,
        ] {
            assert_eq!(code(LocalError::Token(e)), (401, "token_invalid"));
        }
        let gone = LocalError::ServiceAccountGone {
            namespace: "ray".into(),
            name: "sa".into(),
        };
        assert_eq!(code(gone.clone()), (401, "token_invalid"));
        assert!(Refusal::from(gone).to_string().contains("ray/sa"));
        // No keys or no ServiceAccount list yet: the signer's state, not the token's fault.
        assert_eq!(
            code(LocalError::NoKeys("403".into())),
            (503, "kubernetes_unavailable")
        );
        assert_eq!(code(LocalError::NotListed), (503, "kubernetes_unavailable"));
    }

    #[test]
    fn on_miss_reviews_only_what_a_review_could_answer_otherwise() {
        // A key newer than the set, a ServiceAccount newer than the watch, nothing read yet.
        for e in [
            LocalError::Token(TokenError::UnknownKey("k".into())),
            LocalError::ServiceAccountGone {
                namespace: "ray".into(),
                name: "sa".into(),
            },
            LocalError::NoKeys("x".into()),
            LocalError::NotListed,
        ] {
            assert!(e.review_could_differ(), "{e:?}");
        }
        // A forged signature under a published key, another issuer, an expired token: final.
        for e in [
            TokenError::Signature,
            TokenError::Issuer("i".into()),
            TokenError::Expired,
            TokenError::Audience,
            TokenError::Algorithm("HS256".into()),
            TokenError::Malformed("x"),
        ] {
            assert!(!LocalError::Token(e.clone()).review_could_differ(), "{e:?}");
        }
    }
}
