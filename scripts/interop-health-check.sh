#!/bin/bash
# interop-health-check.sh - `raytls health-check` against a REAL Ray head with TLS, through
# ../shared/harness/ray_tls_interop.sh (a private netns; the harness makes its Ray 2.60 venv
# on first use, see its --help).
#
# For every case it asserts raytls' exit code and `cause`, and that `ray health-check`
# agrees on pass/fail:
#   run 1 (head with our certs; --host-alias ray-head.test, --hosts-entry othername.test,
#          second client identity from another CA with --expect-client-fail):
#     healthy (flags, env only, DNS alias, IPv4 + JSON), untrusted CA (unknown_ca),
#     client cert from another CA (client_cert_rejected), name not in the cert
#     (name_mismatch), plaintext gRPC server (not_tls; see below), nothing listening.
#   run 2 (head with RAY_AUTH_MODE=token): token from RAY_AUTH_TOKEN passes; no token and a
#     wrong token give `unauthenticated`.
# The harness cannot start a RAY_USE_TLS=0 head (its plaintext check is a plaintext *client*
# against the TLS head), so "not TLS" starts Ray's own gcs_server binary with RAY_USE_TLS=0
# by itself inside the harness' netns (a client command) and checks it there.
#
# Usage: scripts/interop-health-check.sh [--no-token-run] [--keep]
#   The certificates are made by `raytls ca create` / `raytls issue head`;
#   RAYTLS_OPENSSL_CERTS=1 makes them the KubeRay guide's way with openssl instead.
# Env: RAYTLS_BIN (default: cargo build, then target/debug/raytls), RAYTLS_HARNESS (default:
#      ../shared/harness/ray_tls_interop.sh), RAYTLS_RAY_VERSION (the version the healthy
#      case expects; default 2.60.0, the harness' default Ray).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); ROOT=$(dirname "$HERE"); SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
HARNESS=${RAYTLS_HARNESS:-$ROOT/../shared/harness/ray_tls_interop.sh}
[ -f "$HARNESS" ] || { echo "interop-health-check: harness not found at $HARNESS (set RAYTLS_HARNESS)" >&2; exit 2; }
ALIAS=ray-head.test; OTHER=othername.test; RAY_VERSION=${RAYTLS_RAY_VERSION:-2.60.0}

# ---------------------------------------------------------------------------------------
# Certificates: DIR/ca.crt DIR/ca.key DIR/tls.crt DIR/tls.key, the leaf for 127.0.0.1,
# localhost and $ALIAS, usable as server and client. NAME makes CA subjects unique (two CAs
# with one subject make verification report a bad signature instead).
make_certs() {  # DIR NAME
  local dir=$1 name=$2
  if [ "${RAYTLS_OPENSSL_CERTS:-0}" != 1 ]; then
    # The pod IP is only a SAN here: inside the harness' netns Ray listens on 127.0.0.1,
    # which (with localhost) every head certificate holds.
    "$RAYTLS" ca create --out "$dir/ca-src" --name "$name" >/dev/null &&
    "$RAYTLS" issue head --ca "$dir/ca-src" --out "$dir" --pod-ip 10.244.0.5 --fqdn "$ALIAS" >/dev/null
  else
    # KubeRay's openssl recipe (no EKU), with our SANs; kuberay_openssl_certs.sh gives every
    # CA the subject CN=*.kuberay.com, so rename this one to keep subjects unique.
    mkdir -p "$dir/ca-src" &&
    openssl req -x509 -sha256 -days 3650 -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -subj "/CN=$name" -keyout "$dir/ca-src/ca.key" -out "$dir/ca-src/ca.crt" 2>/dev/null &&
    CA_DIR=$dir/ca-src KEYALG=ec SANS="DNS:localhost,IP:127.0.0.1,DNS:$ALIAS" \
      bash "$(dirname "$HARNESS")/kuberay_openssl_certs.sh" "$dir" >/dev/null
  fi
}
# ---------------------------------------------------------------------------------------

# --case: run inside the harness by --client-cmd. Prints raytls' line, asserts the JSON.
if [ "${1:-}" = --case ]; then
  shift; CASE=$1 ADDR=$2 PORT=$3; W=$RAYTLS_HC_WORK; RAYTLS=$RAYTLS_HC_BIN
  GOOD=$W/good; BAD=$W/other; rc_all=0
  # expect WANT_RC WANT_CAUSE -- raytls args
  expect() {
    local want_rc=$1 want_cause=$2 out rc=0 text_rc=0; shift 3
    echo "## $CASE: raytls health-check $*" >> "$W/cases.log"
    "$RAYTLS" health-check "$@" --timeout 3s > "$W/text.$CASE" 2>&1 || text_rc=$?
    echo "(exit $text_rc)" >> "$W/text.$CASE"
    tee -a "$W/cases.log" < "$W/text.$CASE" | sed 's/^/  raytls: /'
    out=$("$RAYTLS" health-check "$@" --timeout 3s --json) || rc=$?
    echo "$out" >> "$W/cases.log"
    if [ "$rc" = "$want_rc" ] && grep -q "\"cause\":\"$want_cause\"" <<<"$out"; then
      echo "  ok: raytls exit $rc, cause $want_cause"
    else echo "  MISMATCH: raytls exit $rc (want $want_rc), want cause $want_cause: $out"; rc_all=1; fi
  }
  # ray_says WANT(0 ok|1 fail) ADDRESS CA CERT KEY [ENV...]: does `ray health-check` agree?
  ray_says() {
    local want=$1 addr=$2 ca=$3 cert=$4 key=$5 rc=0; shift 5
    env RAY_USE_TLS=1 RAY_TLS_CA_CERT="$ca" RAY_TLS_SERVER_CERT="$cert" RAY_TLS_SERVER_KEY="$key" \
      RAY_py_gcs_connect_timeout_s=2 RAY_gcs_rpc_server_connect_timeout_s=1 "$@" \
      timeout 90 ray health-check --address "$addr" >/dev/null 2>&1 || rc=$?
    if { [ "$want" = 0 ] && [ $rc = 0 ]; } || { [ "$want" = 1 ] && [ $rc != 0 ]; }; then
      echo "  ok: ray health-check agrees (rc=$rc)"
    else echo "  MISMATCH: ray health-check rc=$rc, raytls expected $([ "$want" = 0 ] && echo pass || echo fail)"; rc_all=1; fi
  }
  G=(--ca "$GOOD/ca.crt" --cert "$GOOD/tls.crt" --key "$GOOD/tls.key")
  case $CASE in
    healthy)
      expect 0 ok -- --address "$ADDR" "${G[@]}" --expect-ray-version "$RAY_VERSION"
      # Ray's GCS negotiates ALPN h2 and TLS 1.3 (facts the diagnosis relies on)
      "$RAYTLS" health-check --address "$ADDR" "${G[@]}" --json | grep -q '"alpn":"h2","peer"' \
        && echo "  ok: ALPN h2" || { echo "  MISMATCH: no ALPN h2"; rc_all=1; }
      RAY_TLS_CA_CERT=$GOOD/ca.crt RAY_TLS_SERVER_CERT=$GOOD/tls.crt RAY_TLS_SERVER_KEY=$GOOD/tls.key \
        expect 0 ok -- --address "$ADDR"
      expect 0 ok -- --address "$ALIAS:$PORT" --address "localhost:$PORT" "${G[@]}"
      ray_says 0 "$ADDR" "$GOOD/ca.crt" "$GOOD/tls.crt" "$GOOD/tls.key";;
    version)
      expect 1 version_mismatch -- --address "$ADDR" "${G[@]}" --expect-ray-version 0.0.1;;
    untrusted-ca)
      expect 1 unknown_ca -- --address "$ADDR" --ca "$BAD/ca.crt" --cert "$GOOD/tls.crt" --key "$GOOD/tls.key"
      ray_says 1 "$ADDR" "$BAD/ca.crt" "$GOOD/tls.crt" "$GOOD/tls.key";;
    client-other-ca)
      expect 1 client_cert_rejected -- --address "$ADDR" --ca "$GOOD/ca.crt" --cert "$BAD/tls.crt" --key "$BAD/tls.key"
      ray_says 1 "$ADDR" "$GOOD/ca.crt" "$BAD/tls.crt" "$BAD/tls.key";;
    name-not-in-cert)
      expect 1 name_mismatch -- --address "$OTHER:$PORT" "${G[@]}"
      ray_says 1 "$OTHER:$PORT" "$GOOD/ca.crt" "$GOOD/tls.crt" "$GOOD/tls.key";;
    nothing-listening)
      free=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
      expect 1 connection_refused -- --address "127.0.0.1:$free" "${G[@]}"
      ray_says 1 "127.0.0.1:$free" "$GOOD/ca.crt" "$GOOD/tls.crt" "$GOOD/tls.key";;
    plaintext)
      # A real plaintext GCS: Ray's own gcs_server binary with RAY_USE_TLS=0, alone (no
      # raylet, a few MB), on a free port of the harness' private netns. It answers a TLS
      # ClientHello with an HTTP/2 SETTINGS frame.
      GS=$(python3 -c 'import os,ray;print(os.path.dirname(ray.__file__))')/core/src/ray/gcs/gcs_server
      PP=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
      mkdir -p "$W/plain/logs"
      RAY_USE_TLS=0 "$GS" --log_dir="$W/plain/logs" --config_list=e30= --gcs_server_port="$PP" \
        --metrics-agent-port=-1 --node-ip-address=127.0.0.1 --session-name=hc-plain \
        --session-dir="$W/plain" --node-id="$(python3 -c 'import os;print(os.urandom(28).hex())')" \
        > "$W/plain/out" 2>&1 &
      SP=$!
      for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PP") 2>/dev/null && break; sleep 0.1; done
      expect 1 not_tls -- --address "127.0.0.1:$PP" "${G[@]}"
      ray_says 1 "127.0.0.1:$PP" "$GOOD/ca.crt" "$GOOD/tls.crt" "$GOOD/tls.key"
      kill "$SP" 2>/dev/null || true; wait "$SP" 2>/dev/null || true;;
    token-ok)
      expect 0 ok -- --address "$ADDR" "${G[@]}"
      ray_says 0 "$ADDR" "$GOOD/ca.crt" "$GOOD/tls.crt" "$GOOD/tls.key";;
    token-missing)
      ( unset RAY_AUTH_TOKEN; export HOME=$W/nohome; expect 1 unauthenticated -- --address "$ADDR" "${G[@]}"
        ray_says 1 "$ADDR" "$GOOD/ca.crt" "$GOOD/tls.crt" "$GOOD/tls.key"; exit $rc_all ) || rc_all=1;;
    token-wrong)
      printf 'not-the-token\n' > "$W/wrong_token"
      expect 1 unauthenticated -- --address "$ADDR" "${G[@]}" --token-file "$W/wrong_token"
      ray_says 1 "$ADDR" "$GOOD/ca.crt" "$GOOD/tls.crt" "$GOOD/tls.key" RAY_AUTH_TOKEN=not-the-token;;
    *) echo "unknown case $CASE"; exit 2;;
  esac
  exit $rc_all
fi

TOKEN_RUN=1; KEEP=0
for a in "$@"; do case $a in --no-token-run) TOKEN_RUN=0;; --keep) KEEP=1;;
  *) echo "unknown argument: $a" >&2; exit 2;; esac; done
RAYTLS=${RAYTLS_BIN:-}
if [ -z "$RAYTLS" ]; then
  (cd "$ROOT" && cargo build -q) || exit 2; RAYTLS=$ROOT/target/debug/raytls
fi
W=$(mktemp -d /tmp/hc-interop.XXXXXX); [ "$KEEP" = 1 ] || trap 'rm -rf "$W"' EXIT
make_certs "$W/good" "raytls interop CA" && make_certs "$W/other" "raytls other CA" \
  || { echo "FAIL: cannot make certificates" >&2; exit 2; }
export RAYTLS_HC_WORK=$W RAYTLS_HC_BIN=$RAYTLS
c() { echo "--client-cmd"; echo "bash $SELF --case $1 {ADDR} {PORT}"; }
mapfile -t CMDS1 < <(for k in healthy version untrusted-ca client-other-ca name-not-in-cert nothing-listening plaintext; do c "$k"; done)
rc=0
echo "=== run 1: TLS head with raytls-made certs"
bash "$HARNESS" --certs "$W/good" --host-alias "$ALIAS" --hosts-entry "$OTHER" \
  --client-cert "$W/other/tls.crt" --client-key "$W/other/tls.key" --expect-client-fail \
  "${CMDS1[@]}" || rc=1
if [ "$TOKEN_RUN" = 1 ]; then
  echo "=== run 2: TLS head with RAY_AUTH_MODE=token"
  TOKEN=$(openssl rand -hex 16)
  mapfile -t CMDS2 < <(for k in token-ok token-missing token-wrong; do c "$k"; done)
  bash "$HARNESS" --certs "$W/good" --env RAY_AUTH_MODE=token --env "RAY_AUTH_TOKEN=$TOKEN" \
    --no-plaintext-check "${CMDS2[@]}" || rc=1
fi
echo "=== raytls output per case (text, exit code, JSON)"
cat "$W/cases.log" 2>/dev/null || echo "(no case ran)"
echo "=== interop-health-check: $([ $rc = 0 ] && echo PASS || echo FAIL)"
exit $rc
