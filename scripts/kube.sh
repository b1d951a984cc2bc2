#!/usr/bin/env bash
# scripts/kube.sh - a real Kubernetes control plane on this machine, for tests, benches and people.
#
# Usage: scripts/kube.sh VERB ...          (needs root: network namespaces for pods)
#   up        build what is missing (scripts/lib/kube-build.sh), then start etcd, kube-apiserver,
#             kube-controller-manager, kube-scheduler, the KubeRay CRDs and operator, and the node
#             agent (scripts/lib/podrunner.py: node "raytls-node"); wait for /readyz and the node.
#             Prints how long it took. Idempotent: already up -> says so.
#   down      stop every process `up` started (pid files), delete the pod network namespaces and
#             the state dir. Idempotent.
#   status    what runs (component, pid, RSS), /readyz, nodes and pods.
#   env       `export KUBECONFIG=...` and the rest: `eval "$(scripts/kube.sh env)"; kubectl get pods -A`
#   exec NS/POD [-c CONTAINER] -- CMD...
#             CMD inside a pod the runner runs (annotation raytls.test/run: "true"): its network and
#             mount namespaces, the container's env (the main container unless -c).
#   logs NAME | NS/POD [-c CONTAINER]
#             a control-plane log (etcd kube-apiserver kube-controller-manager kube-scheduler
#             kuberay-operator podrunner), or a run pod's container logs (all, init ones first).
#   build     build the binaries into the cache (what `up` does when one is missing).
#   rotate-sa-key
#             a new ServiceAccount signing key: kube-apiserver restarted signing with it and
#             publishing it beside the old ones (/openid/v1/jwks), as a key rotation does; tokens
#             signed before stay valid. pki/sa-signing.key names the key that signs now.
#
# Everything listens on 127.0.0.1 only (ports below) or in network namespaces made here
# (pods: 10.244.0.0/16 on a bridge in namespace rk-hub; Services: 10.96.0.0/16, virtual).
#   etcd 23790 (peer 23800)   kube-apiserver 16443   kube-controller-manager 16257
#   kube-scheduler 16259      kuberay-operator metrics 18080, health 18081
#
# Env: RAYTLS_KUBE_STATE (state dir, default /tmp/raytls-kube), RAYTLS_KUBE_CACHE (binaries,
#      default ${XDG_CACHE_HOME:-$HOME/.cache}/raytls-kube), KUBE_VERSION, KUBERAY_VERSION,
#      RAYTLS_KUBE_NO_OPERATOR=1 (up without the KubeRay CRDs and operator),
#      RAY_TLS_VENV (the "image" run pods use; default the harness's Ray venv),
#      RAYTLS_BIN (the raytls that run pods are given), RAYTLS_KUBE_HOST_PATHS (DIR:DIR...: more
#      host directories run pods must see). Each run pod has a private /tmp: the venv, this
#      checkout, RAYTLS_BIN's directory and those DIRs are bound back into it when under /tmp.
#
# EXAMPLES
#   scripts/kube.sh up && eval "$(scripts/kube.sh env)" && kubectl get pods -A
#   scripts/kube.sh logs kube-apiserver | tail
#   scripts/kube.sh exec default/mypod -- ip addr
#   scripts/kube.sh down
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/kube-build.sh
. "$ROOT/scripts/lib/kube-build.sh"
# shellcheck source=lib/kube-pki.sh
. "$ROOT/scripts/lib/kube-pki.sh"

S=${RAYTLS_KUBE_STATE:-/tmp/raytls-kube}
ETCD_PORT=23790 ETCD_PEER_PORT=23800 API_PORT=16443 KCM_PORT=16257 SCHED_PORT=16259
OP_METRICS_PORT=18080 OP_HEALTH_PORT=18081
API=https://127.0.0.1:$API_PORT
SERVICE_CIDR=10.96.0.0/16
NODE_NAME=raytls-node
KUBECTL=${KUBECTL:-kubectl}
COMPONENTS="etcd kube-apiserver kube-controller-manager kube-scheduler kuberay-operator podrunner"

die() { echo "kube: $*" >&2; exit 2; }
say() { echo "kube: $*" >&2; }
kc() { "$KUBECTL" --kubeconfig "$S/kubeconfig/admin.conf" "$@"; }

# --- processes: pid files hold "PID STARTTIME" so a reused pid is never taken for ours
starttime() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0; s=${s##*) }; set -- $s; [ "$1" != Z ] && echo "${20}"; }
pid_of() {   # pid_of NAME: the pid of a live component we started, else nothing
  local f=$S/pids/$1.pid pid st
  [ -f "$f" ] || return 0
  read -r pid st <"$f" || return 0
  [ -n "$pid" ] && [ "$(starttime "$pid")" = "$st" ] && echo "$pid"
  return 0
}
start() {    # start NAME CMD...: in its own session, output to logs/NAME.log, pid recorded
  local name=$1; shift
  [ -n "$(pid_of "$name")" ] && return 0
  mkdir -p "$S/pids" "$S/logs"
  setsid "$@" >>"$S/logs/$name.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid $(starttime "$pid")" >"$S/pids/$name.pid"
}
stop() {     # stop NAME: TERM, up to 10 s, then KILL its session
  local name=$1 pid i
  pid=$(pid_of "$name")
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 40); do [ -n "$(pid_of "$name")" ] || break; sleep 0.25; done
    [ -n "$(pid_of "$name")" ] && { say "$name did not stop on TERM: SIGKILL"; kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"; }
  fi
  rm -f "$S/pids/$name.pid"
}
alive_or_die() {   # alive_or_die NAME: the component is running, else its log tail and exit 1
  [ -n "$(pid_of "$1")" ] && return 0
  echo "kube: $1 exited; tail of $S/logs/$1.log:" >&2
  tail -n 20 "$S/logs/$1.log" 2>/dev/null | sed 's/^/  /' >&2
  exit 1
}
wait_for() {   # wait_for NAME SECONDS CMD...: until CMD succeeds, NAME stays alive
  local name=$1 secs=$2 i; shift 2
  for i in $(seq $((secs * 4))); do
    "$@" >/dev/null 2>&1 && return 0
    alive_or_die "$name"
    sleep 0.25
  done
  echo "kube: $name not ready after ${secs}s; tail of $S/logs/$name.log:" >&2
  tail -n 20 "$S/logs/$name.log" | sed 's/^/  /' >&2
  exit 1
}
readyz() { curl -sf --max-time 2 --cacert "$S/pki/ca.crt" "$API/readyz" >/dev/null; }

# --- up
ensure_tools() {
  command -v etcd >/dev/null || {
    say "installing etcd-server (Debian)"
    { apt-get install -y etcd-server || { apt-get update && apt-get install -y etcd-server; }; } >/dev/null 2>&1 ||
      die "cannot install etcd-server"
  }
  command -v "$KUBECTL" >/dev/null || die "no kubectl on PATH (set KUBECTL)"
  local t
  for t in openssl curl ip python3 unshare nsenter; do command -v "$t" >/dev/null || die "needs $t"; done
}

ensure_binaries() {
  local missing=() c
  for c in $K8S_COMPONENTS $([ "${RAYTLS_KUBE_NO_OPERATOR:-0}" = 1 ] || echo kuberay-operator); do
    [ -x "$(bin_path "$c")" ] || missing+=("$c")
  done
  [ ${#missing[@]} = 0 ] && return 0
  say "building ${missing[*]} (first time: ~10-15 min; log $KUBE_CACHE/build.log)"
  main "${missing[@]}"
}

start_etcd() {
  mkdir -p "$S/etcd" && chmod 700 "$S/etcd"
  start etcd etcd --name raytls --data-dir "$S/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "raytls=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --unsafe-no-fsync --quota-backend-bytes=2147483648 --log-level=warn
  wait_for etcd 20 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  local p=$S/pki
  [ -e "$p/sa-signing.key" ] || ln -sfn sa.key "$p/sa-signing.key"   # until rotate-sa-key
  start kube-apiserver "$(bin_path kube-apiserver)" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" \
    --client-ca-file="$p/ca.crt" \
    --requestheader-client-ca-file="$p/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$p/front-proxy-client.crt" --proxy-client-key-file="$p/front-proxy-client.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    $(for k in "$p"/sa.pub "$p"/sa-rotated-*.pub; do [ -f "$k" ] && printf -- '--service-account-key-file=%s ' "$k"; done) \
    --service-account-signing-key-file="$(readlink -f "$p/sa-signing.key")" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-cluster-ip-range="$SERVICE_CIDR" --endpoint-reconciler-type=none \
    --allow-privileged=true --profiling=false --cert-dir="$S/apiserver-certs"
  wait_for kube-apiserver 60 readyz
}

cmd_rotate_sa_key() {
  is_up || die "not up"
  local p=$S/pki n
  n=1
  while [ -e "$p/sa-rotated-$n.key" ]; do n=$((n + 1)); done
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$p/sa-rotated-$n.key" 2>/dev/null
  openssl pkey -in "$p/sa-rotated-$n.key" -pubout -out "$p/sa-rotated-$n.pub" 2>/dev/null
  ln -sfn "sa-rotated-$n.key" "$p/sa-signing.key"
  stop kube-apiserver
  start_apiserver
  say "kube-apiserver signs ServiceAccount tokens with sa-rotated-$n.key now ($((n + 1)) keys published)"
}

start_controllers() {
  local p=$S/pki k=$S/kubeconfig
  start kube-controller-manager "$(bin_path kube-controller-manager)" \
    --kubeconfig="$k/kcm.conf" --authentication-kubeconfig="$k/kcm.conf" --authorization-kubeconfig="$k/kcm.conf" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --cert-dir="$S/kcm-certs" \
    --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file="$p/sa.key" --root-ca-file="$p/ca.crt" \
    --cluster-signing-cert-file="$p/ca.crt" --cluster-signing-key-file="$p/ca.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --cluster-name=raytls \
    --controllers='*,-node-lifecycle-controller,-taint-eviction-controller,-pod-garbage-collector-controller' \
    --profiling=false
  start kube-scheduler "$(bin_path kube-scheduler)" \
    --kubeconfig="$k/scheduler.conf" --authentication-kubeconfig="$k/scheduler.conf" \
    --authorization-kubeconfig="$k/scheduler.conf" \
    --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --cert-dir="$S/scheduler-certs" \
    --leader-elect=false --profiling=false
}

crds_established() {   # the three KubeRay CRDs are Established (kubectl 1.32's `wait` errors on CRDs)
  [ "$(kc get crd rayclusters.ray.io rayjobs.ray.io rayservices.ray.io \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Established")].status}{end}' 2>/dev/null)" = TrueTrueTrue ] ||
    { sleep 0.75; return 1; }   # (with wait_for's 0.25 s: one kubectl a second)
}

# install_crds: the operator module's CRDs (server-side: the RayCluster CRD is over the
# client-side annotation limit), one kubectl per file in parallel (each takes seconds)
install_crds() {
  local mod f pids=() rc=0
  mod=$(kuberay_module_dir)
  for f in "$mod"/config/crd/bases/*.yaml; do
    kc apply --server-side --force-conflicts -f "$f" >>"$S/logs/crds.log" 2>&1 &
    pids+=($!)
  done
  for f in "${pids[@]}"; do wait "$f" || rc=1; done
  return $rc
}

start_operator() {
  local mod f
  mod=$(kuberay_module_dir)
  wait "$CRDS_PID" || { echo "kube: installing the KubeRay CRDs failed; $S/logs/crds.log:" >&2; tail -n 20 "$S/logs/crds.log" >&2; exit 1; }
  stage crds-applied
  wait_for kube-apiserver 90 crds_established
  stage crds-established
  # the operator runs as its own ServiceAccount with the module's ClusterRole (config/rbac)
  {
    kc create namespace ray-system --dry-run=client -o yaml
    echo ---
    kc -n ray-system create serviceaccount kuberay-operator --dry-run=client -o yaml
    echo ---
    cat "$mod/config/rbac/role.yaml"   # ClusterRole "kuberay-operator"
    echo ---
    kc create clusterrolebinding kuberay-operator --clusterrole=kuberay-operator \
      --serviceaccount=ray-system:kuberay-operator --dry-run=client -o yaml
  } | kc apply -f - >/dev/null
  stage rbac
  local token
  token=$(kc -n ray-system create token kuberay-operator --duration=48h)
  (
    umask 077
    cat >"$S/kubeconfig/operator.conf" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: raytls
  cluster: {server: "$API", certificate-authority-data: "$(base64 -w0 "$S/pki/ca.crt")"}
users:
- name: kuberay-operator
  user: {token: "$token"}
contexts:
- name: raytls
  context: {cluster: raytls, user: kuberay-operator}
current-context: raytls
EOF
  )
  KUBECONFIG=$S/kubeconfig/operator.conf start kuberay-operator "$(bin_path kuberay-operator)" \
    --metrics-addr="127.0.0.1:$OP_METRICS_PORT" --health-probe-bind-address="127.0.0.1:$OP_HEALTH_PORT" \
    --enable-leader-election=false --log-stdout-encoder=console
  wait_for kuberay-operator 30 curl -sf "http://127.0.0.1:$OP_HEALTH_PORT/readyz"
}

start_podrunner() {
  # Host paths: what run pods must see at the host's path although each pod's /tmp is private
  # (podrunner binds those under /tmp back into it; the venv is always one). A CI clone lives
  # under /tmp: pods run the raytls binary of this checkout (RAYTLS_BIN, by default under
  # target/) and read its files, so without these they would not find them.
  local hp=(--host-path "$ROOT") extra=() d
  [ -n "${RAYTLS_BIN:-}" ] && hp+=(--host-path "$(dirname "$(readlink -f "$RAYTLS_BIN")")")
  IFS=: read -ra extra <<<"${RAYTLS_KUBE_HOST_PATHS:-}"
  for d in "${extra[@]}"; do [ -n "$d" ] && hp+=(--host-path "$d"); done
  start podrunner python3 "$ROOT/scripts/lib/podrunner.py" --state "$S" --server "$API" \
    --kubeconfig-dir "$S/kubeconfig" --node "$NODE_NAME" "${hp[@]}"
  wait_for podrunner 30 node_ready
}
node_ready() {
  [ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

is_up() { [ -n "$(pid_of kube-apiserver)" ] && [ -f "$S/pki/ca.crt" ] && readyz; }

# stage NAME: note how long the step since the last stage took (for the "up in" line)
stage() {
  local t
  t=$(date +%s.%N)
  STAGES="$STAGES${STAGES:+, }$1 $(awk -v a="${STAGE_T:-$t0}" -v b="$t" 'BEGIN { printf "%.1f", b - a }')"
  STAGE_T=$t
}

cmd_up() {
  [ "$(id -u)" = 0 ] || die "up needs root (network namespaces for pods)"
  ensure_tools
  ensure_binaries
  if is_up; then
    local c missing=()
    for c in $COMPONENTS; do
      [ "$c" = kuberay-operator ] && [ "${RAYTLS_KUBE_NO_OPERATOR:-0}" = 1 ] && continue
      [ -n "$(pid_of "$c")" ] || missing+=("$c")
    done
    if [ ${#missing[@]} = 0 ]; then say "already up ($API, state $S)"; return 0; fi
    say "up, but not running: ${missing[*]}: starting them"
  fi
  local t0
  t0=$(date +%s.%N)
  mkdir -p "$S" && chmod 700 "$S"
  echo "$API" >"$S/server"
  kube_pki "$S/pki"
  mkdir -p "$S/kubeconfig"
  local u
  for u in admin kcm scheduler node; do
    kube_kubeconfig "$S/kubeconfig/$u.conf" "$API" "$S/pki/ca.crt" "$S/pki/$u.crt" "$S/pki/$u.key"
  done
  STAGES=""
  stage pki
  start_etcd
  stage etcd
  start_apiserver
  stage apiserver
  if [ "${RAYTLS_KUBE_NO_OPERATOR:-0}" != 1 ]; then install_crds & CRDS_PID=$!; fi
  start_controllers
  start_podrunner
  stage node
  [ "${RAYTLS_KUBE_NO_OPERATOR:-0}" = 1 ] || { start_operator; stage operator-ready; }
  wait_for kube-controller-manager 30 kc -n default get serviceaccount default
  alive_or_die kube-scheduler
  say "up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s ($STAGES): $API (state $S)"
  say 'use it: eval "$(bash scripts/kube.sh env)"; kubectl get pods -A'
}

# --- down
cmd_down() {
  local c n=0
  [ -d "$S" ] || { say "down: not up (no $S)"; return 0; }
  # the pod runner first: it stops the pods it runs and deletes their network namespaces
  for c in podrunner kuberay-operator kube-scheduler kube-controller-manager kube-apiserver etcd; do
    [ -n "$(pid_of "$c")" ] && n=$((n + 1))
    stop "$c"
  done
  # whatever the runner left (it was killed, say): only namespaces it recorded as made by it
  if [ -f "$S/netns" ]; then
    local ns pid
    for ns in $(sort -u "$S/netns"); do
      ip netns list | awk '{print $1}' | grep -qx "$ns" || continue
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
      rm -rf "/etc/netns/$ns"
    done
  fi
  # a run pod's processes that are in no namespace of ours any more (their pid files)
  if [ -d "$S/pods" ]; then
    local f pid st
    for f in "$S"/pods/*/*.pid; do
      [ -f "$f" ] || continue
      read -r pid st <"$f" || continue
      [ -n "$pid" ] && [ "$(starttime "$pid")" = "$st" ] && kill -KILL "$pid" 2>/dev/null || true
    done
    # unmount what a pod's mount setup may have left (only under our state dir)
    awk -v s="$S/" 'index($2, s) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  fi
  rm -rf "$S"
  say "down: stopped $n component(s), removed $S"
}

# --- status
cmd_status() {
  local c pid rss
  [ -d "$S" ] || { echo "not up (no $S)"; return 3; }
  printf '%-24s %-8s %s\n' COMPONENT PID RSS
  for c in $COMPONENTS; do
    pid=$(pid_of "$c")
    if [ -n "$pid" ]; then
      rss=$(awk '/VmRSS/ {printf "%d MB", $2/1024}' "/proc/$pid/status")
      printf '%-24s %-8s %s\n' "$c" "$pid" "$rss"
    else
      printf '%-24s %-8s %s\n' "$c" - "not running"
    fi
  done
  if readyz; then echo "readyz: ok ($API)"; else echo "readyz: FAILING ($API)"; return 1; fi
  kc get nodes -o wide 2>&1 | sed 's/^/  /'
  kc get pods -A -o wide 2>&1 | sed 's/^/  /'
}

cmd_env() {
  [ -f "$S/kubeconfig/admin.conf" ] || { say "not up (no $S/kubeconfig/admin.conf): run scripts/kube.sh up"; exit 1; }
  echo "export KUBECONFIG=$S/kubeconfig/admin.conf"
  echo "export RAYTLS_KUBE_STATE=$S"
  echo "export RAYTLS_KUBE_SERVER=$API"
  echo "export RAYTLS_KUBE_CA=$S/pki/ca.crt"
}

# pod_dir NS/POD: the run pod's directory (made by podrunner.py), else exit 1
pod_dir() {
  [[ ${1:-} == */* ]] || die "want NS/POD, got '${1:-}'"
  local d=$S/pods/${1%%/*}_${1#*/}
  [ -d "$d" ] || { echo "kube: pod $1 is not run here (no $d; run pods carry annotation raytls.test/run: \"true\")" >&2; exit 1; }
  echo "$d"
}

cmd_logs() {
  local what=${1:-} c="" d f
  [ -n "$what" ] || die "usage: logs NAME | NS/POD [-c CONTAINER]"
  [ "${2:-}" = -c ] && c=${3:?-c needs a container name}
  if [[ $what != */* ]]; then
    case " $COMPONENTS " in *" $what "*) ;; *) die "unknown component '$what' (one of: $COMPONENTS)" ;; esac
    cat "$S/logs/$what.log"
    return
  fi
  d=$(pod_dir "$what")
  if [ -n "$c" ]; then
    [ -f "$d/logs/$c.log" ] || die "no container '$c' in $what (have: $(ls "$d/logs" | sed 's/\.log$//' | paste -sd' '))"
    cat "$d/logs/$c.log"
    return
  fi
  for f in $(cat "$d/containers" 2>/dev/null); do
    [ -f "$d/logs/$f.log" ] || continue
    echo "==> $f <=="
    cat "$d/logs/$f.log"
  done
}

cmd_exec() {
  local target=${1:-} c="" d
  shift || true
  [ "${1:-}" = -c ] && { c=${2:?-c needs a container name}; shift 2; }
  [ "${1:-}" = -- ] || die "usage: exec NS/POD [-c CONTAINER] -- CMD..."
  shift
  [ $# -gt 0 ] || die "exec: no command after --"
  d=$(pod_dir "$target")
  [ -n "$c" ] || c=$(cat "$d/main")
  [ -f "$d/$c.pid" ] || die "no running container '$c' in $target"
  # the container's env, network, mount and UTS namespaces
  exec python3 "$ROOT/scripts/lib/podrunner.py" exec "$d" "$c" -- "$@"
}

VERB=${1:-}
shift || true
case $VERB in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  status) cmd_status "$@" ;;
  env) cmd_env "$@" ;;
  logs) cmd_logs "$@" ;;
  exec) cmd_exec "$@" ;;
  rotate-sa-key) cmd_rotate_sa_key "$@" ;;
  build) main "$@" ;;
  -h | --help | help) sed -n '2,/^set -e/{/^#/p;}' "$0" | sed 's/^# \{0,1\}//' ;;
  "") sed -n '2,/^set -e/{/^#/p;}' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  *) die "unknown verb '$VERB' (up down status env exec logs build)" ;;
esac
