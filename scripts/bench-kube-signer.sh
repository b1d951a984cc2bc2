#!/usr/bin/env bash
# bench-kube-signer.sh - 1,000 real Pod objects get their certificates from
# `raytls serve --kubernetes` on the real API server of scripts/kube.sh (issue 18's bench).
#
# Setup (off the clock): a namespace (labelled raytls-bench=on), ServiceAccount ray-sa, a
# RayCluster (spec.suspend: true: the operator makes no pods), KUBE_BENCH_PODS (1,000) Pods owned
# by it (controller ownerReference, ray.io/node-type=worker, ray.io/cluster) that nobody runs,
# each pod's status.podIPs set through the status subresource to the loopback address its
# load-generator pod binds (127.0.x.y: the API server accepts it), all through
# scripts/lib/kube_bench.py. Then a release `raytls serve --kubernetes` on 127.0.0.1 (waits for
# its watch caches) and benches/support/signer_load.rs as the pods, each with its own token
# (--tokens), new keys and CSRs each run:
#   A  the 1,000 pods, 64 at a time, new tokens (one pod-bound TokenRequest each, audience
#      raytls, minted before the clock: the API server caches a successful review for 10 s, so
#      only never-reviewed tokens show the real cost)
#   B  the 1,000 pods all at once (a bootstrap burst), new tokens
#   C  as A with the tokens B just used (reviewed < 10 s ago: the API server's token cache)
# each KUBE_BENCH_RUNS times (default 2), for each --token-review mode of KUBE_BENCH_MODES
# (default "on-miss always": tokens verified against the issuer's keys, then a TokenReview each),
# one signer per mode, side by side in one table.
# Per run: wall time, certificates/s, p50/p99, API requests per certificate (the audit lines'
# kubernetes.api_requests), and the CPU time (/proc utime+stime) of the signer, kube-apiserver and
# etcd during the run. Then the floor: TokenReviews sent straight to the API server (the one
# request the signer makes per certificate), one at a time and 64 at a time.
# Goals (issue 18): 1,000 pods < 3 s; <= 1.2 API requests per certificate. Issue 26, on-miss:
# 0 API requests per certificate, 1,000 pods < 0.5 s, kube-apiserver CPU per certificate near 0.
#
# Needs root (ulimit), python3 + PyYAML, curl, jq, kubectl. Uses the platform if it is up;
# else brings it up and takes it down at the end. Writes benches/kube-signer.md and
# benches/raw/kube-signer-*.json; prints the table.
# Env: KUBE_BENCH_PODS, KUBE_BENCH_RUNS, RAYTLS_BIN / SIGNER_LOAD_BIN (default: cargo build
#      --release of both), KUBE_SH, KEEP=1 keeps the work dir and the namespace.
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/p;}' "${BASH_SOURCE[0]}"; exit 0;; esac
set -euo pipefail
NAME=bench-kube-signer
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
KUBE_SH=${KUBE_SH:-$ROOT/scripts/kube.sh}
# shellcheck source=lib/kube-objects.sh
. "$ROOT/scripts/lib/kube-objects.sh"
PODS=${KUBE_BENCH_PODS:-1000} RUNS=${KUBE_BENCH_RUNS:-2} MODES=${KUBE_BENCH_MODES:-on-miss always}
OUT=$ROOT/benches RAW=$ROOT/benches/raw; mkdir -p "$RAW"; rm -f "$RAW"/kube-signer-*.json
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ -z "${RAYTLS_BIN:-}" ] || [ -z "${SIGNER_LOAD_BIN:-}" ]; then
  echo "== building release raytls and the signer_load example"
  cargo build --release --quiet --bin raytls --example signer_load
fi
RT=${RAYTLS_BIN:-$ROOT/target/release/raytls}
LOAD=${SIGNER_LOAD_BIN:-$ROOT/target/release/examples/signer_load}

BROUGHT_UP=0
if ! bash "$KUBE_SH" status >/dev/null 2>&1; then
  echo "== the platform is down: bringing it up (and down at the end)"
  BROUGHT_UP=1
  bash "$KUBE_SH" up
fi
eval "$(bash "$KUBE_SH" env)"
: "${KUBECONFIG:?kube.sh env set no KUBECONFIG}"
S=${RAYTLS_KUBE_STATE:-/tmp/raytls-kube}

NS=raytls-kb-$$ RC=bench
W=$(mktemp -d "/tmp/$NAME.XXXXXX")
SIGNER_PID=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$SIGNER_PID" ] && { kill -TERM "$SIGNER_PID" 2>/dev/null; wait "$SIGNER_PID" 2>/dev/null || true; }
  if [ "${KEEP:-}" = 1 ]; then echo "$NAME: kept: $W, namespace $NS"
  else
    kubectl delete ns "$NS" --wait=false >/dev/null 2>&1 || true
    rm -rf "$W"
  fi
  [ "$BROUGHT_UP" = 1 ] && bash "$KUBE_SH" down || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# cpu_s PID: utime + stime in seconds
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' "/proc/$1/stat"; }
APISERVER_PID=$(cut -d' ' -f1 "$S/pids/kube-apiserver.pid")
ETCD_PID=$(cut -d' ' -f1 "$S/pids/etcd.pid")
[ -r "/proc/$APISERVER_PID/stat" ] && [ -r "/proc/$ETCD_PID/stat" ] || { echo "$NAME: no kube-apiserver/etcd pid in $S/pids" >&2; exit 2; }

# A namespace of an earlier run still being deleted (1,000 pods) would load the API server.
for _ in $(seq 120); do
  kubectl get ns -o name | grep -q '^namespace/raytls-kb-' || break
  sleep 1
done
# The API server's own CPU at rest (controllers, the operator, leases), for comparison.
a0=$(cpu_s "$APISERVER_PID"); sleep 5; a1=$(cpu_s "$APISERVER_PID")
IDLE_API=$(awk -v a="$a0" -v b="$a1" 'BEGIN { printf "%.3f", (b - a) / 5 }')
echo "== kube-apiserver at rest: $IDLE_API CPU s per s"

echo "== setup (off the clock): namespace $NS, RayCluster $RC, $PODS pods, their IPs and tokens"
kubectl create ns "$NS" >/dev/null
kubectl label ns "$NS" raytls-bench=on >/dev/null
kubectl -n "$NS" create serviceaccount ray-sa >/dev/null
RC_UID=$(suspended_raycluster "$NS" "$RC")
python3 "$ROOT/scripts/lib/kube_bench.py" pods "$KUBECONFIG" "$NS" "$RC" "$RC_UID" "$PODS" 1 127.0 \
  >"$RAW/kube-signer-setup.json"
echo "   $(cat "$RAW/kube-signer-setup.json")"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# load NAME CONCURRENCY: one run of all pods; JSON into benches/raw/kube-signer-NAME.json with
# the CPU of the signer, kube-apiserver and etcd, and the API requests of its audit lines
load() {
  local name=$1 conc=$2 s0 a0 e0 s1 a1 e1 l0 l1
  l0=$(wc -l <"$W/signer/audit.jsonl" 2>/dev/null || echo 0)
  s0=$(cpu_s "$SIGNER_PID") a0=$(cpu_s "$APISERVER_PID") e0=$(cpu_s "$ETCD_PID")
  "$LOAD" --signer "127.0.0.1:$PORT" --ca "$CA" --tokens "$W/tokens" --ip-base 127.0 \
    --pods "$PODS" --concurrency "$conc" --first 1 >"$RAW/kube-signer-$name.json" 2>"$W/load.err" ||
    { cat "$RAW/kube-signer-$name.json" "$W/load.err" >&2; echo "$NAME: run $name had failures" >&2; }
  s1=$(cpu_s "$SIGNER_PID") a1=$(cpu_s "$APISERVER_PID") e1=$(cpu_s "$ETCD_PID")
  sleep 0.3   # the audit writer flushes
  l1=$(wc -l <"$W/signer/audit.jsonl")
  tail -n +"$((l0 + 1))" "$W/signer/audit.jsonl" | head -n "$((l1 - l0))" >"$W/audit-$name.jsonl"
  python3 - "$RAW/kube-signer-$name.json" "$W/audit-$name.jsonl" "$s0" "$s1" "$a0" "$a1" "$e0" "$e1" <<'EOF'
import json, sys
p, audit = sys.argv[1:3]
s0, s1, a0, a1, e0, e1 = map(float, sys.argv[3:9])
d = json.load(open(p))
lines = [json.loads(l) for l in open(audit) if l.strip()]
issued = [l for l in lines if l.get("result") == "issued"]
req = sum((l.get("kubernetes") or {}).get("api_requests", 0) for l in lines)
d.update(audit_lines=len(lines), issued=len(issued), api_requests=req,
         api_requests_per_cert=round(req / max(len(issued), 1), 3),
         signer_cpu_s=round(s1 - s0, 3), apiserver_cpu_s=round(a1 - a0, 3), etcd_cpu_s=round(e1 - e0, 3))
json.dump(d, open(p, "w"))
EOF
  echo "   $name: $(cat "$RAW/kube-signer-$name.json")"
}
# fresh_tokens NAME: new pod-bound tokens for every pod into $W/tokens (off the clock)
fresh_tokens() {
  python3 "$ROOT/scripts/lib/kube_bench.py" tokens "$KUBECONFIG" "$NS" "$PODS" 1 "$W/tokens" \
    >"$RAW/kube-signer-tokens-$1.json"
}
for mode in $MODES; do
  echo "== the signer, --token-review $mode"
  start_kube_signer "$RT" "$W/signer" "127.0.0.1:$PORT" raytls-bench=on "$NAME" --token-review "$mode"
  [ "$mode" != always ] && wait_issuer_ready 150
  for r in $(seq "$RUNS"); do
    echo "== A run $r ($mode): $PODS pods, 64 at a time (new tokens)"
    fresh_tokens "A$r.$mode"; load "A$r.$mode" 64
    echo "== B run $r ($mode): $PODS pods all at once (new tokens)"
    fresh_tokens "B$r.$mode"; load "B$r.$mode" "$PODS"
    echo "== C run $r ($mode): $PODS pods, 64 at a time, B's tokens again (the API server's token cache)"
    load "C$r.$mode" 64
  done
  kill -TERM "$SIGNER_PID"; wait "$SIGNER_PID" 2>/dev/null || true; SIGNER_PID=
  rm -rf "$W/signer"
done

echo "== the floor: TokenReviews of new tokens straight to the API server (python, one kept-alive connection per thread)"
fresh_tokens review1
a0=$(cpu_s "$APISERVER_PID")
python3 "$ROOT/scripts/lib/kube_bench.py" reviews "$KUBECONFIG" "$W/tokens" 200 1 >"$RAW/kube-signer-review1.json"
a1=$(cpu_s "$APISERVER_PID")
fresh_tokens review64
a2=$(cpu_s "$APISERVER_PID")
python3 "$ROOT/scripts/lib/kube_bench.py" reviews "$KUBECONFIG" "$W/tokens" "$PODS" 64 >"$RAW/kube-signer-review64.json"
a3=$(cpu_s "$APISERVER_PID")
for f in review1:"$a0":"$a1" review64:"$a2":"$a3"; do
  IFS=: read -r n c0 c1 <<<"$f"
  jq -c --argjson c "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }')" '. + {apiserver_cpu_s: $c}' \
    "$RAW/kube-signer-$n.json" >"$W/x" && mv "$W/x" "$RAW/kube-signer-$n.json"
  echo "   $n: $(cat "$RAW/kube-signer-$n.json")"
done

# The notes a person wrote under the marker line of the old file stay; the tables above it are new.
MARK='<!-- written by hand from here on: bench-kube-signer.sh keeps it -->'
sed -n "/^$MARK\$/,\$p" "$OUT/kube-signer.md" 2>/dev/null >"$W/notes.md" || true
python3 - "$RAW" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u '+%Y-%m-%d %H:%M UTC')" \
  "$(kubectl version -o json 2>/dev/null | jq -r .serverVersion.gitVersion)" "$PODS" "$IDLE_API" >"$W/kube-signer.md" <<'EOF'
import glob, json, os, re, statistics, sys
raw, cores, load, date, kver, pods, idle_api = sys.argv[1:8]
runs = {os.path.basename(p)[12:-5]: json.load(open(p)) for p in glob.glob(f"{raw}/kube-signer-*.json")}
tok_s = [d["tokens_s"] for k, d in runs.items() if k.startswith("tokens-")]
setup = runs.get("setup", {})
RUN = re.compile(r"([ABC])(\d+)\.(on-miss|never|always)")
rows = ["| --token-review | run | pods | at once | ok | wall s | certs/s | p50 ms | p99 ms | max ms | API req/cert | signer CPU s | kube-apiserver CPU s (ms/cert) | etcd CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
order = {"on-miss": 0, "never": 1, "always": 2}
for k in sorted((k for k in runs if RUN.fullmatch(k)), key=lambda k: (order[RUN.fullmatch(k)[3]], RUN.fullmatch(k)[2], RUN.fullmatch(k)[1])):
    d, (run, n, mode) = runs[k], RUN.fullmatch(k).groups()
    rows.append(f"| {mode} | {run}{n} | {d['pods']} | {d['concurrency']} | {d['ok']} | {d['wall_s']} | {d['certs_per_s']:.0f} | {d['p50_ms']} | "
                f"{d['p99_ms']} | {d['max_ms']} | {d['api_requests_per_cert']} | {d['signer_cpu_s']} | "
                f"{d['apiserver_cpu_s']} ({1000 * d['apiserver_cpu_s'] / max(d['issued'], 1):.2f}) | {d['etcd_cpu_s']} |")
rv = [runs[k] for k in ("review1", "review64") if k in runs]
rrows = ["| TokenReviews | at once | wall s | reviews/s | p50 ms | p99 ms | kube-apiserver CPU s (ms/review) |", "|---|---|---|---|---|---|---|"]
for d in rv:
    rrows.append(f"| {d['reviews']} | {d['concurrency']} | {d['wall_s']} | {d['reviews_per_s']} | {d['p50_ms']} | {d['p99_ms']} | "
                 f"{d['apiserver_cpu_s']} ({1000 * d['apiserver_cpu_s'] / d['reviews']:.2f}) |")
ab = lambda mode: [runs[k] for k in runs if RUN.fullmatch(k) and RUN.fullmatch(k)[1] in "AB" and RUN.fullmatch(k)[3] == mode]
runs_ab = ab("always") or ab("on-miss")  # never-reviewed tokens
worst = max((d["wall_s"] for d in runs_ab), default=float("nan"))
req = max((d["api_requests_per_cert"] for d in runs_ab), default=float("nan"))
allok = all(d["ok"] == d["pods"] for d in runs_ab)
local = ab("on-miss")
lworst = max((d["wall_s"] for d in local), default=float("nan"))
lreq = max((d["api_requests_per_cert"] for d in local), default=float("nan"))
lapi = max((1000 * d["apiserver_cpu_s"] / max(d["issued"], 1) for d in local), default=float("nan"))
lok = all(d["ok"] == d["pods"] for d in local)
goal = lambda ok: "met" if ok else "NOT met"
print(f"""## raytls serve --kubernetes: {pods} real Pod objects on a real API server

{date}; {cores} cores (shared), load average at the end {load}; kube-apiserver {kver}
(scripts/kube.sh: etcd, kube-apiserver, controller-manager, scheduler, KubeRay operator, all on
this machine). Release build. Produced by `bash scripts/bench-kube-signer.sh` (see its header).

Setup, off the clock: {setup.get('pods')} Pods owned by one RayCluster (suspend: true), created in
{setup.get('create_s')} s, status.podIPs set ({setup.get('first_ip')} .. {setup.get('last_ip')}: the API
server accepts loopback pod IPs) in {setup.get('status_s')} s; before each run A and B, one new
pod-bound TokenRequest per pod (audience raytls), {min(tok_s, default=0)}-{max(tok_s, default=0)} s for all;
16 client threads. C reuses B's tokens: the API server caches a successful token review for
10 s, so C shows the signer with the review cached, A and B without. Each pod: its own source address,
a new TCP + TLS connection, its own `Authorization: Bearer` token, one POST /v1/sign; it counts
only if the answer is 200 and names its address. Every run uses the same pods (new keys, CSRs).
CPU: /proc utime+stime of each process over the run; signer_load, the signer, kube-apiserver and
etcd share the 2 cores. kube-apiserver at rest (before the setup): {idle_api} CPU s per s.

{chr(10).join(rows)}

The floor: TokenReviews (audience raytls, new tokens of the pods) sent straight to the API server from
python (one kept-alive connection per thread), the request the signer makes once per certificate:

{chr(10).join(rrows)}

| goal | measured (worst run of A and B: new tokens) | |
|---|---|---|
| issue 18: {pods} pods certified in < 3 s (always) | {worst} s{'' if allok else ' (some pods failed)'} | {goal(worst < 3 and allok)} |
| issue 18: <= 1.2 API requests per certificate (always) | {req} | {goal(req <= 1.2)} |
| issue 26: 0 API requests per certificate (on-miss) | {lreq} | {goal(lreq == 0)} |
| issue 26: {pods} pods in < 0.5 s (on-miss) | {lworst} s{'' if lok else ' (some pods failed)'} | {goal(lworst < 0.5 and lok)} |
| issue 26: kube-apiserver CPU per certificate near 0 (on-miss) | {lapi:.2f} ms | |
""")
EOF
cat "$W/kube-signer.md" "$W/notes.md" >"$OUT/kube-signer.md"
cat "$W/kube-signer.md"
