#!/usr/bin/env bash
# Benchmarks for `prisn base` (issue 14), side by side with tests/fixtures/base-images/build.sh
# (the script the test suite used before `prisn base`; deleted since, taken from git history)
# (apt-get download + dpkg -x + tar | gzip) building the same packages in the same run.
# Results go to stdout as markdown; BENCHMARKS.md records them.
#   bash bench/base.sh        (needs: hyperfine, apt-get with package lists, a release build)
#
# Rows:
# - cold: empty PRISN_HOME (InRelease, Packages.xz, every .deb downloaded; unpack; pack);
# - cold, locked: empty PRISN_HOME but base.lock present (no index: only the pinned .debs);
# - warm: the same lock and cache again (the image is reused, nothing downloaded).
# build.sh has no download cache of its own (apt-get download fetches every time), so its cold
# run is every run whose script changed; its warm run only checks that the layout exists.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/prisn/cargo-target}
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release --quiet --locked -p prisn
PRISN=$CARGO_TARGET_DIR/release/prisn
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
RUNS=${RUNS:-3}
# The peer, as it was when the figures were first taken.
BUILD_SH=$WORK/fixture/tests/fixtures/base-images/build.sh
mkdir -p "$(dirname "$BUILD_SH")"
git -C "$ROOT" show f11bb82bdedead0ba22abcf53e7ebe792f2787dc:tests/fixtures/base-images/build.sh >"$BUILD_SH"
chmod +x "$BUILD_SH"
cd "$WORK"

# build.sh's package set for python3: roots python3 dash base-files, its excludes (which
# include ca-certificates and openssl).
SAME=(--packages python3,dash,base-files --exclude ca-certificates,openssl)

echo "## prisn base python3 vs build.sh (runs: $RUNS)"
echo
hyperfine --runs "$RUNS" --export-markdown "$WORK/t1.md" \
  --prepare "rm -rf $WORK/h $WORK/l1 $WORK/bi $WORK/same.lock $WORK/full.lock" \
  -n "prisn base python3, build.sh's packages, cold" \
  "PRISN_HOME=$WORK/h $PRISN base python3 ${SAME[*]} --lock same.lock --output l1" \
  -n "prisn base python3 (default packages), cold" \
  "PRISN_HOME=$WORK/h $PRISN base python3 --lock full.lock --output l1" \
  -n "build.sh python3, cold" \
  "PRISN_BASE_IMAGES=$WORK/bi $BUILD_SH python3" >/dev/null
cat "$WORK/t1.md"
echo

# The locks the warm rows use.
PRISN_HOME=$WORK/h "$PRISN" base python3 "${SAME[@]}" --lock same.lock --output l1 >/dev/null
PRISN_HOME=$WORK/h "$PRISN" base python3 --lock full.lock --output l2 >/dev/null
PRISN_BASE_IMAGES=$WORK/bi "$BUILD_SH" python3 >/dev/null

hyperfine --runs "$RUNS" --export-markdown "$WORK/t2.md" \
  --prepare "rm -rf $WORK/h2 $WORK/l3" \
  -n "prisn base python3, build.sh's packages, cold cache, base.lock given" \
  "PRISN_HOME=$WORK/h2 $PRISN base python3 ${SAME[*]} --lock same.lock --locked --output l3" \
  -n "prisn base python3 (default), cold cache, base.lock given" \
  "PRISN_HOME=$WORK/h2 $PRISN base python3 --lock full.lock --locked --output l3" >/dev/null
cat "$WORK/t2.md"
echo

hyperfine --runs "$((RUNS * 3))" --warmup 1 --export-markdown "$WORK/t3.md" \
  --prepare "rm -rf $WORK/l4" \
  -n "prisn base python3, build.sh's packages, warm" \
  "PRISN_HOME=$WORK/h $PRISN base python3 ${SAME[*]} --lock same.lock --locked --output l4" \
  -n "build.sh python3, warm" \
  "PRISN_BASE_IMAGES=$WORK/bi $BUILD_SH python3" >/dev/null
cat "$WORK/t3.md"
echo

size() { du -sb "$1" | cut -f1 | awk '{ printf "%.1f MB", $1 / 1e6 }'; }
echo "| image | packages | compressed layout |"
echo "|---|---|---|"
echo "| prisn base, build.sh's packages | $(grep -c '^\[\[base' same.lock) | $(size l1) |"
echo "| prisn base, default packages | $(grep -c '^\[\[base' full.lock) | $(size l2) |"
echo "| build.sh | – | $(size "$(readlink -f bi/python3)") |"
