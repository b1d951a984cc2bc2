#!/usr/bin/env bash
# helm-build.sh - print the path of a helm binary, building it from source once per version.
#
# Builds the Go module helm.sh/helm/v4 (cmd/helm) at RAYTLS_HELM_VERSION with `go install`
# into ${XDG_CACHE_HOME:-$HOME/.cache}/raytls-helm/helm-<version>/helm and prints that path
# on stdout (progress on stderr). Idempotent: a binary already there is reused; two runs at
# once each build into a temp dir and the last rename wins (same bytes). From nothing (empty
# Go module and build caches, as on a fresh CI machine) it downloads helm's dependencies
# through the Go module proxy and compiles them. Measured here (2 cores shared with other
# builds, load 10-20; Go 1.26.8): 15m17s wall, 4m23s CPU from nothing, of which about 8 min
# fetching 545 MB of modules; the compile alone (modules cached) 6m50s wall, 3m57s CPU.
# Leaves a 1.2 GB Go build cache and the 545 MB module cache; the binary is 67 MB.
#
# Usage: scripts/lib/helm-build.sh            -> /root/.cache/raytls-helm/helm-v4.3.2/helm
# Env:   RAYTLS_HELM=path/to/helm   use that binary, build nothing
#        RAYTLS_HELM_VERSION        (default v4.3.2, a released tag of helm.sh/helm/v4)
#        GO                         the go command (default: `go` on PATH, else /usr/local/go/bin/go)
set -euo pipefail
if [ -n "${RAYTLS_HELM:-}" ]; then
  [ -x "$RAYTLS_HELM" ] || { echo "helm-build: RAYTLS_HELM=$RAYTLS_HELM is not an executable" >&2; exit 2; }
  echo "$RAYTLS_HELM"; exit 0
fi
VERSION=${RAYTLS_HELM_VERSION:-v4.3.2}
case $VERSION in
  v4.*) MODULE=helm.sh/helm/v4;;
  v3.*) MODULE=helm.sh/helm/v3;;
  *) echo "helm-build: RAYTLS_HELM_VERSION=$VERSION is not a helm v3/v4 tag (vX.Y.Z)" >&2; exit 2;;
esac
DIR=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/raytls-helm/helm-$VERSION
BIN=$DIR/helm
if [ -x "$BIN" ] && "$BIN" version --short >/dev/null 2>&1; then
  echo "$BIN"; exit 0
fi
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$GO" ] || command -v "$GO" >/dev/null || { echo "helm-build: no go command (set GO=...)" >&2; exit 2; }
mkdir -p "$DIR"
TMP=$(mktemp -d "$DIR/.build.XXXXXX"); trap 'rm -rf "$TMP"' EXIT
echo "helm-build: building $MODULE/cmd/helm@$VERSION with $("$GO" version) (once; cached in $DIR)" >&2
start=$(date +%s)
# -trimpath: no build paths in the binary. CGO off: a static binary, no C toolchain needed.
# The -X is what helm's Makefile does for a release: the source alone says only "v4.3", so
# `helm version` would not name the patch release.
GOBIN=$TMP CGO_ENABLED=0 "$GO" install -trimpath \
  -ldflags "-s -w -X $MODULE/internal/version.version=$VERSION" "$MODULE/cmd/helm@$VERSION" >&2 \
  || { echo "helm-build: go install $MODULE/cmd/helm@$VERSION failed" >&2; exit 1; }
"$TMP/helm" version --short >&2 || { echo "helm-build: the built helm does not run" >&2; exit 1; }
mv -f "$TMP/helm" "$BIN"
echo "helm-build: built $BIN in $(( $(date +%s) - start ))s" >&2
echo "$BIN"
