# kube-objects.sh - Kubernetes objects the kube tests and benches make, and the signer they
# start, sourced (needs kubectl with KUBECONFIG set).

# suspended_raycluster NS NAME: a RayCluster with spec.suspend: true (the KubeRay operator makes
# no pods for it; the caller makes Pod objects owned by it); prints its UID.
suspended_raycluster() {
  kubectl -n "$1" apply -f - >/dev/null <<EOF_RC
apiVersion: ray.io/v1
kind: RayCluster
metadata: {name: $2}
spec:
  suspend: true
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers: [{name: ray-head, image: rayproject/ray:2.52.0}]
EOF_RC
  kubectl -n "$1" get raycluster "$2" -o jsonpath='{.metadata.uid}'
}

# start_kube_signer RT DIR LISTEN NAMESPACE_SELECTOR NAME: a root (DIR/root, "NAME root") and a
# cluster key (DIR/cluster.key), then `RT serve --kubernetes` (KUBECONFIG) on LISTEN for the
# namespaces that match NAMESPACE_SELECTOR and ServiceAccounts */ray-sa, auditing to
# DIR/audit.jsonl and logging to DIR/signer.log, in the background; waits until /healthz answers
# (its watch caches have listed). Sets SIGNER_PID, URL and CA (DIR/root/ca.crt). Exits 2, the
# signer's log on stderr, if it exits or does not answer within 30 s. More arguments go to
# `serve` as they are. READY_STATUS (default 200) is the /healthz status that counts as up.
# wait_issuer_ready TRIES: until the signer at URL (CA) settles tokens itself (/healthz
# issuer_ready: the issuer's keys read, the ServiceAccount watch listed; before that
# --token-review on-miss reviews them), 0.2 s apart, at most TRIES times.
wait_issuer_ready() {
  local i
  for i in $(seq "$1"); do
    curl -s --cacert "$CA" "$URL/healthz" | jq -e .issuer_ready >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 0
}

start_kube_signer() {
  local rt=$1 dir=$2 listen=$3 selector=$4 name=$5
  shift 5
  mkdir -p "$dir"
  "$rt" ca create --out "$dir/root" --name "$name root" >/dev/null
  "$rt" token generate --out "$dir/cluster.key" >/dev/null
  "$rt" serve --kubernetes --kubeconfig "$KUBECONFIG" --ca "$dir/root" --cluster-key "$dir/cluster.key" \
    --listen "$listen" --namespace-selector "$selector" --service-account "*/ray-sa" \
    --audit-log "$dir/audit.jsonl" "$@" >"$dir/signer.log" 2>&1 &
  SIGNER_PID=$! URL=https://$listen CA=$dir/root/ca.crt
  for _ in $(seq 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" "$URL/healthz" 2>/dev/null)" = "${READY_STATUS:-200}" ] && return 0
    kill -0 "$SIGNER_PID" 2>/dev/null || break
    sleep 0.2
  done
  cat "$dir/signer.log" >&2
  echo "$name: the signer did not come up on $URL" >&2
  exit 2
}
