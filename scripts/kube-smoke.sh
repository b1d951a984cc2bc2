#!/usr/bin/env bash
# scripts/kube-smoke.sh - the test platform of scripts/kube.sh, end to end: up (building what is
# missing), /readyz, a new namespace's default ServiceAccount and kube-root-ca.crt, the KubeRay
# operator reconciling a RayCluster into pods with IPs, every examples/*.yaml,
# examples/kubernetes/*.yaml and examples/monitoring/*.yaml (with prometheus-operator's CRD) through
# `kubectl apply --dry-run=server` and then for real in a fresh namespace, a pod-bound token
# (TokenRequest, audience raytls) through TokenReview, a pod the runner really runs (init
# container's env in `kube.sh logs`, volumes, exec, the API through the kubernetes Service), a
# run pod whose command is a raytls inside a checkout under /tmp (a CI clone's case: each pod has
# a private /tmp), then down and nothing left. Prints "kube-smoke: N passed, M failed"; exit 1 on
# a failure.
#
# Needs root, git, and a built raytls (RAYTLS_BIN, default target/debug/raytls). Refuses to run
# while a platform is up (it would take it down at the end).
# Env: KUBE_SMOKE_KEEP=1 (leave the platform up at the end), and what scripts/kube.sh reads.
#
# EXAMPLES
#   sudo bash scripts/kube-smoke.sh
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
K="bash $ROOT/scripts/kube.sh"
PASSED=0 FAILED=0 UP=0 TMPCO_CLEAN=
pass() { echo "PASS: $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
# poll SECONDS CMD...: until CMD succeeds (1 s apart)
poll() { local s=$1 i; shift; for i in $(seq "$s"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done; "$@" >/dev/null 2>&1; }
finish() {
  local rc=$?
  trap - EXIT
  if [ "$UP" = 1 ] && [ "${KUBE_SMOKE_KEEP:-0}" != 1 ]; then $K down >/dev/null 2>&1 || true; fi
  [ -n "$TMPCO_CLEAN" ] && [ "${KUBE_SMOKE_KEEP:-0}" != 1 ] && rm -rf "$TMPCO_CLEAN"
  echo "kube-smoke: $PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ] && [ "$rc" = 0 ] && exit 0
  exit 1
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] || { echo "kube-smoke: needs root" >&2; exit 2; }
S=${RAYTLS_KUBE_STATE:-/tmp/raytls-kube}
if [ -d "$S" ]; then echo "kube-smoke: a platform is up ($S): run 'scripts/kube.sh down' first" >&2; exit 2; fi

# --- a checkout under /tmp (checked below, with the run pods): CI clones under /tmp, and each
# run pod has a private /tmp, so the platform must bind such a checkout back into its pods (as
# it does the Ray venv). This checkout when it is under /tmp (kube.sh names its own ROOT to the
# runner); else a throwaway `git clone` of it under /tmp, named by RAYTLS_KUBE_HOST_PATHS as a
# test harness would. A copy of raytls inside it is what the pod runs.
RT_SRC=${RAYTLS_BIN:-$ROOT/target/debug/raytls}
TMPCO="" TMPCO_BIN=""
if [ ! -x "$RT_SRC" ]; then
  fail "checkout under /tmp: no raytls at $RT_SRC to copy (set RAYTLS_BIN or cargo build)"
elif [[ $(readlink -f "$ROOT") == /tmp/* ]]; then
  TMPCO=$(readlink -f "$ROOT")
  mkdir -p "$TMPCO/target" && TMPCO_CLEAN=$(mktemp -d "$TMPCO/target/kube-smoke.XXXXXX")
  TMPCO_BIN=$TMPCO_CLEAN/raytls
elif TMPCO_CLEAN=$(mktemp -d /tmp/kube-smoke-clone.XXXXXX) && git clone -q "$ROOT" "$TMPCO_CLEAN/main"; then
  TMPCO=$TMPCO_CLEAN/main TMPCO_BIN=$TMPCO_CLEAN/main/target/debug/raytls
  export RAYTLS_KUBE_HOST_PATHS=${RAYTLS_KUBE_HOST_PATHS:+$RAYTLS_KUBE_HOST_PATHS:}$TMPCO
else
  fail "checkout under /tmp: git clone $ROOT into $TMPCO_CLEAN"
fi
if [ -n "$TMPCO_BIN" ]; then mkdir -p "$(dirname "$TMPCO_BIN")" && cp "$RT_SRC" "$TMPCO_BIN"; fi

# --- up
t0=$(date +%s.%N)
if $K up; then UP=1; pass "kube.sh up ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s, builds included)"
else UP=1; fail "kube.sh up"; exit 1; fi
eval "$($K env)"
check "kube.sh up again says already up" bash -c "$K up 2>&1 | grep -q 'already up'"
check "/readyz ok" curl -sf -o /dev/null --cacert "$RAYTLS_KUBE_CA" "$RAYTLS_KUBE_SERVER/readyz"
check "listens on 127.0.0.1 only" bash -c "! ss -ltnH | awk '{print \$4}' | grep -E ':(23790|23800|16443|16257|16259|18080|18081)\$' | grep -v '^127\.0\.0\.1:'"
$K status

# --- a new namespace gets its ServiceAccount and root CA
NS=smoke-$RANDOM
kubectl create namespace "$NS" >/dev/null
check "namespace $NS: ServiceAccount default" poll 30 kubectl -n "$NS" get serviceaccount default
check "namespace $NS: ConfigMap kube-root-ca.crt holds the cluster CA" poll 30 bash -c \
  "kubectl -n $NS get configmap kube-root-ca.crt -o jsonpath='{.data.ca\.crt}' | cmp -s - $RAYTLS_KUBE_CA"

# --- the operator reconciles a RayCluster
kubectl -n "$NS" apply -f - >/dev/null <<'EOF'
apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: smoke
spec:
  rayVersion: "2.52.0"
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers:
          - name: ray-head
            image: rayproject/ray:2.52.0
            resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 100m, memory: 128Mi}}
  workerGroupSpecs:
    - groupName: wg
      replicas: 1
      minReplicas: 1
      maxReplicas: 1
      rayStartParams: {}
      template:
        spec:
          containers:
            - name: ray-worker
              image: rayproject/ray:2.52.0
              resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 100m, memory: 128Mi}}
EOF
pod_ip_of() { kubectl -n "$NS" get pods -l "ray.io/cluster=smoke,ray.io/node-type=$1" -o jsonpath='{.items[0].status.podIP}' 2>/dev/null; }
has_ip() { [[ $(pod_ip_of "$1") == 10.244.* ]]; }
check "RayCluster -> head pod (ray.io/node-type=head) Running with an IP" poll 60 has_ip head
check "RayCluster -> worker pod (ray.io/node-type=worker) Running with an IP" poll 60 has_ip worker
check "RayCluster -> head Service smoke-head-svc" poll 30 kubectl -n "$NS" get service smoke-head-svc
check "RayCluster -> worker pod has FQ_RAY_IP=smoke-head-svc.$NS.svc.cluster.local" bash -c \
  "kubectl -n $NS get pods -l ray.io/node-type=worker -o json | grep -q '\"smoke-head-svc.$NS.svc.cluster.local\"'"
check "RayCluster state ready" poll 60 bash -c "[ \"\$(kubectl -n $NS get raycluster smoke -o jsonpath='{.status.state}')\" = ready ]"

# --- every example manifest: server dry run, then for real in a fresh namespace
# raycluster-signer-csi.yaml has SecretProviderClass objects (secrets-store CSI driver). That
# driver's CRD cannot be fetched here (the Go module proxy answers 403 for
# sigs.k8s.io/secrets-store-csi-driver), so a stand-in CRD with the same group/version/kind and
# an open schema is installed: the rest of that manifest is checked for real, those objects
# only for their kind and metadata.
if grep -q '^kind: SecretProviderClass' "$ROOT"/examples/*.yaml; then
  echo "NOTE: installing a stand-in SecretProviderClass CRD (open schema; the real one is not reachable)"
  kubectl apply --server-side -f - >/dev/null <<'CRD'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: secretproviderclasses.secrets-store.csi.x-k8s.io
  annotations: {raytls.test/stand-in: "schema not checked"}
spec:
  group: secrets-store.csi.x-k8s.io
  names: {kind: SecretProviderClass, listKind: SecretProviderClassList, plural: secretproviderclasses, singular: secretproviderclass}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
CRD
  spc_established() {
    [ "$(kubectl get crd secretproviderclasses.secrets-store.csi.x-k8s.io \
      -o jsonpath='{.status.conditions[?(@.type=="Established")].status}')" = True ]
  }
  poll 30 spc_established
fi
# examples/monitoring/prometheusrule.yaml is a PrometheusRule: prometheus-operator's own CRD for
# it, from that Go module (a pinned release, 4 MB), so the API server checks it by the real schema.
PROM_OP=github.com/prometheus-operator/prometheus-operator@v0.85.0
if dir=$(cd /tmp && "${GO:-go}" mod download -json "$PROM_OP" 2>/dev/null | jq -r .Dir) && [ -d "$dir" ] \
  && kubectl apply --server-side -f "$dir/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" >/dev/null; then
  prom_established() {
    [ "$(kubectl get crd prometheusrules.monitoring.coreos.com \
      -o jsonpath='{.status.conditions[?(@.type=="Established")].status}')" = True ]
  }
  poll 30 prom_established && pass "prometheus-operator's PrometheusRule CRD ($PROM_OP) installed"
else fail "the PrometheusRule CRD from $PROM_OP (go mod download, kubectl apply)"; fi
for f in "$ROOT"/examples/*.yaml "$ROOT"/examples/kubernetes/*.yaml "$ROOT"/examples/monitoring/*.yaml; do
  rel=${f#"$ROOT"/} b=$(echo "${rel#examples/}" | tr '/' '-'); b=${b%.yaml}
  ens=ex-$(echo "$b" | tr -c 'a-z0-9\n' '-' | cut -c1-40)-$RANDOM
  kubectl create namespace "$ens" >/dev/null
  # the manifests name namespace "ray" (the signer's: "raytls-system"): point them (and .ray.svc
  # names) at the fresh one
  sed -E "s/^([[:space:]]*namespace:[[:space:]]*)(ray|raytls-system)[[:space:]]*$/\1$ens/; s/\.ray\.svc/.$ens.svc/g" "$f" >"/tmp/kube-smoke-$b.yaml"
  if out=$(kubectl -n "$ens" apply --dry-run=server -f "/tmp/kube-smoke-$b.yaml" 2>&1); then
    pass "$rel: apply --dry-run=server"
  else
    fail "$rel: apply --dry-run=server: $(echo "$out" | grep -i error | head -3 | tr '\n' ' ')"
  fi
  if out=$(kubectl -n "$ens" apply -f "/tmp/kube-smoke-$b.yaml" 2>&1); then
    pass "$rel: applied in $ens"
  else
    fail "$rel: apply: $(echo "$out" | grep -i error | head -3 | tr '\n' ' ')"
  fi
  rm -f "/tmp/kube-smoke-$b.yaml"
done

# --- a pod-bound token with audience raytls, through TokenReview
kubectl -n "$NS" create serviceaccount smoke-sa >/dev/null
kubectl -n "$NS" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: token-holder}
spec:
  serviceAccountName: smoke-sa
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
EOF
poll 30 bash -c "[[ \$(kubectl -n $NS get pod token-holder -o jsonpath='{.status.phase}') == Running ]]"
uid=$(kubectl -n "$NS" get pod token-holder -o jsonpath='{.metadata.uid}')
tok=$(kubectl -n "$NS" create token smoke-sa --audience raytls --bound-object-kind Pod --bound-object-name token-holder --duration 10m)
review() {   # review AUDIENCE: the TokenReview's status as JSON
  kubectl create -o jsonpath='{.status}' -f - <<EOF
{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "$tok", "audiences": ["$1"]}}
EOF
}
r=$(review raytls)
check "TokenReview (audience raytls): authenticated" grep -q '"authenticated":true' <<<"$r"
check "TokenReview: user system:serviceaccount:$NS:smoke-sa" grep -q "\"username\":\"system:serviceaccount:$NS:smoke-sa\"" <<<"$r"
check "TokenReview: extra pod-name token-holder" grep -q '"authentication.kubernetes.io/pod-name":\["token-holder"\]' <<<"$r"
check "TokenReview: extra pod-uid $uid" grep -q "\"authentication.kubernetes.io/pod-uid\":\[\"$uid\"\]" <<<"$r"
r=$(review other)
check "TokenReview (audience other): not authenticated" grep -q 'is invalid for the target audiences' <<<"$r"

# --- a pod the runner really runs
kubectl -n "$NS" create configmap run-cm --from-literal=greeting=hello >/dev/null
kubectl -n "$NS" create secret generic run-secret --from-literal=password=s3cret >/dev/null
kubectl -n "$NS" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: runner
  labels: {app: runner}
  annotations: {raytls.test/run: "true"}
spec:
  serviceAccountName: smoke-sa
  initContainers:
    - name: show-env
      image: busybox
      command: [env]
      env:
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: GREETING, valueFrom: {configMapKeyRef: {name: run-cm, key: greeting}}}
        - {name: PASSWORD, valueFrom: {secretKeyRef: {name: run-secret, key: password}}}
        - {name: HELLO, value: "$(GREETING) from $(POD_NAME)"}
  containers:
    - name: main
      image: busybox
      command: [sh, -c]
      args: ["cat /etc/ray/tls/token | cut -c1-10; exec sleep 3600"]
      readinessProbe:
        exec: {command: [test, -s, /etc/ray/tls/token]}
        periodSeconds: 1
      volumeMounts:
        - {name: tls, mountPath: /etc/ray/tls}
        - {name: conf, mountPath: /etc/raytls-smoke/conf, readOnly: true}
  volumes:
    - name: tls
      projected:
        sources:
          - serviceAccountToken: {audience: raytls, expirationSeconds: 3600, path: token}
    - name: conf
      configMap: {name: run-cm}
EOF
running() { [ "$(kubectl -n "$NS" get pod runner -o jsonpath='{.status.phase}/{.status.containerStatuses[0].ready}')" = Running/true ]; }
check "run pod: Running and Ready (exec readiness probe run in the container)" poll 60 running
rip=$(kubectl -n "$NS" get pod runner -o jsonpath='{.status.podIP}')
logs=$($K logs "$NS/runner" 2>&1)
check "run pod: init container's env in kube.sh logs (POD_IP=$rip)" grep -q "^POD_IP=$rip\$" <<<"$logs"
check "run pod: env from configMap, secret and \$(VAR)" bash -c \
  "grep -q '^GREETING=hello\$' <<<\"\$1\" && grep -q '^PASSWORD=s3cret\$' <<<\"\$1\" && grep -q '^HELLO=hello from runner\$' <<<\"\$1\"" _ "$logs"
check "run pod: main container read the projected token (a JWT)" grep -q '^eyJ' <<<"$($K logs "$NS/runner" -c main)"
check "run pod: exec sees the pod IP on eth0" bash -c "$K exec $NS/runner -- ip -4 addr show eth0 | grep -q 'inet $rip/'"
# /var/run/secrets/... is made in an overlay over /run: the mounts under /run (/run/netns/*) must
# stay visible, else ip says "Peer netns reference is invalid" about eth0's peer
check "run pod: mounts under an overlaid parent stay visible (ip link: no invalid peer netns)" bash -c \
  "[ -z \"\$($K exec $NS/runner -- ip link show eth0 2>&1 >/dev/null)\" ]"
check "run pod: configMap volume at its mountPath, read-only" bash -c \
  "[ \"\$($K exec $NS/runner -- cat /etc/raytls-smoke/conf/greeting)\" = hello ] && ! $K exec $NS/runner -- touch /etc/raytls-smoke/conf/x 2>/dev/null"
check "run pod: /etc/ray/tls exists only inside the pod" bash -c "[ ! -e /etc/ray/tls ] && $K exec $NS/runner -- test -s /etc/ray/tls/token"
SA=/var/run/secrets/kubernetes.io/serviceaccount
check "run pod: the API through the kubernetes Service, TLS verified, with the SA token" bash -c \
  "$K exec $NS/runner -- sh -c 'curl -sf --cacert $SA/ca.crt -H \"Authorization: Bearer \$(cat $SA/token)\" https://kubernetes.default.svc/version' | grep -q gitVersion"
check "run pod: /etc/hosts names kubernetes.default.svc.cluster.local 10.96.0.1" bash -c \
  "$K exec $NS/runner -- getent hosts kubernetes.default.svc.cluster.local | grep -q '^10.96.0.1 '"

# --- a run pod sees a checkout under /tmp (TMPCO, made above) at its host path, and still has
# its own /tmp: container raytls is exactly a pod running `raytls` from a CI clone (before the
# fix: podrunner's FileNotFoundError at the execve); container checkout works inside it
if [ -n "$TMPCO_BIN" ]; then
  kubectl -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: tmp-checkout
  annotations: {raytls.test/run: "true"}
spec:
  restartPolicy: Never
  containers:
    - {name: raytls, image: raytls, command: ["$TMPCO_BIN", --version]}
    - name: checkout
      image: raytls
      workingDir: "$TMPCO"
      command: [sh, -c, "test -f scripts/kube.sh && test -x '$TMPCO_BIN' && echo mine >/tmp/kube-smoke-private.$NS"]
EOF
  tmpco_done() { [[ $(kubectl -n "$NS" get pod tmp-checkout -o jsonpath='{.status.phase}') =~ ^(Succeeded|Failed)$ ]]; }
  poll 60 tmpco_done
  phase=$(kubectl -n "$NS" get pod tmp-checkout -o jsonpath='{.status.phase}' 2>&1)
  out=$($K logs "$NS/tmp-checkout" -c raytls 2>&1)
  if [ "$phase" = Succeeded ] && grep -q '^raytls ' <<<"$out"; then
    pass "checkout under /tmp ($TMPCO): a run pod ran its raytls ($(head -1 <<<"$out")) and worked in the checkout"
  else
    fail "checkout under /tmp ($TMPCO): run pod ${phase:-?}; raytls: $(tail -1 <<<"$out"); checkout: $($K logs "$NS/tmp-checkout" -c checkout 2>&1 | tail -1)"
  fi
  check "checkout under /tmp: the pod's /tmp stays its own (its file is in the pod's /tmp, not the host's)" bash -c \
    "[ ! -e /tmp/kube-smoke-private.$NS ] && [ \"\$(cat $S/pods/${NS}_tmp-checkout/tmp/kube-smoke-private.$NS 2>/dev/null)\" = mine ]"
  kubectl -n "$NS" delete pod tmp-checkout --wait=false >/dev/null
fi

# --- liveness: failureThreshold failures restart the container, as the kubelet does (the renewal
# drill of kube-e2e relies on it). First start: no /opt/liveness/ok, so the probe fails twice and the
# runner kills every process of the container, also one in a session of its own (Ray's daemons
# are not one process group); the second start makes /opt/liveness/ok and stays.
kubectl -n "$NS" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: liveness
  annotations: {raytls.test/run: "true"}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: app
      image: sh
      command: [sh, -c, 'n=$(cat /opt/liveness/starts 2>/dev/null || echo 0); echo $((n + 1)) >/opt/liveness/starts; [ "$n" -ge 1 ] && touch /opt/liveness/ok; setsid sleep 777$n & exec sleep 1000']
      volumeMounts: [{name: state, mountPath: /opt/liveness}]
      startupProbe: {exec: {command: [test, -e, /opt/liveness/starts]}, periodSeconds: 1}
      livenessProbe: {exec: {command: [test, -e, /opt/liveness/ok]}, periodSeconds: 1, failureThreshold: 2}
  volumes: [{name: state, emptyDir: {}}]
EOF
restarted() { [ "$(kubectl -n "$NS" get pod liveness -o jsonpath='{.status.containerStatuses[0].restartCount}')" = 1 ] \
  && [ "$(kubectl -n "$NS" get pod liveness -o jsonpath='{.status.containerStatuses[0].started}')" = true ]; }
check "liveness probe: two failures restart the container (restartCount 1, started again)" poll 60 restarted
sleep 4
check "liveness probe: the restarted container passes and stays (restartCount still 1, lastState.terminated kept)" bash -c \
  "[ \"\$(kubectl -n $NS get pod liveness -o jsonpath='{.status.containerStatuses[0].restartCount}/{.status.containerStatuses[0].lastState.terminated.reason}')\" = 1/Error ]"
check "liveness probe: the restart killed the first start's process in a session of its own" bash -c "! pgrep -f '^sleep 7770$' >/dev/null"
kubectl -n "$NS" delete pod liveness --wait=false >/dev/null

# --- a Service in front of a run pod: ClusterIP through the runner's proxy, names from /etc/hosts
kubectl -n "$NS" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
  annotations: {raytls.test/run: "true"}
spec:
  containers:
    - name: web
      image: python
      command: [sh, -c, "mkdir -p /tmp/www && echo hello-from-web > /tmp/www/index.html && exec python3 -m http.server 8080 -d /tmp/www"]
      ports: [{name: http, containerPort: 8080}]
      readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
EOF
web_ready() { [ "$(kubectl -n "$NS" get pod web -o jsonpath='{.status.containerStatuses[0].ready}')" = true ]; }
check "web pod: Ready through its httpGet readiness probe" poll 60 web_ready
wip=$(kubectl -n "$NS" get pod web -o jsonpath='{.status.podIP}')
check "pod to pod: runner -> web's IP $wip:8080" bash -c "$K exec $NS/runner -- curl -sf --max-time 5 http://$wip:8080/ | grep -q hello-from-web"
web_via_service() { $K exec "$NS/runner" -- curl -sf --max-time 5 http://web/ | grep -q hello-from-web; }
check "pod to Service: runner -> http://web/ (ClusterIP :80 -> pod :8080)" poll 20 web_via_service
check "pod to Service: web.$NS.svc.cluster.local resolves to the ClusterIP" bash -c \
  "[ \"\$($K exec $NS/runner -- getent hosts web.$NS.svc.cluster.local | cut -d' ' -f1)\" = \"\$(kubectl -n $NS get svc web -o jsonpath='{.spec.clusterIP}')\" ]"
check "no route from the machine to the pod network" bash -c "! curl -sf --max-time 2 http://$wip:8080/ >/dev/null"
kubectl -n "$NS" delete pod web --wait=false >/dev/null

kubectl -n "$NS" delete pod runner --wait=false >/dev/null
check "run pod: deleted -> gone (runner stopped it and removed the object)" poll 30 bash -c "! kubectl -n $NS get pod runner"

# --- down leaves nothing
kubectl delete namespace "$NS" --wait=false >/dev/null
if [ "${KUBE_SMOKE_KEEP:-0}" = 1 ]; then echo "kube-smoke: KUBE_SMOKE_KEEP=1: leaving the platform up"; exit 0; fi
check "kube.sh down" $K down
UP=0
check "down: no state dir" test ! -e "$S"
check "down: no rk-* network namespace" bash -c "! ip netns list | grep -q '^rk-'"
check "down: nothing listens on the platform's ports" bash -c "! ss -ltnH | awk '{print \$4}' | grep -qE ':(23790|23800|16443|16257|16259|18080|18081)\$'"
no_platform_process() {   # (not through bash -c: its own command line would match)
  local pat='raytls-kube/|podrunner[.]py'
  ! pgrep -f "$pat" >/dev/null
}
check "down: no platform process left" no_platform_process
check "down again: says not up" bash -c "$K down 2>&1 | grep -q 'not up'"
