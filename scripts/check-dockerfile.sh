#!/usr/bin/env bash
# check-dockerfile.sh - what can be checked of the Dockerfile without a Docker engine (none
# runs on these machines) and without a cargo cache (CI starts from an empty one): the build
# stage's COPY lines bring every file Cargo.toml names.
#
# 1. Lays out the build context as `docker build` would see it: the paths of the first
#    stage's COPY lines (before the second FROM, without --from=), less what .dockerignore
#    drops, copied into an empty dir.
# 2. Asks cargo which files the manifest names (`cargo metadata --no-deps --offline`: reads
#    the manifests only, never the registry): Cargo.lock (the build is --locked), each
#    target's source (lib, bins, benches, examples, build script and the [[test]]s that
#    Cargo.toml declares; auto-discovered tests under tests/ are not needed), each workspace
#    member's and path dependency's Cargo.toml. Every one must be in the copied context.
#    (cargo itself cannot be the judge offline: `cargo metadata --no-deps` does not look at
#    target files, and any resolving command needs every platform's crates in the cache.)
# 3. Self-test: for each COPY line of the build stage, the same check on a Dockerfile
#    without that line must FAIL (so the check can fail, and no COPY line is dead weight).
# Prints PASS/FAIL lines and "check-dockerfile: N passed, M failed"; exits 1 on any failure.
# Usage: scripts/check-dockerfile.sh [--no-self-test] [DOCKERFILE]   (default: ./Dockerfile)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF_TEST=1; DOCKERFILE=$ROOT/Dockerfile
for a in "$@"; do case $a in
  --no-self-test) SELF_TEST=0;;
  -h|--help) sed -n '2,/^[^#]/{/^#/p;}' "${BASH_SOURCE[0]}"; exit 0;;
  *) DOCKERFILE=$a;;
esac; done
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
pass=0; fail=0
ok()  { echo "PASS: $*"; pass=$((pass+1)); }
bad() { echo "FAIL: $*"; fail=$((fail+1)); }

# The files the manifest names, relative to ROOT, one per line.
needed_files() {
  (cd "$ROOT" && cargo metadata --no-deps --offline --format-version 1) | python3 -c '
import json, os, sys, tomllib
root = sys.argv[1]
meta = json.load(sys.stdin)
rel = lambda p: os.path.relpath(p, root)
out = {"Cargo.lock"}
for pkg in meta["packages"]:
    out.add(rel(pkg["manifest_path"]))
    with open(pkg["manifest_path"], "rb") as f:
        declared_tests = {t.get("name") for t in tomllib.load(f).get("test", [])}
    for t in pkg["targets"]:
        if "test" in t["kind"] and t["name"] not in declared_tests:
            continue  # auto-discovered: cargo builds without it
        out.add(rel(t["src_path"]))
    for d in pkg["dependencies"]:
        if d.get("path"):
            out.add(rel(os.path.join(d["path"], "Cargo.toml")))
print("\n".join(sorted(out)))
' "$ROOT"
}

# context DOCKERFILE DIR: lay out in DIR what the build stage's COPY lines bring.
context() {
  local df=$1 dir=$2 args dest src
  mkdir -p "$dir"
  while read -r args; do
    # shellcheck disable=SC2086  # COPY's arguments are words; globs are not used in ours
    set -- $args
    while [ "${1:-}" != "${1#--}" ]; do shift; done   # --chown= and the like
    [ $# -ge 2 ] || { echo "check-dockerfile: cannot read: COPY $args" >&2; return 2; }
    dest=${!#}
    for src in "${@:1:$#-1}"; do
      [ -e "$ROOT/$src" ] || continue   # docker build would fail: the check below says what is missing
      case $dest in
        */) mkdir -p "$dir/$dest" && cp -r "$ROOT/$src" "$dir/$dest" ;;
        *)  mkdir -p "$dir/$(dirname "$dest")" && cp -r "$ROOT/$src" "$dir/$dest" ;;
      esac
    done
  done < <(awk '/^FROM /{n++} n==1 && /^COPY / && !/--from=/ {sub(/^COPY[ \t]+/, ""); print}' "$df")
  # What .dockerignore drops never reaches the build (plain paths and globs; no "!" rules here).
  if [ -f "$ROOT/.dockerignore" ]; then
    local pat
    while read -r pat; do
      case $pat in ''|'#'*) continue;; '!'*) echo "check-dockerfile: '!' rules in .dockerignore are not modelled" >&2; return 2;; esac
      (cd "$dir" && shopt -s nullglob globstar && for m in ${pat#/}; do rm -rf -- "$m"; done)
    done < "$ROOT/.dockerignore"
  fi
}

# check DOCKERFILE DIR: 0 if every needed file is in the context; lists what is missing.
check() {
  local missing=()
  context "$1" "$2" || return 2
  while read -r f; do [ -e "$2/$f" ] || missing+=("$f"); done <<<"$NEEDED"
  [ ${#missing[@]} -eq 0 ] && return 0
  printf '   not in the build context: %s\n' "${missing[@]}"
  return 1
}

NEEDED=$(needed_files) || { bad "cargo metadata cannot read Cargo.toml"; echo "check-dockerfile: $pass passed, $fail failed"; exit 1; }
if check "$DOCKERFILE" "$W/ctx" >"$W/out"; then
  ok "the Dockerfile's build context has every file Cargo.toml names ($(wc -l <<<"$NEEDED") files)"
else
  bad "the Dockerfile's COPY lines miss files Cargo.toml names:"; cat "$W/out"
fi

if [ "$SELF_TEST" = 1 ]; then
  n=0
  while IFS=: read -r lineno line; do
    n=$((n+1)); sed "${lineno}d" "$DOCKERFILE" > "$W/Dockerfile.$n"
    rc=0; check "$W/Dockerfile.$n" "$W/ctx.$n" >"$W/out.$n" || rc=$?
    if [ "$rc" = 1 ]; then ok "self-test: without line $lineno ($line) the check fails: $(sed -n 's/^ *not in the build context: //p' "$W/out.$n" | head -3 | paste -sd, -)"
    else bad "self-test: without line $lineno ($line) the check still passes: the build does not need that line, or the check misses what it brings"; fi
  done < <(awk '/^FROM /{n++} n==1 && /^COPY / && !/--from=/ {print NR ":" $0}' "$DOCKERFILE")
  [ "$n" -gt 0 ] || bad "self-test: no COPY line in the build stage of $DOCKERFILE"
fi
echo "check-dockerfile: $pass passed, $fail failed"
[ "$fail" = 0 ]
