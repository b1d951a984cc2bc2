#!/usr/bin/env bash
# scripts/kube-e2e.sh - the full cluster run: `raytls serve --kubernetes` as a pod of
# examples/kubernetes/signer.yaml on the real control plane of scripts/kube.sh (kube-apiserver,
# controller-manager, scheduler v1.36.3, the KubeRay operator v1.5.0), real Ray clusters from
# examples/kubernetes/raycluster.yaml whose init containers get their certificates from it with
# TokenRequest tokens, and the isolation between RayClusters on real Ray.
#
#   up (refuses if a platform is up: it takes it down at the end)
#   signer: namespace raytls-system, its root and cluster key as Secrets, signer.yaml applied as
#     it is but for the binary's path and the runner's annotation; the signer pods use their
#     ServiceAccount (in-cluster config), i.e. only the ClusterRole raytls-signer; the headless
#     Service resolves to them, so Ray pods dial a signer pod directly (see signer.yaml)
#   RBAC: `kubectl auth can-i --list` of the signer's ServiceAccount = the ClusterRole plus what
#     every authenticated user has; no Secrets
#   cluster A (namespace ray-a): RayCluster rc from raycluster.yaml -> head and worker Ready with
#     certificates from rc's CA (SANs = pod IP...), a task pinned to the worker runs there
#   cluster B (namespace ray-b): the same file, nothing new in raytls-system, another CA
#   isolation: a worker group of A pointed at B's head never registers there; health-check of
#     B's head with A's files -> unknown_ca; with B's CA but A's certificate -> client_cert_rejected
#   RayCluster B deleted and created again: new CA; the old worker's files are refused by the new head
#   refusals the API-object test (kube-signer-interop.sh) cannot make: a token not bound to a pod,
#     a pod of a deleted RayCluster, a Ray pod's token replayed from the machine outside the pod network
#   a RayJob from examples/kubernetes/rayjob.yaml: the operator keeps the init container, the
#     renew container and the token volume in the pods it makes (they are simulated)
#   figures: time to Ready, each init container's signing time, API requests per certificate
#     (audit), memory of the signer pods; then down.
# Prints "kube-e2e: N passed, M failed"; exits 1 on a failure, 2 on a setup error.
#
# Needs root, kubectl, jq, openssl, the Ray venv of the harness (RAY_TLS_VENV) and the kube.sh
# binaries (built on first `up`). Env: RAYTLS_BIN (default target/debug/raytls, built if
# missing), KUBE_E2E_KEEP=1 (leave the platform up), RAYTLS_KUBE_STATE (kube.sh's).
#
# EXAMPLES
#   sudo bash scripts/kube-e2e.sh
set -uo pipefail
NAME=kube-e2e
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
K="bash $ROOT/scripts/kube.sh"
PASSED=0 FAILED=0 UP=0
pass() { echo "PASS: $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }
note() { echo "   $*"; }
die() { echo "$NAME: $*" >&2; exit 2; }
# poll SECONDS CMD...: until CMD succeeds (1 s apart)
poll() { local s=$1 i; shift; for i in $(seq "$s"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done; "$@" >/dev/null 2>&1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
finish() {
  local rc=$?
  trap - EXIT
  if [ "$UP" = 1 ] && [ "${KUBE_E2E_KEEP:-0}" != 1 ]; then $K down >/dev/null 2>&1 || true; fi
  [ -n "${T:-}" ] && [ "${KUBE_E2E_KEEP:-0}" != 1 ] && rm -rf "$T"
  echo "$NAME: $PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ] && [ "$rc" = 0 ] && exit 0
  [ "$rc" = 2 ] && exit 2
  exit 1
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] || die "needs root"
S=${RAYTLS_KUBE_STATE:-/tmp/raytls-kube}
[ -d "$S" ] && die "a platform is up ($S): run 'scripts/kube.sh down' first"
VENV=${RAY_TLS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ray-tls-interop/venv-ray-2.60.0}   # the harness's default
[ -x "$VENV/bin/python" ] || die "no Ray venv at $VENV (RAY_TLS_VENV)"
for t in kubectl jq openssl; do command -v "$t" >/dev/null || die "needs $t"; done
RAYTLS_BIN=${RAYTLS_BIN:-$ROOT/target/debug/raytls}
[ -x "$RAYTLS_BIN" ] || (cd "$ROOT" && cargo build -q) || die "cargo build failed"
RT=$(cd "$(dirname "$RAYTLS_BIN")" && pwd)/$(basename "$RAYTLS_BIN")
# Not under /tmp: every run pod has a private /tmp; the rest of the machine is its "image".
T=$(mktemp -d /var/tmp/$NAME.XXXXXX)
chmod 700 "$T"
umask 077

# --- up
T_START=$(now)
t0=$(now)
$K up >"$T/up.log" 2>&1 || { UP=1; cat "$T/up.log" >&2; die "kube.sh up failed"; }
UP=1
pass "kube.sh up ($(since "$t0") s)"
eval "$($K env)"

# render FILE NS [NAME]: an example manifest as this platform runs it: the binary's path for
# `raytls` (the "image" of a run pod is this machine) and annotation raytls.test/run on every pod
# template (the runner runs those for real); for RayClusters namespace NS, name NAME and small
# resources. Everything else as in the file.
render() {
  "$VENV/bin/python" - "$1" "$2" "${3:-}" "$RT" <<'EOF'
import sys, yaml
path, ns, name, rt = sys.argv[1:5]
def templates(doc):
    k, s = doc["kind"], doc.get("spec", {})
    if k == "Deployment":
        yield s["template"]
    if k in ("RayCluster", "RayJob"):
        c = s if k == "RayCluster" else s["rayClusterSpec"]
        yield c["headGroupSpec"]["template"]
        for g in c.get("workerGroupSpecs", []):
            yield g["template"]
out = []
for doc in yaml.safe_load_all(open(path)):
    if not doc:
        continue
    if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding", "Namespace"):
        doc["metadata"]["namespace"] = ns
        if name:
            doc["metadata"]["name"] = name
    for t in templates(doc):
        md = t.setdefault("metadata", {})
        if doc["kind"] != "RayJob":
            md.setdefault("annotations", {})["raytls.test/run"] = "true"
        for c in t["spec"].get("initContainers", []) + t["spec"]["containers"]:
            if c.get("command", [None])[0] == "raytls":
                c["command"][0] = rt
            # raytls-install copies the image's binary for the probes: here, this run's
            c["command"] = [rt if a == "/usr/local/bin/raytls" else a for a in c.get("command", [])]
            if c["name"].startswith("ray-") and doc["kind"] != "Deployment":
                c["resources"] = {"limits": {"cpu": 1, "memory": "1G"}, "requests": {"cpu": "100m", "memory": "64Mi"}}
    out.append(doc)
yaml.safe_dump_all(out, sys.stdout, sort_keys=False)
EOF
}
pods_of() {  # pods_of NS CLUSTER TYPE -> names
  kubectl -n "$1" get pods -l "ray.io/cluster=$2,ray.io/node-type=$3" -o jsonpath='{.items[*].metadata.name}'
}
ip_of() { kubectl -n "$1" get pod "$2" -o jsonpath='{.status.podIP}'; }
ready() { [ "$(kubectl -n "$1" get pod "$2" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }
# cluster_ready NS CLUSTER: a head and a worker exist and both are Ready
cluster_ready() {
  local h w
  h=$(pods_of "$1" "$2" head) w=$(pods_of "$1" "$2" worker)
  [ -n "$h" ] && [ -n "$w" ] && ready "$1" "$h" && ready "$1" "${w%% *}"
}
pexec() { local p=$1; shift; $K exec "$p" "$@"; }   # pexec NS/POD [-c C] -- CMD...
sans_of() { openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ' | tr ',' '\n' | sed 's/^DNS://; s/^IPAddress://' | paste -sd,; }
spki_of() { openssl x509 -in "$1" -noout -pubkey | openssl sha256 | awk '{print $2}'; }
subject_of() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'; }
# fetch NS/POD DIR: the pod's /etc/ray/tls (from its renew container) into DIR
fetch() {
  mkdir -p "$2"
  for f in tls.crt tls.key ca.crt; do pexec "$1" -c raytls-renew -- cat "/etc/ray/tls/$f" >"$2/$f" || return 1; done
}
# cause JSON_LINE -> the cause field of a health-check --json line
cause() { jq -r '.cause // "none"' <<<"$1" 2>/dev/null | head -1; }

# --- the signer, once per Kubernetes cluster
kubectl create namespace raytls-system >/dev/null || die "create namespace raytls-system"
"$RT" ca create --out "$T/signer-root" --name "kube-e2e signer root" >/dev/null || die "ca create"
"$RT" token generate --out "$T/cluster.key" >/dev/null || die "token generate"
kubectl -n raytls-system create secret generic raytls-signer-ca --from-file="$T/signer-root" >/dev/null \
  && kubectl -n raytls-system create secret generic raytls-cluster-key --from-file=cluster.key="$T/cluster.key" >/dev/null \
  || die "signer secrets"
render "$ROOT/examples/kubernetes/signer.yaml" raytls-system >"$T/signer.yaml" || die "render signer.yaml"
# The renewal drill (below): workers' leaves live DRILL_L instead of the default 24 h, so that
# A's worker renews and restarts within this run; the head keeps the default (30 days).
DRILL_L=9m DRILL_L_S=540
"$VENV/bin/python" - "$T/signer.yaml" "$DRILL_L" <<'EOF' || die "signer.yaml: --max-days"
import sys, yaml
path, life = sys.argv[1:3]
docs = list(yaml.safe_load_all(open(path)))
for d in docs:
    if d and d["kind"] == "Deployment":
        for c in d["spec"]["template"]["spec"]["containers"]:
            if c["name"] == "signer":
                c["command"] += ["--max-days", f"worker={life}"]
yaml.safe_dump_all(docs, open(path, "w"), sort_keys=False)
EOF
# The pod guard (issue 24): only the operator makes pods a RayCluster controls; every RayCluster
# below is the real operator's, so they must all still work with it in place.
kubectl apply -f "$ROOT/examples/kubernetes/pod-guard.yaml" >/dev/null || die "apply pod-guard.yaml"
t0=$(now)
kubectl apply -f "$T/signer.yaml" >/dev/null || die "apply signer.yaml"
signer_ready() { [ "$(kubectl -n raytls-system get deploy raytls-signer -o jsonpath='{.status.readyReplicas}')" = 2 ]; }
if poll 120 signer_ready; then
  pass "signer Deployment: 2 replicas Ready by their HTTPS /healthz probe ($(since "$t0") s)"
else
  fail "signer Deployment not Ready"; kubectl -n raytls-system get pods -o wide
  for p in $(kubectl -n raytls-system get pods -o name | cut -d/ -f2); do $K logs "raytls-system/$p" | tail -5; done
  exit 1
fi
SIGNER_PODS=$(kubectl -n raytls-system get pods -l app.kubernetes.io/name=raytls-signer -o jsonpath='{.items[*].metadata.name}')
h=$($K exec "raytls-system/${SIGNER_PODS%% *}" -- curl -sk --max-time 5 https://127.0.0.1:8443/healthz 2>&1)
jq -e '.status == "ok" and .pod_guard == "in_place"' <<<"$h" >/dev/null \
  && pass "the signer sees the pod guard in place (/healthz pod_guard: in_place)" || fail "signer /healthz: $h"
[ "$(kubectl -n raytls-system get pods -l app.kubernetes.io/name=raytls-signer -o jsonpath='{.items[*].spec.serviceAccountName}')" = "raytls-signer raytls-signer" ] \
  && pass "the signer pods run as ServiceAccount raytls-signer (in-cluster config, no --kubeconfig)" \
  || fail "signer pods' ServiceAccount"
poll 30 bash -c "[ \"\$(kubectl -n raytls-system get pdb raytls-signer -o jsonpath='{.status.currentHealthy}/{.status.disruptionsAllowed}')\" = 2/1 ]" \
  && pass "PodDisruptionBudget: 2 healthy, 1 disruption allowed" || fail "PDB status: $(kubectl -n raytls-system get pdb raytls-signer -o jsonpath='{.status}')"

# --- RBAC: nothing beyond the ClusterRole (and what every authenticated user has)
SA=system:serviceaccount:raytls-system:raytls-signer
# spaces squeezed: kubectl pads the columns to the longest name in each list, so the same rule
# reads differently in two lists (the pod guard's validatingadmissionpolicybindings... is long)
canlist() { kubectl auth can-i --list --as "$1" 2>/dev/null | tail -n +2 | sed -E 's/ +/ /g' | sort; }
kubectl -n raytls-system create serviceaccount kube-e2e-nobody >/dev/null
canlist "$SA" >"$T/can.signer"
canlist system:serviceaccount:raytls-system:kube-e2e-nobody >"$T/can.base"
extra=$(comm -23 "$T/can.signer" "$T/can.base" | sed -E 's/ \[\] \[\] / /' | sort)
want=$(printf '%s\n' "namespaces [get list watch]" "pods [get list watch]" "rayclusters.ray.io [get list watch]" \
  "serviceaccounts [get list watch]" "services [get list watch]" "tokenreviews.authentication.k8s.io [create]" \
  "validatingadmissionpolicies.admissionregistration.k8s.io [get list]" \
  "validatingadmissionpolicybindings.admissionregistration.k8s.io [get list]" | sort)
if [ "$extra" = "$want" ]; then pass "RBAC: the signer may only: $(paste -sd';' <<<"$extra")"
else fail "RBAC beyond what every ServiceAccount has: got [$(paste -sd';' <<<"$extra")], want [$(paste -sd';' <<<"$want")]"; fi
for v in "get secrets" "list secrets -A" "create pods" "update rayclusters.ray.io" "create certificatesigningrequests"; do
  # shellcheck disable=SC2086
  if [ "$(kubectl auth can-i $v --as "$SA" 2>/dev/null)" = no ]; then :; else fail "RBAC: the signer can $v"; fi
done
pass "RBAC: the signer cannot get or list Secrets, create pods, update RayClusters or create CSRs"

# --- namespaces that run RayClusters: the label and the signer root (signer.yaml's header, step 3-4)
ray_ns() {
  kubectl create namespace "$1" >/dev/null && kubectl label namespace "$1" raytls.io/enabled=true >/dev/null \
    && kubectl -n "$1" create configmap raytls-signer-ca --from-file=ca.crt="$T/signer-root/ca.crt" >/dev/null
}
# objects in raytls-system and the ClusterRole(Binding): their resourceVersions, to show that a
# new RayCluster changes nothing there
signer_side() {
  { kubectl -n raytls-system get deploy,rs,svc,sa,secret,configmap,pdb,networkpolicy -o json
    kubectl get clusterrole,clusterrolebinding raytls-signer -o json; } \
    | jq -r '.items[]? // . | "\(.kind)/\(.metadata.name) \(.metadata.resourceVersion)"' | sort
  kubectl -n raytls-system get pods -l app.kubernetes.io/name=raytls-signer \
    -o jsonpath='{range .items[*]}{.metadata.uid} {.status.containerStatuses[0].restartCount}{"\n"}{end}' | sort
}

# --- cluster A
ray_ns ray-a || die "namespace ray-a"
render "$ROOT/examples/kubernetes/raycluster.yaml" ray-a rc >"$T/rc-a.yaml" || die "render raycluster.yaml"
t0=$(now)
kubectl apply -f "$T/rc-a.yaml" >/dev/null || die "apply RayCluster A"
if poll 300 cluster_ready ray-a rc; then pass "RayCluster ray-a/rc: head and worker Ready ($(since "$t0") s from apply)"
else
  fail "RayCluster ray-a/rc not Ready in 300 s"; kubectl -n ray-a get pods -o wide
  for p in $(kubectl -n ray-a get pods -o name | cut -d/ -f2); do $K logs "ray-a/$p" 2>&1 | tail -8; done
  exit 1
fi
AH=$(pods_of ray-a rc head) AW=$(pods_of ray-a rc worker)
AH_IP=$(ip_of ray-a "$AH") AW_IP=$(ip_of ray-a "$AW")
fetch "ray-a/$AH" "$T/a-head" && fetch "ray-a/$AW" "$T/a-worker" || fail "could not read A's certificate files"
UID_A=$(kubectl -n ray-a get raycluster rc -o jsonpath='{.metadata.uid}')
got=$(sans_of "$T/a-head/tls.crt")
want="localhost,rc-head-svc,rc-head-svc.ray-a,rc-head-svc.ray-a.svc,rc-head-svc.ray-a.svc.cluster.local,127.0.0.1,$AH_IP"
[ "$got" = "$want" ] && pass "A's head certificate: $got" || fail "A's head SANs: got $got, want $want"
got=$(sans_of "$T/a-worker/tls.crt")
[ "$got" = "localhost,127.0.0.1,$AW_IP" ] && pass "A's worker certificate: $got" || fail "A's worker SANs: $got"
case $(subject_of "$T/a-head/ca.crt") in
  *"raytls cluster ray-a/rc ${UID_A:0:8}"*) pass "A's pods trust rc's own CA: $(subject_of "$T/a-head/ca.crt")";;
  *) fail "A's ca.crt: $(subject_of "$T/a-head/ca.crt")";;
esac
cmp -s "$T/a-head/ca.crt" "$T/a-worker/ca.crt" && pass "A's head and worker got the same CA" \
  || fail "A's head and worker have different ca.crt"
# each init container: how long it ran (pod status, whole seconds) and what it printed
for p in "$AH" "$AW"; do
  st=$(kubectl -n ray-a get pod "$p" -o json | jq -r '.status.initContainerStatuses[] | select(.name=="raytls-init") | .state.terminated | "\(.exitCode) \(.startedAt) \(.finishedAt)"')
  note "init container of $p: exit, started, finished: $st; $(tail -1 "$S/pods/ray-a_$p/logs/raytls-init.log" 2>/dev/null | cut -c1-160)"
done

# a task pinned to A's worker, from a driver in A's head pod (the head's TLS identity)
out=$(pexec "ray-a/$AH" -c ray-head -- python "$ROOT/scripts/lib/two_nodes_driver.py" "$AH_IP" "$AW_IP" 120 90 2>&1)
res=$(grep '^RESULT ' <<<"$out" | tail -1 | cut -d' ' -f2-)
note "driver in A's head: ${res:-$(tail -3 <<<"$out")}"
if [ -n "$res" ] && jq -e --arg w "$AW_IP" '.task_ip == $w and .task_on_worker_node == true and .object_bytes == 2097152' <<<"$res" >/dev/null; then
  pass "real Ray with the signer's certificates: a task pinned to A's worker ran there ($AW_IP) and its 2 MB object came back"
else fail "the task on A's worker: $res"; fi

# the renew sidecars run and keep the fresh certificates (they re-attest with the projected token
# on every pass; a pass that re-issued each time would say "issued")
for p in "$AH" "$AW"; do
  l=$(head -1 "$S/pods/ray-a_$p/logs/raytls-renew.log" 2>/dev/null)
  case $l in *" kept "*"certificate /etc/ray/tls/tls.crt"*) pass "renew --watch in $p: ${l:0:110}";; *) fail "renew sidecar of $p: ${l:-no output}";; esac
done
# one more init from A's worker pod with its projected token, timed inside the pod (what an init
# container costs: key, CSR, TLS to the signer, TokenReview, answer, files)
ms=$(pexec "ray-a/$AW" -c raytls-renew -- bash -c 's=$(date +%s%N); "$0" init worker --signer https://raytls-signer.raytls-system.svc:8443 --signer-ca /etc/raytls/signer-ca/ca.crt --k8s-token /var/run/secrets/raytls/token --out /tmp/again >/dev/null 2>&1 && echo $(( ($(date +%s%N) - s) / 1000000 ))' "$RT")
[ -n "$ms" ] && note "raytls init worker in A's worker pod, again: $ms ms wall" || fail "a second init from A's worker pod failed"

# each signer replica derives the same CA for rc (nothing stored, nothing shared but the cluster
# key): a CSR with A's worker's token sent to each replica's pod IP under the Service name
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/r.key" -subj /CN=r -out "$T/r.csr" 2>/dev/null
cas=""
for p in $SIGNER_PODS; do
  ip=$(kubectl -n raytls-system get pod "$p" -o jsonpath='{.status.podIP}')
  # up to 3 tries, as raytls init retries: a replica's first TokenReview can fail with 503
  # kubernetes_unavailable (docs/kube-platform.md, open finding)
  for try in 1 2 3; do
    ans=$(pexec "ray-a/$AW" -c raytls-renew -- bash -c 'jq -n --rawfile csr "$1" "{role: \"worker\", csr: \$csr}" | curl -s --cacert /etc/raytls/signer-ca/ca.crt \
        --resolve "raytls-signer.raytls-system.svc:8443:$2" -H "Authorization: Bearer $(cat /var/run/secrets/raytls/token)" \
        --data-binary @- https://raytls-signer.raytls-system.svc:8443/v1/sign' _ "$T/r.csr" "$ip")
    jq -e .ca <<<"$ans" >/dev/null 2>&1 && break
    note "signer $p, try $try: $(cut -c1-160 <<<"$ans")"
    sleep 1
  done
  jq -r .ca <<<"$ans" 2>/dev/null | sed '/^$/d' >"$T/ca.$ip"
  cas="$cas $(spki_of "$T/ca.$ip" 2>/dev/null | cut -c1-12)"
done
read -r c1 c2 <<<"$cas"
[ -n "$c1" ] && [ "$c1" = "$c2" ] && [ "$c1" = "$(spki_of "$T/a-worker/ca.crt" | cut -c1-12)" ] \
  && pass "both signer replicas answer rc's same CA (key $c1) to A's worker" || fail "replicas' CAs for rc: [$cas], A has $(spki_of "$T/a-worker/ca.crt" | cut -c1-12)"

# --- cluster B: the same file in another namespace, nothing new on the signer's side
signer_side >"$T/side.before"
ray_ns ray-b || die "namespace ray-b"
render "$ROOT/examples/kubernetes/raycluster.yaml" ray-b rc >"$T/rc-b.yaml"
t0=$(now)
kubectl apply -f "$T/rc-b.yaml" >/dev/null || die "apply RayCluster B"
if poll 300 cluster_ready ray-b rc; then pass "RayCluster ray-b/rc: Ready ($(since "$t0") s)"
else fail "RayCluster ray-b/rc not Ready"; kubectl -n ray-b get pods -o wide; exit 1; fi
signer_side >"$T/side.after"
if cmp -s "$T/side.before" "$T/side.after"; then
  pass "a second RayCluster needed nothing new in raytls-system or RBAC ($(wc -l <"$T/side.after") objects and pods unchanged; signer not restarted)"
else fail "the signer's side changed for B: $(diff "$T/side.before" "$T/side.after" | paste -sd' ')"; fi
BH=$(pods_of ray-b rc head) BW=$(pods_of ray-b rc worker)
BH_IP=$(ip_of ray-b "$BH") BW_IP=$(ip_of ray-b "$BW")
fetch "ray-b/$BW" "$T/b-worker-old" || fail "could not read B's worker files"
UID_B=$(kubectl -n ray-b get raycluster rc -o jsonpath='{.metadata.uid}')
if [ "$(spki_of "$T/b-worker-old/ca.crt")" != "$(spki_of "$T/a-head/ca.crt")" ]; then
  pass "B (same name rc, namespace ray-b) has another CA: $(subject_of "$T/b-worker-old/ca.crt")"
else fail "B shares A's CA"; fi

# --- isolation on real Ray
# health-check from A's worker pod (its renew container has the files mounted)
hc() {  # hc NS/POD ADDRESS DIR_CA DIR_CERT -> one JSON line
  pexec "$1" -c raytls-renew -- "$RT" health-check --address "$2" --ca "$3/ca.crt" --cert "$4/tls.crt" \
    --key "$4/tls.key" --timeout 10s --json 2>/dev/null | head -1
}
j=$(hc "ray-b/$BW" "$BH_IP:6379" /etc/ray/tls /etc/ray/tls)
[ "$(jq -r .healthy <<<"$j")" = true ] && pass "control: B's worker's own files pass health-check of B's head" \
  || fail "control: B's worker vs B's head: $j"
j=$(hc "ray-a/$AW" "$BH_IP:6379" /etc/ray/tls /etc/ray/tls)
c=$(cause "$j")
[ "$c" = unknown_ca ] && pass "health-check of B's head with A's files -> $c: $(jq -r .message <<<"$j" | cut -c1-150)" \
  || fail "health-check of B's head with A's files: cause $c: $j"
# B's CA but A's certificate: the refusal is B's head's (it does not know A's CA)
mkdir -p "$T/mix" && cp "$T/b-worker-old/ca.crt" "$T/mix/ca.crt" && cp "$T/a-worker/tls.crt" "$T/a-worker/tls.key" "$T/mix/"
j=$(hc "ray-a/$AW" "$BH_IP:6379" "$T/mix" "$T/mix")
c=$(cause "$j")
[ "$c" = client_cert_rejected ] && pass "B's head refuses A's certificate even when the client trusts B's CA -> $c" \
  || fail "B's head with A's certificate: cause $c: $j"
# a worker of A pointed at B's head: a second worker group of A whose ray start has B's address
stray=$(kubectl -n ray-a get raycluster rc -o json | jq -c '[{op: "add", path: "/spec/workerGroupSpecs/-",
  value: (.spec.workerGroupSpecs[0] | .groupName = "stray"
    | .rayStartParams = {address: "rc-head-svc.ray-b.svc.cluster.local:6379"})}]')
kubectl -n ray-a patch raycluster rc --type=json -p "$stray" >/dev/null || fail "could not add the stray worker group to A"
stray_running() {
  local p
  p=$(kubectl -n ray-a get pods -l ray.io/group=stray -o jsonpath='{.items[0].metadata.name}')
  [ -n "$p" ] && [ "$(kubectl -n ray-a get pod "$p" -o jsonpath='{.status.containerStatuses[?(@.name=="ray-worker")].state.running}')" != "" ]
}
if poll 180 stray_running; then
  SP=$(kubectl -n ray-a get pods -l ray.io/group=stray -o jsonpath='{.items[0].metadata.name}')
  SP_IP=$(ip_of ray-a "$SP")
  sleep 30
  cat >"$T/nodes.py" <<'EOF'
import json, sys
import ray
ray.init(address=sys.argv[1] + ":6379", _node_ip_address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
print("NODES", json.dumps(sorted(n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"])))
EOF
  nodes=$(pexec "ray-b/$BH" -c ray-head -- python "$T/nodes.py" "$BH_IP" 2>/dev/null | grep '^NODES' | cut -d' ' -f2-)
  log=$($K logs "ray-a/$SP" -c ray-worker 2>/dev/null | tail -40)
  if [ -n "$nodes" ] && jq -e --arg s "$SP_IP" --arg w "$BW_IP" 'index($s) == null and index($w) != null' <<<"$nodes" >/dev/null; then
    pass "A's stray worker ($SP_IP, A's certificate from the signer) never registered with B's head in 30 s; B's nodes: $nodes"
  else fail "stray worker vs B's nodes: ${nodes:-no answer from the head of B}"; fi
  note "stray worker's ray start said: $(grep -iE 'fail|error|unavailable|handshake|timed out' <<<"$log" | tail -2 | cut -c1-200 | paste -sd'|')"
else fail "A's stray worker never ran"; kubectl -n ray-a get pods -o wide; fi
kubectl -n ray-a patch raycluster rc --type=json -p '[{"op":"remove","path":"/spec/workerGroupSpecs/1"}]' >/dev/null || true
kubectl -n ray-a delete pods -l ray.io/group=stray --wait=false >/dev/null 2>&1 || true

# --- B deleted and created again under the same name: a new CA; the old files are refused
kubectl -n ray-b delete raycluster rc --wait=true >/dev/null
no_pods() { [ -z "$(kubectl -n "$1" get pods -o name 2>/dev/null)" ]; }
poll 60 no_pods ray-b || note "B's pods still terminating"
t0=$(now)
kubectl apply -f "$T/rc-b.yaml" >/dev/null || fail "recreate RayCluster B"
if poll 300 cluster_ready ray-b rc; then
  pass "RayCluster ray-b/rc recreated: Ready ($(since "$t0") s)"
  BH=$(pods_of ray-b rc head) BW=$(pods_of ray-b rc worker)
  BH_IP=$(ip_of ray-b "$BH")
  fetch "ray-b/$BW" "$T/b-worker-new"
  UID_B2=$(kubectl -n ray-b get raycluster rc -o jsonpath='{.metadata.uid}')
  [ "$UID_B2" != "$UID_B" ] && [ "$(spki_of "$T/b-worker-new/ca.crt")" != "$(spki_of "$T/b-worker-old/ca.crt")" ] \
    && pass "recreated B (uid ${UID_B2:0:8}, was ${UID_B:0:8}) has a new CA: $(subject_of "$T/b-worker-new/ca.crt")" \
    || fail "recreated B kept its CA"
  j=$(hc "ray-b/$BW" "$BH_IP:6379" /etc/ray/tls /etc/ray/tls)
  [ "$(jq -r .healthy <<<"$j")" = true ] && pass "control: the new worker's files pass health-check of the new head" \
    || fail "new B worker vs new B head: $j"
  j=$(hc "ray-b/$BW" "$BH_IP:6379" "$T/b-worker-old" "$T/b-worker-old")
  c=$(cause "$j")
  [ "$(jq -r .healthy <<<"$j")" = false ] && [ "$c" = unknown_ca ] \
    && pass "the old B worker's files are refused by the new head -> $c" || fail "old B files vs new head: $j"
  cp "$T/b-worker-new/ca.crt" "$T/mix/ca.crt" && cp "$T/b-worker-old/tls.crt" "$T/b-worker-old/tls.key" "$T/mix/"
  j=$(hc "ray-b/$BW" "$BH_IP:6379" "$T/mix" "$T/mix")
  c=$(cause "$j")
  [ "$c" = client_cert_rejected ] && pass "the new head refuses the old certificate even from a client that trusts the new CA -> $c" \
    || fail "old certificate, new CA vs new head: $j"
else fail "recreated B not Ready"; kubectl -n ray-b get pods -o wide; fi

# --- refusals the API-object test cannot make (kube-signer-interop.sh covers the rest)
URL=https://raytls-signer.raytls-system.svc:8443
refused() {  # refused NAME WANT_CODE NS/POD TOKEN_FILE
  local out
  if out=$(pexec "$3" -c raytls-renew -- "$RT" init worker --signer "$URL" --signer-ca /etc/raytls/signer-ca/ca.crt \
      --k8s-token "$4" --out "$T/refused" --wait 5s 2>&1 >/dev/null); then fail "$1: granted"
  elif grep -q "refused: [0-9]* $2:" <<<"$out"; then pass "$1 -> $(grep -o "refused: [0-9]* [a-z_]*" <<<"$out" | head -1 | cut -d' ' -f2-)"
  else fail "$1: $(tail -1 <<<"$out")"; fi
  [ -e "$T/refused/tls.crt" ] && fail "$1: a certificate was written"
  return 0
}
kubectl -n ray-a create token default --audience raytls --duration 1h >"$T/unbound.tok"
refused "a ServiceAccount token not bound to a pod, from A's worker" not_pod_bound "ray-a/$AW" "$T/unbound.tok"
pexec "ray-b/$BW" -c raytls-renew -- cat /var/run/secrets/raytls/token >"$T/b-new.tok"
refused "B's worker's projected token from A's worker pod" address_mismatch "ray-a/$AW" "$T/b-new.tok"

# --- a RayJob: the operator keeps the additions in the pods it makes
render "$ROOT/examples/kubernetes/rayjob.yaml" ray-a >"$T/rayjob.yaml"
if kubectl apply -f "$T/rayjob.yaml" >/dev/null; then
  rj_pod() { kubectl -n ray-a get pods -l ray.io/node-type=worker,ray.io/group=small-group -o json | jq -e '.items[0].spec
    | ([.initContainers[].name] | index("raytls-init") != null) and ([.initContainers[] | select(.restartPolicy == "Always") | .name] | index("raytls-renew") != null)
      and ([.volumes[] | select(.projected.sources[0].serviceAccountToken.audience == "raytls")] | length == 1)'; }
  poll 120 rj_pod && pass "RayJob: the operator's worker pod has raytls-init, the raytls-renew sidecar and the raytls token volume" \
    || fail "RayJob worker pod lacks the additions: $(kubectl -n ray-a get pods -o wide | tail -n +2 | paste -sd'|')"
  kubectl -n ray-a delete rayjob --all --wait=false >/dev/null
else fail "kubectl apply examples/kubernetes/rayjob.yaml"; fi

# --- renewal on real Ray (issue 24 item 8): A's worker's first leaf lives DRILL_L (the signer
# runs with --max-days worker=$DRILL_L here). Its sidecar renews at 2/3 of the lifetime (the
# default renewal point; jittered up to 10% earlier), the example's liveness probe sees the
# raylet serving the old certificate, the runner restarts the Ray container as a kubelet does,
# and Ray loads the renewed files: all before the first certificate expires. Then a task pinned
# to the worker still runs. The same schedule at the default 24 h: renewal at about 16 h.
ts() { date -d "$1" +%s; }
w_na=$(ts "$(openssl x509 -in "$T/a-worker/tls.crt" -noout -enddate | cut -d= -f2)")
w_nb=$(ts "$(openssl x509 -in "$T/a-worker/tls.crt" -noout -startdate | cut -d= -f2)")
w_issued=$((w_na - DRILL_L_S))   # notBefore is 5 min earlier (clock skew), the lifetime is not
# the sidecar's renewal point: a third of notBefore..notAfter left; its sleep is up to 10% shorter
w_due=$((w_na - (w_na - w_nb) / 3)) w_early=$(( (w_na - (w_na - w_nb) / 3 - w_issued) / 10 ))
h_life=$(( $(ts "$(openssl x509 -in "$T/a-head/tls.crt" -noout -enddate | cut -d= -f2)") - $(date +%s) ))
[ "$h_life" -gt $((29 * 86400)) ] && [ "$h_life" -le $((30 * 86400)) ] \
  && pass "A's head: the default head lifetime in Kubernetes mode, 30 days ($((h_life / 3600)) h left)" \
  || fail "A's head certificate: $h_life s left, want 30 days"
wstat() { kubectl -n ray-a get pod "$AW" -o json | jq -r --arg c "$1" '.status.containerStatuses[] | select(.name == $c) | '"$2"; }
serves_file() {   # the raylet serves the tls.crt on disk now (the example's own probe command)
  pexec "ray-a/$AW" -c ray-worker -- /opt/raytls/bin/raytls health-check --address 127.0.0.1:6380 \
    --expect-cert /etc/ray/tls/tls.crt --ca /etc/ray/tls/ca.crt --cert /etc/ray/tls/tls.crt \
    --key /etc/ray/tls/tls.key --timeout 5s
}
note "renewal drill: A's worker leaf expires at $(date -u -d "@$w_na" +%T) ($((w_na - $(date +%s))) s from now); waiting for renewal, restart and the renewed certificate served"
t_ok=""
while [ "$(date +%s)" -le $((w_na + 30)) ]; do
  if [ "$(wstat ray-worker .restartCount)" -ge 1 ] 2>/dev/null \
     && grep -q "renewed worker certificate" "$S/pods/ray-a_$AW/logs/raytls-renew.log" && serves_file >/dev/null 2>&1; then
    t_ok=$(date +%s); break
  fi
  sleep 3
done
rl=$(grep -m1 "renewed worker certificate" "$S/pods/ray-a_$AW/logs/raytls-renew.log")
t_ren=$(ts "${rl%% *}" 2>/dev/null || echo 0)
t_dead=$(ts "$(wstat ray-worker '.lastState.terminated.finishedAt // empty')" 2>/dev/null || echo 0)
t_up=$(ts "$(wstat ray-worker '.state.running.startedAt // empty')" 2>/dev/null || echo 0)
$K logs podrunner 2>/dev/null | grep "ray-a/$AW: container ray-worker liveness probe failed (" | tail -1 | cut -c1-400 >"$T/liveness.last"
note "worker $AW: issued +0 s, renewed +$((t_ren - w_issued)) s, liveness restart +$((t_dead - w_issued)) s, Ray up again +$((t_up - w_issued)) s, renewed certificate served +$((${t_ok:-0} - w_issued)) s, first expired +$DRILL_L_S s"
note "last liveness failure: $(cat "$T/liveness.last")"
if [ -n "$t_ok" ] && [ "$t_ok" -lt "$w_na" ] && [ "$t_ren" -ge $((w_due - w_early - 5)) ] && [ "$t_ren" -le $((w_due + 15)) ]; then
  pass "renewal on real Ray: A's worker renewed at +$((t_ren - w_issued)) s (due +$((w_due - w_issued)) s, a third of notBefore..notAfter left), restarted by the example's liveness probe, and served the renewed certificate $((w_na - t_ok)) s before the first expired"
else fail "renewal drill: renewed '${rl:0:100}' (due +$((w_due - w_issued)) s), restartCount $(wstat ray-worker .restartCount), serves the file at '${t_ok:-never}' (first expires $w_na)"; fi
grep -q "stale_certificate" "$T/liveness.last" && pass "the liveness probe failed for the reason it exists: $(grep -o 'stale_certificate' "$T/liveness.last" | head -1)" \
  || fail "the restart's liveness failure: $(cat "$T/liveness.last")"
# a task pinned to the worker after its first certificate expired
while [ "$(date +%s)" -le $((w_na + 2)) ]; do sleep 1; done
out=$(pexec "ray-a/$AH" -c ray-head -- python "$ROOT/scripts/lib/two_nodes_driver.py" "$AH_IP" "$AW_IP" 120 90 2>&1)
res=$(grep '^RESULT ' <<<"$out" | tail -1 | cut -d' ' -f2-)
note "driver in A's head, $(( $(date +%s) - w_na )) s after the first worker certificate expired: ${res:-$(tail -3 <<<"$out")}"
if [ -n "$res" ] && jq -e --arg w "$AW_IP" '.task_ip == $w and .task_on_worker_node == true' <<<"$res" >/dev/null; then
  pass "after the first certificate expired, a task pinned to A's restarted worker ran there ($AW_IP)"
else fail "the task on A's worker after expiry: $res"; fi
rc_w=$(wstat ray-worker .restartCount) rc_h=$(kubectl -n ray-a get pod "$AH" -o jsonpath='{.status.containerStatuses[?(@.name=="ray-head")].restartCount}')
[ "$rc_w" = 1 ] && [ "$rc_h" = 0 ] && pass "one restart per renewal: worker Ray restarted $rc_w time, the head's $rc_h times" \
  || fail "restarts: worker $rc_w (want 1), head $rc_h (want 0)"
# the head's sidecar checks hourly, and its first pass came before the GCS listened: one pass of
# its own command line (without --watch) in its container says what --check-served sees now
hcmd=$(kubectl -n ray-a get pod "$AH" -o json | jq -r '.spec.initContainers[] | select(.name == "raytls-renew") | .command | map(select(. != "--watch")) | @sh')
hl=$(eval "pexec ray-a/$AH -c raytls-renew -- $hcmd" 2>&1)
case $hl in *"kept head certificate"*"Ray at 127.0.0.1:6379 serves it"*) pass "the head's sidecar command (--check-served): $(tail -1 <<<"$hl")";;
  *) fail "head sidecar's pass: $(tr '\n' '|' <<<"$hl" | cut -c1-300)";; esac

# --- figures
# each Ray pod's init container: its tries (the client waits 5 s for an answer, then backs off)
# and how long it ran (pod status, whole seconds)
for f in "$S"/pods/ray-*_*/logs/raytls-init.log; do
  [ -f "$f" ] || continue
  d=$(dirname "$(dirname "$f")"); pod=${d##*/}
  note "init ${pod/_//}: $(grep -c 'failed: ' "$f") failed tries before the answer; $(grep -o 'issued [a-z]* certificate' "$f" || echo 'no certificate')$(grep -m1 'failed: ' "$f" | sed 's/^.*failed: /; first failure: /' | cut -c1-160)"
done
# memory: the signer processes (this run's binary with serve --kubernetes), read from /proc
for pid in $(pgrep -f -- "^$RT serve --kubernetes"); do
  note "signer process $pid: RSS $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status"), peak $(awk '/VmHWM/ {print $2, $3}' "/proc/$pid/status")"
done
note "renew sidecars: RSS $(for pid in $(pgrep -f -- "^$RT renew "); do ps -o rss= -p "$pid"; done | awk '{printf "%s%d kB", (NR > 1 ? ", " : ""), $1}')"
for p in $SIGNER_PODS; do
  ip=$(kubectl -n raytls-system get pod "$p" -o jsonpath='{.status.podIP}')
  m=$(pexec "ray-a/$AH" -c raytls-renew -- curl -s --cacert /etc/raytls/signer-ca/ca.crt \
    --resolve "raytls-signer.raytls-system.svc:8443:$ip" https://raytls-signer.raytls-system.svc:8443/metrics)
  note "signer $p ($ip) /metrics: issued $(awk '/^raytls_signer_requests_total.*issued/ {n += $2} END {print n + 0}' <<<"$m"), refused $(awk '/^raytls_signer_requests_total.*refused/ {n += $2} END {print n + 0}' <<<"$m"), request time sum/count $(awk '/_duration_seconds_(sum|count)/ {printf "%s ", $2}' <<<"$m")"
done
for p in $SIGNER_PODS; do $K logs "raytls-system/$p" -c signer 2>/dev/null; done | grep '^{' >"$T/audit.log"
issued=$(jq -s '[.[] | select(.result=="issued")] | length' "$T/audit.log" 2>/dev/null)
requests=$(jq -s '[.[] | select(.result=="issued") | .kubernetes.api_requests] | add' "$T/audit.log" 2>/dev/null)
refusedn=$(jq -s '[.[] | select(.result!="issued")] | length' "$T/audit.log" 2>/dev/null)
note "audit: $issued certificates issued with $requests API requests ($(awk -v r="${requests:-0}" -v i="${issued:-0}" 'BEGIN { printf "%.2f", (i ? r / i : 0) }') per certificate), $refusedn refusals"
[ "${issued:-0}" -ge 6 ] && pass "the signer's audit (stdout) holds $issued issued certificates" || fail "audit lines: ${issued:-none}"
$K status 2>/dev/null | sed 's/^/   /'
note "total: $(since "$T_START") s before down"
