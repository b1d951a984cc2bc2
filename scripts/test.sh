#!/usr/bin/env bash
# test.sh - every test raytls has, as CI runs it (.ci/run runs exactly this).
# Installs what the tests need from Debian's packages (openssl, setpriv, python3-venv for the
# Ray harness, zsh and fish for the completion checks), then runs each stage:
#   lint (cargo fmt --check, clippy -D warnings), cargo test (unit + integration: the real
#   binary, openssl, in-process rustls peers; --locked, as the Docker build is), the real-Ray interop scripts, the manifest and
#   Dockerfile checks, the signer's API against its OpenAPI document, and scripts/fuzz-smoke.sh.
# Everything else a stage needs it fetches from crates.io or PyPI itself: nothing has to be
# on the machine beforehand (CI starts with an empty cargo cache and no Ray venv).
# Prints one PASS/FAIL line per stage and "test.sh: N passed, M failed"; exits 1 on any failure.
# Env: RAYTLS_SKIP_RAY=1 skips the stages that start a real Ray head (~1 GB, a few minutes).
#      RAYTLS_SKIP_KUBE=1 skips the Kubernetes stages (and the Go builds they need).
#      The stages get RAYTLS_BIN (the debug binary that cargo test built).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v setpriv >/dev/null || need_apt+=(util-linux)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v zsh >/dev/null || need_apt+=(zsh)     # completion scripts are syntax-checked
command -v fish >/dev/null || need_apt+=(fish)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing ${need_apt[*]}"
    # A new machine's package lists may be stale or absent: update once if the install fails.
    { apt-get install -y "${need_apt[@]}" || { apt-get update && apt-get install -y "${need_apt[@]}"; }; } >/dev/null 2>&1 ||
      echo "== apt-get install ${need_apt[*]} failed (tests that need them will fail)" >&2
  else
    echo "== missing ${need_apt[*]}: install them (tests that need them will fail)" >&2
  fi
fi

PASSED=0; FAILED=0; FAILED_NAMES=()
stage() {  # stage NAME CMD...: run, record, keep going
  local name=$1; shift; local t=$SECONDS
  echo "=== $name"
  if "$@"; then echo "PASS: $name ($((SECONDS-t))s)"; PASSED=$((PASSED+1))
  else echo "FAIL: $name ($((SECONDS-t))s)"; FAILED=$((FAILED+1)); FAILED_NAMES+=("$name"); fi
}

# The Kubernetes test platform (kube-apiserver, controller-manager and scheduler from
# k8s.io/kubernetes, the KubeRay operator: scripts/lib/kube-build.sh) and helm
# (scripts/lib/helm-build.sh) are built from Go modules: minutes cold on 2 cores, nothing once
# cached under ~/.cache/raytls-kube and ~/.cache/raytls-helm. The builds start now
# in the background, beside the Rust stages and the real-Ray ones (which mostly wait on Ray),
# and the Kubernetes stages wait for it.
GO_BUILDS=""
if [ "${RAYTLS_SKIP_KUBE:-0}" != 1 ]; then
  mkdir -p target
  { bash scripts/kube.sh build && bash scripts/lib/helm-build.sh; } > target/go-builds.log 2>&1 &
  GO_BUILDS=$!
fi
go_builds_done() {  # the background build's result, once; its log on failure
  [ -n "$GO_BUILDS" ] || return 0
  local rc=0; wait "$GO_BUILDS" || rc=$?; GO_BUILDS=""
  [ $rc = 0 ] || { echo "the Go builds failed (rc=$rc):"; tail -20 target/go-builds.log; }
  GO_BUILDS_RC=$rc
  return $rc
}
GO_BUILDS_RC=0
after_go_builds() { go_builds_done; [ "$GO_BUILDS_RC" = 0 ] || return 1; "$@"; }

stage "cargo fmt --check" cargo fmt --all --check
stage "cargo clippy" cargo clippy --locked --workspace --all-targets --quiet -- -D warnings
stage "cargo test" cargo test --locked --workspace --quiet
export RAYTLS_BIN=$ROOT/target/debug/raytls
if [ "${RAYTLS_SKIP_RAY:-0}" != 1 ]; then
  stage "real Ray: raytls certificates (scripts/interop.sh)" bash scripts/interop.sh
  stage "real Ray: raytls health-check (scripts/interop-health-check.sh)" bash scripts/interop-health-check.sh
  stage "real Ray: signer, two nodes (scripts/signer-interop.sh)" bash scripts/signer-interop.sh
  stage "real Ray: renewal on a running cluster (scripts/renewal-interop.sh)" bash scripts/renewal-interop.sh
  stage "real Ray: health-check --all-nodes, three nodes (scripts/cluster-view-interop.sh)" bash scripts/cluster-view-interop.sh
  stage "real Ray: CA rotation, two nodes (scripts/rotation-interop.sh)" bash scripts/rotation-interop.sh
fi
stage "manifests (scripts/validate-manifests.sh)" bash scripts/validate-manifests.sh
stage "docs: every link and file path in the Markdown resolves (scripts/check-links.py)" python3 scripts/check-links.py
stage "Dockerfile build context (scripts/check-dockerfile.sh)" bash scripts/check-dockerfile.sh
stage "signer API vs its OpenAPI document (scripts/signer-schemathesis.sh)" bash scripts/signer-schemathesis.sh
stage "alert rules: promtool and a real Prometheus (scripts/monitoring-test.sh)" bash scripts/monitoring-test.sh
if [ "${RAYTLS_SKIP_KUBE:-0}" != 1 ]; then
  stage "Helm chart: lint, template, validate (scripts/helm-test.sh)" after_go_builds bash scripts/helm-test.sh
  stage "kubernetes: the test platform and every example applied (scripts/kube-smoke.sh)" after_go_builds bash scripts/kube-smoke.sh
  # Twice: tokens checked by a TokenReview each (--token-review always), then against the
  # issuer's keys (on-miss, the default); every refusal holds both ways. One platform for both,
  # on-miss last: it ends by rotating the API server's signing key (a restart).
  stage "kubernetes: serve --kubernetes against a real API server, both token checks (scripts/kube-signer-interop.sh)" \
    after_go_builds bash -c 'bash scripts/kube.sh up && { KSI_TOKEN_REVIEW=always bash scripts/kube-signer-interop.sh && bash scripts/kube-signer-interop.sh; rc=$?; bash scripts/kube.sh down; exit $rc; }'
  if [ "${RAYTLS_SKIP_RAY:-0}" != 1 ]; then
    stage "kubernetes + real Ray: the KubeRay operator's clusters get certificates from serve --kubernetes (scripts/kube-e2e.sh)" \
      after_go_builds bash scripts/kube-e2e.sh
  fi
  stage "kubernetes: helm install of the signer chart, and the signer answers (scripts/helm-live.sh)" \
    after_go_builds bash scripts/helm-live.sh
fi
stage "fuzz smoke (scripts/fuzz-smoke.sh)" bash scripts/fuzz-smoke.sh

[ "$FAILED" = 0 ] || echo "failed stages: ${FAILED_NAMES[*]}"
echo "test.sh: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
