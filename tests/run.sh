#!/usr/bin/env bash
# The test command (README): installs what the tests need on a fresh Debian machine,
# starts the services they talk to, runs every check and test, and stops the services
# again, also on failure. Heavy things are cached outside the repo, keyed by version:
#   ${XDG_CACHE_HOME:-~/.cache}/prisn/{cargo-target,testbed,base-images}
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/prisn
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/cargo-target}
export UV_PYTHON_DOWNLOADS=never

step() { printf '\n==> %s (%ss)\n' "$*" "$SECONDS" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step "Debian packages"
# docker-registry: the CNCF distribution registry tests push to; skopeo/umoci/runc read and
# run the images prisn builds; openssl makes the test bed's certificates (its etcd is
# built from Go modules with the rest of Kubernetes). iproute2 (`ip`) and util-linux
# (`setpriv`) serve the local sandbox's escape tests.
PACKAGES=(docker-registry skopeo umoci runc openssl curl iproute2 util-linux)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

step "uv (PyPI)"
UV_VERSION=0.13.9
if ! uv --version 2>/dev/null | grep -q "uv $UV_VERSION"; then
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

step "Base images from Debian packages (cached)"
tests/fixtures/base-images/build.sh

step "Kubernetes test bed: build (cached) and start"
tests/testbed/testbed.sh build
cleanup() { step "Stopping the test bed"; tests/testbed/testbed.sh down || true; }
trap cleanup EXIT
tests/testbed/testbed.sh up
export KUBECONFIG=$ROOT/target/testbed/kubeconfig

step "Format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Tests"
cargo test --workspace --locked --no-fail-fast

step "The README's main command (debug profile; the release one differs only in speed)"
out=$(cargo run --quiet --locked -- run examples/hello.py -- README)
[ "$out" = "hello, README, from Python $(python3 -c 'import platform; print(platform.python_version())')" ] \
  || { echo "unexpected output of the README's main command: $out" >&2; exit 1; }

step "All checks passed"
