#!/usr/bin/env bash
# validate-manifests.sh - validate examples/*.yaml offline and check they hang together.
#
# 1. Schemas: core objects and every RayCluster Pod template against the Kubernetes
#    schemas shipped in the `kubernetes-validate` package (PyPI), strict; the RayCluster
#    itself structurally (its CRD is not in those schemas). Also the Secret printed by
#    `raytls token generate --k8s-secret`.
# 2. Consistency: every raytls command line in the manifests is a real subcommand whose
#    --help lists each flag used; env paths and path flags point into mounted volumes that
#    provide the file; see scripts/check_manifests.py for the full list.
# 3. Self-test of the checker, per RayCluster manifest: the unmutated manifest passes and
#    each of its known-bad mutations (check_manifests.py `mutations`) is caught, asking the
#    real binary's --help; for a file with the signer (`raytls serve`), 23 more mutations
#    of the signer, its Service, NetworkPolicy and the Ray pods' `init --signer` (a worker
#    token on the head, the CA key in a Ray pod, a URL not in the signer's certificate, a
#    NetworkPolicy open to all, ...); for a file whose Ray pods renew (a `raytls renew`
#    native sidecar), 25-26 more of the sidecar, the probes and the head/worker policy (the
#    sidecar on another volume or signer, a probe on the wrong port or file, no startup
#    probe, a head restarted by a renewal without GCS fault tolerance, ...).
#    A checker that crashes is a failure.
#
# Usage: scripts/validate-manifests.sh [--no-schema] [FILE...]   (default: examples/*.yaml)
# Env:   RAYTLS_BIN=path/to/raytls (default: `cargo build`, then target/debug/raytls)
#        RAYTLS_VALIDATE_VENV (default ${XDG_CACHE_HOME:-$HOME/.cache}/raytls/validate-venv):
#        made on first use with `python3 -m venv` + pip (kubernetes-validate, PyYAML); after
#        that the script runs offline.
#        RAYTLS_K8S_VERSION (default 1.30): the Kubernetes schema version to validate against
#        (its schema knows initContainers[].restartPolicy, the native sidecars of
#        examples/raycluster-renewal*.yaml: beta and on by default from 1.29).
# Prints PASS/FAIL lines and "manifests: N passed, M failed"; exits 1 on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCHEMA=1; FILES=()
for a in "$@"; do
  case $a in
    --no-schema) SCHEMA=0;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p;}' "${BASH_SOURCE[0]}"; exit 0;;
    *) FILES+=("$a");;
  esac
done
[ ${#FILES[@]} -eq 0 ] && FILES=("$ROOT"/examples/*.yaml)

# Python with PyYAML (+ kubernetes-validate unless --no-schema), in a private venv.
# shellcheck source=lib/validate-python.sh
. "$ROOT/scripts/lib/validate-python.sh"
want_mods="import yaml"; [ $SCHEMA = 1 ] && want_mods="import yaml, kubernetes_validate"
validate_python "$want_mods"

if [ -z "${RAYTLS_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --quiet) || { echo "cargo build failed" >&2; exit 2; }
  RAYTLS_BIN=$ROOT/target/debug/raytls
fi

SCHEMA_FLAG=(); [ $SCHEMA = 0 ] && SCHEMA_FLAG=(--no-schema)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
LOG=$T/log; : >"$LOG"
# checker LABEL ARGS...: one check_manifests.py run, its lines into LOG (LABEL prefixes the
# self-test's). It exits 1 when a check failed; a non-zero exit without a FAIL line (a crash,
# a traceback) counts as a FAIL too.
checker() {
  local label=$1 rc=0; shift
  "$PY" "$ROOT/scripts/check_manifests.py" --raytls "$RAYTLS_BIN" --k8s-version "${RAYTLS_K8S_VERSION:-1.30}" \
    "${SCHEMA_FLAG[@]}" "$@" >"$T/part" 2>&1 || rc=$?
  sed "s|self-test:|self-test$label:|" "$T/part" | tee -a "$LOG"
  if [ "$rc" != 0 ] && ! grep -q '^FAIL' "$T/part"; then
    echo "FAIL check_manifests.py $* exited $rc without naming a failed check" | tee -a "$LOG"
  fi
}
checker "" "${FILES[@]}"
for f in "${FILES[@]}"; do
  grep -q '^kind: RayCluster' "$f" || continue
  checker " ($(basename "$f"))" --self-test "$f"
done
PASSED=$(grep -c '^PASS' "$LOG" || true); FAILED=$(grep -c '^FAIL' "$LOG" || true)
[ "$PASSED" -gt 0 ] || { echo "FAIL nothing was checked"; FAILED=$((FAILED+1)); }
echo "manifests: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
