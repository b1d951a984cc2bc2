#!/usr/bin/env bash
# monitoring-test.sh - the alert rules of examples/monitoring/, checked offline and seen firing
# in a real Prometheus.
#
# 1. promtool (Debian's prometheus package): `check rules` and `test rules` (unit tests per
#    alert, examples/monitoring/raytls-alerts.test.yml).
# 2. Self-test of those unit tests: each alert removed, and each `for:` set to 0m, must make
#    `promtool test rules` fail (a test that cannot fail is caught here).
# 3. prometheusrule.yaml (prometheus-operator) holds exactly the groups of the rules file.
# 4. Live: a real `raytls serve` and a real `raytls renew --watch --metrics-listen` sidecar on
#    a 1-minute certificate, scraped every second by a real Prometheus on loopback. The signer
#    is stopped; the sidecar's renewals fail and the certificate runs out. Prometheus' own API
#    (/api/v1/alerts) must show RaytlsCertificateExpired, RaytlsCertificateNotRenewed,
#    RaytlsRenewalFailing and RaytlsSignerDown firing. The rules are the shipped ones with
#    every `for:` shortened to 5s (the only change; minutes of waiting prove nothing more).
#
# Env: RAYTLS_BIN (default: cargo build, target/debug/raytls).
# Prints PASS/FAIL lines and "monitoring: N passed, M failed"; exits 1 on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MON=$ROOT/examples/monitoring
PASSED=0; FAILED=0
pass() { echo "PASS: $*"; PASSED=$((PASSED+1)); }
fail() { echo "FAIL: $*"; FAILED=$((FAILED+1)); }

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  echo "== installing Debian's prometheus (promtool and the server)"
  { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus ||
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus; }; } >/dev/null 2>&1 ||
    { echo "apt-get install prometheus failed" >&2; exit 2; }
fi
# The Debian package may start its own server on :9090; this script starts its own on a
# free loopback port and never talks to another.

# shellcheck source=lib/validate-python.sh
. "$ROOT/scripts/lib/validate-python.sh"
validate_python "import yaml"

if [ -z "${RAYTLS_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --quiet) || { echo "cargo build failed" >&2; exit 2; }
  RAYTLS_BIN=$ROOT/target/debug/raytls
fi

d=$(mktemp -d /tmp/raytls-mon.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$d"
}
trap cleanup EXIT

# --- 1. promtool -----------------------------------------------------------------------------
if out=$(promtool check rules "$MON/raytls-alerts.rules.yml" 2>&1); then
  pass "promtool check rules: $(echo "$out" | grep -o '[0-9]* rules found')"
else
  fail "promtool check rules: $out"
fi
if out=$(cd "$MON" && promtool test rules raytls-alerts.test.yml 2>&1); then
  pass "promtool test rules raytls-alerts.test.yml"
else
  fail "promtool test rules: $out"
fi

# --- 2. every alert's unit tests can fail -----------------------------------------------------
# mutate.py RULES OUT ALERT drop|for0: the rules file without ALERT, or with its `for: 0m`.
cat > "$d/mutate.py" <<'EOF'
import sys, yaml
src, out, alert, how = sys.argv[1:5]
doc = yaml.safe_load(open(src))
for g in doc["groups"]:
    for r in list(g["rules"]):
        if r.get("alert") == alert:
            if how == "drop":
                g["rules"].remove(r)
            else:
                r["for"] = "0m"
yaml.safe_dump(doc, open(out, "w"), sort_keys=False, width=1000)
EOF
alerts=$("$PY" -c 'import sys,yaml; [print(r["alert"], r.get("for","0m")) for g in yaml.safe_load(open(sys.argv[1]))["groups"] for r in g["rules"]]' "$MON/raytls-alerts.rules.yml")
mkdir -p "$d/mut"
cp "$MON/raytls-alerts.test.yml" "$d/mut/"
caught=0; missed=()
while read -r alert for; do
  hows=(drop); [ "$for" != 0m ] && [ "$for" != 0s ] && hows+=(for0)
  for how in "${hows[@]}"; do
    "$PY" "$d/mutate.py" "$MON/raytls-alerts.rules.yml" "$d/mut/raytls-alerts.rules.yml" "$alert" "$how"
    if (cd "$d/mut" && promtool test rules raytls-alerts.test.yml >/dev/null 2>&1); then
      missed+=("$alert/$how")
    else
      caught=$((caught+1))
    fi
  done
done <<< "$alerts"
if [ ${#missed[@]} = 0 ]; then
  pass "every mutation of the rules fails the unit tests ($caught: each alert dropped, each for: set to 0m)"
else
  fail "mutations the unit tests did not catch: ${missed[*]}"
fi

# --- 3. the PrometheusRule is the rules file --------------------------------------------------
if out=$("$PY" - "$MON/raytls-alerts.rules.yml" "$MON/prometheusrule.yaml" <<'EOF' 2>&1
import sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
pr = yaml.safe_load(open(sys.argv[2]))
assert pr["apiVersion"] == "monitoring.coreos.com/v1" and pr["kind"] == "PrometheusRule", "not a PrometheusRule"
if pr["spec"]["groups"] != rules["groups"]:
    sys.exit("spec.groups differs from the rules file: regenerate it from raytls-alerts.rules.yml")
EOF
); then
  pass "prometheusrule.yaml spec.groups equals raytls-alerts.rules.yml"
else
  fail "prometheusrule.yaml: $out"
fi

# --- 4. a real Prometheus sees the alerts fire ------------------------------------------------
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SP=$(port); MP=$(port); PP=$(port)
"$RAYTLS_BIN" ca create --out "$d/ca" >/dev/null
"$RAYTLS_BIN" token generate --out "$d/worker.token" >/dev/null
"$RAYTLS_BIN" serve --ca "$d/ca" --listen "127.0.0.1:$SP" --token "worker=$d/worker.token" \
  >"$d/signer.log" 2>&1 &
PIDS+=($!); SIGNER=$!
# A worker whose sidecar renews through the signer in the last 10 s of a 1-minute certificate.
POD_IP=10.0.0.5 "$RAYTLS_BIN" init worker --ca "$d/ca" --out "$d/pod" --valid-for 1m >/dev/null
ISSUED=$(date +%s)
"$RAYTLS_BIN" renew --dir "$d/pod" --signer "https://127.0.0.1:$SP" --signer-ca "$d/ca/ca.crt" \
  --wait 5s --renew-before 10s --watch --metrics-listen "127.0.0.1:$MP" >"$d/sidecar.log" 2>&1 &
PIDS+=($!)
sed -E 's/^( *)for: .*/\1for: 5s/' "$MON/raytls-alerts.rules.yml" > "$d/rules.yml"
cat > "$d/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["$d/rules.yml"]
scrape_configs:
  - job_name: raytls-renew
    static_configs: [{targets: ["127.0.0.1:$MP"]}]
  - job_name: raytls-signer
    scheme: https
    tls_config: {ca_file: "$d/ca/ca.crt"}
    static_configs: [{targets: ["127.0.0.1:$SP"]}]
EOF
prometheus --config.file="$d/prometheus.yml" --storage.tsdb.path="$d/tsdb" \
  --web.listen-address="127.0.0.1:$PP" --log.level=warn >"$d/prometheus.log" 2>&1 &
PIDS+=($!)
api() { curl -sf --max-time 2 "http://127.0.0.1:$PP/api/v1/$1" || echo '{}'; }

# Both targets up, as Prometheus sees them.
ups=""
for _ in $(seq 1 30); do
  ups=$(api 'query?query=up' | "$PY" -c 'import sys,json; r=json.load(sys.stdin).get("data",{}).get("result",[]); print(" ".join(sorted(x["metric"]["job"]+"="+x["value"][1] for x in r)))' 2>/dev/null || true)
  [ "$ups" = "raytls-renew=1 raytls-signer=1" ] && break
  sleep 1
done
if [ "$ups" = "raytls-renew=1 raytls-signer=1" ]; then
  pass "Prometheus scrapes the sidecar and the signer (up: $ups)"
else
  fail "targets not both up after 30 s (up: ${ups:-none}); prometheus log: $(tail -3 "$d/prometheus.log")"
fi
expiry=$(api 'query?query=raytls_certificate_expiration_timestamp_seconds' | "$PY" -c 'import sys,json; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null || true)
want=$("$RAYTLS_BIN" inspect --json "$d/pod/tls.crt" | "$PY" -c 'import sys,json,datetime; v=json.load(sys.stdin); c=v[0]["items"][0]; print(int(datetime.datetime.fromisoformat(c["not_after"].replace("Z","+00:00")).timestamp()))' 2>/dev/null || true)
if [ -n "$expiry" ] && [ "$expiry" = "$want" ]; then
  pass "raytls_certificate_expiration_timestamp_seconds is the certificate's notAfter ($expiry)"
else
  fail "expiry gauge ${expiry:-missing}, certificate notAfter ${want:-unreadable}"
fi

# The signer goes away before the renewal window opens; the certificate runs out.
kill "$SIGNER"
want_alerts="RaytlsCertificateExpired RaytlsCertificateNotRenewed RaytlsRenewalFailing RaytlsSignerDown"
firing=""
for _ in $(seq 1 120); do
  firing=$(api alerts | "$PY" -c 'import sys,json; a=json.load(sys.stdin).get("data",{}).get("alerts",[]); print(" ".join(sorted({x["labels"]["alertname"] for x in a if x["state"]=="firing"})))' 2>/dev/null || true)
  all=1; for a in $want_alerts; do [[ " $firing " == *" $a "* ]] || all=0; done
  [ $all = 1 ] && break
  sleep 1
done
if [ $all = 1 ]; then
  pass "Prometheus fires $want_alerts ($(( $(date +%s) - ISSUED )) s after a 1-minute certificate was issued; firing: $firing)"
else
  fail "after the certificate ran out, firing: ${firing:-nothing}; want $want_alerts; sidecar: $(tail -2 "$d/sidecar.log")"
fi
if grep -q "renew failed" "$d/sidecar.log"; then
  pass "the sidecar logged its failed renewals: $(grep -m1 'renew failed' "$d/sidecar.log" | cut -c1-160)"
else
  fail "no failed renewal in the sidecar's log: $(tail -3 "$d/sidecar.log")"
fi
reasons=$(curl -sf "http://127.0.0.1:$MP/metrics" | grep '^raytls_renew_failures_total' || true)
if [ -n "$reasons" ]; then
  pass "failures by reason: $(echo "$reasons" | tr '\n' ' ')"
else
  fail "no raytls_renew_failures_total sample"
fi

[ -n "${MON_DEBUG:-}" ] && cat "$d/sidecar.log"
echo "monitoring: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
