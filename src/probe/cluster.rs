//! `health-check --all-nodes` (issue 13): every node as the GCS sees it. The GCS lists its
//! nodes (`NodeInfoGcsService/GetAllNodeInfo`); each node's raylet is dialed where the GCS
//! dials it for its health checks (node IP and node-manager port, the IP as the TLS server
//! name) and its certificate is judged with the checks `verify` runs (pki::leafcheck): does
//! it cover that IP, which root of `--ca` it chains to, when it expires. A worker whose
//! certificate lacks its own IP registers fine (the GCS checks no client names), then fails
//! every health check and is marked dead ~20 s later with a message that never names the
//! certificate: this view names it while the node is still alive.
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::time::{timeout_at, Instant};
use tonic::Code;

use super::credentials::{Credentials, Token};
use super::failure::{Cause, Failure, Phase};
use super::grpc::messages::{
    death_reason_name, GcsNodeInfo, DEATH_UNEXPECTED_TERMINATION, NODE_ALIVE, SERVING,
};
use super::grpc::{GcsClient, NodeList};
use super::health::{self, Options, Report};
use super::pool::{self, Outcome};
use super::target::{self, Host, Target};
use super::tls::{self, lock, Verify};
use crate::pki::certinfo::{date, CertInfo};
use crate::pki::leafcheck::{self, Check, CheckCode, Expectations, Leaf, RenewWhen, Status};
use crate::pki::san::San;
use crate::text::escape::clip;
use crate::text::hex;
use crate::text::number::grouped;

/// What the GCS records as the death of a node whose health checks failed (Ray 2.60,
/// gcs_node_manager.cc): reason UNEXPECTED_TERMINATION with this message.
pub const HEALTH_CHECK_DEATH: &str = "health check failed";

/// `--max-nodes` by default: far above real clusters (Ray's largest run a few thousand
/// nodes), far below what a 4 MB reply can list (two million empty entries).
pub const DEFAULT_MAX_NODES: usize = 10_000;

/// The most `--max-nodes` may be: each node checked costs a report (a few KB with its
/// certificate) and a line of output.
pub const MAX_MAX_NODES: usize = 100_000;

/// The node checks of `--all-nodes` end this many `--timeout`s after they start (after the
/// GCS's own check and its node list, each within one `--timeout`): a node whose turn comes
/// later is reported `not_checked`. With the default 5 s, 20 s: thousands of answering
/// nodes (milliseconds each, 256 at once) fit many times over; a thousand silent ones do not.
pub const NODE_CHECKS_TIMEOUTS: u32 = 4;

/// How long the node checks may take, all nodes together: [`NODE_CHECKS_TIMEOUTS`] x
/// `--timeout`.
pub fn node_checks_budget(timeout: Duration) -> Duration {
    timeout.saturating_mul(NODE_CHECKS_TIMEOUTS)
}

/// Text from the GCS that goes on a node's line, cut to a sane length (Ray's are host
/// names, IPs and one-sentence messages): bytes of node ID, node name and address, death
/// message.
const MAX_NODE_ID_BYTES: usize = 64;
const MAX_NODE_TEXT: usize = 256;
const MAX_DEATH_MESSAGE: usize = 1024;

/// What `--all-nodes` adds to the GCS check.
#[derive(Debug, Clone, Copy)]
pub struct NodeOptions {
    /// `--min-days-left`: a node certificate with fewer whole days left fails with
    /// `expires_soon`. 0: only an expired certificate fails.
    pub min_days_left: u32,
    /// `--dead-within`: a death by failed health checks longer ago than this is history
    /// (verdict `dead`), not a failure. None: every such death fails.
    pub dead_within: Option<Duration>,
    /// `--max-nodes`: a GCS listing more nodes than this fails the run (`too_many_nodes`)
    /// before any node is dialed.
    pub max_nodes: usize,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            min_days_left: 0,
            dead_within: None,
            max_nodes: DEFAULT_MAX_NODES,
        }
    }
}

/// Where a node stands: `ok`; `fail` (exit 1: the GCS cannot, or could not, health-check
/// it); `dead` (the GCS lists it as dead for another reason, e.g. `ray stop` or an
/// autoscaler drain, and it no longer answers: history, not a failure); `not_checked` (its
/// turn came after the node checks' deadline: exit 1, nothing is known of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Fail,
    Dead,
    NotChecked,
}

/// One node: one line of text, or one `--json` object (`"kind": "node"`).
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub kind: &'static str,
    /// Ray's node ID, hex.
    pub node_id: String,
    pub node_name: String,
    pub is_head: bool,
    /// `alive` or `dead`, as the GCS has it.
    pub state: &'static str,
    /// `IP:PORT` the GCS dials for its health checks (node IP, node-manager port).
    pub address: String,
    pub verdict: Verdict,
    pub healthy: bool,
    pub cause: Cause,
    pub message: String,
    /// Dead nodes: Ray's `NodeDeathInfo` reason (`UNEXPECTED_TERMINATION`) and message.
    pub death_reason: Option<String>,
    pub death_message: Option<String>,
    pub died_of_failed_health_checks: bool,
    /// Dead nodes: seconds from registration to death, as the GCS recorded them.
    pub lived_s: Option<u64>,
    /// Dead nodes: seconds since the GCS recorded the death.
    pub dead_for_s: Option<u64>,
    /// Did the address answer with a completed TLS handshake?
    pub answered: bool,
    /// Does the certificate cover the address the GCS dials? (None: no certificate seen.)
    pub covers_address: Option<bool>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub sans: Vec<String>,
    /// The CA certificate of `--ca` it chains to (subject), and its place in the file
    /// (1-based): during a CA rotation, which step this node is at.
    pub chains_to: Option<String>,
    pub chains_to_index: Option<usize>,
    pub not_after: Option<String>,
    pub days_left: Option<i64>,
    pub sha256: Option<String>,
    pub tls_version: Option<String>,
    pub latency_ms: u64,
}

impl NodeReport {
    fn new(node: &GcsNodeInfo) -> Self {
        let alive = node.state == NODE_ALIVE;
        let death = node.death_info.as_ref().filter(|_| !alive);
        let died_of_failed_health_checks = death.is_some_and(|d| {
            d.reason == DEATH_UNEXPECTED_TERMINATION
                && d.reason_message.contains(HEALTH_CHECK_DEATH)
        });
        let lived_s = (!alive && node.end_time_ms >= node.start_time_ms && node.start_time_ms > 0)
            .then(|| (node.end_time_ms - node.start_time_ms) / 1000);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let dead_for_s = (!alive && node.end_time_ms > 0 && now_ms >= node.end_time_ms)
            .then(|| (now_ms - node.end_time_ms) / 1000);
        let id = &node.node_id[..node.node_id.len().min(MAX_NODE_ID_BYTES)];
        let mut node_id = hex::lower(id);
        if id.len() < node.node_id.len() {
            node_id += "...";
        }
        NodeReport {
            kind: "node",
            node_id,
            node_name: clip(&node.node_name, MAX_NODE_TEXT).into_owned(),
            is_head: node.is_head_node,
            state: if alive { "alive" } else { "dead" },
            address: node_address(node),
            verdict: Verdict::Fail,
            healthy: false,
            cause: Cause::Ok,
            message: String::new(),
            death_reason: death.map(|d| death_reason_name(d.reason)),
            death_message: death.map(|d| clip(&d.reason_message, MAX_DEATH_MESSAGE).into_owned()),
            died_of_failed_health_checks,
            lived_s,
            dead_for_s,
            answered: false,
            covers_address: None,
            subject: None,
            issuer: None,
            sans: Vec::new(),
            chains_to: None,
            chains_to_index: None,
            not_after: None,
            days_left: None,
            sha256: None,
            tls_version: None,
            latency_ms: 0,
        }
    }

    fn alive(&self) -> bool {
        self.state == "alive"
    }

    /// `OK node 5f2a9c1d head 10.0.0.5:40123 alive: covers 10.0.0.5; ...` or
    /// `FAIL node 9a8b7c6d 10.0.0.6:40123 alive name_mismatch: ...`, escaped: node names,
    /// death messages and certificate names come from the GCS and the nodes.
    pub fn line(&self) -> String {
        crate::text::escape::escape(&self.raw_line()).into_owned()
    }

    fn raw_line(&self) -> String {
        let word = match self.verdict {
            Verdict::Ok => "OK",
            Verdict::Fail => "FAIL",
            Verdict::Dead => "DEAD",
            Verdict::NotChecked => "NOT CHECKED",
        };
        let short: String = self.node_id.chars().take(8).collect();
        let mut who = format!(
            "{word} node {}",
            if short.is_empty() { "?" } else { &short }
        );
        if self.is_head {
            who += " head";
        }
        let ip = self.address.rsplit_once(':').map(|(h, _)| h).unwrap_or("");
        if !self.node_name.is_empty() && self.node_name != ip.trim_matches(['[', ']']) {
            // Quoted as sent: escape() below makes any control character visible.
            who += &format!(" \"{}\"", self.node_name);
        }
        who += &format!(" {} {}", self.address, self.state);
        if self.cause == Cause::Ok {
            format!("{who}: {}", self.message)
        } else {
            format!("{who} {}: {}", self.cause.code(), self.message)
        }
    }
}

/// `IP:PORT` as the GCS has it (IPv6 in brackets), for reports: what the GCS sent, even
/// when it cannot be dialed.
fn node_address(node: &GcsNodeInfo) -> String {
    let host = clip(&node.node_manager_address, MAX_NODE_TEXT);
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{}", node.node_manager_port)
    } else {
        format!("{host}:{}", node.node_manager_port)
    }
}

/// The node's raylet as a target, or why the GCS's address for it cannot be dialed.
fn node_target(node: &GcsNodeInfo) -> Result<Target, String> {
    let port = u16::try_from(node.node_manager_port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("node-manager port {} is not a port", node.node_manager_port))?;
    let host = node.node_manager_address.trim();
    if host.is_empty() {
        return Err("the GCS lists no node IP for it".into());
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Target {
            host: Host::Ip(ip),
            port,
        });
    }
    // Ray records an IP; anything else must at least be a DNS name.
    target::parse(&format!("{host}:{port}")).map_err(|why| {
        format!(
            "node address {:?} cannot be dialed: {}",
            clip(host, MAX_NODE_TEXT),
            clip(&why, MAX_NODE_TEXT)
        )
    })
}

/// The whole view: the GCS check (as without `--all-nodes`), then every node. The GCS's
/// report turns unhealthy if it cannot list its nodes, or lists more than `--max-nodes`; the
/// node list is then empty. The nodes are checked by a fixed pool of workers (as many as
/// [`health::concurrency_limit`]), each node with its own `--timeout`, all of them within
/// [`node_checks_budget`]: a node whose check could not end by then is not started, and is
/// reported `not_checked`.
pub async fn check_cluster(
    gcs: Target,
    creds: Arc<Credentials>,
    token: Option<Token>,
    opts: Options,
    node_opts: NodeOptions,
) -> (Report, Vec<NodeReport>) {
    let mut report = health::check(&gcs, &creds, token.as_ref(), &opts).await;
    if !report.healthy {
        return (report, Vec::new());
    }
    let listed = list_nodes(
        &gcs,
        &creds,
        token.as_ref(),
        opts.timeout,
        node_opts.max_nodes,
    );
    let nodes = match listed.await {
        Ok(n) => n,
        Err(f) => {
            report.healthy = false;
            report.cause = f.cause;
            report.phase = f.phase;
            report.message = f.message;
            return (report, Vec::new());
        }
    };
    let reports = check_nodes(nodes, creds, token, opts.timeout, node_opts).await;
    (report, reports)
}

/// Every node, [`health::concurrency_limit`] at a time, within [`node_checks_budget`].
async fn check_nodes(
    nodes: Vec<GcsNodeInfo>,
    creds: Arc<Credentials>,
    token: Option<Token>,
    timeout: Duration,
    node_opts: NodeOptions,
) -> Vec<NodeReport> {
    let budget = node_checks_budget(timeout);
    let end = Instant::now() + budget;
    // A check started by then ends by `end` (its own deadline is --timeout); the pool's
    // own cut-off, a second later, only catches what would not (a stuck DNS lookup).
    let start_by = end.checked_sub(timeout).unwrap_or(end);
    let cut_off = end + Duration::from_secs(1);
    let nodes: Arc<[GcsNodeInfo]> = nodes.into();
    let outcomes = pool::run(
        nodes.clone(),
        health::concurrency_limit(),
        Some(start_by),
        Some(cut_off),
        move |nodes, i| {
            let (creds, token) = (creds.clone(), token.clone());
            async move { check_node(&nodes[i], &creds, token.as_ref(), timeout, node_opts).await }
        },
    )
    .await;
    let budget_words = format!(
        "the node checks' deadline ({NODE_CHECKS_TIMEOUTS} x --timeout {} = {}) passed",
        crate::text::duration::format(timeout),
        crate::text::duration::format(budget)
    );
    outcomes
        .into_iter()
        .zip(nodes.iter())
        .map(|(outcome, node)| match outcome {
            Outcome::Done(r) => r,
            Outcome::NotStarted => {
                let mut r = NodeReport::new(node);
                r.verdict = Verdict::NotChecked;
                r.cause = Cause::NotChecked;
                r.message = format!("not checked: {budget_words} before its turn");
                r
            }
            Outcome::Unfinished => {
                let mut r = NodeReport::new(node);
                r.verdict = Verdict::NotChecked;
                r.cause = Cause::NotChecked;
                r.message = format!("not checked: {budget_words} while it was being checked");
                r
            }
        })
        .collect()
}

/// `NodeInfoGcsService/GetAllNodeInfo` over a fresh connection to the GCS (the check of
/// the GCS itself just passed over another one).
async fn list_nodes(
    gcs: &Target,
    creds: &Credentials,
    token: Option<&Token>,
    budget: Duration,
    max_nodes: usize,
) -> Result<Vec<GcsNodeInfo>, Failure> {
    let deadline = Instant::now() + budget;
    let (tcp, peer) = tls::dial(gcs, deadline, budget).await?;
    let conn = tls::handshake(gcs, creds, tcp, peer, deadline, budget).await?;
    let fail = |cause, message: String| Failure::new(cause, Phase::Grpc, message);
    let timed_out = || {
        fail(
            Cause::Timeout,
            format!(
                "the GCS at {peer} gave no answer to GetAllNodeInfo in {}",
                crate::text::duration::format(budget)
            ),
        )
    };
    let mut client = match timeout_at(
        deadline,
        GcsClient::over(conn.stream, &gcs.to_string(), token),
    )
    .await
    {
        Err(_) => return Err(timed_out()),
        Ok(Err(e)) => return Err(fail(Cause::GrpcError, e)),
        Ok(Ok(c)) => c,
    };
    let reply = match timeout_at(deadline, client.get_all_node_info(max_nodes)).await {
        Err(_) => return Err(timed_out()),
        Ok(Err(s)) if s.code() == Code::Unimplemented => {
            return Err(fail(
                Cause::NotRayGcs,
                format!(
                    "{peer} does not implement ray.rpc.NodeInfoGcsService/GetAllNodeInfo, so it \
                     cannot list the cluster's nodes: not a Ray GCS?"
                ),
            ))
        }
        Ok(Err(s)) => {
            return Err(fail(
                Cause::GrpcError,
                format!(
                    "GetAllNodeInfo on {peer} failed: {:?}: {}",
                    s.code(),
                    if s.message().is_empty() {
                        "(no message)"
                    } else {
                        s.message()
                    }
                ),
            ))
        }
        Ok(Ok(r)) => r,
    };
    if let Some(st) = reply.status.as_ref().filter(|s| s.code != 0) {
        return Err(fail(
            Cause::GrpcError,
            format!(
                "the GCS at {peer} answered GetAllNodeInfo with status {}: {}",
                st.code,
                clip(&st.message, MAX_DEATH_MESSAGE)
            ),
        ));
    }
    if reply.listed > max_nodes as u64 {
        return Err(fail(
            Cause::TooManyNodes,
            too_many_nodes(&peer.to_string(), &reply, max_nodes),
        ));
    }
    Ok(reply.nodes)
}

/// `the GCS at 10.0.0.5:6379 lists 200000 nodes, more than --max-nodes 10000: ...`
fn too_many_nodes(peer: &str, reply: &NodeList, max_nodes: usize) -> String {
    // Ray honours the `limit` we send (max_nodes + 1) and says how many it has in `total`.
    let count = if reply.nodes_at_gcs() > reply.listed {
        format!("has {} nodes", grouped(reply.nodes_at_gcs()))
    } else {
        format!("lists {} nodes", grouped(reply.listed))
    };
    format!(
        "the GCS at {peer} {count} (alive and dead), more than --max-nodes {}: no node was \
         checked; raise --max-nodes (or RAYTLS_MAX_NODES, at most {}) if the cluster is that \
         large",
        grouped(max_nodes as u64),
        grouped(MAX_MAX_NODES as u64)
    )
}

/// Dial one node's raylet as the GCS does and judge what it presents.
async fn check_node(
    node: &GcsNodeInfo,
    creds: &Credentials,
    token: Option<&Token>,
    budget: Duration,
    opts: NodeOptions,
) -> NodeReport {
    let start = Instant::now();
    let mut r = NodeReport::new(node);
    let outcome = match node_target(node) {
        Ok(t) => dial_node(&t, creds, token, budget, opts, &mut r).await,
        Err(why) => Err(Failure::new(Cause::BadNodeAddress, Phase::Config, why)),
    };
    r.latency_ms = start.elapsed().as_millis() as u64;
    settle(&mut r, outcome);
    forget_old_death(&mut r, opts.dead_within);
    r
}

/// `--dead-within`: a node that died of failed health checks longer ago, and whose address
/// does not now present a certificate the GCS would refuse, is history.
fn forget_old_death(r: &mut NodeReport, within: Option<Duration>) {
    let (Some(within), Some(dead_for)) = (within, r.dead_for_s) else {
        return;
    };
    if r.verdict == Verdict::Fail && r.cause == Cause::NodeDead && dead_for > within.as_secs() {
        r.verdict = Verdict::Dead;
        r.message += &format!(
            "; it died {} ago, longer than --dead-within {}: history, not a failure now",
            crate::text::duration::format_left(Duration::from_secs(dead_for)),
            crate::text::duration::format(within)
        );
    }
}

/// The verdict, from the dial's outcome and what the GCS says of the node.
fn settle(r: &mut NodeReport, outcome: Result<String, Failure>) {
    let death = death_words(r);
    match (r.alive(), outcome) {
        (true, Ok(summary)) => {
            r.verdict = Verdict::Ok;
            r.cause = Cause::Ok;
            r.message = summary;
        }
        (true, Err(f)) => {
            r.verdict = Verdict::Fail;
            r.cause = f.cause;
            r.message = f.message;
        }
        // Dead, and its address answers with a certificate the GCS cannot accept.
        (false, Err(f)) if r.answered => {
            r.verdict = Verdict::Fail;
            r.cause = f.cause;
            r.message = format!("{death}; its address still answers: {}", f.message);
        }
        (false, Ok(summary)) => {
            r.verdict = if r.died_of_failed_health_checks {
                Verdict::Fail
            } else {
                Verdict::Dead
            };
            r.cause = Cause::NodeDead;
            r.message =
                format!("{death}; its address answers now, with a good certificate ({summary})");
            if r.died_of_failed_health_checks {
                r.message += ": the health checks failed for another reason than TLS \
                              (overload, network), or another node now has this address";
            }
        }
        (false, Err(f)) => {
            r.verdict = if r.died_of_failed_health_checks {
                Verdict::Fail
            } else {
                Verdict::Dead
            };
            r.cause = Cause::NodeDead;
            r.message = format!(
                "{death}; its address no longer answers ({})",
                f.cause.code()
            );
            let quick = r.lived_s.is_some_and(|s| s < 120);
            if r.died_of_failed_health_checks && quick {
                r.message += "; a node marked dead within two minutes of joining is what a \
                              certificate without the node's own IP does: the GCS log names it \
                              (`Peer name IP is not in peer certificate`)";
            }
        }
    }
    r.healthy = r.verdict == Verdict::Ok;
}

/// `dead (UNEXPECTED_TERMINATION: "health check failed ..."; 21 s after it joined)`.
fn death_words(r: &NodeReport) -> String {
    let mut s = format!(
        "dead ({}",
        r.death_reason
            .as_deref()
            .unwrap_or("no death reason recorded")
    );
    if let Some(m) = r.death_message.as_deref().filter(|m| !m.is_empty()) {
        s += &format!(": \"{m}\"");
    }
    if let Some(t) = r.lived_s {
        s += &format!("; {t} s after it joined");
    }
    s + ")"
}

/// Dial, handshake (observing: the certificate is reported even when the GCS would refuse
/// it), judge the certificate, then ask the raylet's gRPC health service as the GCS does.
/// Ok: a summary of a certificate the GCS accepts.
async fn dial_node(
    target: &Target,
    creds: &Credentials,
    token: Option<&Token>,
    budget: Duration,
    opts: NodeOptions,
    r: &mut NodeReport,
) -> Result<String, Failure> {
    let deadline = Instant::now() + budget;
    let (tcp, peer) = match tls::dial(target, deadline, budget).await {
        Ok(x) => x,
        Err(f) if f.cause == Cause::ConnectionRefused => {
            return Err(Failure::new(
                f.cause,
                f.phase,
                format!(
                    "connection refused at {target}: no raylet listens where the GCS dials it \
                     (exited, or a firewall between the head and this node)"
                ),
            ))
        }
        Err(f) => return Err(f),
    };
    let conn =
        tls::handshake_with(Verify::Observe, target, creds, tcp, peer, deadline, budget).await?;
    r.answered = true;
    r.tls_version = conn.tls_version.clone();
    let judged = judge(
        &conn.server_chain,
        target,
        creds,
        opts,
        OffsetDateTime::now_utc(),
        r,
    );
    let summary = judged?;
    if let Some(e) = &conn.refused {
        // Our checks passed but rustls refuses it: trust the TLS stack.
        return Err(Failure::new(
            Cause::BadServerCert,
            Phase::Tls,
            format!("the certificate of {peer} is refused by TLS: {e}"),
        ));
    }
    // Only now, with a certificate TLS accepts, may a request (and a token) go over it.
    raylet_health(conn, target, token, deadline, budget).await?;
    Ok(summary)
}

/// What the GCS's health check does: `grpc.health.v1.Health/Check` on the raylet.
async fn raylet_health(
    conn: tls::TlsConn,
    target: &Target,
    token: Option<&Token>,
    deadline: Instant,
    budget: Duration,
) -> Result<(), Failure> {
    let peer = conn.peer;
    let plain = conn.plain.clone();
    let fail = |cause, message: String| Failure::new(cause, Phase::Grpc, message);
    let timed_out = || {
        fail(
            Cause::Timeout,
            format!(
                "the raylet at {peer} gave no answer to grpc.health.v1.Health/Check in {}",
                crate::text::duration::format(budget)
            ),
        )
    };
    let mut client = match timeout_at(
        deadline,
        GcsClient::over(conn.stream, &target.to_string(), token),
    )
    .await
    {
        Err(_) => return Err(timed_out()),
        Ok(Err(e)) => return Err(fail(Cause::GrpcError, e)),
        Ok(Ok(c)) => c,
    };
    match timeout_at(deadline, client.health_check()).await {
        Err(_) => Err(timed_out()),
        Ok(Ok(h)) if h.status == SERVING => Ok(()),
        Ok(Ok(h)) => Err(fail(
            Cause::NotServing,
            format!(
                "the raylet at {peer} answers grpc.health.v1.Health/Check with status {} (not SERVING)",
                h.status
            ),
        )),
        Ok(Err(s)) if s.code() == Code::Unauthenticated => Err(fail(
            Cause::Unauthenticated,
            format!("the raylet at {peer} refused our token (UNAUTHENTICATED)"),
        )),
        Ok(Err(s)) if lock(&plain).total == 0 => Err(fail(
            Cause::ClientCertRejected,
            format!(
                "the raylet at {peer} dropped us right after the TLS handshake ({:?}): it does \
                 not accept our client certificate; does the node's RAY_TLS_CA_CERT hold the CA \
                 that signed ours (and the head's)?",
                s.code()
            ),
        )),
        Ok(Err(s)) => Err(fail(
            Cause::GrpcError,
            format!(
                "grpc.health.v1.Health/Check on the raylet at {peer} failed: {:?}: {}",
                s.code(),
                s.message()
            ),
        )),
    }
}

/// Judge a node's certificate with `verify`'s checks, against each CA of `--ca` in turn
/// (during a rotation the file holds old and new root): fill in what it is, and Ok with a
/// summary when the GCS can accept it, Err naming every problem otherwise (the first by
/// importance sets the cause: a missing IP first, as it is what kills a node).
fn judge(
    chain: &[CertificateDer<'static>],
    target: &Target,
    creds: &Credentials,
    opts: NodeOptions,
    now: OffsetDateTime,
    r: &mut NodeReport,
) -> Result<String, Failure> {
    let Some(der) = chain.first() else {
        return Err(Failure::new(
            Cause::BadServerCert,
            Phase::Tls,
            format!("{target} presented no certificate"),
        ));
    };
    let info = CertInfo::parse(der).map_err(|why| {
        Failure::new(
            Cause::BadServerCert,
            Phase::Tls,
            format!("{target} presented a certificate that cannot be read: {why}"),
        )
    })?;
    r.subject = Some(info.subject.clone());
    r.issuer = Some(info.issuer.clone());
    r.sans = info.labeled_sans();
    r.not_after = info
        .not_after
        .format(&time::format_description::well_known::Rfc3339)
        .ok();
    r.days_left = Some(info.days_left(now));
    r.sha256 = Some(info.sha256_fingerprint.clone());

    let dialed = match &target.host {
        Host::Ip(ip) => San::Ip(*ip),
        Host::Dns(name) => match crate::pki::san::DnsName::parse("node address", name) {
            Ok(d) => San::Dns(d),
            Err(_) => San::Ip(IpAddr::from([0, 0, 0, 0])),
        },
    };
    let expect = Expectations {
        sans: std::slice::from_ref(&dialed),
        renew: RenewWhen::Within(time::Duration::days(i64::from(opts.min_days_left))),
    };
    let leaf = Leaf {
        der,
        intermediates: &chain[1..],
        info: &info,
        key: None,
    };
    // The first CA it chains to as a server; else the checks against the first CA.
    let mut checks: Option<Vec<Check>> = None;
    for (i, ca) in creds.ca_certs.iter().enumerate() {
        let Ok(ca_info) = CertInfo::parse(ca) else {
            continue;
        };
        let subject = ca_info.subject.clone();
        let one =
            crate::pki::trust::TrustBundle::checked_elsewhere(vec![crate::pki::trust::Root {
                der: ca.clone().into_owned(),
                info: ca_info,
            }]);
        let c = leafcheck::check_leaf(&one, &leaf, &expect, now);
        if status(&c, CheckCode::ChainServer) == Some(Status::Pass) {
            r.chains_to = Some(subject);
            r.chains_to_index = Some(i + 1);
            checks = Some(c);
            break;
        }
        checks.get_or_insert(c);
    }
    let checks = checks.unwrap_or_default();
    r.covers_address = Some(status(&checks, CheckCode::Sans) == Some(Status::Pass));

    let problems = problems(
        &checks,
        r.chains_to.is_some(),
        opts,
        now,
        &info,
        target,
        creds,
    );
    if let Some((cause, _)) = problems.first() {
        let words: Vec<&str> = problems.iter().map(|(_, m)| m.as_str()).collect();
        return Err(Failure::new(*cause, Phase::Tls, words.join("; ")));
    }
    let root = match (&r.chains_to, r.chains_to_index) {
        (Some(s), Some(i)) if creds.ca_certs.len() > 1 => {
            format!(
                "{s:?} (CA {i} of {} in {})",
                creds.ca_certs.len(),
                creds.ca_path.display()
            )
        }
        (Some(s), _) => format!("{s:?}"),
        _ => "?".into(),
    };
    Ok(format!(
        "covers {}; chains to {root}; expires {} ({} days left)",
        target.host_text(),
        date(info.not_after),
        info.days_left(now)
    ))
}

fn status(checks: &[Check], code: CheckCode) -> Option<Status> {
    checks.iter().find(|c| c.code == code).map(|c| c.status)
}

fn message(checks: &[Check], code: CheckCode) -> &str {
    checks
        .iter()
        .find(|c| c.code == code)
        .map(|c| c.message.as_str())
        .unwrap_or("")
}

/// Every reason the GCS cannot (or soon will not) accept this certificate, most important
/// first, each with its cause.
fn problems(
    checks: &[Check],
    chains: bool,
    opts: NodeOptions,
    now: OffsetDateTime,
    info: &CertInfo,
    target: &Target,
    creds: &Credentials,
) -> Vec<(Cause, String)> {
    let mut out = Vec::new();
    let host = target.host_text();
    if status(checks, CheckCode::Sans) == Some(Status::Fail) {
        let covers = info.labeled_sans().join(", ");
        out.push((
            Cause::NameMismatch,
            format!(
                "its certificate does not cover {host}, the address the GCS dials for its health \
                 checks (it covers [{covers}]): the GCS cannot reach this raylet (its log says \
                 `Peer name {host} is not in peer certificate`) and marks the node dead after 5 \
                 failed health checks (~20 s), as \"health check failed due to missing too many \
                 heartbeats\"; re-issue the node's certificate with POD_IP={host} and restart its \
                 Ray"
            ),
        ));
    }
    if !chains {
        out.push((
            Cause::UnknownCa,
            format!(
                "its certificate (issuer {:?}) does not chain to any CA in {} ({}): {}",
                info.issuer,
                creds.ca_path.display(),
                creds.ca_subjects.join("; "),
                message(checks, CheckCode::ChainServer)
            ),
        ));
    }
    match status(checks, CheckCode::Validity) {
        Some(Status::Fail) if now < info.not_before => out.push((
            Cause::NotYetValid,
            format!(
                "its certificate is {}",
                message(checks, CheckCode::Validity)
            ),
        )),
        Some(Status::Fail) => out.push((
            Cause::Expired,
            format!(
                "its certificate is {}",
                message(checks, CheckCode::Validity)
            ),
        )),
        Some(Status::Renew) if opts.min_days_left > 0 => out.push((
            Cause::ExpiresSoon,
            format!(
                "its certificate expires on {} ({} days left), within --min-days-left {}: renew it",
                date(info.not_after),
                info.days_left(now),
                opts.min_days_left
            ),
        )),
        _ => {}
    }
    if status(checks, CheckCode::Eku) == Some(Status::Fail) {
        let cause = if info.eku.as_ref().is_some_and(|e| !e.server_auth && !e.any) {
            Cause::NoServerAuthEku
        } else {
            Cause::BadServerCert
        };
        out.push((
            cause,
            format!("its certificate's {}", message(checks, CheckCode::Eku)),
        ));
    }
    for code in [CheckCode::LeafNotCa, CheckCode::RayCompat] {
        if status(checks, code) == Some(Status::Fail) {
            out.push((
                Cause::BadServerCert,
                format!("its certificate: {}", message(checks, code)),
            ));
        }
    }
    if chains && status(checks, CheckCode::ChainClient) == Some(Status::Fail) {
        out.push((
            Cause::BadServerCert,
            format!(
                "its certificate {} (the raylet is also a client of the GCS)",
                message(checks, CheckCode::ChainClient)
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::grpc::messages::{NodeDeathInfo, NODE_DEAD};

    fn node(ip: &str, port: i32, state: i32) -> GcsNodeInfo {
        GcsNodeInfo {
            node_id: vec![0xab, 0xcd, 0xef, 0x01, 0x23],
            node_manager_address: ip.into(),
            node_manager_port: port,
            state,
            node_name: ip.into(),
            start_time_ms: 1_000,
            end_time_ms: 22_000,
            ..GcsNodeInfo::default()
        }
    }

    #[test]
    fn node_addresses_from_the_gcs_are_parsed_not_trusted() {
        assert_eq!(
            node_target(&node("10.0.0.6", 40001, NODE_ALIVE))
                .unwrap()
                .to_string(),
            "10.0.0.6:40001"
        );
        assert_eq!(
            node_target(&node("fd00::6", 40001, NODE_ALIVE))
                .unwrap()
                .to_string(),
            "[fd00::6]:40001"
        );
        for (ip, port) in [
            ("10.0.0.6", 0),
            ("10.0.0.6", -1),
            ("10.0.0.6", 70000),
            ("", 1),
        ] {
            assert!(
                node_target(&node(ip, port, NODE_ALIVE)).is_err(),
                "{ip} {port}"
            );
        }
        assert!(node_target(&node("bad name\x1b[2K", 1, NODE_ALIVE)).is_err());
        assert_eq!(node_address(&node("fd00::6", 7, NODE_DEAD)), "[fd00::6]:7");
    }

    #[test]
    fn a_dead_node_is_a_failure_only_when_its_health_checks_killed_it() {
        let mut n = node("10.0.0.6", 40001, NODE_DEAD);
        n.death_info = Some(NodeDeathInfo {
            reason: DEATH_UNEXPECTED_TERMINATION,
            reason_message: "health check failed due to missing too many heartbeats".into(),
        });
        let mut r = NodeReport::new(&n);
        assert!(r.died_of_failed_health_checks);
        assert_eq!(r.lived_s, Some(21));
        let refused = Failure::new(Cause::ConnectionRefused, Phase::Connect, "x".into());
        settle(&mut r, Err(refused.clone()));
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.cause, Cause::NodeDead);
        assert!(
            r.message.contains("UNEXPECTED_TERMINATION"),
            "{}",
            r.message
        );
        assert!(r.message.contains("21 s after it joined"), "{}", r.message);
        assert!(r.message.contains("Peer name"), "{}", r.message);

        n.death_info = Some(NodeDeathInfo {
            reason: 1,
            reason_message: "received SIGTERM".into(),
        });
        let mut r = NodeReport::new(&n);
        assert!(!r.died_of_failed_health_checks);
        settle(&mut r, Err(refused));
        assert_eq!(r.verdict, Verdict::Dead);
        assert!(!r.healthy);
        assert!(
            r.line().starts_with(
                "DEAD node abcdef01 10.0.0.6:40001 dead node_dead: dead (EXPECTED_TERMINATION"
            ),
            "{}",
            r.line()
        );
    }

    #[test]
    fn regression_hostile_node_name_and_death_message_are_escaped() {
        let mut n = node("10.0.0.6", 40001, NODE_DEAD);
        n.node_name = "\x1b[2K\rOK node".into();
        n.death_info = Some(NodeDeathInfo {
            reason: 1,
            reason_message: "bye\u{202e}\n".into(),
        });
        let mut r = NodeReport::new(&n);
        settle(
            &mut r,
            Err(Failure::new(Cause::Timeout, Phase::Connect, "x".into())),
        );
        let line = r.line();
        assert!(!line.contains(['\x1b', '\r', '\n', '\u{202e}']), "{line:?}");
        assert!(line.contains("\\x1b[2K\\x0dOK node"), "{line:?}");
    }
}
