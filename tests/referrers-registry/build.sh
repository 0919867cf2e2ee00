#!/usr/bin/env bash
# Build the referrers registry (main.go: go-containerregistry's pkg/registry with the OCI
# referrers API on) once into a cache outside the repo and print the binary's path:
#   export PRISN_REFERRERS_REGISTRY=$(tests/referrers-registry/build.sh)
# The cache key is the pinned module version plus a hash of main.go, go.mod, go.sum and the
# Go version, so a warm run costs one sha256sum; a cold one ~25 s of CPU (Go module proxy).
# It shares the test bed's Go build cache (same compiler and flags): the standard library
# is compiled once for both.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/prisn"
die() { echo "referrers-registry: error: $*" >&2; exit 1; }

GO="$(command -v go 2>/dev/null || true)"
[[ -z "$GO" && -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go
[[ -n "$GO" ]] || die "Go toolchain not found (need go on PATH or /usr/local/go/bin/go)"
GO_VERSION="$(GOTOOLCHAIN=local "$GO" env GOVERSION)" || die "'$GO env GOVERSION' failed"
GGCR="$(awk '$1=="require" && $2=="github.com/google/go-containerregistry" {print $3}' "$HERE/go.mod")"
[[ -n "$GGCR" ]] || die "no go-containerregistry version pinned in $HERE/go.mod"
HASH="$( { cat "$HERE/main.go" "$HERE/go.mod" "$HERE/go.sum"; echo "$GO_VERSION"; } | sha256sum | cut -c1-12)"
DIR="$CACHE_ROOT/referrers-registry/ggcr-$GGCR-$HASH"
BIN="$DIR/referrers-registry"

if [[ ! -x "$BIN" ]]; then
  mkdir -p "$CACHE_ROOT/referrers-registry"
  tmp="$DIR.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  log="$tmp/build.log"
  if ! (cd "$HERE" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 \
        GOCACHE="${PRISN_TESTBED_CACHE:-$CACHE_ROOT/testbed}/go-build" \
        "$GO" build -trimpath -o "$tmp/referrers-registry" .) >"$log" 2>&1; then
    die "go build of go-containerregistry $GGCR failed: $(grep -v '^go: downloading' "$log" | tail -n1)"
  fi
  # Renamed into place whole: a concurrent run sees either no binary or a complete one.
  rm -rf "$DIR"; mv "$tmp" "$DIR" 2>/dev/null || rm -rf "$tmp"
fi
echo "$BIN"
