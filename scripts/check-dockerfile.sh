#!/usr/bin/env bash
# check-dockerfile.sh - what can be checked of the Dockerfile without a Docker engine (none
# runs on these machines): the build stage's COPY lines bring everything cargo needs. Copies
# exactly those paths, less what .dockerignore drops, into an empty dir and has cargo load
# the manifest and its targets (`cargo fetch --locked --offline` fails on a missing target).
# Prints PASS/FAIL and "N passed, M failed".
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
pass=0; fail=0
# COPY lines of the first stage (before the second FROM), without --from=.
awk '/^FROM /{n++} n==1 && /^COPY / && !/--from=/' "$ROOT/Dockerfile" | while read -r _ args; do
  set -- $args; dest=${!#}; for src in "${@:1:$#-1}"; do
    grep -qxF "$src" "$ROOT/.dockerignore" 2>/dev/null && continue   # not in the build context
    mkdir -p "$W/$(dirname "$dest")"
    if [ "$dest" = "./" ]; then cp -r "$ROOT/$src" "$W/"; else cp -r "$ROOT/$src" "$W/$dest"; fi
  done
done
if (cd "$W" && cargo fetch --locked --offline >/dev/null 2>"$W/err"); then
  echo "PASS: the Dockerfile's build context has every file Cargo.toml names"; pass=1
else
  echo "FAIL: cargo cannot load the manifest from the Dockerfile's COPY lines:"; sed 's/^/   /' "$W/err" | head -5; fail=1
fi
echo "check-dockerfile: $pass passed, $fail failed"
[ "$fail" = 0 ]
