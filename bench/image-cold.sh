#!/usr/bin/env bash
# Issue 14's image figures, side by side in one run (BENCHMARKS.md, "Cold image and bytecode"):
#
#   1. cold image for flask + requests with empty caches (prisn's cache, uv's cache): prisn
#      before and after a change (BEFORE=path/to/old/prisn), with and without bytecode, vs a
#      bare `uv pip install` of the same lock (and with --compile-bytecode, the like-for-like
#      peer of an image with bytecode);
#   2. import time of examples/api.py's dependencies (flask) in the image under runc, with and
#      without bytecode (median of RUNS_IMPORT runs each, alternating).
#
#   BEFORE=/tmp/prisn-main bench/image-cold.sh     # markdown on stdout, details on stderr
#   ONLY=import PRISN=target/debug/prisn bench/image-cold.sh   # just 2. (Python's figure:
#                                                              # any build of prisn will do)
#
# Needs: hyperfine, docker-registry, skopeo, umoci, runc, uv, the python3 base of tests/run.sh
# (prisn base python3), and PyPI (cold runs download wheels). Uses the release binary
# ($CARGO_TARGET_DIR/release/prisn, built if missing). RUNS (default 5) cold runs per row.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/prisn
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/cargo-target}
export UV_PYTHON_DOWNLOADS=never
RUNS=${RUNS:-5}
RUNS_IMPORT=${RUNS_IMPORT:-15}
log() { printf '%s\n' "$*" >&2; }

ONLY=${ONLY:-all}
if [ -z "${PRISN:-}" ]; then
  cargo build --release --quiet --locked --bin prisn
  PRISN=$CARGO_TARGET_DIR/release/prisn
fi
BEFORE=${BEFORE:-}
BASES=${PRISN_BASE_IMAGES:-$CACHE/base-images}
[ -e "$BASES/python3/index.json" ] || {
  log "no python3 base in $BASES: run tests/run.sh (or prisn base python3 --output $BASES/python3)"
  exit 1
}
UV=$(command -v uv)
# pyenv's uv is a shim script; the real binary, as prisn finds it beside the interpreter.
UV=$(pyenv which uv 2>/dev/null || echo "$UV")
# And prisn gets the real python3 first on PATH, as the uv rows get the real uv: a pyenv shim
# is a bash script that costs 0.1-0.4 s per call on this machine, and the cold rows empty
# the cache of prisn's probe of the host interpreter.
PYBIN=$(dirname "$(pyenv which python3 2>/dev/null || command -v python3)")
export PATH=$PYBIN:$PATH

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# shellcheck source=bench/registry.sh
source bench/registry.sh
bench_work cold

start_registry "$WORK"
skopeo copy --quiet --dest-tls-verify=false "oci:$BASES/python3:python3" "docker://$REG/bench/python3:latest"
BASE=$REG/bench/python3:latest

# --- the app: flask + requests, locked once ------------------------------------------------
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
"$PRISN" -q lock "$WORK/app/app.py" >&2
# Pin the base once, so every row builds on the same digest and none resolves the tag.
"$PRISN" -q build "$WORK/app/app.py" --image "$REG/bench/warm:pin" --base "$BASE" --no-bytecode >/dev/null
NPKG=$(python3 -c 'import sys, tomllib; print(len(tomllib.load(open(sys.argv[1], "rb"))["scripts"]["app.py"]["package"]))' "$WORK/app/prisn.lock")
python3 - "$WORK/app/prisn.lock" >"$WORK/requirements.txt" <<'PY'
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
for pkg in lock["scripts"]["app.py"]["package"]:
    print(f"{pkg['name']}=={pkg['version']} " + " ".join(f"--hash={h}" for h in pkg["hashes"]))
PY
# uv's platform for the base, as prisn reads it: the base's io.prisn.base.info label, else
# prisn's cached inspection of its layers.
GLIBC=$(python3 - "$BASES/python3" "$PRISN_HOME" <<'PY'
import glob, json, sys
blob = lambda d: json.load(open(f"{sys.argv[1]}/blobs/sha256/{d.split(':')[1]}"))
m = blob(json.load(open(sys.argv[1] + "/index.json"))["manifests"][0]["digest"])
label = blob(m["config"]["digest"])["config"].get("Labels", {}).get("io.prisn.base.info")
info = json.loads(label) if label else json.load(open(glob.glob(sys.argv[2] + "/cache/base-v2/*.json")[0]))
print(info["libc_version"])
PY
)
PLATFORM=x86_64-manylinux_${GLIBC/./_}

JSON=$WORK/json
mkdir -p "$JSON"
# One counter, so every run pushes a new tag.
echo 0 >"$WORK/n"
EMPTY="rm -rf $PRISN_HOME/cache $UV_CACHE_DIR $WORK/uv-target; echo \$((\$(cat $WORK/n)+1)) > $WORK/n"
COLD_MD="(cold rows not run: ONLY=$ONLY)"; D_BEFORE=-; D_AFTER=-
[ "$ONLY" = import ] || {
ROWS=()
[ -n "$BEFORE" ] && ROWS+=(-n "prisn before --no-bytecode" "$BEFORE -q build $WORK/app/app.py --image $REG/bench/before:c\$(cat $WORK/n) --base $BASE --no-bytecode >/dev/null")
[ -n "$BEFORE" ] && ROWS+=(-n "prisn before (bytecode, the default)" "$BEFORE -q build $WORK/app/app.py --image $REG/bench/before-pyc:c\$(cat $WORK/n) --base $BASE >/dev/null")
ROWS+=(-n "prisn --no-bytecode" "$PRISN -q build $WORK/app/app.py --image $REG/bench/after:c\$(cat $WORK/n) --base $BASE --no-bytecode >/dev/null")
ROWS+=(-n "prisn (bytecode, the default)" "$PRISN -q build $WORK/app/app.py --image $REG/bench/pyc:c\$(cat $WORK/n) --base $BASE >/dev/null")
UVI="$UV pip install -q --target $WORK/uv-target --python-version 3.11 --python-platform $PLATFORM --only-binary :all: --require-hashes --no-deps -r $WORK/requirements.txt"
ROWS+=(-n "uv pip install" "$UVI")
ROWS+=(-n "uv pip install --compile-bytecode" "$UVI --compile-bytecode")
log "== cold image for flask+requests ($NPKG packages), empty caches"
hyperfine --shell bash --style basic --runs "$RUNS" --prepare "$EMPTY" --export-json "$JSON/cold.json" \
  --export-markdown "$WORK/cold.md" "${ROWS[@]}" >&2

# Digests: the same image before and after the change, with and without bytecode.
digest() { "$1" -q build "$WORK/app/app.py" --output "$WORK/out-$2" --base "$BASE" "${@:3}"; }
D_AFTER="$(PRISN_HOME=$WORK/home-d1 digest "$PRISN" after --no-bytecode) $(PRISN_HOME=$WORK/home-d3 digest "$PRISN" after-pyc)"
[ -n "$BEFORE" ] && D_BEFORE="$(PRISN_HOME=$WORK/home-d2 digest "$BEFORE" before --no-bytecode) $(PRISN_HOME=$WORK/home-d4 digest "$BEFORE" before-pyc)"
# Medians as well as hyperfine's means: now and then a download stalls for 5 s (for uv alone
# as for prisn), and one such run moves a mean of five by a second.
MEDIANS=$(python3 - "$JSON/cold.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
rows = [("prisn --no-bytecode", "uv pip install"),
        ("prisn (bytecode, the default)", "uv pip install --compile-bytecode"),
        ("prisn before --no-bytecode", "uv pip install"),
        ("prisn before (bytecode, the default)", "uv pip install --compile-bytecode")]
print("| medians | prisn | uv | ratio |\n|---|---|---|---|")
for a, b in rows:
    if a in r:
        print(f"| {a} / {b} | {r[a]*1000:.0f} ms | {r[b]*1000:.0f} ms | {r[a]/r[b]:.2f}× |")
PY
)
COLD_MD="$(cat "$WORK/cold.md")

$MEDIANS"
}

# --- import time of examples/api.py's dependencies in the image -----------------------------
log "== import time of examples/api.py's dependencies under runc"
cp "$ROOT/examples/api.py" "$WORK/api.py"
"$PRISN" -q build "$WORK/api.py" --output "$WORK/img-plain" --base "$BASE" --no-bytecode >/dev/null
"$PRISN" -q build "$WORK/api.py" --output "$WORK/img-pyc" --base "$BASE" >/dev/null
probe() {
  local bundle=$WORK/bundle-$1
  umoci unpack --image "$WORK/img-$1:latest" "$bundle" >/dev/null
  python3 - "$bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
# As the image runs Python (-B: nothing written at run time), timing only the imports.
c["process"]["args"] = ["python3", "-B", "-c",
  "import time; t=time.perf_counter(); import flask; print(round((time.perf_counter()-t)*1000, 1))"]
json.dump(c, open(sys.argv[1], "w"))
PY
}
probe plain
probe pyc
for i in $(seq "$RUNS_IMPORT"); do
  runc run --bundle "$WORK/bundle-plain" "bench-plain-$$-$i" >>"$WORK/t-plain"
  runc run --bundle "$WORK/bundle-pyc" "bench-pyc-$$-$i" >>"$WORK/t-pyc"
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
size() { python3 -c '
import json,sys
d=json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"]
m=json.load(open(sys.argv[1]+"/blobs/sha256/"+d.split(":")[1]))
print(m["layers"][-2]["size"])' "$1"; }

cat <<EOF
\`bench/image-cold.sh\`, $(date -u +%Y-%m-%d), $(nproc) cores, load average at the start $LOAD0;
$(uv --version), $(hyperfine --version); base \`prisn base python3\` on a loopback docker-registry;
$RUNS cold runs per row (prisn's cache and uv's cache emptied before each; wheels from PyPI).

$COLD_MD

$( [ "$ONLY" = import ] || [ -z "$BEFORE" ] || { [ "$D_BEFORE" = "$D_AFTER" ] && echo "Same digests before and after (--no-bytecode, bytecode): yes, ${D_AFTER%% *} and ${D_AFTER##* }" || echo "Same digests before and after (--no-bytecode, bytecode): NO: before $D_BEFORE, after $D_AFTER"; })

| examples/api.py in the image (runc), \`import flask\` | median of $RUNS_IMPORT | dependency layer |
|---|---|---|
| --no-bytecode | $(median "$WORK/t-plain") ms | $(size "$WORK/img-plain") bytes |
| bytecode by the base's Python (default) | $(median "$WORK/t-pyc") ms | $(size "$WORK/img-pyc") bytes |
EOF
