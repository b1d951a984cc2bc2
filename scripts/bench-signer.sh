#!/usr/bin/env bash
# bench-signer.sh - how fast `raytls serve` certifies pods, on this machine (bench.sh case 8).
#
# A release `raytls serve` on 127.0.0.1 (its CA, a head and a worker token, the audit log to a
# file as in production) and benches/support/signer_load.rs as the pods: each pod binds its
# own loopback source address 127.0.x.y (the signer sees it as the pod IP and certifies it),
# opens a new TCP + TLS connection (a full handshake: no session resumption) and POSTs one
# CSR; a pod counts only if the answer is 200 and its certificate names its address. Keys and CSRs are made before the clock starts (pods make them on
# their own nodes). The client runs on one thread of the same 2 cores.
#   A  64 pods at a time, SIGNER_BENCH_PODS (default 2,000) pods: certificates/s, latency
#   B  a 1,000-pod bootstrap: all 1,000 pods ask at once; time until the last has its cert
#   C  as A, but GET /healthz instead of a CSR: the same TCP + TLS connection without the
#      signing, so C's signer CPU per connection vs A's says where the signer's time goes
# Each case runs SIGNER_BENCH_RUNS times (default 3; the table shows every run), each run
# from addresses not used before. Also: the signer's peak RSS (VmHWM in /proc, over the
# whole bench), its CPU time per certificate (/proc utime+stime), and its own view of the
# time spent per request (the latency histogram of GET /metrics).
# Goals (issue 12): >= 1,000 certs/s at 64 concurrent, p99 < 50 ms, 1,000 pods < 2 s, RSS < 30 MB.
#
# Writes benches/signer-results.md and benches/raw/signer-*.json; prints the table.
# Env: BENCH_QUICK=1 (1 run of each, 500 pods in A), SIGNER_BENCH_PODS, SIGNER_BENCH_RUNS,
#      RAYTLS_BIN / SIGNER_LOAD_BIN (default: cargo build --release of both).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/benches; RAW=$OUT/raw; mkdir -p "$RAW"; rm -f "$RAW"/signer-*.json
PODS=${SIGNER_BENCH_PODS:-2000}; RUNS=${SIGNER_BENCH_RUNS:-3}
[ "${BENCH_QUICK:-0}" = 1 ] && { PODS=${SIGNER_BENCH_PODS:-500}; RUNS=1; }
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
command -v curl >/dev/null || { apt-get install -y curl >/dev/null 2>&1 || { apt-get update && apt-get install -y curl; } >/dev/null 2>&1; }

if [ -z "${RAYTLS_BIN:-}" ] || [ -z "${SIGNER_LOAD_BIN:-}" ]; then
  echo "== building release raytls and the signer_load example"
  cargo build --release --quiet --bin raytls --example signer_load
fi
RT=${RAYTLS_BIN:-$ROOT/target/release/raytls}
LOAD=${SIGNER_LOAD_BIN:-$ROOT/target/release/examples/signer_load}
W=$(mktemp -d /tmp/raytls-bench-signer.XXXXXX)
SERVE_PID=""
cleanup() { [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

"$RT" ca create --out "$W/ca" >/dev/null
"$RT" token generate --out "$W/worker.token" >/dev/null
"$RT" token generate --out "$W/head.token" >/dev/null
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$RT" serve --ca "$W/ca" --listen "127.0.0.1:$PORT" --token "worker=$W/worker.token" \
  --token "head=$W/head.token" --audit-log "$W/audit.jsonl" 2>"$W/serve.log" &
SERVE_PID=$!
for _ in $(seq 50); do curl -sf --cacert "$W/ca/ca.crt" "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf --cacert "$W/ca/ca.crt" "https://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$W/serve.log"; echo "bench-signer: the signer did not start" >&2; exit 1; }
rss_mb() { awk -v k="$1:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$SERVE_PID/status"; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' "/proc/$SERVE_PID/stat"; }
IDLE_RSS=$(rss_mb VmRSS)

NEXT=1   # the next unused pod number (-> address 127.0.x.y)
# load NAME PODS CONCURRENCY [--healthz]: one run; JSON into benches/raw/signer-NAME.json, plus
# the signer's CPU time during it
load() {
  local name=$1 pods=$2 conc=$3 c0 c1; shift 3
  c0=$(cpu_s)
  "$LOAD" --signer "127.0.0.1:$PORT" --ca "$W/ca/ca.crt" --token "$W/worker.token" \
    --pods "$pods" --concurrency "$conc" --first "$NEXT" "$@" >"$RAW/signer-$name.json" 2>"$W/load.err" ||
    { cat "$RAW/signer-$name.json" "$W/load.err" >&2; echo "bench-signer: run $name had failures" >&2; }
  c1=$(cpu_s)
  NEXT=$((NEXT + pods))
  python3 - "$RAW/signer-$name.json" "$c0" "$c1" <<'EOF'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d["signer_cpu_s"] = round(float(sys.argv[3]) - float(sys.argv[2]), 3)
d["signer_cpu_ms_per_cert"] = round(1000 * d["signer_cpu_s"] / max(d["ok"], 1), 3)
json.dump(d, open(p, "w"))
EOF
  echo "   $name: $(cat "$RAW/signer-$name.json")"
}

echo "== warm-up (64 pods, not counted)"
load warmup 64 64
for r in $(seq "$RUNS"); do
  echo "== A run $r: $PODS pods, 64 at a time"
  load "A$r" "$PODS" 64
done
for r in $(seq "$RUNS"); do
  echo "== B run $r: 1,000-pod bootstrap, all at once"
  load "B$r" 1000 1000
done
for r in $(seq "$RUNS"); do
  echo "== C run $r: $PODS connections, 64 at a time, GET /healthz (TLS without signing)"
  load "C$r" "$PODS" 64 --healthz
done
PEAK_RSS=$(rss_mb VmHWM)
curl -sf --cacert "$W/ca/ca.crt" "https://127.0.0.1:$PORT/metrics" >"$RAW/signer-metrics.txt" || true
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true; SERVE_PID=""
ISSUED=$(grep -c '"result":"issued"' "$W/audit.jsonl" || true)

python3 - "$RAW" "$IDLE_RSS" "$PEAK_RSS" "$ISSUED" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/signer-results.md" <<'EOF'
import glob, json, os, re, statistics, sys
raw, idle, peak, issued, cores, load = sys.argv[1:7]
runs = {os.path.basename(p)[7:-5]: json.load(open(p)) for p in glob.glob(f"{raw}/signer-*.json")}
def table(prefix):
    rows = [runs[k] for k in sorted(runs) if re.fullmatch(prefix + r"\d+", k)]
    out = ["| run | pods | at once | ok | wall s | certs/s | p50 ms | p90 ms | p99 ms | max ms | signer CPU ms/cert |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, d in enumerate(rows, 1):
        out.append(f"| {prefix}{i} | {d['pods']} | {d['concurrency']} | {d['ok']} | {d['wall_s']} | {d['certs_per_s']:.0f} | "
                   f"{d['p50_ms']} | {d['p90_ms']} | {d['p99_ms']} | {d['max_ms']} | {d['signer_cpu_ms_per_cert']} |")
    return rows, "\n".join(out)
a, ta = table("A")
b, tb = table("B")
c, tc = table("C")
med = lambda rows, k: statistics.median(d[k] for d in rows) if rows else float("nan")
# The signer's own time per request (decide + sign, after TLS), from its /metrics histogram.
hist = {}
try:
    for line in open(f"{raw}/signer-metrics.txt"):
        m = re.match(r'\S*_bucket\{(?:[^}]*,)?le="([^"]+)"[^}]*\} (\d+)', line)
        if m and "seconds" in line:
            hist[m.group(1)] = hist.get(m.group(1), 0) + int(m.group(2))
except OSError:
    pass
def q(p):
    if not hist:
        return "n/a"
    total = hist.get("+Inf", max(hist.values()))
    for le in sorted((k for k in hist if k != "+Inf"), key=float):
        if hist[le] >= p * total:
            return f"<= {float(le) * 1000:g} ms"
    return "> the largest bucket"
goal = lambda ok: "met" if ok else "NOT met"
ca, pa, wb = med(a, "certs_per_s"), med(a, "p99_ms"), med(b, "wall_s")
print(f"""## raytls serve: certificates for simulated pods ({cores} cores, load average at the end {load})

Release build; each pod a new TCP + TLS connection from its own 127.0.x.y; ECDSA P-256 CA and
keys; audit log to a file. Client and signer share the machine (the client on one thread).

### A: 64 pods at a time
{ta}

### B: 1,000-pod bootstrap (all at once)
{tb}

### C: as A, GET /healthz instead of a CSR (TCP + TLS + HTTP, no signing; certs/s = answers/s)
{tc}

Signer CPU per certificate (A, median) {med(a, "signer_cpu_ms_per_cert")} ms, of which a connection
without signing (C, median) costs {med(c, "signer_cpu_ms_per_cert")} ms: the rest,
{med(a, "signer_cpu_ms_per_cert") - med(c, "signer_cpu_ms_per_cert"):.3f} ms, is reading and checking the CSR, signing,
the JSON answer and the audit line. At that cost one core certifies at most
{1000 / max(med(a, "signer_cpu_ms_per_cert"), 1e-9):.0f} pods/s (the signer runs a runtime thread per core: serve --threads).

Signer RSS: {idle} MB idle after start, {peak} MB peak (VmHWM) over the whole bench;
{issued} certificates issued in all (audit log lines). The signer's own time per request
(after the TLS handshake: read, check, sign, answer; /metrics histogram): p50 {q(0.5)}, p99 {q(0.99)}.

| goal (issue 12) | measured (median of runs) | |
|---|---|---|
| >= 1,000 certificates/s with 64 at once | {ca:.0f}/s | {goal(ca >= 1000)} |
| p99 < 50 ms with 64 at once | {pa} ms | {goal(pa < 50)} |
| 1,000-pod bootstrap < 2 s | {wb} s | {goal(wb < 2)} |
| signer RSS < 30 MB | {peak} MB peak | {goal(float(peak) < 30)} |
""")
EOF
cat "$OUT/signer-results.md"
