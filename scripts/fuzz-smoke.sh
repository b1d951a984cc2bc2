#!/usr/bin/env bash
# fuzz-smoke.sh - build every cargo-fuzz target (fuzz/, issue 11 §4) with the nightly toolchain
# and run each for a short fixed time from its committed seeds (fuzz/seeds/<target>/).
# Fails on any crash, panic, timeout or out-of-memory; the input that did it is left in
# fuzz/artifacts/<target>/ and named on the FAIL line.
#
# Works from an empty CARGO_HOME: installs cargo-fuzz if `cargo fuzz` is missing. Needs the
# nightly toolchain (`rustup toolchain list`; the machine image has one).
# Prints one PASS/FAIL line per target and "fuzz-smoke: N passed, M failed"; exits 1 on any failure.
# Env: FUZZ_SECONDS (default 20) per target; FUZZ_TARGETS="a b" to run only some.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT/fuzz"
SECS=${FUZZ_SECONDS:-20}
CARGO_FUZZ_VERSION=0.13.2
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz-smoke: no nightly toolchain (libFuzzer needs -Z sanitizer flags); see rustup toolchain list" >&2
  echo "fuzz-smoke: 0 passed, 1 failed"
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
  if ! cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --quiet; then
    echo "fuzz-smoke: 0 passed, 1 failed"
    exit 1
  fi
fi

# -a: debug assertions and overflow checks, so an integer overflow is a finding too.
t=$SECONDS
echo "=== cargo +nightly fuzz build -a"
if ! cargo +nightly fuzz build -a; then
  echo "FAIL: build"
  echo "fuzz-smoke: 0 passed, 1 failed"
  exit 1
fi
echo "built in $((SECONDS - t))s"

read -r -a TARGETS <<<"${FUZZ_TARGETS:-$(cargo +nightly fuzz list | tr '\n' ' ')}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PASSED=0; FAILED=0; FAILED_NAMES=()
for target in "${TARGETS[@]}"; do
  # New inputs go to a scratch corpus (first directory); the committed seeds stay as they are.
  mkdir -p "$WORK/$target" "artifacts/$target"
  log=$WORK/$target.log
  if cargo +nightly fuzz run -a "$target" "$WORK/$target" "seeds/$target" -- \
      -max_total_time="$SECS" -timeout=10 -jobs=1 -workers=1 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "PASS: $target (${runs:-?} runs in ${SECS}s)"
    PASSED=$((PASSED + 1))
  else
    echo "FAIL: $target"
    grep -E '^(==[0-9]+==|thread .* panicked|SUMMARY|artifact_prefix|Test unit written)' "$log" | head -20
    tail -5 "$log"
    FAILED=$((FAILED + 1)); FAILED_NAMES+=("$target")
  fi
done
[ "$FAILED" -gt 0 ] && echo "failed targets: ${FAILED_NAMES[*]} (reproduce: cd fuzz && cargo +nightly fuzz run -a TARGET artifacts/TARGET/FILE)"
echo "fuzz-smoke: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
