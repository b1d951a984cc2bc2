#!/usr/bin/env bash
# Property-based API test of `raytls serve` against docs/signer-openapi.yaml with
# schemathesis (PyPI): a live signer on 127.0.0.1, a worker token in the header, every
# check schemathesis has, and the rules that matter most asserted here as well: no 5xx,
# no crash, the signer still healthy afterwards and stopping cleanly on SIGTERM.
#
#   bash scripts/signer-schemathesis.sh            # ~1-2 minutes on 2 cores
#   RAYTLS_SCHEMATHESIS_MAX_EXAMPLES=500 bash scripts/signer-schemathesis.sh
#
# schemathesis is installed into a venv cached under target/ (pinned version,
# RAYTLS_SCHEMATHESIS_VERSION). RAYTLS_BIN: the raytls to test (default target/debug/raytls).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION="${RAYTLS_SCHEMATHESIS_VERSION:-4.32.5}"
MAX_EXAMPLES="${RAYTLS_SCHEMATHESIS_MAX_EXAMPLES:-200}"
VENV="target/schemathesis-venv"

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build -q
BIN="${RAYTLS_BIN:-target/debug/raytls}"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill "$SERVER_PID"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" ca create --out "$WORK/ca" >/dev/null
for role in head worker client; do "$BIN" token generate --out "$WORK/$role.token" >/dev/null; done

# A high rate limit so schemathesis explores the API rather than the 429 path (which the
# integration tests cover); everything else as deployed.
"$BIN" serve --ca "$WORK/ca" --listen 127.0.0.1:0 \
    --token "head=$WORK/head.token" --token "worker=$WORK/worker.token" \
    --token "client=$WORK/client.token" --head-name '*-head-svc.ray.svc.cluster.local' \
    --rate 100000 --burst 100000 --audit-log "$WORK/audit.log" 2>"$WORK/serve.err" &
SERVER_PID=$!
for _ in $(seq 100); do
    grep -q "listening on" "$WORK/serve.err" 2>/dev/null && break
    sleep 0.1
done
URL="$(grep -o 'https://[0-9.]*:[0-9]*' "$WORK/serve.err" | head -1)"
[ -n "$URL" ] || { cat "$WORK/serve.err"; echo "signer did not start" >&2; exit 1; }
echo "signer at $URL"

# positive_data_acceptance expects any schema-valid body to be accepted; a random string
# in "csr" is schema-valid and rightly refused (400), so that one check cannot apply.
set +e
"$VENV/bin/schemathesis" run docs/signer-openapi.yaml \
    --url "$URL" \
    --tls-verify "$WORK/ca/ca.crt" \
    -H "Authorization: Bearer $(cat "$WORK/worker.token")" \
    --checks all --exclude-checks positive_data_acceptance \
    --max-examples "$MAX_EXAMPLES" --seed 1 \
    --report junit --report-dir "$WORK/report" \
    | tee "$WORK/schemathesis.out"
STATUS=${PIPESTATUS[0]}
set -e

fail=0
if [ "$STATUS" -ne 0 ]; then echo "FAIL: schemathesis exit status $STATUS"; fail=1; fi
if grep -q '"status":5[0-9][0-9]' "$WORK/audit.log"; then
    echo "FAIL: the audit log has a 5xx decision"; fail=1
fi
if ! curl -fsS --cacert "$WORK/ca/ca.crt" "$URL/healthz" >/dev/null; then
    echo "FAIL: the signer is not healthy after the run"; fail=1
fi
decisions=$(wc -l < "$WORK/audit.log")
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" && rc=0 || rc=$?
SERVER_PID=""
if [ "$rc" -ne 0 ]; then echo "FAIL: the signer exited $rc after SIGTERM"; fail=1; fi
if grep -q panicked "$WORK/serve.err"; then echo "FAIL: panic"; cat "$WORK/serve.err"; fail=1; fi
echo "sign decisions audited: $decisions; by status:"
grep -o '"status":[0-9]*' "$WORK/audit.log" | sort | uniq -c
[ "$fail" -eq 0 ] && echo "signer-schemathesis: OK (no 5xx, no crash, clean SIGTERM)"
exit "$fail"
