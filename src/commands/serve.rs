//! `raytls serve`: the signer. Holds the CA key; gives each pod a certificate for its own
//! address (the TCP peer address of its request), in exchange for a role token.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::pki::authority::{Authority, CaFiles};
use crate::pki::certinfo::date;
use crate::pki::role::Role;
use crate::pki::san::San;
use crate::signer::api::parse_role;
use crate::signer::audit::Audit;
use crate::signer::auth::Tokens;
use crate::signer::limits::RateLimit;
use crate::signer::policy::{HeadPattern, Policy};
use crate::signer::server::{self, Limits, MaxLifetime, ServeConfig};

const SERVE_EXAMPLES: &str = "\
What a pod gets (the server decides, not the request):
  head/worker  IP SANs: the address its request came from (the pod IP), 127.0.0.1, and
               ::1 for an IPv6 pod; DNS: localhost, and for head the names matching
               --head-name. Anything else asked for is refused (403) naming the name.
  client       no names (the GCS does not check client names).
Every leaf records its role in the subject (OU=head), so a pod can renew over mutual TLS
with the certificate it was given, without a token; only a leaf that --ca itself (or
another root of its trust.crt) issued renews so, never one of a CA below it such as a
--kubernetes cluster CA (403 foreign_issuer): give --kubernetes a root of its own. The signer's own serving certificate is
made at start from --ca (key in memory only; localhost, 127.0.0.1, the listen address and
each --san) with OU=signer: pods send a token only to a server whose certificate has it,
since every pod holds a leaf of the same CA. The signer must see the pod's own
source address: a Kubernetes Service does (kube-proxy rewrites only the destination); an
ingress, a proxy or NAT does not.

API: POST /v1/sign {\"role\":\"worker\",\"csr\":\"-----BEGIN CERTIFICATE REQUEST-----...\"}
     (head may add \"fqdn\":[...]) with Authorization: Bearer <role token>;
     GET /healthz; GET /metrics (Prometheus). See docs/signer-openapi.yaml.

Limits a hostile client meets: --read-timeout for each of the TLS handshake, the headers
and the body; 4 KiB of request headers (431), a 16 KiB body (413); --max-connections in
all and --max-connections-per-source from one address. Past the per-source cap a new
connection is closed at once; at the cap in all, one connection with no authenticated
request in flight (the oldest of the address that holds the most) is closed to make room,
and the newcomer is closed only when every connection is in the middle of an authenticated
request. Counted in /metrics as raytls_signer_connections_total{outcome=\"evicted\"},
{outcome=\"refused_cap\"} and {outcome=\"refused_source_cap\"}. --rate/--burst requests per
address (429). No TLS session is resumed, and a client certificate is checked again at
each request.

EXAMPLES:
  # Tokens, one per role (each in its own Secret), and the signer
  raytls token generate --out head.token
  raytls token generate --out worker.token
  raytls serve --ca ./ca --listen 0.0.0.0:8443 --token head=head.token \\
      --token worker=worker.token --head-name '*-head-svc.ray.svc.cluster.local' \\
      --san raytls-signer.ray.svc --audit-log -

  # Under an offline root: the signing CA made by `raytls ca create --intermediate`
  raytls serve --ca ./signing --listen 0.0.0.0:8443 --token worker=worker.token

  # Ask by hand (the key stays here; the signer sees this host's address)
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key \\
      -subj /CN=me -out req.csr
  jq -n --rawfile csr req.csr '{role:\"worker\",csr:$csr}' | curl --cacert ca/ca.crt \\
      -H \"Authorization: Bearer $(cat worker.token)\" --data-binary @- \\
      https://raytls-signer.ray.svc:8443/v1/sign

  # In a pod's init container
  raytls init worker --signer https://raytls-signer.ray.svc:8443 \\
      --signer-ca /etc/ca/ca.crt --token-file /etc/raytls/token/worker

  # Kubernetes: pods attested through the API server, one CA per RayCluster (derived from
  # the master key and the RayCluster's UID); see examples/kubernetes/signer.yaml. The
  # root is its own: never the --ca of a role-token signer
  raytls ca create --out ./root
  raytls token generate --out cluster.key
  raytls serve --kubernetes --ca ./root --cluster-key cluster.key \\
      --namespace-selector raytls.io/enabled=true --san raytls-signer.raytls-system.svc
  raytls init head --signer https://raytls-signer.raytls-system.svc:8443 \\
      --signer-ca /etc/raytls/signer-ca/ca.crt --k8s-token

  # Rotating the cluster key (it leaked, or by policy): every RayCluster's CA changes, so
  # old and new pods of one cluster no longer trust each other. Give every replica the new
  # key at once, then restart every RayCluster (all of its pods) to get new certificates
  raytls token generate --out cluster.key --force

SIGTERM or SIGINT: stop accepting, finish requests in flight (up to --drain-timeout).";

#[derive(Debug, Args)]
#[command(after_help = SERVE_EXAMPLES)]
pub struct ServeArgs {
    /// Directory with the CA's ca.crt and ca.key (and root.crt under an intermediate)
    #[arg(long, value_name = "DIR", env = "RAYTLS_SIGNER_CA_DIR")]
    pub ca: PathBuf,
    /// Address and port to listen on
    #[arg(
        long,
        value_name = "ADDR:PORT",
        default_value = "0.0.0.0:8443",
        env = "RAYTLS_SIGNER_LISTEN"
    )]
    pub listen: String,
    /// A role's token file: head=FILE, worker=FILE, client=FILE (repeatable; first line of
    /// the file, as `raytls token generate` writes it)
    #[arg(
        long = "token",
        value_name = "ROLE=FILE",
        env = "RAYTLS_SIGNER_TOKENS",
        value_delimiter = ',',
        required_unless_present = "kubernetes",
        conflicts_with = "kubernetes"
    )]
    pub tokens: Vec<String>,
    /// A DNS name pattern a head may have, '*' within the first label (repeatable), e.g.
    /// '*-head-svc.ray.svc.cluster.local'
    #[arg(
        long = "head-name",
        value_name = "PATTERN",
        env = "RAYTLS_SIGNER_HEAD_NAMES",
        value_delimiter = ','
    )]
    pub head_names: Vec<String>,
    /// A name of the signer itself for its serving certificate, e.g. its Service name
    /// (repeatable; its listen address, localhost and 127.0.0.1 are always in)
    #[arg(
        long = "san",
        value_name = "NAME_OR_IP",
        env = "RAYTLS_SIGNER_SANS",
        value_delimiter = ','
    )]
    pub sans: Vec<String>,
    /// Longest validity for a role, ROLE=DAYS (repeatable; defaults head=365, worker=365,
    /// client=30, and with --kubernetes head=30, worker=24h, client=24h; never beyond the
    /// CA). A value with a unit (worker=30m, head=24h) is a duration: head=24h for a
    /// cluster with GCS fault tolerance, where a head restart keeps the cluster
    #[arg(
        long = "max-days",
        value_name = "ROLE=N",
        env = "RAYTLS_SIGNER_MAX_DAYS",
        value_delimiter = ','
    )]
    pub max_days: Vec<String>,
    /// Write one JSON line per decision here ('-' for standard output)
    #[arg(long, value_name = "-|FILE", env = "RAYTLS_SIGNER_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// Requests per second each source address may make, sustained
    #[arg(
        long,
        value_name = "N",
        default_value_t = 5.0,
        env = "RAYTLS_SIGNER_RATE"
    )]
    pub rate: f64,
    /// Requests a source address may make at once before the rate applies
    #[arg(
        long,
        value_name = "N",
        default_value_t = 20,
        env = "RAYTLS_SIGNER_BURST"
    )]
    pub burst: u32,
    /// Open connections at most; more are closed at once
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1024,
        env = "RAYTLS_SIGNER_MAX_CONNECTIONS"
    )]
    pub max_connections: usize,
    /// Open connections from one source address at most; more from it are closed at once,
    /// so one peer cannot hold the slots every other pod needs
    #[arg(
        long,
        value_name = "N",
        default_value_t = 32,
        env = "RAYTLS_SIGNER_MAX_CONNECTIONS_PER_SOURCE"
    )]
    pub max_connections_per_source: usize,
    /// Time allowed for each of: TLS handshake, request headers, request body
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::text::duration::parse)]
    pub read_timeout: Duration,
    /// After SIGTERM, time for requests in flight to finish
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = crate::text::duration::parse)]
    pub drain_timeout: Duration,
    #[command(flatten)]
    pub kubernetes: KubeArgs,
    /// Threads that serve connections (TLS, checks and signing) [default: the CPUs this
    /// process may use: its CPU affinity and cgroup CPU limit]
    #[arg(long, value_name = "N", env = "RAYTLS_SIGNER_THREADS")]
    pub threads: Option<usize>,
}

/// `--kubernetes` and its settings.
#[derive(Debug, Args)]
pub struct KubeArgs {
    /// Attest pods through the Kubernetes API instead of role tokens: a pod sends its
    /// projected ServiceAccount token (audience raytls); the role comes from its
    /// ray.io/node-type label, the names from the API, the CA from its RayCluster's UID
    #[arg(long, env = "RAYTLS_SIGNER_KUBERNETES", conflicts_with = "head_names")]
    pub kubernetes: bool,
    /// A kubeconfig to use instead of the in-cluster config (tests, running outside)
    #[arg(
        long,
        value_name = "FILE",
        env = "RAYTLS_SIGNER_KUBECONFIG",
        requires = "kubernetes"
    )]
    pub kubeconfig: Option<PathBuf>,
    /// The master key every replica shares; each RayCluster's CA key is derived from it and
    /// the RayCluster's UID. First line of FILE, at least 32 bytes and 128 bits estimated as
    /// length x log2(distinct characters), so 32 x 'a' is refused: make it with `raytls token
    /// generate --out FILE`. Rotating it changes every RayCluster's CA: restart every
    /// RayCluster so that all its pods get certificates of the new CA
    #[arg(
        long,
        value_name = "FILE",
        env = "RAYTLS_SIGNER_CLUSTER_KEY",
        required_if_eq("kubernetes", "true"),
        requires = "kubernetes"
    )]
    pub cluster_key: Option<PathBuf>,
    /// The cluster's DNS domain, for a head's service names (svc.NS.svc.DOMAIN)
    #[arg(
        long,
        value_name = "DOMAIN",
        default_value = "cluster.local",
        env = "RAYTLS_SIGNER_CLUSTER_DOMAIN"
    )]
    pub cluster_domain: String,
    /// Only pods in namespaces whose labels match, e.g. 'raytls.io/enabled=true' (the
    /// signer then also watches namespaces)
    #[arg(
        long,
        value_name = "SELECTOR",
        env = "RAYTLS_SIGNER_NAMESPACE_SELECTOR",
        requires = "kubernetes"
    )]
    pub namespace_selector: Option<String>,
    /// Only pods running as these ServiceAccounts: NAME, NAMESPACE/NAME, NAMESPACE/* or
    /// */NAME (repeatable; default: any)
    #[arg(
        long = "service-account",
        value_name = "PATTERN",
        env = "RAYTLS_SIGNER_SERVICE_ACCOUNTS",
        value_delimiter = ',',
        requires = "kubernetes"
    )]
    pub service_accounts: Vec<String>,
    /// Also certify pods with hostNetwork: true. Their IP is their node's, so any process on
    /// that node can ask as such a pod: allow it only where every process on the node is
    /// trusted with the cluster's identity
    #[arg(
        long,
        env = "RAYTLS_SIGNER_ALLOW_HOST_NETWORK",
        requires = "kubernetes"
    )]
    pub allow_host_network: bool,
    /// Sign nothing (503 pod_guard_missing, /healthz not ready) while the pod guard, the
    /// ValidatingAdmissionPolicy raytls-ray-pod-guard that lets only the KubeRay operator make
    /// RayCluster pods, is not in place. Without this flag a missing guard is reported at
    /// start-up and on /healthz only
    #[arg(long, env = "RAYTLS_SIGNER_REQUIRE_POD_GUARD", requires = "kubernetes")]
    pub require_pod_guard: bool,
    /// TokenReviews per second at most, for all requests together (a burst of one second's
    /// worth; past it a request waits up to 2 s for its turn, then gets 429
    /// review_budget_exceeded): forged tokens from many addresses cannot flood the API server
    #[arg(
        long,
        value_name = "N",
        default_value_t = 500,
        value_parser = clap::value_parser!(u32).range(1..),
        env = "RAYTLS_SIGNER_TOKEN_REVIEW_RATE",
        requires = "kubernetes"
    )]
    pub token_review_rate: u32,
    /// How pods' tokens are checked. on-miss (the default): against the ServiceAccount
    /// issuer's published keys, here, with no API request; a TokenReview only for a token
    /// this cannot settle (a key newer than the key set, a ServiceAccount newer than the
    /// watch). never: only here (the issuer's keys must be readable). always: a TokenReview
    /// for every request, as before. Local checks give up only the API server's own view of
    /// a token at that instant, which it caches for about 10 s anyway; a deleted pod or
    /// ServiceAccount is refused either way
    #[arg(
        long,
        value_name = "MODE",
        value_enum,
        default_value_t = crate::signer::kubernetes::TokenReview::OnMiss,
        env = "RAYTLS_SIGNER_TOKEN_REVIEW",
        requires = "kubernetes"
    )]
    pub token_review: crate::signer::kubernetes::TokenReview,
}

/// What `--kubernetes` needs once the runtime runs (the client is made there).
struct KubeSettings {
    kubeconfig: Option<PathBuf>,
    policy: crate::signer::kubernetes::KubePolicy,
    master: crate::pki::cluster_ca::MasterKey,
    options: crate::signer::kubernetes::KubeOptions,
}

fn kube_settings(k: &KubeArgs) -> Result<Option<KubeSettings>> {
    use crate::signer::kubernetes::{selector::Selector, AccountPattern, KubePolicy};
    if !k.kubernetes {
        return Ok(None);
    }
    let Some(path) = &k.cluster_key else {
        return Err(Error::Usage(
            "--kubernetes needs --cluster-key FILE (RAYTLS_SIGNER_CLUSTER_KEY): the master key of the per-cluster CAs".into(),
        ));
    };
    let secret = crate::signer::client::read_token(path)?;
    let master =
        crate::pki::cluster_ca::MasterKey::new(&path.display().to_string(), secret.as_bytes())?;
    let domain = k.cluster_domain.trim().trim_end_matches('.');
    crate::pki::san::DnsName::parse("--cluster-domain", domain)?;
    Ok(Some(KubeSettings {
        kubeconfig: k.kubeconfig.clone(),
        policy: KubePolicy {
            namespaces: k
                .namespace_selector
                .as_deref()
                .map(|s| Selector::parse("--namespace-selector", s))
                .transpose()?,
            accounts: k
                .service_accounts
                .iter()
                .map(|s| AccountPattern::parse("--service-account", s))
                .collect::<Result<Vec<_>>>()?,
            cluster_domain: domain.to_ascii_lowercase(),
            allow_host_network: k.allow_host_network,
        },
        master,
        options: crate::signer::kubernetes::KubeOptions {
            reviews_per_second: k.token_review_rate,
            require_pod_guard: k.require_pod_guard,
            token_review: k.token_review,
        },
    }))
}

/// `--threads`, or one per CPU this process may run on.
fn runtime_threads(flag: Option<usize>) -> Result<usize> {
    match flag {
        Some(0) => Err(Error::Usage("--threads must be at least 1".into())),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(2, |n| n.get())),
    }
}

/// `ROLE=VALUE` of a repeatable flag.
fn role_pair<'a>(flag: &str, input: &'a str) -> Result<(Role, &'a str)> {
    let bad = |why: String| Error::InvalidValue {
        source_name: flag.to_string(),
        value: input.to_string(),
        what: "ROLE=VALUE pair",
        why,
    };
    let (role, value) = input
        .split_once('=')
        .ok_or_else(|| bad("it has no '=' (e.g. worker=./worker.token)".into()))?;
    let role = parse_role(role.trim()).map_err(|e| bad(e.to_string()))?;
    if value.trim().is_empty() {
        return Err(bad("the value after '=' is empty".into()));
    }
    Ok((role, value.trim()))
}

fn config(a: &ServeArgs) -> Result<ServeConfig> {
    let listen: SocketAddr = a.listen.trim().parse().map_err(|_| Error::InvalidValue {
        source_name: "--listen".into(),
        value: a.listen.clone(),
        what: "listen address",
        why: "give ADDR:PORT, e.g. 0.0.0.0:8443 or [::]:8443".into(),
    })?;
    if !(a.rate.is_finite() && a.rate > 0.0) || a.burst == 0 {
        return Err(Error::Usage(
            "--rate and --burst must be greater than 0".into(),
        ));
    }
    if a.max_connections == 0 {
        return Err(Error::Usage("--max-connections must be at least 1".into()));
    }
    if a.max_connections_per_source == 0 {
        return Err(Error::Usage(
            "--max-connections-per-source must be at least 1".into(),
        ));
    }
    let token_files = a
        .tokens
        .iter()
        .map(|t| role_pair("--token", t).map(|(r, f)| (r, PathBuf::from(f))))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<(Role, &std::path::Path)> =
        token_files.iter().map(|(r, p)| (*r, p.as_path())).collect();
    let tokens = Tokens::load(&refs)?;
    let head_patterns = a
        .head_names
        .iter()
        .map(|p| HeadPattern::parse("--head-name", p))
        .collect::<Result<Vec<_>>>()?;
    let serving_sans = a
        .sans
        .iter()
        .map(|s| San::parse("--san", s))
        .collect::<Result<Vec<_>>>()?;
    // Kubernetes mode: a day for workers, renewed by the sidecar that re-attests the pod each
    // time, so a certificate outlives its pod by a day at most; a month for the head, whose
    // restart (Ray reads its certificate at start only) restarts a cluster without GCS fault
    // tolerance. A role token proves nothing about a pod, hence the year there.
    let mut max_lifetime = if a.kubernetes.kubernetes {
        MaxLifetime::kubernetes()
    } else {
        MaxLifetime::default()
    };
    for m in &a.max_days {
        let (role, n) = role_pair("--max-days", m)?;
        max_lifetime.set(role, max_lifetime_value(m, n)?);
    }
    let now = super::now();
    let ca = Authority::load(&CaFiles::in_dir(&a.ca), now)?;
    Ok(ServeConfig {
        listen,
        ca,
        tokens,
        policy: Policy { head_patterns },
        serving_sans,
        max_lifetime,
        audit: Audit::open(a.audit_log.as_deref())?,
        limits: Limits {
            max_connections: a.max_connections,
            max_connections_per_source: a.max_connections_per_source,
            read_timeout: a.read_timeout,
            rate: RateLimit {
                per_second: a.rate,
                burst: f64::from(a.burst),
            },
            drain: a.drain_timeout,
            ..Limits::default()
        },
        kubernetes: None,
    })
}

/// SIGTERM (Kubernetes stopping the pod) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            eprintln!("raytls serve: {name} received");
        }
        // Without signal handling the default action (exit) still stops us.
        _ => std::future::pending::<()>().await,
    }
}

pub fn run(a: ServeArgs) -> Result<ExitCode> {
    let threads = runtime_threads(a.threads)?;
    // The master key first: a bad one is refused before config() creates the audit log and
    // long before a Kubernetes client is made.
    let kube = kube_settings(&a.kubernetes)?;
    let mut cfg = config(&a)?;
    let roles: Vec<&str> = cfg.tokens.roles().iter().map(|r| r.name()).collect();
    let ca_line = format!(
        "CA \"{}\"{}, expires {}",
        cfg.ca.info.display_name(),
        if cfg.ca.intermediates.is_empty() {
            String::new()
        } else {
            format!(" under root \"{}\"", cfg.ca.anchor_info.display_name())
        },
        date(cfg.ca.info.not_after)
    );
    // A CA rotation in progress: say which roots pods get as their ca.crt.
    let roots = cfg.ca.trust.roots();
    let ca_line = if roots.len() > 1 {
        let names: Vec<String> = roots
            .iter()
            .map(|r| format!("\"{}\"", crate::text::escape::escape(r.info.display_name())))
            .collect();
        format!(
            "{ca_line}; pods trust {} roots (trust.crt: {})",
            roots.len(),
            names.join(", ")
        )
    } else {
        ca_line
    };
    let roles = if kube.is_some() {
        "none: --kubernetes (pods attested through the API server, one CA per RayCluster)".into()
    } else {
        roles.join(", ")
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal {
            what: "start the runtime",
            why: e.to_string(),
        })?;
    rt.block_on(async move {
        if let Some(k) = kube {
            let client = crate::signer::kubernetes::client(k.kubeconfig.as_deref()).await?;
            cfg.kubernetes = Some(crate::signer::kubernetes::KubeSigner::start(
                client, &cfg.ca, k.policy, k.master, k.options,
            )?);
        }
        let bound = server::bind(cfg, super::now()).await?;
        eprintln!(
            "raytls serve: listening on https://{}; serving certificate for {}; {ca_line}; tokens for {roles}; {threads} thread{}",
            bound.local_addr,
            bound.serving.sans.join(", "),
            if threads == 1 { "" } else { "s" },
        );
        bound.run(shutdown_signal()).await;
        Ok::<_, Error>(())
    })?;
    Ok(ExitCode::Ok)
}

/// `--max-days ROLE=N`: N whole days, or a duration with a unit (`30m`, `12h`), at least a
/// minute.
fn max_lifetime_value(flag_value: &str, n: &str) -> Result<time::Duration> {
    let bad = |why: String| Error::InvalidValue {
        source_name: "--max-days".into(),
        value: flag_value.into(),
        what: "validity",
        why,
    };
    let length = if let Ok(days) = n.parse::<u32>() {
        if days > 3650 {
            return Err(bad("at most 3650 days".into()));
        }
        time::Duration::days(days.into())
    } else if n.ends_with(|c: char| c.is_ascii_digit()) {
        return Err(bad(
            "give a whole number of days, or a duration such as 30m or 12h".into(),
        ));
    } else {
        let d = crate::text::duration::parse(n).map_err(bad)?;
        time::Duration::try_from(d).map_err(|e| bad(e.to_string()))?
    };
    if length < crate::pki::authority::Lifetime::SHORTEST {
        return Err(bad(
            "a certificate must be valid for at least a minute".into()
        ));
    }
    Ok(length)
}
