#!/usr/bin/env bash
# kube-signer-interop.sh - `raytls serve --kubernetes` against a REAL API server
# (scripts/kube.sh: etcd + kube-apiserver + controller-manager + the KubeRay CRDs), with pods
# that are API objects only: each "pod" is a Pod object whose status.podIPs the test sets
# through the status subresource, and a network namespace made here holding that address, from
# which `raytls init` asks the signer. The signer runs in the root namespace on a bridge
# (10.231.0.1) and sees each request come from its pod's own address.
#
#   NS (labelled raytls-test=on), ServiceAccount ray-sa, RayClusters rc-a and rc-b
#   (spec.suspend: true, so the operator makes no pods of its own), a Service rc-a-gcs
#   selecting rc-a's head, Pods owned by their RayCluster (controller ownerReference):
#     a-head 10.231.0.2 (head, rc-a)   a-w1 10.231.0.3 (worker, rc-a)   b-w1 10.231.0.4 (worker, rc-b)
#   Tokens: `kubectl create token ray-sa --bound-object-kind Pod --bound-object-name P --audience raytls`.
#
# Checks (one PASS/FAIL line each; the pod guard, examples/kubernetes/pod-guard.yaml, is installed
# first and pods are made as the KubeRay operator): the head's SANs are localhost, the four names of rc-a-gcs,
# 127.0.0.1 and its pod IP; a worker's are localhost, 127.0.0.1 and its pod IP; tls.crt is the
# leaf alone and ca.crt its RayCluster's CA ("raytls cluster NS/rc-a UID8"), the same for both
# pods of rc-a and another for rc-b; a leaf of rc-a does not verify under rc-b's CA; renew with a
# new token works; every refusal with its status and reason (no token, wrong audience, a token
# valid 2h, a pod IP that is not the peer, a pod without ray.io/node-type, Ray
# labels but no RayCluster owner, a worker asking for head, a namespace outside the selector, a
# ServiceAccount outside the policy, an expired token - a real token's claims moved back and signed
# again with the API server's own key, which the API server itself calls expired -, a terminating
# pod - held by a finalizer; its token still authenticates -, a deleted pod within the API server's
# ~10 s token cache and after it); a RayCluster deleted and created again (new UID) gets a new
# CA; the audit log names namespace, pod, UID and cluster and never holds a token; API requests
# per certificate (audit's api_requests) are printed. Issue 24: a leaf lives a day; /healthz and
# /metrics report the guard; a pod creator's forged worker and head, a RayCluster owner added to
# one's own pod and a worker relabelled head are refused by the API server; ray.io/cluster not the
# owner's, a second head, Failed and Succeeded pods, a hostNetwork pod are refused by the signer
# (a Pending one is granted); 215 foreign Services add no names to the head (an opted-in one does);
# a second signer with --token-review-rate 2 reviews at most its budget of 32 forged tokens; a
# third with --require-pod-guard and no guard binding is not ready and refuses; and without the
# binding a forged worker is made and certified (the hole the guard closes).
# Prints "kube-signer-interop: N passed, M failed"; exits 1 on a failure, 2 on a setup error.
# Every exit path deletes the namespaces (Kubernetes and network) and stops the signer.
#
# Needs root (ip netns), iproute2, kubectl, curl, jq, openssl, and the control plane up:
# `scripts/kube.sh up` (KUBE_SH points elsewhere; it is only read with `status` and `env`).
# Env: RAYTLS_BIN (default target/debug/raytls, built if missing), KUBE_SH, KEEP=1 keeps the
#      work dir, KSI_TOKEN_REVIEW (the signers' --token-review: on-miss, the default, never or
#      always; test.sh runs on-miss and always). Where the two ways of checking a token differ,
#      the check says how: a token of a deleted pod, after the API server's ~10 s cache, is
#      token_invalid by review and pod_not_found when verified here (its signature is good; the
#      signer's own pod check refuses it). With local checks (on-miss, never) also: /healthz
#      reports the mode and the issuer's keys; a grant costs no API request; a token signed by a
#      key the issuer does not publish, under the issuer's key ID, is refused with no request;
#      under a key ID of its own it is reviewed once (on-miss) or not at all (never); a token of a
#      deleted ServiceAccount, and of one made again under its name, is refused.
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/p;}' "${BASH_SOURCE[0]}"; exit 0;; esac
set -euo pipefail
NAME=kube-signer-interop
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KUBE_SH=${KUBE_SH:-$ROOT/scripts/kube.sh}
[ -f "$KUBE_SH" ] || { echo "$NAME: no $KUBE_SH (set KUBE_SH)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$NAME: needs root (network namespaces)" >&2; exit 2; }
if ! bash "$KUBE_SH" status >/dev/null 2>&1 || ! bash "$KUBE_SH" env >/dev/null 2>&1; then
  echo "$NAME: the control plane is not up: run 'bash $KUBE_SH up' first" >&2; exit 2
fi
eval "$(bash "$KUBE_SH" env)"
: "${KUBECONFIG:?kube.sh env set no KUBECONFIG}"
kubectl get crd rayclusters.ray.io >/dev/null 2>&1 \
  || { echo "$NAME: the RayCluster CRD is not installed (kube.sh up without RAYTLS_KUBE_NO_OPERATOR)" >&2; exit 2; }
# shellcheck source=lib/kube-objects.sh
. "$ROOT/scripts/lib/kube-objects.sh"
RAYTLS_BIN=${RAYTLS_BIN:-$ROOT/target/debug/raytls}
[ -x "$RAYTLS_BIN" ] || (cd "$ROOT" && cargo build -q)
RT=$(cd "$(dirname "$RAYTLS_BIN")" && pwd)/$(basename "$RAYTLS_BIN")

ID=ks$$
NS=raytls-ks-$$ NS_OFF=raytls-ks-off-$$
BR=${ID}br SIGNER_IP=10.231.0.1 PORT=$((20000 + $$ % 20000))
T=$(mktemp -d "/tmp/$NAME.XXXXXX")
PASSED=0 FAILED=0 SIGNER_PID= NETNS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in $SIGNER_PID ${SIGNER1:-} ${SIGNER2:-} ${SIGNER3:-}; do
    kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
  done
  for n in "${NETNS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  ip link del "$BR" 2>/dev/null || true
  kubectl delete ns "$NS" "$NS_OFF" --wait=false >/dev/null 2>&1 || true
  kubectl delete -f "$ROOT/examples/kubernetes/pod-guard.yaml" --ignore-not-found >/dev/null 2>&1 || true
  if [ "${KEEP:-}" = 1 ]; then echo "$NAME: work dir kept: $T"; else rm -rf "$T"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
set -E   # a failing setup step names its line (then set -e ends the run and cleanup runs)
trap 'echo "$NAME: step failed at line $LINENO: $BASH_COMMAND" >&2' ERR
pass() { echo "PASS: $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }
sans_of() { openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ' | tr ',' '\n' | sed 's/^DNS://; s/^IPAddress://' | paste -sd,; }
subject_of() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'; }
spki_of() { openssl x509 -in "$1" -noout -pubkey | openssl sha256 | awk '{print $2}'; }

# --- network: a bridge in the root namespace (the signer's address) and one namespace per pod
ip link add "$BR" type bridge
# A fixed MAC: a bridge otherwise takes the lowest MAC of its ports, so a namespace joining later
# (a-w3 below) can change it, and the namespaces that already talked to the signer keep the old
# one in their ARP cache: their next connect hangs until ARP gives up on it (seen: "timed out").
ip link set "$BR" address 02:00:0a:e7:00:01
ip addr add "$SIGNER_IP/24" dev "$BR"
ip link set "$BR" up
# netns_for NAME IP: a namespace whose only address is IP, on the bridge
netns_for() {
  local n=$ID-$1 v=${ID}v${#NETNS[@]}
  ip netns add "$n"; NETNS+=("$n")
  ip link add "$v" type veth peer name eth0 netns "$n"
  ip link set "$v" master "$BR" up
  ip -n "$n" addr add "$2/24" dev eth0
  ip -n "$n" link set eth0 up
  ip -n "$n" link set lo up
}
in_ns() { local n=$ID-$1; shift; ip netns exec "$n" "$@"; }

# --- Kubernetes objects. The pod guard first (cluster-wide; deleted on exit): only the operator
# makes pods a RayCluster controls.
kubectl apply -f "$ROOT/examples/kubernetes/pod-guard.yaml" >/dev/null
kubectl create ns "$NS" >/dev/null
kubectl label ns "$NS" raytls-test=on >/dev/null
kubectl create ns "$NS_OFF" >/dev/null
for ns in "$NS" "$NS_OFF"; do
  kubectl -n "$ns" create serviceaccount ray-sa >/dev/null
done
kubectl -n "$NS" create serviceaccount other-sa >/dev/null
# pod NS NAME IP NODE_TYPE|- OWNER|- [SA]: a Pod object nobody runs (an unknown scheduler, so it
# stays unscheduled), then its status.podIPs set through the status subresource.
# Pods are created as the KubeRay operator's ServiceAccount (the pod guard lets only it make a
# pod a RayCluster controls). Env: AS (who creates it; default the operator), CLUSTER_LABEL
# (ray.io/cluster; default the owner, as KubeRay sets it), PHASE (Running), HOST_NETWORK (false).
OPERATOR=system:serviceaccount:ray-system:kuberay-operator
pod() {
  local ns=$1 name=$2 ip=$3 type=$4 owner=$5 sa=${6:-ray-sa} labels owners=""
  labels="raytls.test/pod: $name"
  [ "$type" != - ] && labels="$labels, ray.io/node-type: $type"
  if [ "$owner" != - ]; then
    labels="$labels, raytls.test/cluster: $owner, ray.io/cluster: ${CLUSTER_LABEL:-$owner}"
    owners="ownerReferences: [{apiVersion: ray.io/v1, kind: RayCluster, name: $owner, uid: $(kubectl -n "$ns" get raycluster "$owner" -o jsonpath='{.metadata.uid}'), controller: true}]"
  fi
  kubectl --as="${AS:-$OPERATOR}" -n "$ns" create -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $name
  labels: {$labels}
  $owners
spec:
  schedulerName: raytls-test-nobody
  serviceAccountName: $sa
  automountServiceAccountToken: false
  hostNetwork: ${HOST_NETWORK:-false}
  containers: [{name: c, image: none}]
EOF
  kubectl -n "$ns" patch pod "$name" --subresource=status --type=merge \
    -p "{\"status\":{\"phase\":\"${PHASE:-Running}\",\"podIP\":\"$ip\",\"podIPs\":[{\"ip\":\"$ip\"}]}}" >/dev/null
}
token() {  # token NS POD [AUDIENCE] [DURATION] [SA]
  kubectl -n "$1" create token "${5:-ray-sa}" --bound-object-kind Pod --bound-object-name "$2" \
    --audience "${3:-raytls}" --duration "${4:-1h}"
}

UID_A=$(suspended_raycluster "$NS" rc-a)
UID_B=$(suspended_raycluster "$NS" rc-b)
suspended_raycluster "$NS_OFF" rc-off >/dev/null
# rc-a-gcs is owned by rc-a and labelled ray.io/cluster, as KubeRay owns and labels the head
# Service it makes: a head is named only by Services its RayCluster owns (the signer watches the
# ray.io/cluster-labelled ones) or names in raytls.io/head-services (read by GET).
kubectl -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata:
  name: rc-a-gcs
  labels: {ray.io/cluster: rc-a}
  ownerReferences: [{apiVersion: ray.io/v1, kind: RayCluster, name: rc-a, uid: $UID_A}]
spec:
  selector: {raytls.test/cluster: rc-a, ray.io/node-type: head}
  ports: [{name: gcs, port: 6379}]
  clusterIP: None
EOF
pod "$NS" a-head 10.231.0.2 head rc-a
pod "$NS" a-w1 10.231.0.3 worker rc-a
pod "$NS" b-w1 10.231.0.4 worker rc-b
pod "$NS" a-w2 10.231.0.5 worker rc-a
pod "$NS" plain 10.231.0.6 - rc-a
pod "$NS" orphan 10.231.0.7 worker -
pod "$NS" other 10.231.0.8 worker rc-a other-sa
pod "$NS_OFF" off-w1 10.231.0.9 worker rc-off
for p in a-head:10.231.0.2 a-w1:10.231.0.3 b-w1:10.231.0.4 a-w2:10.231.0.5 plain:10.231.0.6 \
  orphan:10.231.0.7 other:10.231.0.8 off-w1:10.231.0.9; do netns_for "${p%%:*}" "${p#*:}"; done

# --- the signer
TR=${KSI_TOKEN_REVIEW:-on-miss}
case $TR in never|on-miss|always) ;; *) echo "$NAME: KSI_TOKEN_REVIEW=$TR: not never, on-miss or always" >&2; exit 2;; esac
start_kube_signer "$RT" "$T/signer" "$SIGNER_IP:$PORT" raytls-test=on "$NAME" --token-review "$TR"
[ "$TR" != always ] && wait_issuer_ready 100
echo "== signer up on $URL, --token-review $TR (namespace $NS, rc-a uid $UID_A, rc-b uid $UID_B; work dir $T)"

# init POD ROLE TOKEN_FILE OUT [NETNS]: raytls init from the pod's namespace; prints its stderr
init() {
  in_ns "${5:-$1}" "$RT" init "$2" --signer "$URL" --signer-ca "$CA" --k8s-token "$3" \
    --out "$4" --wait 5s 2>&1 >/dev/null
}

# --- grants
token "$NS" a-head >"$T/a-head.tok"; token "$NS" a-w1 >"$T/a-w1.tok"; token "$NS" b-w1 >"$T/b-w1.tok"
if out=$(init a-head head "$T/a-head.tok" "$T/a-head"); then
  want="localhost,rc-a-gcs,rc-a-gcs.$NS,rc-a-gcs.$NS.svc,rc-a-gcs.$NS.svc.cluster.local,127.0.0.1,10.231.0.2"
  got=$(sans_of "$T/a-head/tls.crt")
  [ "$got" = "$want" ] && pass "head SANs from the API: $got" || fail "head SANs: got $got, want $want"
else fail "raytls init head: $out"; fi
if out=$(init a-w1 worker "$T/a-w1.tok" "$T/a-w1"); then
  got=$(sans_of "$T/a-w1/tls.crt")
  [ "$got" = "localhost,127.0.0.1,10.231.0.3" ] && pass "worker SANs: $got" || fail "worker SANs: $got"
else fail "raytls init worker: $out"; fi
init b-w1 worker "$T/b-w1.tok" "$T/b-w1" >/dev/null || fail "raytls init worker (rc-b)"
if [ -f "$T/a-head/ca.crt" ] && [ -f "$T/a-w1/ca.crt" ] && [ -f "$T/b-w1/ca.crt" ]; then
  sa=$(subject_of "$T/a-head/ca.crt") sb=$(subject_of "$T/b-w1/ca.crt")
  case $sa in *"raytls cluster $NS/rc-a ${UID_A:0:8}"*) pass "rc-a's CA is its own: $sa";; *) fail "rc-a CA subject: $sa";; esac
  [ "$(spki_of "$T/a-head/ca.crt")" = "$(spki_of "$T/a-w1/ca.crt")" ] && [ "$(subject_of "$T/a-w1/ca.crt")" = "$sa" ] \
    && pass "head and worker of rc-a got the same CA (subject and key)" || fail "rc-a pods got different CAs"
  [ "$(spki_of "$T/b-w1/ca.crt")" != "$(spki_of "$T/a-head/ca.crt")" ] && [ "$sb" != "$sa" ] \
    && pass "rc-b has another CA: $sb" || fail "rc-b shares rc-a's CA"
  [ "$(grep -c 'BEGIN CERTIFICATE' "$T/a-head/tls.crt")" = 1 ] && pass "tls.crt is the leaf alone" || fail "tls.crt holds more than the leaf"
  openssl verify -partial_chain -CAfile "$T/a-w1/ca.crt" "$T/a-head/tls.crt" >/dev/null 2>&1 \
    && pass "rc-a's head leaf verifies under the CA its worker trusts" || fail "rc-a head leaf vs rc-a worker's ca.crt"
  if openssl verify -partial_chain -CAfile "$T/b-w1/ca.crt" "$T/a-head/tls.crt" >/dev/null 2>&1; then
    fail "rc-a's head leaf verifies under rc-b's CA"
  else pass "rc-a's head leaf does not verify under rc-b's CA (one trust domain per RayCluster)"; fi
  openssl verify -CAfile "$CA" "$T/a-head/ca.crt" >/dev/null 2>&1 \
    && pass "rc-a's CA is issued by the signer root (--signer-ca)" || fail "rc-a's CA does not chain to the signer root"
fi
# renew --watch re-attests with the rotated token: one pass with a fresh token, --renew-before
# beyond the leaf's life so that it re-issues.
token "$NS" a-w1 >"$T/a-w1.tok"
old=$(openssl x509 -in "$T/a-w1/tls.crt" -noout -serial)
if out=$(in_ns a-w1 "$RT" renew --dir "$T/a-w1" --signer "$URL" --signer-ca "$CA" --k8s-token "$T/a-w1.tok" \
    --renew-before 3650d 2>&1) && [ "$(openssl x509 -in "$T/a-w1/tls.crt" -noout -serial)" != "$old" ]; then
  pass "renew with a new projected token re-issued the worker's leaf"
else fail "renew: $out"; fi
# A second pass keeps the leaf: it chains to the RayCluster CA in ca.crt, which the signer root
# vouches for, and ca.crt stays that CA (not the signer root).
cp "$T/a-w1/ca.crt" "$T/a-w1-ca.before"
old=$(openssl x509 -in "$T/a-w1/tls.crt" -noout -serial)
if out=$(in_ns a-w1 "$RT" renew --dir "$T/a-w1" --signer "$URL" --signer-ca "$CA" --k8s-token "$T/a-w1.tok" 2>&1) \
    && [ "$(openssl x509 -in "$T/a-w1/tls.crt" -noout -serial)" = "$old" ] && cmp -s "$T/a-w1/ca.crt" "$T/a-w1-ca.before"; then
  pass "renew keeps a good leaf and its cluster ca.crt: $(head -1 <<<"$out" | cut -c1-100)"
else fail "renew did not keep the leaf or changed ca.crt: $out"; fi

# --- refusals: refused NAME WANT_STATUS WANT_CODE POD ROLE TOKEN_FILE [NETNS]
refused() {
  local name=$1 st=$2 code=$3 out
  if out=$(init "$4" "$5" "$6" "$T/refused-$4" "${7:-}"); then
    fail "$name: granted"
  elif grep -Eq "refused: ($st) ($code):" <<<"$out"; then
    pass "$name -> $(grep -Eo "refused: [0-9]+ [a-z_]+" <<<"$out" | head -1 | cut -d' ' -f2-)"
  else fail "$name: $out"; fi
  [ -e "$T/refused-$4/tls.crt" ] && fail "$name: a certificate was written"
  return 0
}
# No token: curl with a CSR and no Authorization header, from a-w1's address.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/x.key" -subj /CN=x -out "$T/x.csr" 2>/dev/null
body=$(jq -n --rawfile csr "$T/x.csr" '{role:"worker",csr:$csr}')
resp=$(in_ns a-w1 curl -s -w ' %{http_code}' --cacert "$CA" --data-binary "$body" "$URL/v1/sign")
case $resp in *'"no_token"'*' 401') pass "no token -> 401 no_token";; *) fail "no token: $resp";; esac
token "$NS" a-w1 vault >"$T/aud.tok"; refused "wrong audience" 401 wrong_audience a-w1 worker "$T/aud.tok"
token "$NS" a-w1 raytls 2h >"$T/long.tok"; refused "a token valid for 2h" 401 token_too_long_lived a-w1 worker "$T/long.tok"
token "$NS" a-w1 >"$T/a-w1.tok"; refused "a-w1's token from b-w1's address" 403 address_mismatch a-w1 worker "$T/a-w1.tok" b-w1
refused "a worker asking for head" 403 role_not_allowed a-w1 head "$T/a-w1.tok"
token "$NS" plain >"$T/plain.tok"; refused "a pod without ray.io/node-type" 403 not_a_ray_pod plain worker "$T/plain.tok"
token "$NS" orphan >"$T/orphan.tok"; refused "Ray labels, no RayCluster owner" 403 no_raycluster_owner orphan worker "$T/orphan.tok"
token "$NS" other raytls 1h other-sa >"$T/other.tok"; refused "ServiceAccount outside the policy" 403 service_account_not_allowed other worker "$T/other.tok"
token "$NS_OFF" off-w1 >"$T/off.tok"; refused "namespace outside the selector" 403 namespace_not_allowed off-w1 worker "$T/off.tok"
# An expired token, really issued and really expired: TokenRequest will not issue one for less
# than 10 minutes, so a real token's claims are moved back in time and signed again with the
# API server's own service-account key (RS256, as it signs). The API server itself is asked
# first: the same token re-signed unchanged authenticates (so re-signing is faithful), the
# moved one is refused as expired. Then the signer refuses it.
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
unb64url() { local s; s=$(tr '_-' '/+'); while [ $((${#s} % 4)) != 0 ]; do s+='='; done; base64 -d <<<"$s"; }
resign() {  # resign TOKEN SHIFT_SECONDS: iat, nbf and exp moved by SHIFT, signed with sa.key
  local h p
  IFS=. read -r h p _ <<<"$1"
  p=$(unb64url <<<"$p" | jq -c --argjson s "$2" \
    'with_entries(if .key == "iat" or .key == "nbf" or .key == "exp" then .value += $s else . end)' | b64url)
  printf '%s.%s.%s' "$h" "$p" "$(printf '%s.%s' "$h" "$p" \
    | openssl dgst -sha256 -sign "$RAYTLS_KUBE_STATE/pki/sa-signing.key" -binary | b64url)"
}
review() {  # review TOKEN: the API server's TokenReview status, as JSON
  jq -n --arg t "$1" '{apiVersion:"authentication.k8s.io/v1",kind:"TokenReview",spec:{token:$t,audiences:["raytls"]}}' \
    | kubectl create -o json -f - | jq -c '.status | {authenticated, error}'
}
real=$(token "$NS" a-w1 raytls 10m)
same=$(review "$(resign "$real" 0)")
resign "$real" -720 >"$T/expired.tok"   # 10 min valid, moved back 12 min: expired 2 min ago
gone=$(review "$(cat "$T/expired.tok")")
if jq -e '.authenticated == true' <<<"$same" >/dev/null && jq -e '.authenticated != true and (.error | test("expired"))' <<<"$gone" >/dev/null; then
  pass "the API server authenticates the re-signed token and refuses the moved one: $(jq -r .error <<<"$gone" | cut -c1-90)"
else fail "the API server on the re-signed tokens: unchanged $same, moved $gone"; fi
refused "an expired token" 401 token_expired a-w1 worker "$T/expired.tok"

# A terminating pod: a finalizer keeps it, with its deletionTimestamp set. The API server still
# authenticates its token (for up to 60 s after deletionTimestamp), so the signer's own check is
# what refuses it.
pod "$NS" a-w3 10.231.0.10 worker rc-a
netns_for a-w3 10.231.0.10
kubectl -n "$NS" patch pod a-w3 --type=merge -p '{"metadata":{"finalizers":["raytls.test/hold"]}}' >/dev/null
token "$NS" a-w3 >"$T/a-w3.tok"
kubectl -n "$NS" delete pod a-w3 --wait=false >/dev/null
for _ in $(seq 50); do
  [ -n "$(kubectl -n "$NS" get pod a-w3 -o jsonpath='{.metadata.deletionTimestamp}')" ] && break; sleep 0.2
done
sleep 1   # the signer's watch sees the update
jq -e '.authenticated == true' <<<"$(review "$(cat "$T/a-w3.tok")")" >/dev/null \
  && pass "the API server still authenticates the terminating pod's token" \
  || fail "the API server refused the terminating pod's token (the signer's check is not what refuses it)"
refused "a terminating pod" 403 pod_terminating a-w3 worker "$T/a-w3.tok"
kubectl -n "$NS" patch pod a-w3 --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]' >/dev/null

# A deleted pod whose token the API server reviewed a moment ago: within the API server's cache
# of successful reviews (~10 s) the token still authenticates and the signer's pod check refuses
# it; after the cache the API server refuses it itself.
token "$NS" a-w2 >"$T/a-w2.tok"
init a-w2 worker "$T/a-w2.tok" "$T/a-w2" >/dev/null || fail "raytls init a-w2 (before its deletion)"
kubectl -n "$NS" delete pod a-w2 --grace-period=0 --force >/dev/null 2>&1
sleep 1   # the signer's watch sees the deletion
refused "a deleted pod, within the API server's token cache" 403 pod_not_found a-w2 worker "$T/a-w2.tok"
sleep 11
if [ "$TR" = always ]; then
  refused "a deleted pod, after the API server's token cache (reviewed)" 401 token_invalid a-w2 worker "$T/a-w2.tok"
else
  refused "a deleted pod, after the API server's token cache (verified here: the signature is good, the pod is gone)" 403 pod_not_found a-w2 worker "$T/a-w2.tok"
fi

# --- tokens checked here, against the issuer's keys (--token-review on-miss or never)
if [ "$TR" != always ]; then
  api_requests() { curl -s --cacert "$CA" "$URL/metrics" | awk '$1 == "raytls_signer_kubernetes_api_requests_total" { print $2 }'; }
  h=$(curl -s --cacert "$CA" "$URL/healthz")
  jq -e --arg m "$TR" '.token_review == $m and .issuer_keys >= 1' <<<"$h" >/dev/null \
    && pass "/healthz: token_review $TR, $(jq -r .issuer_keys <<<"$h") issuer key(s)" || fail "/healthz: $h"
  first=$(jq -c -s '[.[] | select(.result=="issued")][0].kubernetes | [.api_requests, .token_check]' "$T/signer/audit.jsonl")
  [ "$first" = '[0,"local"]' ] && pass "the first certificate cost no API request (audit: api_requests 0, token_check local)" \
    || fail "the first certificate's audit [api_requests, token_check]: $first"
  # Signed by a key the issuer does not publish: the API server refuses it, so does the signer.
  openssl genrsa -out "$T/rogue.key" 2048 2>/dev/null
  real=$(token "$NS" a-w1)
  forge() {  # forge TOKEN KID: the claims as they are, the header's kid set, signed with rogue.key
    local h p
    IFS=. read -r h p _ <<<"$1"
    h=$(unb64url <<<"$h" | jq -c --arg k "$2" '.kid = $k' | b64url)
    printf '%s.%s.%s' "$h" "$p" "$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$T/rogue.key" -binary | b64url)"
  }
  kid=$(IFS=. read -r h _ <<<"$real"; unb64url <<<"$h" | jq -r .kid)
  forge "$real" "$kid" >"$T/rogue-kid.tok"
  forge "$real" raytls-test-unknown >"$T/rogue-new.tok"
  jq -e '.authenticated != true' <<<"$(review "$(cat "$T/rogue-kid.tok")")" >/dev/null \
    && pass "the API server refuses a token signed by an unpublished key" || fail "the API server authenticated the rogue token"
  n0=$(api_requests)
  refused "a token signed by an unpublished key, under the issuer's key ID" 401 token_invalid a-w1 worker "$T/rogue-kid.tok"
  n1=$(api_requests)
  [ "$n1" = "$n0" ] && pass "... refused with no API request ($n0 -> $n1)" || fail "the rogue token cost $((n1 - n0)) API requests"
  refused "a token signed by an unpublished key, under a key ID of its own" 401 token_invalid a-w1 worker "$T/rogue-new.tok"
  n2=$(api_requests)
  want=$([ "$TR" = on-miss ] && echo 1 || echo 0)
  [ $((n2 - n1)) = "$want" ] && pass "... $TR: $want TokenReview(s) for the unknown key ID" || fail "unknown key ID: $((n2 - n1)) API requests, want $want"
  # A deleted ServiceAccount, then one made again under its name (another UID). Before: the
  # token verifies (refused later, by the ServiceAccount policy).
  kubectl -n "$NS" create serviceaccount gone-sa >/dev/null
  pod "$NS" a-sa 10.231.0.30 worker rc-a gone-sa
  netns_for a-sa 10.231.0.30
  token "$NS" a-sa raytls 1h gone-sa >"$T/gone.tok"
  refused "gone-sa's token while gone-sa exists (verified; outside the policy)" 403 service_account_not_allowed a-sa worker "$T/gone.tok"
  kubectl -n "$NS" delete serviceaccount gone-sa >/dev/null; sleep 1
  refused "a token of a deleted ServiceAccount" 401 token_invalid a-sa worker "$T/gone.tok"
  kubectl -n "$NS" create serviceaccount gone-sa >/dev/null; sleep 1
  refused "a token of a ServiceAccount deleted and made again under its name" 401 token_invalid a-sa worker "$T/gone.tok"
fi

# --- a RayCluster deleted and created again: new UID, new CA
kubectl -n "$NS" delete raycluster rc-b --wait=true >/dev/null
UID_B2=$(suspended_raycluster "$NS" rc-b)
kubectl -n "$NS" delete pod b-w1 --grace-period=0 --force >/dev/null 2>&1 || true
for _ in $(seq 50); do kubectl -n "$NS" get pod b-w1 >/dev/null 2>&1 || break; sleep 0.2; done
pod "$NS" b-w1 10.231.0.4 worker rc-b
token "$NS" b-w1 >"$T/b-w1.tok"
if out=$(init b-w1 worker "$T/b-w1.tok" "$T/b-w1-new"); then
  if [ "$UID_B2" != "$UID_B" ] && [ "$(spki_of "$T/b-w1-new/ca.crt")" != "$(spki_of "$T/b-w1/ca.crt")" ]; then
    pass "recreated rc-b (uid $UID_B2) has a new CA: $(subject_of "$T/b-w1-new/ca.crt")"
  else fail "recreated rc-b kept its CA"; fi
else fail "init after recreating rc-b: $out"; fi

# --- issue 24: the pod guard and the signer's own checks against forged or unusable pods
# Leaf lifetimes in Kubernetes mode: a day for a worker (renewed by the sidecar, which
# re-attests the pod, and restarted by the example's liveness probe), 30 days for the head
# (whose restart restarts a cluster without GCS fault tolerance).
left_of() { echo $(( $(date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s) )); }
left=$(left_of "$T/a-w1/tls.crt")
[ "$left" -gt $((23 * 3600)) ] && [ "$left" -le $((24 * 3600)) ] \
  && pass "a Kubernetes-mode worker leaf lives a day by default ($((left / 60)) min left)" || fail "worker leaf lifetime: $left s left"
left=$(left_of "$T/a-head/tls.crt")
[ "$left" -gt $((30 * 86400 - 3600)) ] && [ "$left" -le $((30 * 86400)) ] \
  && pass "a Kubernetes-mode head leaf lives 30 days by default ($((left / 3600)) h left)" || fail "head leaf lifetime: $left s left"
h=$(curl -s --cacert "$CA" "$URL/healthz")
jq -e '.pod_guard == "in_place"' <<<"$h" >/dev/null && pass "/healthz: pod guard in_place" || fail "/healthz: $h"
curl -s --cacert "$CA" "$URL/metrics" | grep -q '^raytls_signer_kubernetes_pod_guard 1$' \
  && pass "/metrics: raytls_signer_kubernetes_pod_guard 1" || fail "/metrics has no pod guard gauge of 1"
# A user who may only create, get and patch pods (not even get RayClusters) forges a worker and a head
# of rc-a: the API server refuses both, naming the guard.
kubectl -n "$NS" create role pod-creator --verb=create,get,patch --resource=pods >/dev/null
kubectl -n "$NS" create rolebinding pod-creator --role=pod-creator --user=mallory >/dev/null
for t in worker:10.231.0.20 head:10.231.0.21; do
  if out=$(AS=mallory pod "$NS" "forged-${t%%:*}" "${t#*:}" "${t%%:*}" rc-a 2>&1); then
    fail "a pod creator made a forged $t pod of rc-a"
  elif grep -q 'raytls pod guard' <<<"$out"; then pass "a pod creator's forged ${t%%:*} of rc-a is refused by the API server (pod guard)"
  else fail "forged ${t%%:*}: $out"; fi
done
# ... nor may anyone but the operator give a pod of their own a RayCluster owner, or turn a worker
# into a head (admin included: the guard names the operator alone).
AS=mallory pod "$NS" mine 10.231.0.22 worker - >/dev/null
out=$(kubectl --as=mallory -n "$NS" patch pod mine --type=merge -p "{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"ray.io/v1\",\"kind\":\"RayCluster\",\"name\":\"rc-a\",\"uid\":\"$UID_A\",\"controller\":true}]}}" 2>&1) \
  && fail "a pod creator gave its pod a RayCluster owner" \
  || { grep -q 'raytls pod guard' <<<"$out" && pass "adding a RayCluster owner to one's own pod is refused (pod guard)" || fail "owner patch: $out"; }
out=$(kubectl -n "$NS" label pod a-w1 ray.io/node-type=head --overwrite 2>&1) \
  && fail "a worker of rc-a was relabelled head" \
  || { grep -q 'raytls pod guard' <<<"$out" && pass "relabelling a worker head is refused (pod guard)" || fail "relabel: $out"; }
kubectl -n "$NS" label pod a-w1 raytls.test/other=1 >/dev/null 2>&1 \
  && pass "other labels of a Ray pod may still change" || fail "the guard refused an unrelated label"
# Pods that got past creation anyway (made here as the operator): the signer's own checks.
CLUSTER_LABEL=rc-b pod "$NS" a-lbl 10.231.0.23 worker rc-a; netns_for a-lbl 10.231.0.23
token "$NS" a-lbl >"$T/a-lbl.tok"; refused "ray.io/cluster says rc-b, the owner is rc-a" 403 cluster_label_mismatch a-lbl worker "$T/a-lbl.tok"
pod "$NS" a-head2 10.231.0.24 head rc-a; netns_for a-head2 10.231.0.24
token "$NS" a-head2 >"$T/a-head2.tok"; refused "a second head of rc-a" 403 duplicate_head a-head2 head "$T/a-head2.tok"
token "$NS" a-head >"$T/a-head.tok"; refused "rc-a's first head, while a second one lives" 403 duplicate_head a-head head "$T/a-head.tok"
kubectl -n "$NS" delete pod a-head2 --grace-period=0 --force >/dev/null 2>&1; sleep 1
init a-head head "$T/a-head.tok" "$T/a-head-again" >/dev/null && pass "with the second head gone, rc-a's head is certified again" || fail "a-head after the second head left"
# Finished pods (an IP the network may have given to another pod), hostNetwork pods; Pending
# (init containers run) is granted.
PHASE=Failed pod "$NS" a-failed 10.231.0.25 worker rc-a; netns_for a-failed 10.231.0.25
token "$NS" a-failed >"$T/a-failed.tok"; refused "a Failed pod" 403 pod_finished a-failed worker "$T/a-failed.tok"
PHASE=Succeeded pod "$NS" a-done 10.231.0.26 worker rc-a; netns_for a-done 10.231.0.26
token "$NS" a-done >"$T/a-done.tok"; refused "a Succeeded pod" 403 pod_finished a-done worker "$T/a-done.tok"
PHASE=Pending pod "$NS" a-pend 10.231.0.27 worker rc-a; netns_for a-pend 10.231.0.27
token "$NS" a-pend >"$T/a-pend.tok"
init a-pend worker "$T/a-pend.tok" "$T/a-pend" >/dev/null && pass "a Pending pod with its IP is certified (init containers run then)" || fail "Pending pod refused"
HOST_NETWORK=true pod "$NS" a-host 10.231.0.28 worker rc-a; netns_for a-host 10.231.0.28
token "$NS" a-host >"$T/a-host.tok"; refused "a hostNetwork pod" 403 host_network a-host worker "$T/a-host.tok"
# 215 headless Services of 63-character names selecting every head, labelled ray.io/cluster: rc-a
# (anyone who may create Services can; so the signer's watch holds them): the head's certificate
# is unchanged, since rc-a owns none of them. Then rc-a names one in raytls.io/head-services,
# and the head gets its names too.
for i in $(seq -w 1 215); do
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: s%s%s, labels: {ray.io/cluster: rc-a}}\nspec: {clusterIP: None, selector: {ray.io/node-type: head}, ports: [{port: 1}]}\n---\n' "$i" "$(printf 'x%.0s' $(seq 59))"
done | kubectl -n "$NS" apply -f - >/dev/null
sleep 1
want="localhost,rc-a-gcs,rc-a-gcs.$NS,rc-a-gcs.$NS.svc,rc-a-gcs.$NS.svc.cluster.local,127.0.0.1,10.231.0.2"
if out=$(init a-head head "$T/a-head.tok" "$T/a-head-215"); then
  got=$(sans_of "$T/a-head-215/tls.crt")
  [ "$got" = "$want" ] && pass "215 foreign Services selecting the head add no names: $got" || fail "head SANs with 215 Services: $got"
else fail "head with 215 foreign Services: $out"; fi
kubectl -n "$NS" annotate raycluster rc-a "raytls.io/head-services=s001$(printf 'x%.0s' $(seq 59))" >/dev/null
sleep 1
if out=$(init a-head head "$T/a-head.tok" "$T/a-head-opt"); then
  sans_of "$T/a-head-opt/tls.crt" | tr ',' '\n' | grep -qx "s001x*\.$NS\.svc\.cluster\.local" \
    && pass "a Service rc-a names in raytls.io/head-services is among the head's names" || fail "opt-in Service not in $(sans_of "$T/a-head-opt/tls.crt")"
else fail "head with an opted-in Service: $out"; fi
# A Service without the ray.io/cluster label (outside the signer's watch) that rc-a names: read
# by GET, and its names are the head's too.
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: rc-a-extra}\nspec: {clusterIP: None, selector: {ray.io/node-type: head}, ports: [{port: 1}]}\n' \
  | kubectl -n "$NS" apply -f - >/dev/null
kubectl -n "$NS" annotate --overwrite raycluster rc-a "raytls.io/head-services=rc-a-extra" >/dev/null
sleep 1
if out=$(init a-head head "$T/a-head.tok" "$T/a-head-extra"); then
  sans_of "$T/a-head-extra/tls.crt" | tr ',' '\n' | grep -qx "rc-a-extra\.$NS\.svc\.cluster\.local" \
    && pass "an unlabelled Service rc-a names (outside the watch, read by GET) is among the head's names" \
    || fail "unlabelled opt-in Service not in $(sans_of "$T/a-head-extra/tls.crt")"
else fail "head with an unlabelled opted-in Service: $out"; fi

# A global budget of TokenReviews: a second signer with --token-review-rate 2. Forged tokens
# (well-formed claims, a signature nobody made) from 8 addresses at once, 4 each (under the
# per-address limit): at most a burst of 2 and 2 a second are reviewed, the rest get 429
# review_budget_exceeded without reaching the API server.
SIGNER1=$SIGNER_PID URL1=$URL CA1=$CA
start_kube_signer "$RT" "$T/signer2" "$SIGNER_IP:$((PORT + 1))" raytls-test=on "$NAME" --token-review-rate 2 --token-review "$TR"
SIGNER2=$SIGNER_PID URL2=$URL CA2=$CA
now=$(date +%s)
forged="$(printf '{"alg":"RS256","kid":"x"}' | b64url).$(jq -nc --argjson n "$now" '{aud:["raytls"],iat:$n,nbf:$n,exp:($n+600),iss:"https://kubernetes.default.svc",sub:"system:serviceaccount:x:y"}' | b64url).$(head -c 256 /dev/urandom | b64url)"
t0=$(date +%s.%N) curls=()
for p in a-w1 b-w1 a-pend off-w1 plain orphan other a-lbl; do
  for k in 1 2 3 4; do
    in_ns "$p" curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 --cacert "$CA2" -H "Authorization: Bearer $forged" \
      --data-binary "$body" "$URL2/v1/sign" >>"$T/forged.codes" &
    curls+=($!)
  done
done
wait "${curls[@]}"   # not the signers, which run in the background too
elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%d", b - a + 1 }')
reviews=$(curl -s --cacert "$CA2" "$URL2/metrics" | awk '$1 == "raytls_signer_kubernetes_api_requests_total" { print $2 }')
n429=$(grep -c '^429$' "$T/forged.codes" || true) n401=$(grep -c '^401$' "$T/forged.codes" || true)
budget=$((2 + 2 * elapsed))
if [ "$TR" = never ] && [ "${reviews:-99}" = 0 ] && [ "$n401" = 32 ]; then
  pass "32 forged tokens from 8 addresses, --token-review never: no TokenReview, 32 x 401"
elif [ "$TR" != never ] && [ "${reviews:-99}" -le "$budget" ] && [ "$n429" -gt 0 ] && [ $((n429 + n401)) = 32 ]; then
  pass "32 forged tokens (a key ID the issuer does not publish) from 8 addresses: $reviews TokenReviews in ${elapsed}s (budget $budget), $n401 x 401, $n429 x 429"
else fail "review budget: $reviews reviews in ${elapsed}s (budget $budget), codes $(sort "$T/forged.codes" | uniq -c | tr '\n' ' ')"; fi
if [ "$TR" != never ]; then
  jq -e -s 'any(.[]; .reason == "review_budget_exceeded" and .status == 429)' "$T/signer2/audit.jsonl" >/dev/null \
    && pass "the audit names review_budget_exceeded" || fail "no review_budget_exceeded in the second signer's audit"
fi
kill -TERM "$SIGNER2"; wait "$SIGNER2" 2>/dev/null || true

# Without the guard: a signer with --require-pod-guard is not ready and signs nothing, and (what
# the guard is for) a pod creator's forged worker is made and certified by the first signer.
kubectl delete validatingadmissionpolicybinding raytls-ray-pod-guard >/dev/null
READY_STATUS=503 start_kube_signer "$RT" "$T/signer3" "$SIGNER_IP:$((PORT + 2))" raytls-test=on "$NAME" --require-pod-guard
SIGNER3=$SIGNER_PID
for _ in $(seq 50); do   # 503 counted as up: the caches may still be listing (cache_not_ready)
  h=$(curl -s --cacert "$CA" "$URL/healthz"); jq -e '.error == "pod_guard_missing"' <<<"$h" >/dev/null && break; sleep 0.2
done
jq -e '.error == "pod_guard_missing" and (.message | test("MISSING"))' <<<"$h" >/dev/null \
  && pass "--require-pod-guard without the guard: /healthz 503 $(jq -r .message <<<"$h" | cut -c1-90)" || fail "/healthz without the guard: $h"
resp=$(in_ns a-w1 curl -s -w ' %{http_code}' --cacert "$CA" -H "Authorization: Bearer $(cat "$T/a-w1.tok")" --data-binary "$body" "$URL/v1/sign")
case $resp in *'"pod_guard_missing"'*' 503') pass "--require-pod-guard without the guard: 503 pod_guard_missing";; *) fail "sign without the guard: $resp";; esac
grep -q 'pod guard MISSING' "$T/signer3/signer.log" && pass "the signer's start-up line says the pod guard is MISSING" || fail "no MISSING line in the log"
kill -TERM "$SIGNER3"; wait "$SIGNER3" 2>/dev/null || true
SIGNER_PID=$SIGNER1 URL=$URL1 CA=$CA1
made=0   # the API server's policy cache drops the binding within a few seconds
for _ in $(seq 20); do AS=mallory pod "$NS" forged-w 10.231.0.29 worker rc-a 2>/dev/null && { made=1; break; }; sleep 0.5; done
if [ "$made" = 1 ]; then
  netns_for forged-w 10.231.0.29
  token "$NS" forged-w >"$T/forged-w.tok"
  init forged-w worker "$T/forged-w.tok" "$T/forged-w" >/dev/null \
    && pass "without the guard a pod creator's forged worker is made and certified (the hole the guard closes)" \
    || fail "without the guard the forged worker was not certified (so the guard checks above prove nothing)"
else fail "without the guard, mallory could not create the forged pod"; fi

# --- the issuer's signing key rotated (kube.sh rotate-sa-key: kube-apiserver restarted signing
# with a new key, publishing both): a token signed with the new key names a key ID the signer's
# key set lacks; it reads the set again and verifies the token here, with no TokenReview.
if [ "$TR" != always ]; then
  keys0=$(curl -s --cacert "$CA" "$URL/healthz" | jq -r .issuer_keys)
  bash "$KUBE_SH" rotate-sa-key >/dev/null 2>&1 || fail "kube.sh rotate-sa-key"
  for _ in $(seq 50); do kubectl get --raw /readyz >/dev/null 2>&1 && break; sleep 0.2; done
  token "$NS" a-w1 >"$T/rotated.tok"
  rkid=$(IFS=. read -r h _ <<<"$(cat "$T/rotated.tok")"; unb64url <<<"$h" | jq -r .kid)
  [ "$rkid" != "$kid" ] && pass "after the rotation the API server signs with another key ID" || fail "the key ID did not change ($rkid)"
  n0=$(api_requests) ok=
  for _ in 1 2 3 4 5; do   # the signer's watches reconnect to the restarted API server
    init a-w1 worker "$T/rotated.tok" "$T/a-w1-rotated" >/dev/null && { ok=1; break; }; sleep 1
  done
  n1=$(api_requests) keys=$(curl -s --cacert "$CA" "$URL/healthz" | jq -r .issuer_keys)
  if [ -n "$ok" ] && [ "$keys" = $((keys0 + 1)) ]; then
    pass "a token signed with the rotated key is verified here once the key set is read again ($keys0 -> $keys keys, $((n1 - n0)) API requests)"
  else fail "rotated key: granted ${ok:-no}, issuer_keys $keys, $((n1 - n0)) API requests"; fi
fi

# --- the audit log
want=$([ "$TR" = always ] && echo review || echo local)
jq -e -s --arg w "$want" '[.[] | select(.result=="issued") | .kubernetes.token_check] | length > 0 and all(. == $w)' "$T/signer/audit.jsonl" >/dev/null \
  && pass "audit: every certificate's token_check is $want" || fail "audit token_check: $(jq -c -s '[.[] | select(.result=="issued") | .kubernetes.token_check] | group_by(.) | map({(.[0] // "none"): length}) | add' "$T/signer/audit.jsonl")"
issued=$(jq -s '[.[] | select(.result=="issued")] | length' "$T/signer/audit.jsonl")
requests=$(jq -s '[.[] | select(.result=="issued") | .kubernetes.api_requests] | add' "$T/signer/audit.jsonl")
jq -e -s "[.[] | select(.result==\"issued\" and .kubernetes.pod==\"a-head\")][0].kubernetes
  | .namespace==\"$NS\" and .pod_uid!=null and .cluster==\"$NS/rc-a\" and .cluster_uid==\"$UID_A\"" \
  "$T/signer/audit.jsonl" >/dev/null && pass "audit names namespace, pod, UID and cluster" || fail "audit line lacks the pod or cluster"
if grep -qF "$(cut -c1-40 "$T/a-head.tok")" "$T/signer/audit.jsonl" "$T/signer/signer.log"; then
  fail "a token appears in the audit or signer log"
else pass "no token in the audit or signer log"; fi
echo "   API requests per certificate: $requests requests / $issued certificates = $(awk -v r="$requests" -v i="$issued" 'BEGIN { printf "%.2f", (i ? r / i : 0) }')"
echo "$NAME: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
