#!/usr/bin/env bash
# Benchmarks for environments (issue "Build a script's environment…"), side by side with
# the peer in the same run. Results go to stdout as markdown; BENCHMARKS.md records them.
#   bash bench/env.sh            (needs: hyperfine, uv, a release build of prisn)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/prisn/cargo-target}
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release --quiet -p prisn
PRISN=$CARGO_TARGET_DIR/release/prisn
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export PRISN_HOME=$WORK/home UV_PYTHON_DOWNLOADS=never
# The real interpreter, not a pyenv shim, so the baseline is as fast as Python can start.
PY=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')
cp examples/hello.py "$WORK/hello.py"
cat > "$WORK/web.py" <<'PY'
# /// script
# dependencies = ["flask==3.1.0", "requests==2.32.3"]
# ///
import flask, requests
PY
"$PRISN" lock "$WORK/web.py" --exclude-newer 2025-06-01T00:00:00Z >/dev/null
"$PRISN" build "$WORK/hello.py" >/dev/null
ENV=$("$PRISN" build "$WORK/web.py")
# The same pins, for the peer.
python3 - "$WORK/prisn.lock" > "$WORK/pins.txt" <<'PY'
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
for p in lock["scripts"]["web.py"]["package"]:
    print(f'{p["name"]}=={p["version"]} ' + " ".join(f"--hash={h}" for h in p["hashes"]))
PY

echo "## prisn run: warm overhead vs bare python"
hyperfine -N --warmup 5 --runs 40 --export-markdown "$WORK/run.md" \
  -n "prisn run hello.py" "$PRISN run $WORK/hello.py" \
  -n "python3 -u -B hello.py" "$PY -u -B $WORK/hello.py" >&2
cat "$WORK/run.md"

echo; echo "## prisn build, environment already in the store"
hyperfine -N --warmup 5 --runs 40 --export-markdown "$WORK/build.md" \
  -n "prisn build web.py (warm)" "$PRISN build $WORK/web.py" >&2
cat "$WORK/build.md"

echo; echo "## Cold environment for flask+requests (uv cache warm), vs uv venv + uv pip install"
hyperfine --warmup 1 --runs 10 --export-markdown "$WORK/cold.md" \
  --prepare "rm -rf $ENV $WORK/venv" \
  -n "prisn build web.py (new env)" "$PRISN build $WORK/web.py" \
  -n "uv venv && uv pip install --require-hashes" "uv venv -q --python $PY $WORK/venv && uv pip install -q --python $WORK/venv/bin/python --require-hashes --no-deps -r $WORK/pins.txt" >&2
cat "$WORK/cold.md"

echo; echo "## Cold environment, empty uv cache (downloads from the index)"
hyperfine --warmup 0 --runs 3 --export-markdown "$WORK/coldcache.md" \
  --prepare "rm -rf $ENV $WORK/venv $WORK/uvcache" \
  -n "prisn build web.py (new env, empty cache)" "UV_CACHE_DIR=$WORK/uvcache $PRISN build $WORK/web.py" \
  -n "uv venv && uv pip install (empty cache)" "UV_CACHE_DIR=$WORK/uvcache uv venv -q --python $PY $WORK/venv && UV_CACHE_DIR=$WORK/uvcache uv pip install -q --python $WORK/venv/bin/python --require-hashes --no-deps -r $WORK/pins.txt" >&2
cat "$WORK/coldcache.md"

echo; echo "## Disk: a second environment sharing packages with the first"
cat > "$WORK/web2.py" <<'PY'
# /// script
# dependencies = ["flask==3.1.0", "requests==2.32.3", "six==1.16.0"]
# ///
PY
ENV=$("$PRISN" build "$WORK/web.py")
ENV2=$("$PRISN" build "$WORK/web2.py")
one=$(du -sk "$ENV" | cut -f1); two=$(du -sk "$ENV2" | cut -f1); both=$(du -skc "$ENV" "$ENV2" | tail -1 | cut -f1)
echo "| env | KiB on disk |"
echo "|---|---|"
echo "| first (flask+requests) | $one |"
echo "| second alone (flask+requests+six) | $two |"
echo "| both together (du counts hardlinks once) | $both |"
echo "| extra disk for the second | $((both - one)) ($(( (both - one) * 100 / two ))% of its size) |"
