#!/usr/bin/env bash
# helm-live.sh - `helm install` of charts/raytls-signer (mode kubernetes) into the real control
# plane of scripts/kube.sh, and a signer that answers: the Deployment becomes Ready by its
# HTTPS probe (helm install --wait), /healthz answers inside a signer pod, and the signer
# logs that its Kubernetes caches are ready. Brings the platform up and down itself (refuses
# if one is up).
#
# The platform's pods run on this machine (scripts/lib/podrunner.py: the "image" is the host),
# so for the run `raytls` is a symlink in /usr/local/bin to RAYTLS_BIN, removed at the end.
# Prints "helm-live: N passed, M failed"; exit 1 on a failure.
# Env: RAYTLS_BIN (default target/debug/raytls).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RT=${RAYTLS_BIN:-$ROOT/target/debug/raytls}
PASSED=0 FAILED=0 UP=0 LINKED=0
pass() { echo "PASS: $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }
W=$(mktemp -d /var/tmp/helm-live.XXXXXX)
finish() {
  [ $LINKED = 1 ] && rm -f /usr/local/bin/raytls
  [ $UP = 1 ] && bash scripts/kube.sh down >/dev/null 2>&1
  rm -rf "$W"
  echo "helm-live: $PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ] && exit 0
  exit 1
}
trap finish EXIT
[ "$(id -u)" = 0 ] || { echo "helm-live: needs root" >&2; exit 2; }
[ -x "$RT" ] || { echo "helm-live: no raytls at $RT (set RAYTLS_BIN)" >&2; exit 2; }
if [ -d "${RAYTLS_KUBE_STATE:-/tmp/raytls-kube}" ]; then
  echo "helm-live: a platform is up: run 'scripts/kube.sh down' first" >&2; exit 2
fi
if [ -e /usr/local/bin/raytls ]; then
  echo "helm-live: /usr/local/bin/raytls exists; it would be replaced" >&2; exit 2
fi
HELM=$(bash scripts/lib/helm-build.sh) || { fail "helm build"; exit 1; }
UP=1
bash scripts/kube.sh up >"$W/up.log" 2>&1 || { fail "kube.sh up: $(tail -2 "$W/up.log")"; exit 1; }
eval "$(bash scripts/kube.sh env)"

NS=raytls-helm
"$RT" ca create --out "$W/ca" >/dev/null
"$RT" token generate --out "$W/master.key" >/dev/null
kubectl create namespace "$NS" >/dev/null
kubectl -n "$NS" create secret generic raytls-signer-ca \
  --from-file=ca.crt="$W/ca/ca.crt" --from-file=ca.key="$W/ca/ca.key" >/dev/null
kubectl -n "$NS" create secret generic raytls-signer-master-key \
  --from-file=master.key="$W/master.key" >/dev/null
ln -s "$RT" /usr/local/bin/raytls && LINKED=1

if out=$("$HELM" install rs charts/raytls-signer -n "$NS" --set mode=kubernetes \
  --set-string 'podAnnotations.raytls\.test/run=true' --wait --timeout 180s 2>&1); then
  pass "helm install (mode kubernetes) --wait: $(kubectl -n "$NS" get deploy rs-raytls-signer -o jsonpath='{.status.readyReplicas}/{.spec.replicas}') replicas Ready by their HTTPS /healthz probe"
else
  fail "helm install: $(tail -3 <<<"$out")"
fi
pod=$(kubectl -n "$NS" get pods -l app.kubernetes.io/instance=rs -o jsonpath='{.items[0].metadata.name}')
h=$(bash scripts/kube.sh exec "$NS/$pod" -- curl -sk --max-time 5 https://127.0.0.1:8443/healthz 2>&1)
# the chart installs the pod guard in kubernetes mode, and the signer sees it
jq -e '.status == "ok" and .pod_guard == "in_place"' <<<"$h" >/dev/null \
  && pass "the signer in $pod answers /healthz, the chart's pod guard in place: $(jq -c '{status, pod_guard}' <<<"$h")" \
  || fail "/healthz in $pod: $h"
logs=$(bash scripts/kube.sh logs "$NS/$pod" 2>&1)
if grep -q "Kubernetes caches ready" <<<"$logs" && grep -q -- "--kubernetes" <<<"$logs"; then
  pass "it serves in Kubernetes mode as the chart's ServiceAccount: $(grep -m1 'caches ready' <<<"$logs")"
else
  fail "signer log: $(tail -3 <<<"$logs")"
fi
rules=$(kubectl get clusterrole rs-raytls-signer -o jsonpath='{range .rules[*]}{.resources}{" "}{end}')
[ -n "$rules" ] && pass "the chart's ClusterRole is installed: $rules" || fail "no ClusterRole rs-raytls-signer"
