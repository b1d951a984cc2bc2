#!/usr/bin/env bash
# bench.sh - raytls against what KubeRay users run today, side by side, in one run.
#
# Every case runs raytls and its incumbent in the same hyperfine invocation on identical
# inputs, so the ratio is taken under the same machine load (absolute times drift on shared
# machines; ratios much less). Peak RSS is the largest process's (GNU time %M).
#   1 init-container issuance: raytls init head  vs  ../shared/reference/gencert_head.sh
#   2 CA + one head cert from scratch: raytls ca create + issue  vs  the KubeRay guide's openssl
#   3 100 worker certs from one CA, 100 processes: raytls issue worker  vs  gencert_worker.sh
#   4 healthy check against a real Ray TLS head: raytls health-check  vs  ray health-check
#   5 failing check (client cert from another CA; name not in the cert): time to a verdict
#   6 1,000 TLS endpoints on loopback in one raytls health-check call
#   7 binary size (release, stripped) and cold `cargo build --release` time
#   8 the signer: `raytls serve` certifying simulated pods, each from its own 127.0.x.y
#     (scripts/bench-signer.sh: 64 at a time, and a 1,000-pod bootstrap; its own table)
#   9 the signer against cfssl and step-ca, built from their Go modules (needs Go), measured
#     the same way in one interleaved run (scripts/bench-peers.sh: benches/peers.md)
# `bash scripts/bench.sh --peers` runs case 9 alone.
# Writes benches/results.md (the table) and benches/raw/*.json (hyperfine) next to the
# criterion benches, prints the table; exits 1 if a case failed (the table has the others).
#
# Env: RAYTLS_BENCH_QUICK=1 (few runs: a smoke test), RAYTLS_BENCH_SKIP_RAY=1 (skip cases
#      4-5), RAYTLS_BENCH_SKIP_COLD=1 (skip the cold build), RAYTLS_HARNESS (default
#      ../shared/harness/ray_tls_interop.sh), RAYTLS_REFERENCE (default ../shared/reference),
#      RAYTLS_BENCH_SKIP_SIGNER=1 (skip case 8), RAYTLS_BENCH_SKIP_PEERS=1 (skip case 9).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
case "${1:-}" in
  --peers) exec bash "$ROOT/scripts/bench-peers.sh" ;;
  "") ;;
  *) echo "usage: bash scripts/bench.sh [--peers]" >&2; exit 2 ;;
esac
HARNESS=${RAYTLS_HARNESS:-$ROOT/../shared/harness/ray_tls_interop.sh}
REF=${RAYTLS_REFERENCE:-$ROOT/../shared/reference}
OUT=$ROOT/benches; RAW=$OUT/raw; mkdir -p "$RAW"; rm -f "$RAW"/*.json "$RAW"/rows.tsv
T0=$SECONDS; FAILED_CASES=()
# Case 6 holds 1,000 listeners plus their connections in one process.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# -- tools -----------------------------------------------------------------------------
for pkg in hyperfine time openssl; do
  bin=$pkg; [ "$pkg" = time ] && bin=/usr/bin/time
  command -v "$bin" >/dev/null && continue
  echo "== installing $pkg"
  { apt-get install -y "$pkg" || { apt-get update && apt-get install -y "$pkg"; }; } >/dev/null 2>&1 ||
    { echo "bench: cannot install $pkg (apt-get install -y $pkg)" >&2; exit 2; }
done
if [ "${RAYTLS_BENCH_QUICK:-0}" = 1 ]; then RUNS=(--runs 3); SLOW_RUNS=(--runs 1); RAY_FAIL_RUNS=1
else RUNS=(--warmup 3 --min-runs 20); SLOW_RUNS=(--runs 3); RAY_FAIL_RUNS=2; fi  # a failing ray check takes ~40 s

echo "== building release binaries"
cargo build --release --quiet -p raytls --bin raytls --example signer_load || exit 1
cargo build --release --quiet -p fake_gcs --bin gcs_fleet || exit 1
RT=$ROOT/target/release/raytls
FLEET=$ROOT/target/release/gcs_fleet   # tests/fake_gcs/src/bin/gcs_fleet.rs
W=$(mktemp -d /tmp/raytls-bench.XXXXXX); trap 'rm -rf "$W"' EXIT

# rss CMD [PREPARE]: peak RSS in MB of the largest process CMD runs (after PREPARE, as in
# the timed runs, so that e.g. an output dir is fresh)
rss() {
  [ -n "${2:-}" ] && bash -c "$2"
  /usr/bin/time -f %M -o "$W/rss" bash -c "$1" >/dev/null 2>&1 || echo "bench: warning: RSS run failed: $1" >&2
  tail -1 "$W/rss" | awk '{printf "%.1f", $1/1024}'
}
# case_pair ID TITLE SHELL PREPARE RAYTLS_CMD INCUMBENT_NAME INCUMBENT_CMD [hyperfine options...]
# SHELL is bash, or none (hyperfine -N: no shell wrapper around either command, for commands
# of a few ms where spawning bash would be a third of what is measured).
case_pair() {
  local id=$1 title=$2 sh=$3 prep=$4 rcmd=$5 iname=$6 icmd=$7; shift 7
  echo "== $id: $title"
  hyperfine --style basic --shell "$sh" --prepare "bash -c '$prep'" "$@" --export-json "$RAW/$id.json" \
    -n raytls "$rcmd" -n "$iname" "$icmd" >"$W/hf.log" 2>&1 || { cat "$W/hf.log"; echo "bench: case $id failed" >&2; FAILED_CASES+=("$id"); return 0; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$title" "$(rss "$rcmd" "$prep")" "$(rss "$icmd" "$prep")" "$iname" "" >>"$RAW/rows.tsv"
}

# -- inputs: an openssl RSA CA as KubeRay's guide makes it (the reference scripts need it) --
mkdir -p "$W/ca"
openssl req -x509 -sha256 -days 3650 -nodes -newkey rsa:2048 -subj "/CN=*.kuberay.com/C=US/L=San Francisco" \
  -keyout "$W/ca/ca.key" -out "$W/ca/ca.crt" 2>/dev/null
export POD_IP=10.244.0.5 FQ_RAY_IP=raycluster-tls-head-svc.default.svc.cluster.local
PREP="rm -rf $W/o && mkdir -p $W/o"

# 1. init-container issuance, fresh output dir each run, same CA, POD_IP, FQ_RAY_IP; no shell
#    wrapper (the reference is itself `sh gencert_head.sh`, as its users run it)
case_pair 1 "init container: one head certificate (same RSA CA)" none "$PREP" \
  "$RT init head --ca $W/ca --out $W/o" \
  "gencert_head.sh" "env OUT=$W/o CA_DIR=$W/ca sh $REF/gencert_head.sh" \
  --output null "${RUNS[@]}"

# 2. CA + one head certificate from scratch
GUIDE="cd $W/o && openssl req -x509 -sha256 -days 3650 -nodes -newkey rsa:2048 -subj '/CN=*.kuberay.com' -keyout ca.key -out ca.crt 2>/dev/null \
 && openssl genrsa -out tls.key 2048 2>/dev/null \
 && openssl req -new -key tls.key -out tls.csr -subj '/CN=*.ray.io' \
 && printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,DNS:$FQ_RAY_IP,IP:127.0.0.1,IP:$POD_IP\n' > ext.conf \
 && openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out tls.crt -days 365 -sha256 -extfile ext.conf 2>/dev/null"
case_pair 2 "CA + one head certificate from scratch" bash "$PREP" \
  "$RT ca create --out $W/o/ca >/dev/null && $RT issue head --ca $W/o/ca --out $W/o/head >/dev/null" \
  "openssl (KubeRay guide)" "$GUIDE" \
  "${RUNS[@]}"

# 3. 100 worker certificates from one CA, one process each
LOOP='for i in $(seq 100); do POD_IP=10.244.1.$i'
case_pair 3 "100 worker certificates, 100 processes" bash "$PREP" \
  "$LOOP $RT issue worker --ca $W/ca --out $W/o/\$i >/dev/null || exit 1; done" \
  "gencert_worker.sh" "$LOOP; mkdir -p $W/o/\$i && OUT=$W/o/\$i CA_DIR=$W/ca sh $REF/gencert_worker.sh >/dev/null 2>&1 || exit 1; done" \
  "${SLOW_RUNS[@]}"

# 4-5. against a real Ray head, started once by the harness; the measurements run as its
# --client-cmd and write their JSON here (the harness' namespace shares the filesystem).
if [ "${RAYTLS_BENCH_SKIP_RAY:-0}" != 1 ]; then
  "$RT" ca create --out "$W/rayca" >/dev/null && "$RT" issue head --ca "$W/rayca" --out "$W/rayhead" >/dev/null &&
  "$RT" ca create --out "$W/otherca" --name other >/dev/null && "$RT" issue client --ca "$W/otherca" --out "$W/other" >/dev/null
  # One script per case: the harness gives each --client-cmd 120 s, and a failing
  # `ray health-check` takes ~40 s per run.
  cat >"$W/ray-env.sh" <<EOF
set -u
RT=$RT; RAW=$RAW; W=$W; # time exits with the command's status, and cases 5 measure failing checks on purpose
RSS() { /usr/bin/time -f %M -o \$W/rss.\$1 bash -c "\$2" >/dev/null 2>&1; return 0; }
export RAY_USE_TLS=1 RAY_TLS_CA_CERT=\$RAY_TLS_CA RAY_TLS_SERVER_CERT=\$RAY_TLS_CERT RAY_TLS_SERVER_KEY=\$RAY_TLS_KEY
BAD="RAY_TLS_SERVER_CERT=\$W/other/tls.crt RAY_TLS_SERVER_KEY=\$W/other/tls.key"
EOF
  cat >"$W/ray-case4.sh" <<EOF
. $W/ray-env.sh
hyperfine --style basic --shell bash ${RUNS[*]} --export-json \$RAW/4.json \
  -n raytls "\$RT health-check --address \$RAY_TLS_ADDR" -n "ray health-check" "ray health-check --address \$RAY_TLS_ADDR" >\$W/hf4.log 2>&1 || exit 1
RSS 4r "\$RT health-check --address \$RAY_TLS_ADDR"; RSS 4i "ray health-check --address \$RAY_TLS_ADDR"
EOF
  cat >"$W/ray-case5a.sh" <<EOF
. $W/ray-env.sh
hyperfine --style basic --shell bash -i --runs $RAY_FAIL_RUNS --export-json \$RAW/5a.json \
  -n raytls "\$BAD \$RT health-check --address \$RAY_TLS_ADDR" -n "ray health-check" "\$BAD ray health-check --address \$RAY_TLS_ADDR" >\$W/hf5a.log 2>&1 || exit 1
RSS 5ar "\$BAD \$RT health-check --address \$RAY_TLS_ADDR"
EOF
  cat >"$W/ray-case5b.sh" <<EOF
. $W/ray-env.sh
hyperfine --style basic --shell bash -i --runs $RAY_FAIL_RUNS --export-json \$RAW/5b.json \
  -n raytls "\$RT health-check --address not-in-cert:\$RAY_TLS_PORT" -n "ray health-check" "ray health-check --address not-in-cert:\$RAY_TLS_PORT" >\$W/hf5b.log 2>&1 || exit 1
RSS 5br "\$RT health-check --address not-in-cert:\$RAY_TLS_PORT"
EOF
  echo "== 4-5: starting a real Ray TLS head (harness), then measuring inside it"
  if bash "$HARNESS" --certs "$W/rayhead" --no-plaintext-check --hosts-entry not-in-cert \
       --client-cmd "bash $W/ray-case4.sh" --client-cmd "bash $W/ray-case5a.sh" \
       --client-cmd "bash $W/ray-case5b.sh" >"$W/harness.log" 2>&1; then
    mb() { tail -1 "$W/rss.$1" | awk '{printf "%.1f", $1/1024}'; }  # time adds a status line for a failing command
    printf '4\t%s\t%s\t%s\tray health-check\t\n' "healthy check, real Ray 2.60 TLS head" "$(mb 4r)" "$(mb 4i)" >>"$RAW/rows.tsv"
    printf '5a\t%s\t%s\t%s\tray health-check\t\n' "failing check: client cert from another CA (time to verdict)" "$(mb 5ar)" "" >>"$RAW/rows.tsv"
    printf '5b\t%s\t%s\t%s\tray health-check\t\n' "failing check: name not in the server cert (time to verdict)" "$(mb 5br)" "" >>"$RAW/rows.tsv"
  else
    tail -20 "$W/harness.log"; echo "bench: real-Ray cases failed" >&2; FAILED_CASES+=(4 5a 5b)
  fi
fi

# 6. 1,000 TLS endpoints on loopback, one health-check call
echo "== 6: 1,000 loopback endpoints"
"$RT" ca create --out "$W/fleetca" >/dev/null && "$RT" issue client --ca "$W/fleetca" --out "$W/fleetclient" >/dev/null
"$FLEET" --ca "$W/fleetca" --count 1000 --ports-file "$W/ports" >"$W/fleet.log" 2>&1 &
FLEET_PID=$!
for _ in $(seq 100); do [ -s "$W/ports" ] && break; sleep 0.1; done
ADDRS=$(sed 's/^/--address 127.0.0.1:/' "$W/ports" | tr '\n' ' ')
HC6="$RT health-check --ca $W/fleetca/ca.crt --cert $W/fleetclient/tls.crt --key $W/fleetclient/tls.key --timeout 10s $ADDRS"
hyperfine --style basic --shell bash "${SLOW_RUNS[@]}" --export-json "$RAW/6.json" -n raytls "$HC6 >/dev/null" >"$W/hf6.log" 2>&1 ||
  { cat "$W/hf6.log"; echo "bench: case 6 failed" >&2; FAILED_CASES+=(6); }
printf '6\t%s\t%s\t\t\t\n' "1,000 TLS endpoints on loopback, one call" "$(rss "$HC6")" >>"$RAW/rows.tsv"
kill "$FLEET_PID" 2>/dev/null || true; wait "$FLEET_PID" 2>/dev/null || true

# 7. binary size and cold build
SIZE=$(stat -c %s "$RT")
COLD=""
if [ "${RAYTLS_BENCH_SKIP_COLD:-0}" != 1 ]; then
  echo "== 7: cold cargo build --release (own target dir)"
  t=$SECONDS; CARGO_TARGET_DIR=$W/cold cargo build --release --quiet --bin raytls && COLD=$((SECONDS-t))
fi

# 8. the signer (scripts/bench-signer.sh: its own table, appended to results.md)
SIGNER_OK=0
if [ "${RAYTLS_BENCH_SKIP_SIGNER:-0}" != 1 ]; then
  echo "== 8: raytls serve, simulated pods (scripts/bench-signer.sh)"
  if RAYTLS_BIN=$RT SIGNER_LOAD_BIN=$ROOT/target/release/examples/signer_load \
       bash "$ROOT/scripts/bench-signer.sh" >"$W/signer.log" 2>&1; then SIGNER_OK=1
  else tail -20 "$W/signer.log"; echo "bench: case 8 failed" >&2; fi
fi

# 9. the signer against cfssl and step-ca (scripts/bench-peers.sh: benches/peers.md)
PEERS_OK=0
if [ "${RAYTLS_BENCH_SKIP_PEERS:-0}" != 1 ]; then
  echo "== 9: raytls serve, cfssl and step-ca side by side (scripts/bench-peers.sh)"
  if RAYTLS_BIN=$RT SIGNER_LOAD_BIN=$ROOT/target/release/examples/signer_load \
       BENCH_QUICK=${RAYTLS_BENCH_QUICK:-0} bash "$ROOT/scripts/bench-peers.sh" >"$W/peers.log" 2>&1; then PEERS_OK=1
  else tail -20 "$W/peers.log"; echo "bench: case 9 failed" >&2; FAILED_CASES+=(9); fi
fi

python3 "$ROOT/scripts/bench_table.py" "$RAW" "$SIZE" "$COLD" "$((SECONDS-T0))" >"$OUT/results.md"
[ "$SIGNER_OK" = 1 ] && { echo; cat "$OUT/signer-results.md"; } >>"$OUT/results.md"
[ "$PEERS_OK" = 1 ] && { echo; sed 's/^# /## /' "$OUT/peers.md"; } >>"$OUT/results.md"
cat "$OUT/results.md"
[ ${#FAILED_CASES[@]} -eq 0 ] || { echo "bench: failed cases: ${FAILED_CASES[*]}" >&2; exit 1; }
