#!/usr/bin/env bash
# peers-build.sh - build the signers users would run instead of `raytls serve`, from their Go
# modules at released versions, once per machine (bench.sh --peers measures them side by side).
#
#   bash scripts/lib/peers-build.sh            # prints NAME=/path/to/binary, one line each
#
# Each binary goes to ${XDG_CACHE_HOME:-$HOME/.cache}/raytls-peers/<name>-<version>/ and is
# built only if that directory has no binary yet (a finished build is renamed into place, so
# an interrupted one is built again). Needs Go (PEERS_GO, default /usr/local/go/bin/go, else go
# on PATH) and the Go module proxy; the module sources land in Go's module cache.
#   cfssl    github.com/cloudflare/cfssl/cmd/cfssl            (cfssl serve)
#   step-ca  github.com/smallstep/certificates/cmd/step-ca    (step-ca, JWK provisioner)
# A module that asks for a newer Go than the installed one (cfssl v1.7 needs Go 1.27) is
# built once more with GOTOOLCHAIN=$PEERS_GOTOOLCHAIN (default go1.27.3: Go fetches that
# toolchain as a module through the same proxy, once).
# Env: CFSSL_VERSION, STEP_CA_VERSION (default: the versions below, as measured in
#      benches/peers.md), PEERS_GOTOOLCHAIN.
set -euo pipefail
CFSSL_VERSION=${CFSSL_VERSION:-v1.7.1}
STEP_CA_VERSION=${STEP_CA_VERSION:-v0.30.2}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/raytls-peers
GO=${PEERS_GO:-/usr/local/go/bin/go}
[ -x "$GO" ] || GO=$(command -v go || true)

NEWER_GO=${PEERS_GOTOOLCHAIN:-go1.27.3}

# go_install DIR TOOLCHAIN PKG@VERSION: the binary into DIR, the log in DIR/build.log
go_install() {
  GOBIN=$1 CGO_ENABLED=0 GOTOOLCHAIN=$2 GOFLAGS=-trimpath "$GO" install "$3" >"$1/build.log" 2>&1
}

# build NAME VERSION PACKAGE: the binary's path on stdout; the build log on stderr if it fails
build() {
  local name=$1 version=$2 pkg=$3 dir bin tmp
  dir=$CACHE/$name-$version; bin=$dir/$(basename "$pkg")
  if [ ! -x "$bin" ]; then
    [ -n "$GO" ] && [ -x "$GO" ] || { echo "peers-build: no Go toolchain (install Go, or set PEERS_GO)" >&2; return 1; }
    mkdir -p "$dir"; tmp=$(mktemp -d "$dir/.build.XXXXXX")
    echo "peers-build: building $pkg@$version (once; cached in $dir)" >&2
    # CGO off: a static binary with no C toolchain needed; neither signer needs cgo for a
    # software key (cfssl's sqlite cert DB and step-ca's PKCS#11 KMS are not used here).
    if ! go_install "$tmp" local "$pkg@$version" &&
       ! { grep -q 'requires go >=' "$tmp/build.log" &&
           echo "peers-build: $pkg@$version needs a newer Go: GOTOOLCHAIN=$NEWER_GO" >&2 &&
           go_install "$tmp" "$NEWER_GO" "$pkg@$version"; }; then
      cat "$tmp/build.log" >&2; rm -rf "$tmp"
      echo "peers-build: $pkg@$version did not build" >&2; return 1
    fi
    mv "$tmp/$(basename "$pkg")" "$bin"; rm -rf "$tmp"
  fi
  echo "$bin"
}

status=0
if p=$(build cfssl "$CFSSL_VERSION" github.com/cloudflare/cfssl/cmd/cfssl); then echo "cfssl=$p"; else status=1; fi
if p=$(build step-ca "$STEP_CA_VERSION" github.com/smallstep/certificates/cmd/step-ca); then echo "step-ca=$p"; else status=1; fi
exit $status
