#!/usr/bin/env bash
# bench-peers.sh - raytls serve against the signers users would pick instead, measured the same
# way in one interleaved run (bench.sh --peers; bench.sh case 9).
#
# The peers are built from their Go modules at released versions (scripts/lib/peers-build.sh,
# cached per machine). Each signer gets its own ECDSA P-256 CA (openssl, self-signed) and
# listens on 127.0.0.1 over HTTPS with a P-256 serving certificate from that CA:
#   raytls   raytls serve, a worker token, the audit log to a file (as in bench-signer.sh)
#   cfssl    cfssl serve -tls-cert/-tls-key, one signing profile whose auth_key is a
#            "standard" (HMAC-SHA256) key: POST /api/v1/cfssl/authsign. (Its unauthenticated
#            /api/v1/cfssl/sign would sign for anyone; authsign is the one like a token.)
#            No certificate database (no -db-config); its default log level (info) to a file.
#   step-ca  step-ca with one JWK provisioner and no "db" (step-ca then keeps used token IDs
#            in memory: tokens stay single-use, and no certificate is stored): POST
#            /1.0/sign with a one-time token per pod (a JWT the pod signs with the
#            provisioner's key, as `step ca token` does). Its log (JSON) to a file.
# benches/support/signer_load.rs is every signer's pods: each pod binds its own 127.0.x.y,
# opens a new TCP + TLS connection (no session resumption: a full handshake) and sends one
# request, made (key, CSR, token) before the clock starts; a pod counts only if the answer
# is a success and its certificate names the pod's address. The client runs on one thread.
#   A  64 pods at a time, PEERS_BENCH_PODS (default 2,000) pods
#   B  a 1,000-pod bootstrap: all 1,000 at once
# Interleaved: for each of PEERS_BENCH_RUNS rounds (default 3), raytls A+B, cfssl A+B,
# step-ca A+B; the table is the median of the rounds. Per signer: certificates/s, p50/p99,
# its CPU time per certificate (utime+stime of its process in /proc, over the run) and its
# peak RSS (VmHWM, over the whole bench). The load average is recorded at each run.
#
# Writes benches/peers.md and benches/raw/peers-*.json; prints the table. A peer that cannot
# be built or started is reported as such in the table, and the others are still measured.
# Env: BENCH_QUICK=1 (1 round, 500 pods in A), PEERS_BENCH_PODS, PEERS_BENCH_RUNS,
#      PEERS_BENCH_BASELINE=/path/to/an/older/raytls (measured too, as raytls-base; its
#      version column: PEERS_BENCH_BASELINE_NAME),
#      RAYTLS_BIN / SIGNER_LOAD_BIN (default: cargo build --release of both),
#      RAYTLS_SIGNER_THREADS (raytls serve's runtime threads; default: the cores),
#      PEERS_BENCH_NICE (the niceness of signers and pods; default -10 as root, else 0).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/benches; RAW=$OUT/raw; mkdir -p "$RAW"; rm -f "$RAW"/peers-*.json
PODS=${PEERS_BENCH_PODS:-2000}; RUNS=${PEERS_BENCH_RUNS:-3}
[ "${BENCH_QUICK:-0}" = 1 ] && { PODS=${PEERS_BENCH_PODS:-500}; RUNS=1; }
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
for t in curl openssl; do
  command -v $t >/dev/null || { apt-get install -y $t >/dev/null 2>&1 || { apt-get update && apt-get install -y $t; } >/dev/null 2>&1; }
done

if [ -z "${RAYTLS_BIN:-}" ] || [ -z "${SIGNER_LOAD_BIN:-}" ]; then
  echo "== building release raytls and the signer_load example"
  cargo build --release --quiet --bin raytls --example signer_load || exit 1
fi
RT=${RAYTLS_BIN:-$ROOT/target/release/raytls}
LOAD=${SIGNER_LOAD_BIN:-$ROOT/target/release/examples/signer_load}
echo "== building the peers (scripts/lib/peers-build.sh; cached after the first time)"
declare -A BIN=()
while IFS='=' read -r k v; do BIN[$k]=$v; done < <(bash "$ROOT/scripts/lib/peers-build.sh")

# On a shared machine the signers and the pods run ahead of other jobs (nice -10 as root),
# all at the same priority, so that a parallel build disturbs the comparison less.
NICE=(nice -n "${PEERS_BENCH_NICE:-$([ "$(id -u)" = 0 ] && echo -10 || echo 0)}")
# go_version BINARY: "module version, built with goX.Y.Z", read from the binary itself
go_version() {
  local go=/usr/local/go/bin/go
  [ -x "$go" ] || go=$(command -v go) || { basename "$(dirname "$1")"; return; }
  "$go" version -m "$1" | awk '$1 == "mod" { m = $3 } NR == 1 { g = $2 } END { print m ", built with " g }'
}
W=$(mktemp -d /tmp/raytls-bench-peers.XXXXXX)
declare -A PID=() PORT=() CA=() LOADARGS=() VERSION=() NOTE=()
cleanup() {
  local p
  for p in "${PID[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# p256_ca DIR NAME: a self-signed ECDSA P-256 CA, ca.crt and ca.key (PKCS#8)
p256_ca() {
  mkdir -p "$1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 3650 \
    -subj "/CN=$2" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign -keyout "$1/ca.key" -out "$1/ca.crt" 2>/dev/null
}
# serving_cert DIR: a P-256 server certificate for 127.0.0.1 from DIR's CA
serving_cert() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$1/tls.key" -out "$1/tls.csr" 2>/dev/null &&
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$1/ext.cnf" &&
  openssl x509 -req -in "$1/tls.csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" -CAcreateserial -days 30 \
    -sha256 -extfile "$1/ext.cnf" -out "$1/tls.crt" 2>/dev/null
}
# wait_up NAME URL: until the signer answers over TLS, or say why not
wait_up() {
  local i
  for i in $(seq 100); do
    curl -s -o /dev/null --cacert "${CA[$1]}" "$2" && return 0
    kill -0 "${PID[$1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench-peers: $1 did not start:" >&2; tail -5 "$W/$1.log" >&2
  NOTE[$1]="did not start: $(tail -1 "$W/$1.log" | cut -c1-200)"
  kill "${PID[$1]}" 2>/dev/null; unset "PID[$1]"; return 1
}

SIGNERS=()
# -- raytls serve --------------------------------------------------------------------------
D=$W/raytls; p256_ca "$D" "raytls bench CA"
"$RT" token generate --out "$D/worker.token" >/dev/null
PORT[raytls]=$(free_port); CA[raytls]=$D/ca.crt
VERSION[raytls]="$("$RT" --version | awk '{print $2}') (this tree, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
"${NICE[@]}" "$RT" serve --ca "$D" --listen "127.0.0.1:${PORT[raytls]}" --token "worker=$D/worker.token" \
  --audit-log "$D/audit.jsonl" >"$W/raytls.log" 2>&1 &
PID[raytls]=$!
LOADARGS[raytls]="--api raytls --token $D/worker.token"
wait_up raytls "https://127.0.0.1:${PORT[raytls]}/healthz" && SIGNERS+=(raytls)

# -- optionally an older raytls (PEERS_BENCH_BASELINE=/path/to/raytls), for before/after -----
if [ -n "${PEERS_BENCH_BASELINE:-}" ]; then
  D=$W/raytls-base; p256_ca "$D" "raytls baseline bench CA"
  "$RT" token generate --out "$D/worker.token" >/dev/null
  PORT[raytls-base]=$(free_port); CA[raytls-base]=$D/ca.crt
  VERSION[raytls-base]=${PEERS_BENCH_BASELINE_NAME:-"baseline: $PEERS_BENCH_BASELINE"}
  "${NICE[@]}" "$PEERS_BENCH_BASELINE" serve --ca "$D" --listen "127.0.0.1:${PORT[raytls-base]}" \
    --token "worker=$D/worker.token" --audit-log "$D/audit.jsonl" >"$W/raytls-base.log" 2>&1 &
  PID[raytls-base]=$!
  LOADARGS[raytls-base]="--api raytls --token $D/worker.token"
  wait_up raytls-base "https://127.0.0.1:${PORT[raytls-base]}/healthz" && SIGNERS+=(raytls-base)
fi

# -- cfssl serve ---------------------------------------------------------------------------
if [ -n "${BIN[cfssl]:-}" ]; then
  D=$W/cfssl; p256_ca "$D" "cfssl bench CA"; serving_cert "$D"
  openssl rand -hex 16 >"$D/auth.key"
  cat >"$D/config.json" <<EOF
{"signing": {"default": {"expiry": "8760h", "auth_key": "pods",
   "usages": ["digital signature", "key encipherment", "server auth", "client auth"]}},
 "auth_keys": {"pods": {"type": "standard", "key": "$(cat "$D/auth.key")"}}}
EOF
  PORT[cfssl]=$(free_port); CA[cfssl]=$D/ca.crt
  VERSION[cfssl]=$(go_version "${BIN[cfssl]}")
  "${NICE[@]}" "${BIN[cfssl]}" serve -address 127.0.0.1 -port "${PORT[cfssl]}" -ca "$D/ca.crt" -ca-key "$D/ca.key" \
    -config "$D/config.json" -tls-cert "$D/tls.crt" -tls-key "$D/tls.key" >"$W/cfssl.log" 2>&1 &
  PID[cfssl]=$!
  LOADARGS[cfssl]="--api cfssl --cfssl-key $D/auth.key"
  wait_up cfssl "https://127.0.0.1:${PORT[cfssl]}/api/v1/cfssl/health" && SIGNERS+=(cfssl)
else
  NOTE[cfssl]="not built (scripts/lib/peers-build.sh failed; see its output above)"
fi

# -- step-ca -------------------------------------------------------------------------------
if [ -n "${BIN[step-ca]:-}" ]; then
  D=$W/step-ca; p256_ca "$D" "step-ca bench CA"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$D/jwk.key" 2>/dev/null
  PORT[step-ca]=$(free_port); CA[step-ca]=$D/ca.crt
  VERSION[step-ca]=$(go_version "${BIN[step-ca]}")
  # The provisioner's public key as a JWK, its kid the RFC 7638 thumbprint (as `step` sets).
  KID=$(python3 - "$D" "${PORT[step-ca]}" <<'EOF'
import base64, hashlib, json, subprocess, sys
d, port = sys.argv[1], sys.argv[2]
der = subprocess.run(["openssl", "pkey", "-in", f"{d}/jwk.key", "-pubout", "-outform", "DER"],
                     check=True, capture_output=True).stdout
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
x, y = b64(der[-64:-32]), b64(der[-32:])
kid = b64(hashlib.sha256(json.dumps({"crv": "P-256", "kty": "EC", "x": x, "y": y},
                                    separators=(",", ":"), sort_keys=True).encode()).digest())
cfg = {"root": f"{d}/ca.crt", "crt": f"{d}/ca.crt", "key": f"{d}/ca.key",
       "address": f"127.0.0.1:{port}", "dnsNames": ["127.0.0.1", "localhost"],
       "logger": {"format": "json"},
       "authority": {"provisioners": [{"type": "JWK", "name": "raytls-bench",
           "key": {"use": "sig", "kty": "EC", "kid": kid, "crv": "P-256", "alg": "ES256",
                   "x": x, "y": y}}]},
       "tls": {"minVersion": 1.2, "maxVersion": 1.3, "renegotiation": False}}
json.dump(cfg, open(f"{d}/ca.json", "w"), indent=1)
print(kid)
EOF
)
  "${NICE[@]}" "${BIN[step-ca]}" "$D/ca.json" >"$W/step-ca.log" 2>&1 &
  PID[step-ca]=$!
  LOADARGS[step-ca]="--api step-ca --jwk-key $D/jwk.key --jwk-kid $KID --provisioner raytls-bench"
  wait_up step-ca "https://127.0.0.1:${PORT[step-ca]}/health" && SIGNERS+=(step-ca)
else
  NOTE[step-ca]="not built (scripts/lib/peers-build.sh failed; see its output above)"
fi

cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' "/proc/$1/stat"; }
NEXT=1   # the next unused pod number (-> address 127.0.x.y)
FAILED=0
# load SIGNER RUN PODS CONCURRENCY: one run into benches/raw/peers-SIGNER-RUN.json, with the
# signer's CPU time over it and the load average before and after
load() {
  local s=$1 run=$2 pods=$3 conc=$4 c0 c1 l0 l1 f=$RAW/peers-$1-$2.json
  l0=$(cut -d' ' -f1 /proc/loadavg); c0=$(cpu_s "${PID[$s]}")
  # shellcheck disable=SC2086  # LOADARGS holds several arguments, none with spaces
  "${NICE[@]}" "$LOAD" --signer "127.0.0.1:${PORT[$s]}" --ca "${CA[$s]}" ${LOADARGS[$s]} \
    --pods "$pods" --concurrency "$conc" --first "$NEXT" >"$f" 2>"$W/load.err" ||
    { cat "$W/load.err" >&2; echo "bench-peers: $s run $run had failures" >&2; FAILED=1; }
  c1=$(cpu_s "${PID[$s]}"); l1=$(cut -d' ' -f1 /proc/loadavg)
  NEXT=$((NEXT + pods))
  [ -s "$f" ] || echo '{"ok": 0, "failed": -1}' >"$f"
  python3 - "$f" "$c0" "$c1" "$s" "$run" "$l0" "$l1" <<'EOF'
import json, sys
f, c0, c1, s, run, l0, l1 = sys.argv[1:]
d = json.load(open(f))
d.update(signer=s, run=run, load_before=float(l0), load_after=float(l1),
         signer_cpu_s=round(float(c1) - float(c0), 3))
d["signer_cpu_ms_per_cert"] = round(1000 * d["signer_cpu_s"] / max(d["ok"], 1), 3)
json.dump(d, open(f, "w"))
EOF
  echo "   $s $run: $(cat "$f")"
}

echo "== warm-up (64 pods each, not counted)"
for s in "${SIGNERS[@]}"; do load "$s" warmup 64 64 >/dev/null; done
FAILED=0
for r in $(seq "$RUNS"); do
  for s in "${SIGNERS[@]}"; do
    echo "== round $r, $s: A ($PODS pods, 64 at a time), B (1,000 at once)"
    load "$s" "A$r" "$PODS" 64
    load "$s" "B$r" 1000 1000
  done
done
{
  for s in raytls ${PEERS_BENCH_BASELINE:+raytls-base} cfssl step-ca; do
    rss=""; [ -n "${PID[$s]:-}" ] && rss=$(awk '$1 == "VmHWM:" { printf "%.1f", $2 / 1024 }' "/proc/${PID[$s]}/status")
    printf '%s\t%s\t%s\t%s\n' "$s" "${VERSION[$s]:-}" "$rss" "${NOTE[$s]:-}"
  done
} >"$W/signers.tsv"

python3 - "$RAW" "$W/signers.tsv" "$(nproc)" "$(date -u '+%Y-%m-%d %H:%M UTC')" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
  "$(free -g | awk '/Mem:/ {print $2}')" "$(uname -r)" "$RUNS" "$PODS" "${NICE[2]}" >"$OUT/peers.md" <<'EOF'
import glob, json, os, statistics, sys
raw, tsv, cores, date, cpu, mem, kernel, runs, pods, nice = sys.argv[1:11]
signers = [l.rstrip("\n").split("\t") for l in open(tsv)]
data = {}
for p in glob.glob(f"{raw}/peers-*.json"):
    d = json.load(open(p))
    if d.get("run", "warmup") != "warmup":
        data.setdefault(d["signer"], {}).setdefault(d["run"][0], []).append(d)
med = lambda rows, k: statistics.median(r[k] for r in rows) if rows else None
def f(v, fmt="{:.0f}"):
    return "-" if v is None else fmt.format(v)
out = [f"# raytls serve and the signers users would pick instead ({date})", "",
       f"Machine: {cores} cores ({cpu}), {mem} GiB, Linux {kernel}; shared with other jobs (the load",
       "average at each run is in the last table). Client and signers share the machine, all",
       f"at nice {nice}; the client (benches/support/signer_load.rs) runs on one thread.", "",
       f"Median of {runs} interleaved round(s) ({', '.join(s[0] for s in signers if s[1])}; A then B for each). A: {pods} pods,",
       "64 at a time; B: 1,000 pods all at once. Every pod: its own 127.0.x.y, a new TCP + TLS",
       "connection (full handshake, no resumption), one CSR made before the clock starts, and",
       "the answer's certificate must name the pod's address. CPU per certificate is the signer",
       "process's utime+stime over run A divided by the certificates; RSS is its VmHWM over the",
       "whole bench. The client's CPU per pod (every run, below) is what the pods took of the",
       "same two cores.", "",
       "| signer | version | A certs/s | A p50 ms | A p99 ms | A CPU ms/cert | B wall s | B p99 ms | B CPU ms/cert | peak RSS MB |",
       "|---|---|---|---|---|---|---|---|---|---|"]
best = {}
for name, version, rss, note in signers:
    a, b = data.get(name, {}).get("A", []), data.get(name, {}).get("B", [])
    if not a:
        out.append(f"| {name} | {version or '-'} | {note or 'no run'} | | | | | | | |")
        continue
    best[name] = (med(a, "certs_per_s"), med(a, "p99_ms"), med(a, "signer_cpu_ms_per_cert"))
    failed = sum(r.get("failed", 0) for r in a + b)
    out.append(f"| {name} | {version} | {f(med(a, 'certs_per_s'))} | {f(med(a, 'p50_ms'), '{}')} | "
               f"{f(med(a, 'p99_ms'), '{}')} | {f(med(a, 'signer_cpu_ms_per_cert'), '{}')} | "
               f"{f(med(b, 'wall_s'), '{}')} | {f(med(b, 'p99_ms'), '{}')} | "
               f"{f(med(b, 'signer_cpu_ms_per_cert'), '{}')} | {rss or '-'} |"
               + (f" ({failed} pods failed)" if failed else ""))
peers = {k: v for k, v in best.items() if not k.startswith("raytls")}
if "raytls" in best and peers:
    top = max(peers, key=lambda k: peers[k][0])
    r, p = best["raytls"], peers[top]
    ok = lambda c: "met" if c else "NOT met"
    out += ["", "| goal (issue 17) | measured | |", "|---|---|---|",
            f"| certificates/s >= 1.5x the best peer ({top}, {p[0]:.0f}/s) | {r[0]:.0f}/s = {r[0] / p[0]:.2f}x | {ok(r[0] >= 1.5 * p[0])} |",
            f"| p99 no worse than {top}'s ({p[1]} ms) | {r[1]} ms | {ok(r[1] <= p[1])} |",
            f"| signer CPU per certificate <= 0.35 ms | {r[2]} ms | {ok(r[2] <= 0.35)} |"]
out += ["", "How each signer runs (scripts/bench-peers.sh sets them up; all on 127.0.0.1, HTTPS, an",
        "ECDSA P-256 CA made by openssl, an ECDSA P-256 serving certificate, Go's or rustls'",
        "default TLS settings, TLS 1.3 chosen by every client here):", "",
        "- **raytls** `raytls serve --ca DIR --token worker=FILE --audit-log FILE` (threads: the",
        "  cores). `POST /v1/sign {role, csr}` with `Authorization: Bearer <token>`; the signer",
        "  names the certificate itself (the pod's source address, 127.0.0.1, localhost), checks",
        "  the CSR's signature, writes one audit line per decision.",
        *(["- **raytls-base** the same, with an older raytls binary (PEERS_BENCH_BASELINE), for",
           "  before/after under the same load; not a peer in the goal rows."]
          if any(s[0] == "raytls-base" for s in signers) else []),
        "- **cfssl** `cfssl serve -ca -ca-key -config -tls-cert -tls-key` (no certificate",
        "  database). One signing profile (8760h, server+client auth) with a `standard` auth key:",
        "  `POST /api/v1/cfssl/authsign {token: HMAC-SHA256(key, request), request: {certificate_request,",
        "  hosts}}`, the authenticated form of `/api/v1/cfssl/sign` (which, without an auth key,",
        "  signs for anyone). The names come from the request's `hosts` (the pod's address,",
        "  127.0.0.1, localhost); cfssl checks the CSR's signature. Its default (info) log to a file.",
        "- **step-ca** `step-ca ca.json`: root = intermediate = the CA (one P-256 CA, as for the",
        "  others), one JWK provisioner, no `db` (step-ca then keeps the IDs of used tokens in",
        "  memory: a token is still single-use, and no certificate is stored). `POST /1.0/sign",
        "  {csr, ott}`: the one-time token is a JWT (ES256) signed with the provisioner's key, as",
        "  `step ca token` makes it, with `sans` = the CSR's names (the pod's address, 127.0.0.1,",
        "  localhost); one token per request, made before the clock starts, since step-ca refuses",
        "  a token it has seen. Default claims (24 h certificates). Its JSON log to a file.", ""]
out += ["", "Every run:", "",
        "| signer | run | pods | at once | ok | failed | wall s | certs/s | p50 ms | p99 ms | max ms | CPU ms/cert | client CPU ms/pod | load avg before/after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
rows = [d for s in data.values() for k in s.values() for d in k]
for d in sorted(rows, key=lambda d: (d["run"][1:], d["run"][0], [s[0] for s in signers].index(d["signer"]))):
    out.append(f"| {d['signer']} | {d['run']} | {d.get('pods', '-')} | {d.get('concurrency', '-')} | {d['ok']} | "
               f"{d.get('failed', '-')} | {d.get('wall_s', '-')} | {d.get('certs_per_s', '-')} | {d.get('p50_ms', '-')} | "
               f"{d.get('p99_ms', '-')} | {d.get('max_ms', '-')} | {d['signer_cpu_ms_per_cert']} | {d.get('client_cpu_ms_per_pod', '-')} | "
               f"{d['load_before']} / {d['load_after']} |")
print("\n".join(out))
EOF
cat "$OUT/peers.md"
# A peer that could not be built or started is in the table; a run with failed pods fails.
[ "$FAILED" = 0 ] && [[ " ${SIGNERS[*]} " == *" raytls "* ]]
