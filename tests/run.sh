#!/usr/bin/env bash
# The test command (README): installs what the tests need on a fresh Debian machine,
# starts the services they talk to, runs every check and test, and stops the services
# again, also on failure. Heavy things are cached outside the repo, keyed by version:
#   ${XDG_CACHE_HOME:-~/.cache}/prisn/{cargo-target,testbed,base-images,base-home,spdx-tools-VERSION,
#   referrers-registry}
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/prisn
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/cargo-target}
export UV_PYTHON_DOWNLOADS=never
# A clean clone compiles the workspace's own crates once: incremental state would only cost
# time and ~10 GB of cache that no later run of a fresh clone can use.
export CARGO_INCREMENTAL=0

step() { printf '\n==> %s (%ss)\n' "$*" "$SECONDS" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step "Debian packages"
# docker-registry: the CNCF distribution registry tests push to; skopeo/umoci/runc read and
# run the images prisn builds; openssl makes the test bed's certificates (its etcd is
# built from Go modules with the rest of Kubernetes); gpgv and debian-archive-keyring check
# the Debian archive's signature for `prisn base`; iproute2 (`ip`) and util-linux (`setpriv`)
# serve the local sandbox's escape tests.
PACKAGES=(docker-registry skopeo umoci runc openssl curl gpgv debian-archive-keyring iproute2 util-linux)
# The test bed's real node (tests/testbed/README.md): containerd + CNI plugins + iptables
# (kube-proxy), gcc + libc6-dev for the static pause binary.
PACKAGES+=(containerd containernetworking-plugins iptables gcc libc6-dev)
# nix-instantiate parses the Nix files (nix/check.sh); nixpkgs is unreachable, no Nix build.
PACKAGES+=(nix-bin)
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

step "SBOM validator: spdx-tools (PyPI) in a cached venv"
# The SBOM tests check prisn's SPDX documents with an independent implementation of the
# spec (tests/it/image_sbom.rs). Its dependencies are taken as PyPI had them on one date,
# so a cold cache installs the same set every time.
SPDX_TOOLS_VERSION=0.8.5
SPDX_VENV=$CACHE/spdx-tools-$SPDX_TOOLS_VERSION
if ! "$SPDX_VENV/bin/pyspdxtools" --help >/dev/null 2>&1; then
  rm -rf "$SPDX_VENV"
  uv venv --quiet --python python3 "$SPDX_VENV"
  VIRTUAL_ENV=$SPDX_VENV uv pip install --quiet --exclude-newer 2026-11-01T00:00:00Z "spdx-tools==$SPDX_TOOLS_VERSION"
fi
export PRISN_SPDX_VALIDATOR=$SPDX_VENV/bin/pyspdxtools

step "Referrers registry: go-containerregistry's registry with the OCI referrers API (built once, cached)"
# Debian's docker-registry (distribution 2.8) has no referrers API, so the SBOM's other path
# (the registry lists it by itself) is tested against this one (tests/it/image_referrers.rs).
# Kept apart from the export: a failing build inside `export X=$(…)` would not stop the run.
REFERRERS_REGISTRY=$(tests/referrers-registry/build.sh)
export PRISN_REFERRERS_REGISTRY=$REFERRERS_REGISTRY

step "Base images: prisn base python3, bash, node (cached)"
# The image tests run on these (tests/support's base_layout): Debian bases that prisn itself
# makes from the archive's signed index. base.lock lives beside them, so a warm run downloads
# nothing and reuses the images; a cold one follows the archive as it is (like apt would).
# When the archive has dropped a pinned version and the cache lost it, --upgrade re-pins.
cargo build --quiet --locked -p prisn
BASES=${PRISN_BASE_IMAGES:-$CACHE/base-images}
mkdir -p "$BASES"
base() {
  PRISN_HOME=$CACHE/base-home "$CARGO_TARGET_DIR/debug/prisn" --quiet base "$1" \
    --lock "$BASES/base.lock" --output "$BASES/$1-prisn" "${@:2}" >/dev/null
}
for b in python3 bash node; do
  base "$b" || base "$b" --upgrade
  ln -sfn "$b-prisn" "$BASES/$b.tmp" && mv -T "$BASES/$b.tmp" "$BASES/$b"
done
# A patched python3 base for `prisn rebase` (tests/it/rebase.rs): the same Python, plus GNU
# hello (small, and its binary shows which base an image is on). --output names a directory,
# so base() writes python3-hello-prisn and the link python3-hello points at it. Its own lock:
# a lock keeps one section per runtime, and sharing base.lock would put hello's packages in
# the python3 section that the python3 base (and the SBOM tests) are checked against.
hello=(--packages python3,hello,base-files,ca-certificates,coreutils,dash,netbase,tzdata)
patched() {
  PRISN_HOME=$CACHE/base-home "$CARGO_TARGET_DIR/debug/prisn" --quiet base python3 "${hello[@]}" \
    --lock "$BASES/python3-hello.lock" --output "$BASES/python3-hello-prisn" "$@" >/dev/null
}
patched || patched --upgrade
ln -sfn python3-hello-prisn "$BASES/python3-hello.tmp" && mv -T "$BASES/python3-hello.tmp" "$BASES/python3-hello"

step "Kubernetes test bed: build (cached) and start"
tests/testbed/testbed.sh build
cleanup() {
  local rc=$?
  step "Stopping the test bed"
  tests/testbed/testbed.sh down || true
  # The real node must leave no bridge, veth, mount, iptables rule or shim behind.
  tests/testbed/testbed.sh leftovers || rc=1
  exit "$rc"
}
trap cleanup EXIT
tests/testbed/testbed.sh up
export KUBECONFIG=$ROOT/target/testbed/kubeconfig

step "Format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Nix files: parse, and evaluate what needs no nixpkgs (the Nix build is not run)"
nix/check.sh

step "Operator image for the real node: prisn operator image (the dev-profile binary the tests link anyway, on the bash base)"
# prisn's own image code, nothing from this machine but the binary; the packed binary layer
# is cached in base-home, keyed by the binary's sha256, so an unchanged operator costs ~3s.
cargo test --workspace --locked --no-run
rm -rf "$ROOT/target/prisn-operator-oci"
PRISN_HOME=$CACHE/base-home "$CARGO_TARGET_DIR/debug/prisn" --quiet operator image --base "$BASES/bash" \
  --binary "$CARGO_TARGET_DIR/debug/prisn-operator" --output "$ROOT/target/prisn-operator-oci"

step "Tests"
# A test that needs the test bed fails instead of skipping (tests/support/src/testbed.rs),
# and records itself, so we can say how many really ran against it.
export PRISN_TESTBED_REQUIRED=1
export PRISN_TESTBED_COUNT_FILE=$ROOT/target/testbed-tests.txt
mkdir -p "$ROOT/target"
: >"$PRISN_TESTBED_COUNT_FILE"
cargo test --workspace --locked --no-fail-fast

step "Tests that ran against the test bed"
# One line `<test binary> <test name>` per test that got a test-bed client. A binary that
# needs the test bed and recorded none would have passed without testing anything.
sort -u "$PRISN_TESTBED_COUNT_FILE" >"$PRISN_TESTBED_COUNT_FILE.sorted"
echo "$(wc -l <"$PRISN_TESTBED_COUNT_FILE.sorted") tests ran against the test bed:"
awk '{ n[$1]++ } END { for (b in n) printf "  %-10s %d\n", b, n[b] }' "$PRISN_TESTBED_COUNT_FILE.sorted" | sort
for binary in it e2e testbed; do
  grep -q "^$binary " "$PRISN_TESTBED_COUNT_FILE.sorted" \
    || { echo "no test of the '$binary' test binary ran against the test bed" >&2; exit 1; }
done

step "The README's main command (debug profile; the release one differs only in speed)"
out=$(cargo run --quiet --locked -- run examples/hello.py -- README)
[ "$out" = "hello, README, from Python $(python3 -c 'import platform; print(platform.python_version())')" ] \
  || { echo "unexpected output of the README's main command: $out" >&2; exit 1; }

step "All checks passed"
