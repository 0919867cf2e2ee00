#!/usr/bin/env bash
# Builds the prisn-operator OCI image without Docker or any daemon: the release binary, the
# shared libraries it links (from this machine, found with ldd), a passwd entry for UID 65532
# and the CA bundle, packed as one layer with umoci; optionally pushed with skopeo.
#
#   operator/hack/build-image.sh [OUT_DIR] [PUSH_REF]
#
#   OUT_DIR   OCI layout to write (default target/prisn-operator-oci), tag "latest"
#   PUSH_REF  e.g. 127.0.0.1:5000/prisn-operator:0.1.0 (pushed with skopeo; for a registry
#             without TLS set SKOPEO_FLAGS=--dest-tls-verify=false)
#
# Then: prisn operator manifests --image PUSH_REF@sha256:… | kubectl apply -f -
# Needs: cargo, umoci, ldd (libc-bin); skopeo to push. SOURCE_DATE_EPOCH fixes the timestamps.
#
# PRISN_OPERATOR_BIN=PATH packs that binary instead of building the release one (debug info
# stripped with `strip` when it is installed). tests/run.sh packs the dev-profile binary that
# `cargo test --no-run` already linked: a release build would add minutes of compile to CI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$ROOT/target/prisn-operator-oci}"
PUSH="${2:-}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-0}"

for tool in umoci ldd; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool not found" >&2; exit 1; }
done

if [[ -n "${PRISN_OPERATOR_BIN:-}" ]]; then
  BIN="$PRISN_OPERATOR_BIN"
  [[ -x "$BIN" ]] || { echo "build-image: PRISN_OPERATOR_BIN=$BIN is not an executable file" >&2; exit 1; }
else
  command -v cargo >/dev/null || { echo "build-image: cargo not found" >&2; exit 1; }
  cargo build --release --locked -p prisn-operator --bin prisn-operator --manifest-path "$ROOT/Cargo.toml" \
    || cargo build --release -p prisn-operator --bin prisn-operator --manifest-path "$ROOT/Cargo.toml"
  BIN="$TARGET_DIR/release/prisn-operator"
fi

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
ROOTFS="$STAGE/rootfs"
mkdir -p "$ROOTFS/usr/local/bin" "$ROOTFS/etc/ssl/certs" "$ROOTFS/tmp"
chmod 1777 "$ROOTFS/tmp"
install -m 0755 "$BIN" "$ROOTFS/usr/local/bin/prisn-operator"
if [[ -n "${PRISN_OPERATOR_BIN:-}" ]] && command -v strip >/dev/null; then
  strip --strip-debug "$ROOTFS/usr/local/bin/prisn-operator"
fi
# The dynamic loader and every library the binary needs, at the same paths as here.
for lib in $(ldd "$BIN" | grep -oE '/[^ ]+'); do
  mkdir -p "$ROOTFS$(dirname "$lib")"
  cp -L "$lib" "$ROOTFS$lib"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n' > "$ROOTFS/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$ROOTFS/etc/group"
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
  cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/"
fi
find "$ROOTFS" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

rm -rf "$OUT"
umoci init --layout "$OUT"
umoci new --image "$OUT:latest"
umoci insert --image "$OUT:latest" --history.created "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)" "$ROOTFS" /
umoci config --image "$OUT:latest" \
  --config.entrypoint /usr/local/bin/prisn-operator \
  --config.user 65532:65532 \
  --config.workingdir /tmp \
  --config.env PATH=/usr/local/bin:/usr/bin:/bin \
  --created "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)" \
  --history.created "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
umoci gc --layout "$OUT"
echo "build-image: wrote OCI layout $OUT (tag latest)" >&2

if [[ -n "$PUSH" ]]; then
  command -v skopeo >/dev/null || { echo "build-image: skopeo not found (needed to push)" >&2; exit 1; }
  # shellcheck disable=SC2086
  skopeo copy ${SKOPEO_FLAGS:-} --digestfile "$STAGE/digest" "oci:$OUT:latest" "docker://$PUSH"
  repo="$PUSH"
  [[ "${PUSH##*/}" == *:* ]] && repo="${PUSH%:*}"   # drop the tag, keep a registry port
  echo "$repo@$(cat "$STAGE/digest")"
fi
