#!/usr/bin/env bash
# scripts/lib/kube-build.sh - build (once) the Kubernetes parts the test platform runs, from
# upstream Go modules, into a cache keyed by version. Idempotent: a binary already in the cache
# is not rebuilt. Run directly (`bash scripts/lib/kube-build.sh [COMPONENT...]`) or through
# `scripts/kube.sh build`; `kube.sh up` calls it when a binary is missing.
#
# Components: kube-apiserver kube-controller-manager kube-scheduler (module k8s.io/kubernetes,
# $KUBE_VERSION) and kuberay-operator (module github.com/ray-project/kuberay/ray-operator,
# $KUBERAY_VERSION). Binaries go to $KUBE_CACHE/<component>-<version>/<component>.
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces its ~33 staging modules
# (k8s.io/api, client-go, ...) with ./staging paths. So a throwaway module under the cache
# requires k8s.io/kubernetes and replaces each staging module with its published v0.X.Y (the
# list is read from that release's own go.mod). The KubeRay operator's go.mod has no replace,
# so it is a plain `go install`.
#
# Go: must be 1.26 for kube-apiserver (Go 1.27 turns on encoding/json/v2 and kube-openapi then
# serves /openapi/v2 with raw Go field names; kubectl apply fails). GOMODCACHE/GOCACHE are Go's
# defaults so a warm machine reuses them. Log: $KUBE_CACHE/build.log (appended).
#
# Env: KUBE_VERSION (v1.36.3), KUBERAY_VERSION (v1.5.0), RAYTLS_KUBE_CACHE (default
#      ${XDG_CACHE_HOME:-$HOME/.cache}/raytls-kube), GO (default: go on PATH, else /usr/local/go/bin/go).
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.36.3}
KUBERAY_VERSION=${KUBERAY_VERSION:-v1.5.0}
KUBE_CACHE=${RAYTLS_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/raytls-kube}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
K8S_COMPONENTS="kube-apiserver kube-controller-manager kube-scheduler"
ALL_COMPONENTS="$K8S_COMPONENTS kuberay-operator"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0

# bin_path COMPONENT: where the cached binary of COMPONENT lives
bin_path() {
  case $1 in
    kuberay-operator) echo "$KUBE_CACHE/$1-$KUBERAY_VERSION/$1" ;;
    *) echo "$KUBE_CACHE/$1-$KUBE_VERSION/$1" ;;
  esac
}

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$KUBE_CACHE/build.log" >&2; }

check_go() {
  [ -x "$GO" ] || { echo "kube-build: no Go toolchain at '$GO' (set GO)" >&2; exit 2; }
  local v
  v=$("$GO" env GOVERSION)
  case $v in
    go1.26*) ;;
    *) echo "kube-build: $GO is $v; kube-apiserver needs Go 1.26 (1.27 breaks /openapi/v2)" >&2; exit 2 ;;
  esac
}

# k8s_module_dir: the throwaway module that builds k8s.io/kubernetes commands at $KUBE_VERSION
k8s_module_dir() {
  local dir=$KUBE_CACHE/build/k8s-$KUBE_VERSION
  if [ ! -f "$dir/go.mod" ]; then
    mkdir -p "$dir"
    local mod staging_ver
    mod=$(cd "$dir" && "$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    staging_ver=v0.${KUBE_VERSION#v1.}   # v1.36.3 -> v0.36.3: how staging modules are tagged
    {
      echo "module raytls.test/kube-build"
      echo
      echo "go $(sed -n 's/^go //p' "$mod")"
      echo
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      echo
      echo "replace ("
      # every `k8s.io/X => ./staging/src/k8s.io/X` of the release's go.mod, to the published tag
      sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#\t\1 => \1 '"$staging_ver"'#p' "$mod"
      echo ")"
    } >"$dir/go.mod.tmp"
    [ "$(grep -c '=>' "$dir/go.mod.tmp")" -ge 20 ] ||
      { echo "kube-build: found no staging replace block in $mod" >&2; exit 1; }
    mv "$dir/go.mod.tmp" "$dir/go.mod"
  fi
  echo "$dir"
}

build_k8s() {   # build_k8s COMPONENT...: one `go build` for all, so they share the compile
  local dir out pkgs=() c
  dir=$(k8s_module_dir)
  out=$dir/out
  mkdir -p "$out"
  for c in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  log "go build ${*} ($KUBE_VERSION) in $dir"
  (cd "$dir" && "$GO" build -mod=mod -trimpath -ldflags='-s -w' -o "$out/" "${pkgs[@]}") \
    >>"$KUBE_CACHE/build.log" 2>&1 || { log "FAILED: go build $* (see $KUBE_CACHE/build.log)"; exit 1; }
  for c in "$@"; do
    mkdir -p "$(dirname "$(bin_path "$c")")"
    mv "$out/$c" "$(bin_path "$c").tmp" && mv "$(bin_path "$c").tmp" "$(bin_path "$c")"
  done
}

build_kuberay() {
  local gobin=$KUBE_CACHE/build/kuberay-$KUBERAY_VERSION
  mkdir -p "$gobin"
  log "go install github.com/ray-project/kuberay/ray-operator@$KUBERAY_VERSION"
  (cd "$gobin" && GOBIN=$gobin "$GO" install -trimpath -ldflags='-s -w' \
    "github.com/ray-project/kuberay/ray-operator@$KUBERAY_VERSION") >>"$KUBE_CACHE/build.log" 2>&1 ||
    { log "FAILED: go install ray-operator (see $KUBE_CACHE/build.log)"; exit 1; }
  mkdir -p "$(dirname "$(bin_path kuberay-operator)")"
  mv "$gobin/ray-operator" "$(bin_path kuberay-operator)"
}

# kuberay_module_dir: the operator's module source (CRDs in config/crd/bases, RBAC in config/rbac)
kuberay_module_dir() {
  (cd "$KUBE_CACHE" && "$GO" mod download -json "github.com/ray-project/kuberay/ray-operator@$KUBERAY_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
}

main() {
  mkdir -p "$KUBE_CACHE"
  # two callers at once: the second waits, then finds the binaries built (a subshell, so the
  # lock's fd is not inherited by what the caller starts afterwards)
  (
    flock 9
    build_missing "$@"
  ) 9>"$KUBE_CACHE/build.lock"
}

build_missing() {
  local want=("$@") c k8s=() ray=0 t0
  [ ${#want[@]} -gt 0 ] || read -r -a want <<<"$ALL_COMPONENTS"
  for c in "${want[@]}"; do
    case " $ALL_COMPONENTS " in *" $c "*) ;; *) echo "kube-build: unknown component '$c' (one of: $ALL_COMPONENTS)" >&2; exit 2 ;; esac
    [ -x "$(bin_path "$c")" ] && continue
    if [ "$c" = kuberay-operator ]; then ray=1; else k8s+=("$c"); fi
  done
  if [ ${#k8s[@]} = 0 ] && [ $ray = 0 ]; then
    log "all of ${want[*]} already built"
    return 0
  fi
  check_go
  t0=$(date +%s)
  [ ${#k8s[@]} -gt 0 ] && build_k8s "${k8s[@]}"
  [ $ray = 1 ] && build_kuberay
  log "built in $(($(date +%s) - t0)) s: ${k8s[*]} $([ $ray = 1 ] && echo kuberay-operator)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
