#!/usr/bin/env bash
# Rebase figure for BENCHMARKS.md ("Rebase", issue 15), side by side in one run: moving one
# image onto a patched base with `prisn rebase` (nothing resolved or built; no network but the
# local registry) vs building the same image on that base with `prisn build --image`, once with
# empty build caches (a fresh PRISN_HOME and uv cache: wheels from PyPI, the base's layers from
# the registry) and once warm (caches filled, the image in the registry).
#
#   bench/rebase.sh           # prints a markdown section on stdout, details on stderr
#
# Needs: hyperfine, docker-registry, skopeo, uv, and the bases as tests/run.sh makes them
# (python3, and python3-hello: the same Python plus GNU hello), cached beside the test bases.
# Uses the release binary ($CARGO_TARGET_DIR/release/prisn, built if missing; PRISN=path picks
# another) and the network for PyPI (the cold build downloads wheels, as any cold build does).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/prisn
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/cargo-target}
export UV_PYTHON_DOWNLOADS=never
RUNS=${RUNS:-10}
COLD_RUNS=${COLD_RUNS:-3}
log() { printf '%s\n' "$*" >&2; }

if [ -z "${PRISN:-}" ]; then
  cargo build --release --quiet --locked --bin prisn
  PRISN=$CARGO_TARGET_DIR/release/prisn
fi
BASES=${PRISN_BASE_IMAGES:-$CACHE/base-images}
for b in python3 python3-hello; do
  [ -e "$BASES/$b/index.json" ] || { log "no $BASES/$b: run tests/run.sh once (it makes the bases)"; exit 1; }
done

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# shellcheck source=bench/registry.sh
source bench/registry.sh
bench_work rebase

# --- a registry on a free loopback port, with both bases ---------------------------------
start_registry "$WORK"
skopeo copy --quiet --dest-tls-verify=false "oci:$BASES/python3:python3" "docker://$REG/base/python3:old"
skopeo copy --quiet --dest-tls-verify=false "oci:$BASES/python3-hello:python3" "docker://$REG/base/python3:patched"
OLD=$REG/base/python3:old
NEW=$REG/base/python3:patched

# --- the app: flask + requests (as bench/image.sh), built on the old base ----------------
mkdir -p "$WORK/app"
cat >"$WORK/app/app.py" <<'EOF'
# /// script
# requires-python = ">=3.11"
# dependencies = ["flask>=3,<4", "requests>=2.31,<3"]
# ///
import flask, requests
print("flask", flask.__version__, "requests", requests.__version__)
EOF
export PRISN_HOME=$WORK/home UV_CACHE_DIR=$WORK/uv-cache
"$PRISN" --quiet lock "$WORK/app/app.py" >&2
IMAGE=$("$PRISN" --quiet build "$WORK/app/app.py" --image "$REG/team/app:v1" --base "$OLD")
log "image on the old base: $IMAGE"

# Rebase: the image by digest onto the patched base; no network but the local registry.
REBASED=$("$PRISN" --quiet rebase "$IMAGE" --base "$NEW" --image "$REG/team/app:rebased")
REBUILT=$("$PRISN" --quiet build "$WORK/app/app.py" --image "$REG/team/app:rebuilt" --base "$NEW")
log "rebased: $REBASED"
log "rebuilt: $REBUILT"
SAME=no
[ "${REBASED#*@}" = "${REBUILT#*@}" ] && SAME=yes

# Rebase from a home that never saw the image (what a site that only imported it has): the
# old base's layers are fetched from the registry once to read its Python.
FRESH="rm -rf $WORK/fresh-home; PRISN_HOME=$WORK/fresh-home $PRISN --quiet rebase $IMAGE --base $NEW --image $REG/team/app:rebased"
WARM_REBASE="$PRISN --quiet rebase $IMAGE --base $NEW --image $REG/team/app:rebased"
COLD_BUILD="rm -rf $WORK/cold-home $WORK/cold-uv; cp $WORK/app/prisn.lock $WORK/app/prisn.lock.keep; PRISN_HOME=$WORK/cold-home UV_CACHE_DIR=$WORK/cold-uv $PRISN --quiet build $WORK/app/app.py --image $REG/team/app:cold --base $NEW; mv $WORK/app/prisn.lock.keep $WORK/app/prisn.lock"
WARM_BUILD="$PRISN --quiet build $WORK/app/app.py --image $REG/team/app:rebuilt --base $NEW"

hyperfine --style none --runs "$RUNS" --warmup 1 --export-json "$WORK/warm.json" \
  -n "rebase (warm home)" "$WARM_REBASE" \
  -n "rebase (fresh home)" "$FRESH" \
  -n "build --image (warm caches, image in registry)" "$WARM_BUILD" >&2
hyperfine --style none --runs "$COLD_RUNS" --export-json "$WORK/cold.json" \
  -n "build --image (empty caches)" "$COLD_BUILD" >&2

python3 - "$WORK/warm.json" "$WORK/cold.json" "$LOAD0" "$SAME" "$RUNS" "$COLD_RUNS" <<'PY'
import json, sys
warm, cold = (json.load(open(p))["results"] for p in sys.argv[1:3])
load, same, runs, cold_runs = sys.argv[3:7]
rows = {r["command"]: r for r in warm + cold}
def ms(name):
    r = rows[name]
    return f"{r['mean']*1000:.0f} ms ± {r['stddev']*1000:.0f}"
rebase = rows["rebase (warm home)"]["mean"]
print("| step | time (mean ± σ) | vs rebase |")
print("|---|---|---|")
for name in rows:
    print(f"| {name} | {ms(name)} | {rows[name]['mean']/rebase:.1f}× |")
print()
print(f"Runs: {runs} (empty caches: {cold_runs}); load average at the start: {load}. "
      f"Rebased digest = digest of a build on the patched base: {same}.")
PY
