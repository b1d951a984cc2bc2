#!/usr/bin/env bash
# test.sh - every test raytls has, as CI runs it (.ci/run runs exactly this).
# Installs what the tests need (openssl, setpriv, python3-venv for the Ray harness, zsh and
# fish for the completion checks), then:
#   lint (cargo fmt --check, clippy -D warnings), cargo test (unit + integration: the real
#   binary, openssl, in-process rustls peers), and the real-Ray interop scripts.
# Prints one PASS/FAIL line per stage and "test.sh: N passed, M failed"; exits 1 on any failure.
# Env: SKIP_RAY=1 skips the stages that start a real Ray head (they need ~1 GB and ~2 min).
set -uo pipefail
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
    { apt-get install -y "${need_apt[@]}" || { apt-get update && apt-get install -y "${need_apt[@]}"; }; } >/dev/null 2>&1
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

stage "cargo fmt --check" cargo fmt --check
stage "cargo clippy" cargo clippy --all-targets --quiet -- -D warnings
stage "cargo test" cargo test --quiet
if [ "${SKIP_RAY:-0}" != 1 ]; then
  export RAYTLS_BIN=$ROOT/target/debug/raytls
  stage "real Ray: raytls certificates (scripts/interop.sh)" bash scripts/interop.sh
  for s in scripts/interop-health-check.sh; do
    [ -f "$s" ] && stage "real Ray: $s" bash "$s"
  done
fi
for s in scripts/validate-manifests.sh scripts/check-dockerfile.sh; do
  [ -f "$s" ] && stage "$s" bash "$s"
done

[ "$FAILED" -gt 0 ] && echo "failed stages: ${FAILED_NAMES[*]}"
echo "test.sh: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
