#!/usr/bin/env bash
# interop.sh - raytls-made certificates against a REAL Ray head (Ray 2.60 by default).
#
# For each CA kind (raytls P-256 with the head made by `raytls init head` from a read-only CA dir, raytls P-384 with P-384 leaves, an openssl-made RSA CA
# adopted by raytls, signing P-256 leaves):
#   - `raytls ca create` (or openssl) makes the CA; `raytls issue head` the head identity with
#     the head service FQDN; `raytls issue worker` a worker identity; a second, foreign CA
#     signs a client certificate that Ray must refuse;
#   - ../shared/harness/ray_tls_interop.sh starts a TLS head with the head certificate, and
#     checks: the head starts, `ray health-check` passes with the head identity, with the
#     worker identity, and via the FQDN (DNS SAN, --host-alias); a client certificate from the
#     foreign CA is rejected (a --client-cmd that must fail); plaintext is refused (first run).
# Prints PASS/FAIL lines per run and "N passed, M failed" over the runs; exits non-zero on any
# failure. Needs: cargo, openssl, python3 with venv (the harness installs Ray on first use).
#
# Env: RAYTLS_BIN (default: target/debug/raytls, built here), RAYTLS_HARNESS (default:
#      ../shared/harness/ray_tls_interop.sh), RAYTLS_INTEROP_KEEP=1 keeps the work dir.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARNESS=${RAYTLS_HARNESS:-$ROOT/../shared/harness/ray_tls_interop.sh}
[ -f "$HARNESS" ] || { echo "interop: harness not found at $HARNESS (set RAYTLS_HARNESS)" >&2; exit 2; }
if [ -z "${RAYTLS_BIN:-}" ]; then
  (cd "$ROOT" && cargo build -q) || exit 2
  RAYTLS_BIN=$ROOT/target/debug/raytls
fi
RT=$RAYTLS_BIN
W=$(mktemp -d /tmp/raytls-interop.XXXXXX)
[ "${RAYTLS_INTEROP_KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT
FQDN=raycluster-tls-head-svc.default.svc.cluster.local
POD_IP=10.244.0.5      # a SAN only: inside the harness' netns Ray listens and dials on 127.0.0.1
RUNS_OK=0; RUNS_FAIL=0

# The foreign CA and its client: Ray's GCS must refuse this identity.
"$RT" ca create --out "$W/foreign-ca" --name "foreign CA" >/dev/null &&
"$RT" issue client --ca "$W/foreign-ca" --out "$W/foreign-client" >/dev/null || { echo "FAIL: making the foreign CA"; exit 1; }

# make_ca KIND DIR: a CA in DIR/ca.crt + DIR/ca.key
make_ca() {
  case $1 in
    p256) "$RT" ca create --out "$2" --key-type ecdsa-p256 ;;
    p384) "$RT" ca create --out "$2" --key-type ecdsa-p384 ;;
    openssl-rsa)  # as KubeRay's TLS guide makes it, then PKCS#1 as older openssl writes it
      mkdir -p "$2" && openssl req -x509 -sha256 -days 3650 -nodes -newkey rsa:2048 \
        -subj "/CN=*.kuberay.com/C=US/L=San Francisco" -keyout "$2/ca.pkcs8.key" -out "$2/ca.crt" 2>/dev/null &&
      openssl rsa -in "$2/ca.pkcs8.key" -traditional -out "$2/ca.key" 2>/dev/null && rm "$2/ca.pkcs8.key" ;;
  esac
}

# make_head KIND DIR KEYTYPE: the head identity in DIR/head. For p256 it is a pod simulation:
# `raytls init head` with the CA on a read-only bind mount (as the CA Secret is mounted) and
# POD_IP/FQ_RAY_IP from the environment, run twice: the second run must keep the certificate.
make_head() {
  if [ "$1" = p256 ] && unshare -m true 2>/dev/null; then
    local init="mount --bind -o ro '$2/ca' '$2/ca' && POD_IP=$POD_IP FQ_RAY_IP=$FQDN '$RT' init head --ca '$2/ca' --out '$2/head'"
    unshare -m sh -c "$init" | sed 's/^/   init: /' && unshare -m sh -c "$init" | tee "$2/init2.log" | sed 's/^/   init again: /' &&
      grep -q '^kept head certificate' "$2/init2.log" && echo "PASS: raytls init head with a read-only CA dir; second run kept the certificate"
  else
    "$RT" issue head --ca "$2/ca" --out "$2/head" --pod-ip "$POD_IP" --fqdn "$FQDN" --key-type "$3" >/dev/null
  fi
}

run_case() {
  local kind=$1; shift
  local d=$W/$kind kt=ecdsa-p256
  [ "$kind" = p384 ] && kt=ecdsa-p384
  echo "=== $kind: raytls certificates against a real Ray head"
  if ! { make_ca "$kind" "$d/ca" >/dev/null && make_head "$kind" "$d" "$kt" &&
         "$RT" issue worker --ca "$d/ca" --out "$d/worker" --pod-ip 10.244.0.6 --key-type "$kt" >/dev/null; }; then
    echo "FAIL: $kind: raytls could not make the certificates"; RUNS_FAIL=$((RUNS_FAIL+1)); return
  fi
  local fc=$W/foreign-client
  # The foreign identity, run through Ray's own client; the FAST settings make it give up in ~4 s.
  local foreign="RAY_USE_TLS=1 RAY_TLS_SERVER_CERT=$fc/tls.crt RAY_TLS_SERVER_KEY=$fc/tls.key RAY_TLS_CA_CERT={CA}"
  foreign="$foreign RAY_py_gcs_connect_timeout_s=2 RAY_gcs_rpc_server_connect_timeout_s=1 ray health-check --address {ADDR}"
  if bash "$HARNESS" --certs "$d/head" \
       --client-cert "$d/worker/tls.crt" --client-key "$d/worker/tls.key" \
       --host-alias "$FQDN" \
       --client-cmd "!env $foreign" \
       "$@"; then
    RUNS_OK=$((RUNS_OK+1))
  else
    RUNS_FAIL=$((RUNS_FAIL+1))
  fi
}

run_case p256
run_case p384 --no-plaintext-check
run_case openssl-rsa --no-plaintext-check
echo "interop: $RUNS_OK passed, $RUNS_FAIL failed"
[ "$RUNS_FAIL" = 0 ]
