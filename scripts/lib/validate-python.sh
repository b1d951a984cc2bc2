# scripts/lib/validate-python.sh - sourced: `validate_python "import yaml[, kubernetes_validate]"`
# sets PY to a Python that can run those imports: the system's if it can, else the private venv
# (RAYTLS_VALIDATE_VENV, default ${XDG_CACHE_HOME:-$HOME/.cache}/raytls/validate-venv), made on
# first use with kubernetes-validate and PyYAML. The one copy of this logic for
# validate-manifests.sh, helm-test.sh and monitoring-test.sh; exits 2 when no such Python can be had.
validate_python() {
  local want=$1
  PY=python3
  "$PY" -c "$want" 2>/dev/null && return 0
  local venv=${RAYTLS_VALIDATE_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/raytls/validate-venv}
  if ! "$venv/bin/python" -c "$want" 2>/dev/null; then
    echo "installing kubernetes-validate and PyYAML into $venv" >&2
    python3 -m venv "$venv" >&2 || { echo "python3 -m venv failed (apt-get install -y python3-venv)" >&2; exit 2; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate PyYAML >&2 \
      || { echo "pip install kubernetes-validate PyYAML failed" >&2; exit 2; }
  fi
  PY=$venv/bin/python
}
