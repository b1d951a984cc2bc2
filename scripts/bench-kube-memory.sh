#!/usr/bin/env bash
# bench-kube-memory.sh - the memory of `raytls serve --kubernetes` against what the Kubernetes
# cluster holds (issue 26 item 2), on the real API server of scripts/kube.sh.
#
# A release signer (--kubernetes, tokens verified locally: its watches are Ray pods, Services,
# RayClusters, ServiceAccounts, namespaces) starts on an empty cluster; its RSS (VmRSS of
# /proc, after its caches listed and 5 s of quiet) is read, then again after each step, every
# object an API object nobody runs (made straight over HTTPS by scripts/lib/kube_bench.py):
#   1  KUBE_MEM_PLAIN (10,000) pods without a Ray label and KUBE_MEM_SERVICES (5,000) Services
#      in namespace raytls-km-other: what is not Ray. Goal: RSS within 5 MB of the start.
#   2  KUBE_MEM_RAY (10,000) Ray pods (ray.io/node-type=worker) in raytls-km-ray: reported as MB
#      per 1,000 Ray pods.
# Writes benches/kube-signer-memory.md and prints it.
#
# Needs root, python3 + PyYAML, curl, jq, kubectl. Uses the platform if it is up, else brings
# it up and down. Env: KUBE_MEM_PLAIN, KUBE_MEM_SERVICES, KUBE_MEM_RAY, RAYTLS_BIN (default:
# cargo build --release), KUBE_SH.
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/p;}' "${BASH_SOURCE[0]}"; exit 0;; esac
set -euo pipefail
NAME=bench-kube-memory
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
KUBE_SH=${KUBE_SH:-$ROOT/scripts/kube.sh}
# shellcheck source=lib/kube-objects.sh
. "$ROOT/scripts/lib/kube-objects.sh"
PLAIN=${KUBE_MEM_PLAIN:-10000} SERVICES=${KUBE_MEM_SERVICES:-5000} RAY=${KUBE_MEM_RAY:-10000}
if [ -z "${RAYTLS_BIN:-}" ]; then cargo build --release --quiet --bin raytls; fi
RT=${RAYTLS_BIN:-$ROOT/target/release/raytls}

BROUGHT_UP=0
if ! bash "$KUBE_SH" status >/dev/null 2>&1; then
  BROUGHT_UP=1
  bash "$KUBE_SH" up
fi
eval "$(bash "$KUBE_SH" env)"
W=$(mktemp -d "/tmp/$NAME.XXXXXX")
SIGNER_PID=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$SIGNER_PID" ] && { kill -TERM "$SIGNER_PID" 2>/dev/null; wait "$SIGNER_PID" 2>/dev/null || true; }
  kubectl delete ns raytls-km-other raytls-km-ray --wait=false >/dev/null 2>&1 || true
  rm -rf "$W"
  [ "$BROUGHT_UP" = 1 ] && bash "$KUBE_SH" down || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$SIGNER_PID/status"; }
# settle: until the signer's RSS has not grown for 5 s (the watch events applied), at most 60 s
settle() {
  local last now i
  last=$(rss_kb)
  for i in $(seq 12); do
    sleep 5
    now=$(rss_kb)
    [ "$now" -le "$last" ] && break
    last=$now
  done
  rss_kb
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_kube_signer "$RT" "$W/signer" "127.0.0.1:$PORT" raytls-km=on "$NAME"
wait_issuer_ready 100
r0=$(settle)
echo "== signer up, caches listed: RSS $(mb "$r0") MB"

kubectl create ns raytls-km-other >/dev/null
kubectl create ns raytls-km-ray >/dev/null
p=$(python3 scripts/lib/kube_bench.py objects "$KUBECONFIG" raytls-km-other plain-pods "$PLAIN")
s=$(python3 scripts/lib/kube_bench.py objects "$KUBECONFIG" raytls-km-other services "$SERVICES")
r1=$(settle)
echo "== +$PLAIN plain pods ($(jq .create_s <<<"$p") s), +$SERVICES Services ($(jq .create_s <<<"$s") s): RSS $(mb "$r1") MB"
q=$(python3 scripts/lib/kube_bench.py objects "$KUBECONFIG" raytls-km-ray ray-pods "$RAY")
r2=$(settle)
echo "== +$RAY Ray pods ($(jq .create_s <<<"$q") s): RSS $(mb "$r2") MB"
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$SIGNER_PID/status")

# The notes a person wrote under the marker line of the old file stay.
MARK='<!-- written by hand from here on: bench-kube-memory.sh keeps it -->'
sed -n "/^$MARK\$/,\$p" "$ROOT/benches/kube-signer-memory.md" 2>/dev/null >"$W/notes.md" || true
d1=$((r1 - r0)) d2=$((r2 - r1))
per=$(awk -v d="$d2" -v n="$RAY" 'BEGIN { printf "%.2f", d / 1024 / n * 1000 }')
goal=$([ "$d1" -le 5120 ] && echo met || echo "NOT met")
cat >"$ROOT/benches/kube-signer-memory.md" <<EOF
## raytls serve --kubernetes: memory against what the cluster holds

$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores (shared); kube-apiserver $(kubectl version -o json 2>/dev/null | jq -r .serverVersion.gitVersion)
(scripts/kube.sh). Release build, \`--token-review on-miss\` (the default: it also watches
ServiceAccounts). Produced by \`bash scripts/bench-kube-memory.sh\` (see its header). RSS is
VmRSS of the signer process once it stopped growing for 5 s after each step.

| step | objects | signer RSS MB | change MB |
|---|---|---|---|
| caches listed, empty cluster | - | $(mb "$r0") | |
| not Ray: plain pods + Services in another namespace | $PLAIN pods, $SERVICES Services | $(mb "$r1") | $(mb "$d1") |
| Ray pods (ray.io/node-type) | $RAY pods | $(mb "$r2") | $(mb "$d2") ($per per 1,000) |

Peak (VmHWM): $(mb "$hwm") MB; the manifests' limit is 128 Mi.

| goal (issue 26) | measured | |
|---|---|---|
| RSS unchanged within 5 MB with $PLAIN non-Ray pods and $SERVICES Services elsewhere | $(mb "$d1") MB | $goal |
| MB per 1,000 Ray pods | $per | |
EOF
cat "$W/notes.md" >>"$ROOT/benches/kube-signer-memory.md"
cat "$ROOT/benches/kube-signer-memory.md"
