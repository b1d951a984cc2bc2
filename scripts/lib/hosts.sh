# scripts/lib/hosts.sh - what every real-Ray multi-host script shares (sourced, not run):
# the netns harness, the raytls binary, a work dir, PASS/FAIL counting and a cleanup that
# takes the hosts down on every exit path and prints "NAME: N passed, M failed".
#
# Before sourcing, the script sets NAME (its name in messages, e.g. renewal-interop) and
# KEEP_VAR (the env var that keeps the work dir, e.g. RENEWAL_INTEROP_KEEP). After sourcing:
#   $H (harness), $RT (absolute raytls), $T (work dir, short: Ray's sockets live under it),
#   $ID (hosts id), hosts_up ARGS... (`netns_hosts.sh up --id $ID ARGS`), on HOST CMD...,
#   pass/fail/check, now/since, sans_of CERT, certs_in FILE, serial_of CERT, finish (prints
#   the summary; call it last), json_field JSON KEY, driver_result LOG, and $DRIVER
#   (lib/two_nodes_driver.py: a task and an object on the worker, as the head's host sees it).
# Env: RAYTLS_BIN (default: `cargo build`, then target/debug/raytls, under CARGO_TARGET_DIR if
#      set), RAYTLS_HARNESS_DIR (default ../shared/harness), RAY_PIP_SPEC/RAY_TLS_VENV as the
#      harness reads them.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DRIVER=$ROOT/scripts/lib/two_nodes_driver.py
H=${RAYTLS_HARNESS_DIR:-$ROOT/../shared/harness}/netns_hosts.sh
[ -f "$H" ] || { echo "$NAME: no harness at $H (set RAYTLS_HARNESS_DIR)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$NAME: needs root for network namespaces" >&2; exit 2; }
for tool in curl openssl ip; do
  command -v "$tool" >/dev/null && continue
  pkg=$tool; [ "$tool" = ip ] && pkg=iproute2
  echo "== installing $pkg"
  { apt-get install -y "$pkg" || { apt-get update && apt-get install -y "$pkg"; }; } >/dev/null 2>&1 ||
    { echo "$NAME: cannot install $pkg" >&2; exit 2; }
done
if [ -z "${RAYTLS_BIN:-}" ]; then
  (cd "$ROOT" && cargo build -q --bin raytls) || { echo "$NAME: cargo build failed" >&2; exit 2; }
  RAYTLS_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/raytls
fi
[ -x "$RAYTLS_BIN" ] || { echo "$NAME: $RAYTLS_BIN is not executable (set RAYTLS_BIN)" >&2; exit 2; }
RT=$(cd "$(dirname "$RAYTLS_BIN")" && pwd)/$(basename "$RAYTLS_BIN")   # absolute: hosts run it from /

T=$(mktemp -d "/tmp/${NAME:0:3}.XXXXXX")
ID=${NAME:0:3}$(printf '%s' "${T##*.}" | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9' | cut -c1-6)
UP=0 SUMMARY=0 PASSED=0 FAILED=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM ERR
  if [ "$SUMMARY" = 0 ]; then   # stopped early (a setup step failed, or a signal): still say so
    [ "$rc" = 0 ] && rc=1
    echo "FAIL: $NAME stopped early (exit $rc)"; FAILED=$((FAILED + 1))
    echo "$NAME: $PASSED passed, $FAILED failed"
  fi
  [ "$UP" = 1 ] && bash "$H" down "$ID" >/dev/null 2>&1 || true
  if [ "${!KEEP_VAR:-0}" = 1 ]; then echo "$NAME: kept $T"; else rm -rf "$T"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
set -E   # a failing setup step names its line (then set -e ends the run, and cleanup reports it)
trap 'echo "$NAME: step failed at line $LINENO: $BASH_COMMAND" >&2' ERR
pass() { echo "PASS: $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }
# check NAME CMD...: PASS if CMD succeeds
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
# on HOST CMD...: run CMD on a host (clean env, the Ray venv first on PATH)
on() { local h=$1; shift; bash "$H" exec "$ID" "$h" -- "$@"; }
# hosts_up ARGS...: the Ray venv (made once by the harness), then the hosts
hosts_up() {
  echo "== the Ray venv (made once by the harness)"
  bash "$H" venv >/dev/null || { echo "$NAME: no Ray venv" >&2; exit 2; }
  bash "$H" up --id "$ID" "$@" >/dev/null
  UP=1
}
# sans_of CERT: its SANs as openssl prints them, sorted: DNS:a,DNS:b,IPAddress:1.2.3.4
sans_of() { openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ' | tr ',' '\n' | sort | paste -sd,; }
certs_in() { grep -c -- '-----BEGIN CERTIFICATE-----' "$1"; }
serial_of() { openssl x509 -in "$1" -noout -serial 2>/dev/null | cut -d= -f2; }
# json_field JSON KEY: one top-level field of a JSON object ('' when absent)
json_field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1] or "{}").get(sys.argv[2], ""); print(",".join(map(str, v)) if isinstance(v, list) else v)' "$1" "$2"; }
# driver_result LOG: the RESULT line of lib/two_nodes_driver.py ('{}' when there is none)
driver_result() { local r; r=$(sed -n 's/^RESULT //p' "$1" | tail -1); if [ -n "$r" ]; then echo "$r"; else echo '{}'; fi; }
finish() {
  SUMMARY=1
  echo "$NAME: $PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ] || exit 1
}
