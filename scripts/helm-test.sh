#!/usr/bin/env bash
# helm-test.sh - the Helm chart charts/raytls-signer, checked with a real helm.
#
# 1. `helm lint --strict` of the chart, alone and with each values file of ci/.
# 2. `helm template` (release raytls-signer, namespace ray) with the defaults and with each
#    ci/*.yaml; every rendered file:
#    - schema: built-in kinds against the Kubernetes schemas of kubernetes-validate (strict),
#      ServiceMonitor and SecretProviderClass structurally (scripts/helm_check.py schema);
#    - token mode: each raytls command line against the real binary's --help (every flag
#      exists; check_manifests.py's logic). Kubernetes mode: the same once the binary's
#      `raytls serve --help` lists --kubernetes; until then the flags are reported unchecked;
#    - ci/token-values.yaml and ci/csi-values.yaml: the signer objects are those of
#      examples/raycluster-signer.yaml / -csi.yaml (Helm's labels and the ServiceAccount
#      aside), and they pass scripts/check_manifests.py together with that file's RayCluster;
#      ci/replicas-values.yaml (per-role lifetimes) likewise with raycluster-renewal.yaml's;
#    - ci/kubernetes-values.yaml: the ClusterRole is exactly tokenreviews create and
#      pods/services/serviceaccounts/rayclusters get/list/watch; `raytls serve` gets the kubernetes flags;
#    - examples/kuberay-ray-cluster-values.yaml: the RayCluster KubeRay's ray-cluster chart
#      makes of it (emulated) passes check_manifests.py with the default token-mode signer.
# 3. Each ci/invalid/*.yaml must make `helm template` fail, with the message its first line
#    names (`# expect: TEXT`).
# 4. Self-test: known-bad renderings (an unknown serve flag, a probe unlike the example's, a
#    NetworkPolicy for another cluster, the head token for workers, a ClusterRole that reads
#    Secrets, a ServiceMonitor that checks another name, ...) and 4 mutations of the KubeRay
#    values (the head token on workers, another release name, no RAY_USE_TLS, another port)
#    must each be caught.
# 5. Optional: with RAYTLS_HELM_KUBECONFIG=FILE (a live API server, e.g. scripts/kube.sh's),
#    `helm install --dry-run=server` of the token, kubernetes and replicas values against it.
#
# Env: RAYTLS_HELM (a helm binary; default scripts/lib/helm-build.sh builds helm.sh/helm/v4
#      from source once per version), RAYTLS_BIN (default: cargo build, target/debug/raytls),
#      RAYTLS_VALIDATE_VENV and RAYTLS_K8S_VERSION as in scripts/validate-manifests.sh.
# Prints PASS/FAIL lines and "helm-test: N passed, M failed"; exits 1 on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHART=$ROOT/charts/raytls-signer
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/p;}' "${BASH_SOURCE[0]}"; exit 0;; esac

HELM=$(bash "$ROOT/scripts/lib/helm-build.sh") || { echo "helm-test: no helm (scripts/lib/helm-build.sh failed)" >&2; exit 2; }

# Python with PyYAML + kubernetes-validate, in the venv validate-manifests.sh uses.
# shellcheck source=lib/validate-python.sh
. "$ROOT/scripts/lib/validate-python.sh"
validate_python "import yaml, kubernetes_validate"

if [ -z "${RAYTLS_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --quiet) || { echo "cargo build failed" >&2; exit 2; }
  RAYTLS_BIN=$ROOT/target/debug/raytls
fi
K8S=${RAYTLS_K8S_VERSION:-1.30}

T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
LOG=$T/log; : >"$LOG"
say() { echo "$*" | tee -a "$LOG"; }
# run LABEL CMD...: a checker whose PASS/FAIL lines count; a non-zero exit with no FAIL line
# (a crash) is a FAIL too.
run() {
  local label=$1 rc=0; shift
  "$@" >"$T/part" 2>&1 || rc=$?
  grep -E '^(PASS|FAIL|  - )' "$T/part" | tee -a "$LOG" || true
  if [ "$rc" != 0 ] && ! grep -q '^FAIL' "$T/part"; then
    say "FAIL $label exited $rc without naming a failed check:"; sed 's/^/  | /' "$T/part" | tail -20
  fi
}
check() { "$PY" "$ROOT/scripts/helm_check.py" "$@"; }
manifests() { "$PY" "$ROOT/scripts/check_manifests.py" --raytls "$RAYTLS_BIN" --k8s-version "$K8S" "$@"; }

say "helm-test: $("$HELM" version --short) at $HELM; raytls $("$RAYTLS_BIN" --version)"

# --- 1. lint ----------------------------------------------------------------------------------
lint() {
  local label=$1; shift
  if out=$("$HELM" lint --strict "$CHART" "$@" 2>&1); then say "PASS helm lint --strict $label"
  else say "FAIL helm lint --strict $label"; echo "$out" | sed 's/^/  | /' | tee -a "$LOG"; fi
}
lint "(defaults)"
for v in "$CHART"/ci/*.yaml; do lint "-f ci/$(basename "$v")" -f "$v"; done

# --- 2. template and check --------------------------------------------------------------------
kube_in_binary=0
"$RAYTLS_BIN" serve --help 2>/dev/null | grep -q -- '--kubernetes' && kube_in_binary=1
render() {  # render NAME [helm args...] -> $T/NAME.yaml
  local name=$1; shift
  if "$HELM" template raytls-signer "$CHART" --namespace ray "$@" >"$T/$name.yaml" 2>"$T/$name.err"; then
    say "PASS helm template $name"
  else
    say "FAIL helm template $name"; sed 's/^/  | /' "$T/$name.err" | tee -a "$LOG"; return 1
  fi
}
for v in defaults "$CHART"/ci/*.yaml; do
  if [ "$v" = defaults ]; then name=defaults; args=(); else name=$(basename "$v" .yaml); args=(-f "$v"); fi
  render "$name" "${args[@]}" || continue
  out=$T/$name.yaml
  run "schema $name" check schema "$out"
  if grep -q -- '- "--kubernetes"' "$out"; then
    run "kubernetes $name" check kubernetes "$out" "$CHART/values.yaml"
    if [ $kube_in_binary = 1 ]; then run "flags $name" check flags --raytls "$RAYTLS_BIN" "$out"
    else echo "NOTE $name: \`raytls serve\` of $RAYTLS_BIN has no --kubernetes yet: the kubernetes-mode flag names (values kubernetes.flags) are unchecked"; fi
  else
    run "flags $name" check flags --raytls "$RAYTLS_BIN" "$out"
  fi
  example=""
  case $name in
    token-values) example=$ROOT/examples/raycluster-signer.yaml;;
    csi-values) example=$ROOT/examples/raycluster-signer-csi.yaml;;
    replicas-values) example=$ROOT/examples/raycluster-renewal.yaml;;
  esac
  if [ -n "$example" ]; then
    [ "$name" = replicas-values ] || run "same $name" check same "$example" "$out"
    check pair "$example" "$out" "$T/$name-paired.yaml"
    run "check_manifests $name" manifests "$T/$name-paired.yaml"
  fi
done

# KubeRay's ray-cluster chart with this chart's values snippet, next to the default signer
# (networkPolicy.rayClusters names the snippet's cluster).
if render kuberay --set 'networkPolicy.rayClusters={raycluster-signer}'; then
  check kuberay "$CHART/examples/kuberay-ray-cluster-values.yaml" ray "$T/kuberay.yaml" "$T/kuberay-paired.yaml"
  run "check_manifests kuberay" manifests "$T/kuberay-paired.yaml"
fi

# --- 3. invalid values must fail, saying why ---------------------------------------------------
for v in "$CHART"/ci/invalid/*.yaml; do
  want=$(sed -n '1s/^# expect: //p' "$v")
  label="helm template -f ci/invalid/$(basename "$v") fails"
  if [ -z "$want" ]; then say "FAIL $label: the file's first line is not '# expect: TEXT'"; continue; fi
  if "$HELM" template raytls-signer "$CHART" --namespace ray -f "$v" >/dev/null 2>"$T/err"; then
    say "FAIL $label: it rendered"
  elif grep -qF -- "$want" "$T/err"; then
    say "PASS $label: $(grep -F -- "$want" "$T/err" | head -1 | sed 's/^Error: //')"
  else
    say "FAIL $label with another message than '$want':"; sed 's/^/  | /' "$T/err" | tee -a "$LOG"
  fi
done

# --- 4. self-test: each known-bad rendering is caught by the checker that should catch it ------
# caught DESC CHECK RENDER-ARGS...: render with RENDER-ARGS, then CHECK (same, pair, kubernetes,
# schema, flags) must exit non-zero with a FAIL line.
caught() {
  local desc=$1 what=$2 rc=0; shift 2
  if ! "$HELM" template raytls-signer "$CHART" --namespace ray "$@" >"$T/m.yaml" 2>"$T/m.err"; then
    say "FAIL self-test: $desc: did not render: $(head -1 "$T/m.err")"; return
  fi
  case $what in
    same) check same "$ROOT/examples/raycluster-signer.yaml" "$T/m.yaml" >"$T/st" 2>&1 || rc=$?;;
    pair) check pair "$ROOT/examples/raycluster-signer.yaml" "$T/m.yaml" "$T/mp.yaml" >/dev/null &&
          { manifests "$T/mp.yaml" >"$T/st" 2>&1 || rc=$?; };;
    flags) check flags --raytls "$RAYTLS_BIN" "$T/m.yaml" >"$T/st" 2>&1 || rc=$?;;
    kubernetes) check kubernetes "$T/m.yaml" "$CHART/values.yaml" >"$T/st" 2>&1 || rc=$?;;
    *) check "$what" "$T/m.yaml" >"$T/st" 2>&1 || rc=$?;;
  esac
  if [ "$rc" != 0 ] && grep -q '^FAIL' "$T/st"; then
    say "PASS self-test: $what catches $desc: $(grep -A1 '^FAIL' "$T/st" | grep '^  - ' | head -1 | cut -c5-200)"
  elif [ "$rc" = 0 ]; then say "FAIL self-test: $what does not catch $desc"
  else say "FAIL self-test: $desc: $what crashed:"; tail -5 "$T/st" | sed 's/^/  | /' | tee -a "$LOG"; fi
}
TOK=(-f "$CHART/ci/token-values.yaml")
caught "an unknown serve flag" flags --set 'policy.extraArgs={--bogus}'
caught "a misspelt serve flag (--max-day)" flags --set 'policy.extraArgs={--max-day,head=3}'
caught "another readiness probe than the example's" same "${TOK[@]}" --set readinessProbe.periodSeconds=7
caught "a writable root filesystem" same "${TOK[@]}" --set securityContext.readOnlyRootFilesystem=false
caught "another CA Secret than the example's" same "${TOK[@]}" --set ca.secret.name=other-ca
caught "a NetworkPolicy for another RayCluster" pair "${TOK[@]}" --set 'networkPolicy.rayClusters={other}'
caught "the head token taken for role worker" pair "${TOK[@]}" --set tokens.roles.worker.secretName=raytls-token-head
caught "a --head-name that misses KubeRay's head Service" pair "${TOK[@]}" --set 'policy.headNames={*-head.ray.svc.cluster.local}'
caught "a Service port other than the one pods dial" pair "${TOK[@]}" --set service.port=9443
caught "an unknown field in the pod's securityContext" schema --set-json 'podSecurityContext={"runAsUsr":1}'
caught "a ServiceMonitor interval that is no duration" schema -f "$CHART/ci/metrics-values.yaml" --set metrics.serviceMonitor.interval=soon
caught "a ServiceMonitor whose serverName is not a --san" schema -f "$CHART/ci/metrics-values.yaml" \
  --set-json 'metrics.serviceMonitor.tlsConfig={"serverName":"other.ray.svc","ca":{"configMap":{"name":"raytls-ca","key":"ca.crt"}}}'
caught "a ClusterRole that reads Secrets" kubernetes -f "$CHART/ci/kubernetes-values.yaml" \
  --set-json 'kubernetes.extraRules=[{"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}]'
caught "a ClusterRole that may delete pods" kubernetes -f "$CHART/ci/kubernetes-values.yaml" \
  --set-json 'kubernetes.extraRules=[{"apiGroups":[""],"resources":["pods"],"verbs":["delete"]}]'
caught "kubernetes mode without egress to the API server" kubernetes -f "$CHART/ci/kubernetes-values.yaml" \
  --set-json 'networkPolicy.apiServer.ports=[]'

# The KubeRay values snippet, mutated: each must fail check_manifests.py next to the signer.
kuberay_caught() {  # kuberay_caught DESC PYTHON-STATEMENT-ON-v
  local desc=$1 rc=0
  "$PY" -c "import sys, yaml; v = yaml.safe_load(open(sys.argv[1])); $2; yaml.safe_dump(v, open(sys.argv[2], 'w'))" \
    "$CHART/examples/kuberay-ray-cluster-values.yaml" "$T/kv.yaml"
  check kuberay "$T/kv.yaml" ray "$T/kuberay.yaml" "$T/kvp.yaml" >/dev/null
  manifests "$T/kvp.yaml" >"$T/st" 2>&1 || rc=$?
  if [ "$rc" != 0 ] && grep -q '^FAIL' "$T/st"; then
    say "PASS self-test: check_manifests catches KubeRay values with $desc: $(grep -A1 '^FAIL' "$T/st" | grep '^  - ' | head -1 | cut -c5-160)"
  else say "FAIL self-test: check_manifests does not catch KubeRay values with $desc"; fi
}
if [ -s "$T/kuberay.yaml" ]; then
  kuberay_caught "the worker mounting the head token" \
    "next(x for x in v['worker']['volumes'] if x['name'] == 'signer-token')['secret']['secretName'] = 'raytls-token-head'"
  kuberay_caught "another release name (head Service not the --fqdn)" "v['fullnameOverride'] = 'raycluster-other'"
  kuberay_caught "no RAY_USE_TLS" "v['common']['containerEnv'] = v['common']['containerEnv'][1:]"
  kuberay_caught "the signer URL on another port" \
    "v['head']['initContainers'][0]['command'][4] = 'https://raytls-signer.ray.svc:9443'"
fi

# --- 5. optional: a live API server ------------------------------------------------------------
# Server-side dry runs create nothing. SecretProviderClass and ServiceMonitor need their CRDs,
# so only the modes without them. An API server built from source without version stamping
# reports v0.0.0-master, which the chart's kubeVersion refuses: then a copy without it is used.
if [ -n "${RAYTLS_HELM_KUBECONFIG:-}" ]; then
  DRY_CHART=$CHART
  probe=$(KUBECONFIG=$RAYTLS_HELM_KUBECONFIG "$HELM" install rt-probe "$CHART" --namespace default --dry-run=server 2>&1 || true)
  if grep -q 'incompatible with Kubernetes v0.0.0' <<<"$probe"; then
    echo "NOTE the API server reports version v0.0.0 (built without version stamping): dry runs use the chart without kubeVersion"
    cp -r "$CHART" "$T/chart"; sed -i '/^kubeVersion:/d' "$T/chart/Chart.yaml"; DRY_CHART=$T/chart
  fi
  for v in token-values kubernetes-values replicas-values; do
    if out=$(KUBECONFIG=$RAYTLS_HELM_KUBECONFIG "$HELM" install "rt-$v" "$DRY_CHART" --namespace default \
               -f "$CHART/ci/$v.yaml" --dry-run=server 2>&1); then
      say "PASS helm install --dry-run=server -f ci/$v.yaml ($(echo "$out" | grep -c '^kind:') objects accepted)"
    else
      say "FAIL helm install --dry-run=server -f ci/$v.yaml"; echo "$out" | grep -m3 Error | sed 's/^/  | /' | tee -a "$LOG"
    fi
  done
fi

PASSED=$(grep -c '^PASS' "$LOG" || true); FAILED=$(grep -c '^FAIL' "$LOG" || true)
[ "$PASSED" -gt 0 ] || { echo "FAIL nothing was checked"; FAILED=$((FAILED+1)); }
echo "helm-test: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
