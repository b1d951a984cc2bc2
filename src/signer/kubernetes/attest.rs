//! What the API server says about a request: the TokenReview (one request per certificate),
//! then the pod, its owner RayCluster, the namespace and its Services from watch caches
//! (kube-rs reflectors), all gathered into one `Facts`. A pod or RayCluster missing from a
//! cache (just created, the watch not there yet) is read with one GET.
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PartialObjectMeta, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::decide::{
    Claims, ClusterFacts, OwnerRef, PodFacts, Review, ServiceFacts, AUDIENCE, CLUSTER_LABEL,
    EXTRA_POD_NAME, HEAD_SERVICES_ANNOTATION, NODE_TYPE_LABEL,
};
use crate::signer::refusal::{KubeFailure, Refusal};

/// How long one TokenReview may take (they answer in milliseconds), and how many tries.
const REVIEW_TRY: std::time::Duration = std::time::Duration::from_secs(5);
const REVIEW_TRIES: u32 = 2;

/// Objects as far as the signer reads them. k8s-openapi's `Pod` and `Service` would
/// deserialize the whole spec: their serde code alone doubled the release binary (5.1 ->
/// 11.3 MB), and the caches would hold what is never read. serde skips the other fields.
macro_rules! view {
    ($ty:ident, $kind:literal, $group:literal, $plural:literal) => {
        impl Resource for $ty {
            type DynamicType = ();
            type Scope = k8s_openapi::NamespaceResourceScope;

            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                $group.into()
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                "v1".into()
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

/// A RayCluster: its metadata (name, UID, creation time).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RayCluster {
    pub metadata: ObjectMeta,
}
view!(RayCluster, "RayCluster", "ray.io", "rayclusters");

/// A Pod: metadata (labels, owners, deletion), hostNetwork, its phase and IPs.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Pod {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Option<PodSpec>,
    #[serde(default)]
    pub status: Option<PodStatus>,
}
view!(Pod, "Pod", "", "pods");

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub host_network: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub pod_ip: Option<String>,
    #[serde(default, rename = "podIPs")]
    pub pod_ips: Option<Vec<PodIp>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct PodIp {
    pub ip: String,
}

/// A Service: metadata and its selector.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Service {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Option<ServiceSpec>,
}
view!(Service, "Service", "", "services");

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ServiceSpec {
    #[serde(default)]
    pub selector: Option<BTreeMap<String, String>>,
}

type ClusterMeta = PartialObjectMeta<RayCluster>;
type NamespaceMeta = PartialObjectMeta<Namespace>;

/// A global budget of TokenReviews per second, shared by every request: the per-address limit
/// alone lets many addresses with forged tokens make the API server review each of them.
/// A token bucket of one second's worth (`rate`) refilled at `rate` per second; a review past
/// it waits its turn for up to `MAX_QUEUE`, and beyond that is refused (429) without being
/// sent.
pub struct ReviewBudget {
    rate: f64,
    burst: f64,
    /// Tokens left (negative: reviews already promised a later turn), as of the instant.
    state: std::sync::Mutex<(f64, std::time::Instant)>,
}

impl ReviewBudget {
    /// The longest a review waits for its turn.
    pub const MAX_QUEUE: std::time::Duration = std::time::Duration::from_secs(2);

    pub fn new(per_second: u32) -> Self {
        let rate = f64::from(per_second.max(1));
        ReviewBudget {
            rate,
            burst: rate,
            state: std::sync::Mutex::new((rate, std::time::Instant::now())),
        }
    }

    /// Take one review's turn at `now`: Ok(how long to wait first), or Err(when to retry) when
    /// the turn is further off than `MAX_QUEUE` (nothing is taken then).
    pub fn take(
        &self,
        now: std::time::Instant,
    ) -> Result<std::time::Duration, std::time::Duration> {
        let mut st = crate::probe::tls::lock(&self.state);
        let (tokens, last) = *st;
        let tokens = (tokens + now.saturating_duration_since(last).as_secs_f64() * self.rate)
            .min(self.burst);
        let wait = if tokens >= 1.0 {
            0.0
        } else {
            (1.0 - tokens) / self.rate
        };
        let wait = std::time::Duration::from_secs_f64(wait);
        if wait > Self::MAX_QUEUE {
            *st = (tokens, now);
            return Err(wait);
        }
        *st = (tokens - 1.0, now);
        Ok(wait)
    }
}

/// The watch caches and the client they came from.
pub struct Attestor {
    client: Client,
    budget: ReviewBudget,
    pods: Store<Pod>,
    services: Store<Service>,
    clusters: Store<ClusterMeta>,
    /// Only with a namespace selector (it needs namespaces get/list/watch).
    namespaces: Option<Store<NamespaceMeta>>,
    ready: Arc<AtomicBool>,
    /// Requests made to the API server for decisions (not the watches).
    requests: AtomicUsize,
}

/// Start a reflector for `api` into a store; its errors are reported and retried with
/// kube-rs's default backoff. `strip` drops what the signer never reads.
pub(super) fn reflect<K>(
    what: &'static str,
    api: Api<K>,
    config: watcher::Config,
    strip: fn(&mut K),
) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        .modify(strip)
        .reflect(writer);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            if let Err(e) = event {
                eprintln!("raytls serve: watching {what}: {e}");
            }
        }
    });
    reader
}

fn strip_meta(m: &mut ObjectMeta) {
    m.managed_fields = None;
    m.annotations = None;
}

fn strip_pod(p: &mut Pod) {
    strip_meta(&mut p.metadata);
}

fn strip_service(s: &mut Service) {
    strip_meta(&mut s.metadata);
}

pub(super) fn strip_partial<K>(m: &mut PartialObjectMeta<K>) {
    strip_meta(&mut m.metadata);
}

/// A RayCluster keeps one annotation: the Services its head may also be named by.
fn strip_cluster(m: &mut ClusterMeta) {
    let keep = m
        .metadata
        .annotations
        .as_mut()
        .and_then(|a| a.remove(HEAD_SERVICES_ANNOTATION));
    strip_meta(&mut m.metadata);
    m.metadata.annotations = keep.map(|v| BTreeMap::from([(HEAD_SERVICES_ANNOTATION.into(), v)]));
}

impl Attestor {
    /// Start the watches (Ray pods, Services, RayClusters, and namespaces when
    /// `watch_namespaces`); `ready()` turns true once each has listed once.
    pub fn start(client: Client, watch_namespaces: bool, reviews_per_second: u32) -> Arc<Self> {
        let pods = reflect(
            "pods",
            Api::<Pod>::all(client.clone()),
            // Only Ray pods; any other pod is read by GET when it asks (and refused).
            watcher::Config::default().labels(NODE_TYPE_LABEL),
            strip_pod,
        );
        let services = reflect(
            "services",
            Api::<Service>::all(client.clone()),
            // Only Services of a RayCluster (KubeRay labels every Service it makes with
            // ray.io/cluster): the rest of the cluster's Services cost no memory here. One a
            // RayCluster opts in by name (raytls.io/head-services) is read by GET (`service`).
            watcher::Config::default().labels(CLUSTER_LABEL),
            strip_service,
        );
        let clusters = reflect(
            "rayclusters",
            Api::<ClusterMeta>::all(client.clone()),
            watcher::Config::default(),
            strip_cluster,
        );
        let namespaces = watch_namespaces.then(|| {
            reflect(
                "namespaces",
                Api::<NamespaceMeta>::all(client.clone()),
                watcher::Config::default(),
                strip_partial,
            )
        });
        let ready = Arc::new(AtomicBool::new(false));
        let attestor = Arc::new(Attestor {
            client,
            budget: ReviewBudget::new(reviews_per_second),
            pods,
            services,
            clusters,
            namespaces,
            ready: ready.clone(),
            requests: AtomicUsize::new(0),
        });
        let a = attestor.clone();
        tokio::spawn(async move {
            let _ = a.pods.wait_until_ready().await;
            let _ = a.services.wait_until_ready().await;
            let _ = a.clusters.wait_until_ready().await;
            if let Some(n) = &a.namespaces {
                let _ = n.wait_until_ready().await;
            }
            ready.store(true, Ordering::SeqCst);
            eprintln!(
                "raytls serve: Kubernetes caches ready ({} Ray pods, {} services, {} RayClusters)",
                a.pods.len(),
                a.services.len(),
                a.clusters.len()
            );
        });
        attestor
    }

    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn unavailable(doing: &'static str, e: kube::Error) -> Refusal {
        Refusal::KubernetesUnavailable {
            doing,
            why: KubeFailure::Error(e.to_string()),
        }
    }

    /// One TokenReview for audience `raytls` (two requests when the first connection failed).
    pub async fn review(&self, token: &str, api_requests: &mut u32) -> Result<Review, Refusal> {
        let tr = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: Some(vec![AUDIENCE.to_string()]),
            },
            ..TokenReview::default()
        };
        // A pooled connection to the API server that a proxy or load balancer dropped while
        // it sat idle fails (`SendRequest`) or hangs until the OS gives up (28-46 s seen in
        // scripts/kube-e2e.sh): each try is bounded, and a transport failure or a timeout
        // gets one more try, on another connection. An answer from the API server is final.
        let api = Api::<TokenReview>::all(self.client.clone());
        let mut tries = 0;
        let answer = loop {
            tries += 1;
            match self.budget.take(std::time::Instant::now()) {
                Ok(wait) if wait.is_zero() => {}
                Ok(wait) => tokio::time::sleep(wait).await,
                Err(retry) => {
                    return Err(Refusal::ReviewBudgetExceeded {
                        per_second: self.budget.rate,
                        retry_in: retry.as_secs_f64().ceil().max(1.0) as u64,
                    });
                }
            }
            *api_requests += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            match tokio::time::timeout(REVIEW_TRY, api.create(&PostParams::default(), &tr)).await {
                Ok(Ok(answer)) => break answer,
                Ok(Err(e)) if tries < REVIEW_TRIES && !matches!(e, kube::Error::Api(_)) => {}
                Ok(Err(e)) => return Err(Self::unavailable("review the token", e)),
                Err(_) if tries < REVIEW_TRIES => {}
                Err(_) => {
                    return Err(Refusal::KubernetesUnavailable {
                        doing: "review the token",
                        why: KubeFailure::NoAnswer {
                            seconds: REVIEW_TRY.as_secs(),
                            tries: REVIEW_TRIES,
                        },
                    })
                }
            }
        };
        let status = answer.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            return Ok(Review::Rejected(
                status
                    .error
                    .unwrap_or_else(|| "the token is not authenticated".into()),
            ));
        }
        let user = status.user.unwrap_or_default();
        let extra = user
            .extra
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.into_iter().next().map(|v| (k, v)))
            .collect();
        Ok(Review::Authenticated {
            username: user.username.unwrap_or_default(),
            extra,
            audiences: status.audiences.unwrap_or_default(),
        })
    }

    /// The pod, from the cache or (`fresh`, or a miss) by GET.
    pub async fn pod(
        &self,
        namespace: &str,
        name: &str,
        fresh: bool,
        api_requests: &mut u32,
    ) -> Result<Option<PodFacts>, Refusal> {
        let cached = (!fresh)
            .then(|| self.pods.get(&ObjectRef::new(name).within(namespace)))
            .flatten();
        let pod = match cached {
            Some(p) => Some((*p).clone()),
            None => {
                *api_requests += 1;
                self.requests.fetch_add(1, Ordering::Relaxed);
                Api::<Pod>::namespaced(self.client.clone(), namespace)
                    .get_opt(name)
                    .await
                    .map_err(|e| Self::unavailable("read the pod", e))?
            }
        };
        Ok(pod.map(|p| pod_facts(namespace, &p)))
    }

    /// A Service by name, by GET: one a RayCluster names in `raytls.io/head-services` that
    /// the watch (Services with a `ray.io/cluster` label) does not hold.
    pub async fn service(
        &self,
        namespace: &str,
        name: &str,
        api_requests: &mut u32,
    ) -> Result<Option<ServiceFacts>, Refusal> {
        *api_requests += 1;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let s = Api::<Service>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(|e| Self::unavailable("read a Service", e))?;
        Ok(s.and_then(|s| service_facts(&s)))
    }

    /// The RayCluster `owner` names, if it exists with that UID (cache, then GET).
    pub async fn cluster(
        &self,
        namespace: &str,
        owner: &OwnerRef,
        fresh: bool,
        api_requests: &mut u32,
    ) -> Result<Option<ClusterFacts>, Refusal> {
        if owner.kind != "RayCluster" || !owner.api_version.starts_with("ray.io/") {
            return Ok(None);
        }
        let cached = (!fresh)
            .then(|| {
                self.clusters
                    .get(&ObjectRef::new(&owner.name).within(namespace))
            })
            .flatten()
            .filter(|c| c.metadata.uid.as_deref() == Some(owner.uid.as_str()));
        let meta = match cached {
            Some(c) => Some(c.metadata.clone()),
            None => {
                *api_requests += 1;
                self.requests.fetch_add(1, Ordering::Relaxed);
                Api::<ClusterMeta>::namespaced(self.client.clone(), namespace)
                    .get_opt(&owner.name)
                    .await
                    .map_err(|e| Self::unavailable("read the RayCluster", e))?
                    .map(|c| c.metadata)
            }
        };
        Ok(meta.and_then(|m| {
            let head_services = m
                .annotations
                .as_ref()
                .and_then(|a| a.get(HEAD_SERVICES_ANNOTATION))
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            Some(ClusterFacts {
                name: m.name?,
                uid: m.uid?,
                created: m
                    .creation_timestamp
                    .and_then(|t| OffsetDateTime::from_unix_timestamp(t.0.as_second()).ok())
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                head_services,
            })
        }))
    }

    /// The live head pods (cache) of the RayCluster with this UID, other than `except`: not
    /// terminating, not finished (read off the cached pod, without making its `PodFacts`).
    pub fn other_heads(&self, namespace: &str, cluster_uid: &str, except: &str) -> Vec<String> {
        let mut heads: Vec<String> = self
            .pods
            .state_filter(|p| {
                let m = &p.metadata;
                m.namespace.as_deref() == Some(namespace)
                    && m.name.as_deref() != Some(except)
                    && m.labels
                        .as_ref()
                        .and_then(|l| l.get(NODE_TYPE_LABEL))
                        .map(String::as_str)
                        == Some("head")
                    && m.deletion_timestamp.is_none()
                    && !matches!(
                        p.status.as_ref().and_then(|s| s.phase.as_deref()),
                        Some("Succeeded" | "Failed")
                    )
                    && m.owner_references.as_ref().is_some_and(|o| {
                        o.iter()
                            .any(|r| r.controller == Some(true) && r.uid == cluster_uid)
                    })
            })
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        heads.sort_unstable();
        heads
    }

    /// The Services of a namespace (cache only: a head asks after its Service exists).
    pub fn services(&self, namespace: &str) -> Vec<ServiceFacts> {
        self.services
            .state_filter(|s| s.metadata.namespace.as_deref() == Some(namespace))
            .iter()
            .filter_map(|s| service_facts(s))
            .collect()
    }

    /// A namespace's labels (None without a namespace watch, or when it is not there).
    pub fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        let store = self.namespaces.as_ref()?;
        store
            .get(&ObjectRef::new(namespace))
            .map(|n| n.metadata.labels.clone().unwrap_or_default())
    }

    /// Requests made to the API server for decisions so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

fn pod_facts(namespace: &str, p: &Pod) -> PodFacts {
    let m = &p.metadata;
    let status = p.status.as_ref();
    let mut pod_ips: Vec<IpAddr> = status
        .and_then(|s| s.pod_ips.as_ref())
        .map(|ips| ips.iter().filter_map(|i| i.ip.parse().ok()).collect())
        .unwrap_or_default();
    if pod_ips.is_empty() {
        if let Some(ip) = status
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|i| i.parse().ok())
        {
            pod_ips.push(ip);
        }
    }
    let controller = m
        .owner_references
        .as_ref()
        .and_then(|o| o.iter().find(|r| r.controller == Some(true)))
        .map(|r| OwnerRef {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            name: r.name.clone(),
            uid: r.uid.clone(),
        });
    PodFacts {
        namespace: namespace.to_string(),
        name: m.name.clone().unwrap_or_default(),
        uid: m.uid.clone().unwrap_or_default(),
        terminating: m.deletion_timestamp.is_some(),
        phase: status.and_then(|s| s.phase.clone()),
        host_network: p
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false),
        labels: m.labels.clone().unwrap_or_default(),
        pod_ips,
        controller,
    }
}

/// The largest token read (projected tokens are ~1 KiB).
const MAX_TOKEN: usize = 16 * 1024;

/// `iat` and `exp` of a JWT, without checking its signature (the TokenReview does): None
/// when the token is not a JWT at all, which saves the API server a review.
/// What a decision reads of a Service: its name, selector, and the RayClusters owning it.
fn service_facts(s: &Service) -> Option<ServiceFacts> {
    Some(ServiceFacts {
        name: s.metadata.name.clone()?,
        selector: s
            .spec
            .as_ref()
            .and_then(|sp| sp.selector.clone())
            .unwrap_or_default(),
        owner_clusters: s
            .metadata
            .owner_references
            .iter()
            .flatten()
            .filter(|r| r.kind == "RayCluster" && r.api_version.starts_with("ray.io/"))
            .map(|r| r.uid.clone())
            .collect(),
    })
}

pub fn claims(token: &str) -> Option<Claims> {
    use base64::Engine;
    if token.len() > MAX_TOKEN {
        return None;
    }
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(Claims {
        issued_at: v.get("iat").and_then(serde_json::Value::as_i64),
        expires: v.get("exp").and_then(serde_json::Value::as_i64),
    })
}

/// The pod name a reviewed token is bound to.
pub fn pod_name(review: &Review) -> Option<&str> {
    match review {
        Review::Authenticated { extra, .. } => extra.get(EXTRA_POD_NAME).map(String::as_str),
        Review::Rejected(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn review_budget_queues_a_little_then_refuses() {
        let b = ReviewBudget::new(10);
        let t0 = std::time::Instant::now();
        // One second's worth at once.
        for _ in 0..10 {
            assert_eq!(b.take(t0), Ok(std::time::Duration::ZERO));
        }
        // The next ones wait their turn: 0.1 s, 0.2 s, ... up to MAX_QUEUE (2 s = 20 more).
        let waits: Vec<_> = (0..20).map(|_| b.take(t0).unwrap()).collect();
        assert!(waits.windows(2).all(|w| w[0] < w[1]), "{waits:?}");
        assert!(waits[19] <= ReviewBudget::MAX_QUEUE, "{waits:?}");
        // Past that: refused, and nothing taken, so it stays refused at the same instant.
        assert!(b.take(t0).is_err());
        assert!(b.take(t0).is_err());
        // Three seconds later the queue has drained and the bucket refilled to 1 s's worth.
        let later = t0 + std::time::Duration::from_secs(3);
        assert_eq!(b.take(later), Ok(std::time::Duration::ZERO));
    }

    #[test]
    fn claims_of_a_jwt_and_of_garbage() {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!(
            "{}.{}.sig",
            b(r#"{"alg":"RS256"}"#),
            b(r#"{"aud":["raytls"],"iat":100,"exp":3700}"#)
        );
        assert_eq!(
            claims(&jwt),
            Some(Claims {
                issued_at: Some(100),
                expires: Some(3700)
            })
        );
        for bad in ["", "a.b", "a.b.c.d", "x.!!!.y", &"a".repeat(20_000)] {
            assert_eq!(claims(bad), None, "{bad:.20}");
        }
    }

    #[test]
    fn pod_facts_take_the_controller_and_every_ip() {
        let p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "h", "uid": "u", "labels": {"ray.io/node-type": "head"},
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "1"},
                    {"apiVersion": "ray.io/v1", "kind": "RayCluster", "name": "rc", "uid": "2", "controller": true}
                ]},
            "status": {"podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}
        }))
        .unwrap();
        let f = pod_facts("ray", &p);
        assert_eq!(f.controller.unwrap().name, "rc");
        assert_eq!(f.pod_ips.len(), 2);
        assert!(!f.terminating);
    }
}
