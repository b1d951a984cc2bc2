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
# 3. Self-test of the checker: each of 15 known-bad mutations of a RayCluster manifest must be
#    caught (runs against the fixed interface of init/health-check, so it passes even
#    before those commands are merged); for a file with the signer (`raytls serve`), 23
#    mutations of the signer, its Service, NetworkPolicy and the Ray pods' `init --signer`
#    (a worker token on the head, the CA key in a Ray pod, a URL not in the signer's
#    certificate, a NetworkPolicy open to all, ...). A checker that crashes is a failure.
#
# Usage: scripts/validate-manifests.sh [--no-schema] [FILE...]   (default: examples/*.yaml)
# Env:   RAYTLS=path/to/raytls (default: `cargo build`, then target/debug/raytls)
#        RAYTLS_VALIDATE_VENV (default ${XDG_CACHE_HOME:-$HOME/.cache}/raytls/validate-venv):
#        made on first use with `python3 -m venv` + pip (kubernetes-validate, PyYAML); after
#        that the script runs offline.
#        K8S_VERSION (default 1.30): the Kubernetes schema version to validate against.
# Prints PASS/FAIL lines and "manifests: N passed, M failed"; exits 1 on any failure.
set -uo pipefail
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
PY=python3
want_mods="import yaml"; [ $SCHEMA = 1 ] && want_mods="import yaml, kubernetes_validate"
if ! "$PY" -c "$want_mods" 2>/dev/null; then
  VENV=${RAYTLS_VALIDATE_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/raytls/validate-venv}
  if ! "$VENV/bin/python" -c "$want_mods" 2>/dev/null; then
    echo "installing kubernetes-validate and PyYAML into $VENV" >&2
    python3 -m venv "$VENV" >&2 || { echo "python3 -m venv failed (apt-get install -y python3-venv)" >&2; exit 2; }
    "$VENV/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate PyYAML >&2 \
      || { echo "pip install kubernetes-validate PyYAML failed" >&2; exit 2; }
  fi
  PY=$VENV/bin/python
fi

if [ -z "${RAYTLS:-}" ]; then
  (cd "$ROOT" && cargo build --quiet) || { echo "cargo build failed" >&2; exit 2; }
  RAYTLS=$ROOT/target/debug/raytls
fi

SCHEMA_FLAG=(); [ $SCHEMA = 0 ] && SCHEMA_FLAG=(--no-schema)
LOG=$(mktemp); trap 'rm -f "$LOG"' EXIT
"$PY" "$ROOT/scripts/check_manifests.py" --raytls "$RAYTLS" --k8s-version "${K8S_VERSION:-1.30}" \
  "${SCHEMA_FLAG[@]}" "${FILES[@]}" | tee -a "$LOG"
# A checker that crashed (exit other than 0/1) counts as a failure, whatever it printed.
[ "${PIPESTATUS[0]}" -le 1 ] || echo "FAIL check_manifests.py crashed (exit ${PIPESTATUS[0]})" | tee -a "$LOG"
for f in "${FILES[@]}"; do
  grep -q '^kind: RayCluster' "$f" || continue
  "$PY" "$ROOT/scripts/check_manifests.py" --self-test --raytls "$RAYTLS" \
    --k8s-version "${K8S_VERSION:-1.30}" "${SCHEMA_FLAG[@]}" "$f" | sed "s|self-test:|self-test ($(basename "$f")):|" | tee -a "$LOG"
  st=${PIPESTATUS[0]}
  [ "$st" -le 1 ] || echo "FAIL self-test ($(basename "$f")): the checker crashed (exit $st)" | tee -a "$LOG"
done
PASSED=$(grep -c '^PASS' "$LOG"); FAILED=$(grep -c '^FAIL' "$LOG")
echo "manifests: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
