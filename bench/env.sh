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
# Byte-compiling runs detached after a build; here it runs inline (`sync`) where it is part
# of what is measured, and not at all (`off`) where it would steal the CPU from the next run.
export PRISN_OPTIMISE=sync
# The real interpreter, not a pyenv shim, so the baseline is as fast as Python can start;
# likewise the uv binary itself (prisn finds the one installed beside the interpreter).
PY=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')
UV=$(dirname "$PY")/uv
[ -x "$UV" ] || UV=$(command -v uv)
cp examples/hello.py "$WORK/hello.py"
cat > "$WORK/web.py" <<'PY'
# /// script
# dependencies = ["flask==3.1.0", "requests==2.32.3"]
# ///
import flask, requests
PY
"$PRISN" lock "$WORK/web.py" --exclude-newer 2025-06-01T00:00:00Z >/dev/null
ENV=$("$PRISN" build "$WORK/web.py")
# The same pins, for the peer.
python3 - "$WORK/prisn.lock" > "$WORK/pins.txt" <<'PY'
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
for p in lock["scripts"]["web.py"]["package"]:
    print(f'{p["name"]}=={p["version"]} ' + " ".join(f"--hash={h}" for h in p["hashes"]))
PY

echo "## prisn run: warm overhead vs bare python"
HELLO_ENV=$("$PRISN" build "$WORK/hello.py")
hyperfine -N --warmup 5 --runs 40 --export-markdown "$WORK/run.md" \
  -n "prisn run hello.py" "$PRISN run $WORK/hello.py" \
  -n "python3 -u -B hello.py" "$PY -u -B $WORK/hello.py" \
  -n "the store env's python -u -B hello.py (what prisn execs)" "$HELLO_ENV/bin/python -u -B $WORK/hello.py" >&2
cat "$WORK/run.md"

echo; echo "## prisn build, environment already in the store"
hyperfine -N --warmup 5 --runs 40 --export-markdown "$WORK/build.md" \
  -n "prisn build web.py (warm)" "$PRISN build $WORK/web.py" >&2
cat "$WORK/build.md"

echo; echo "## Cold environment for flask+requests (uv cache warm), vs uv venv + uv pip install"
echo "(prisn byte-compiles new environments in the background afterwards; PRISN_OPTIMISE=off here, its cost is measured below)"
PRISN_OPTIMISE=off hyperfine --warmup 1 --runs 10 --export-markdown "$WORK/cold.md" \
  --prepare "rm -rf $ENV $WORK/venv" \
  -n "prisn build web.py (new env)" "$PRISN build $WORK/web.py" \
  -n "uv venv && uv pip install --require-hashes" "$UV venv -q --python $PY $WORK/venv && $UV pip install -q --python $WORK/venv/bin/python --require-hashes --no-deps -r $WORK/pins.txt" >&2
cat "$WORK/cold.md"

echo; echo "## Cold environment, empty uv cache (downloads from the index)"
PRISN_OPTIMISE=off hyperfine --warmup 0 --runs 3 --export-markdown "$WORK/coldcache.md" \
  --prepare "rm -rf $ENV $WORK/venv $WORK/uvcache" \
  -n "prisn build web.py (new env, empty cache)" "UV_CACHE_DIR=$WORK/uvcache $PRISN build $WORK/web.py" \
  -n "uv venv && uv pip install (empty cache)" "UV_CACHE_DIR=$WORK/uvcache $UV venv -q --python $PY $WORK/venv && UV_CACHE_DIR=$WORK/uvcache $UV pip install -q --python $WORK/venv/bin/python --require-hashes --no-deps -r $WORK/pins.txt" >&2
cat "$WORK/coldcache.md"

echo; echo "## The background pass after a build, and what it buys: a warm run that imports flask + requests"
"$PRISN" build "$WORK/web.py" >/dev/null
ENV=$("$PRISN" build "$WORK/web.py")
printf 'import flask, requests\n' > "$WORK/imports.py"
rm -rf "$WORK/venv" && "$UV" venv -q --python "$PY" "$WORK/venv" && "$UV" pip install -q --python "$WORK/venv/bin/python" --require-hashes --no-deps -r "$WORK/pins.txt"
env -u PYTHONDONTWRITEBYTECODE "$WORK/venv/bin/python" "$WORK/imports.py"   # writes the venv's bytecode once, as a plain venv does
cp "$WORK/imports.py" "$WORK/web-run.py"; sed -i '1i # /// script\n# dependencies = ["flask==3.1.0", "requests==2.32.3"]\n# ///' "$WORK/web-run.py"
"$PRISN" lock "$WORK/web-run.py" --exclude-newer 2025-06-01T00:00:00Z >/dev/null 2>&1
"$PRISN" run "$WORK/web-run.py"
hyperfine --runs 5 --export-markdown "$WORK/opt1.md" \
  --prepare "find $ENV -name __pycache__ -prune -exec rm -rf {} +" \
  -n "prisn store optimise (compile + dedupe; once per env, detached)" "$PRISN --quiet store optimise $ENV" >&2
cat "$WORK/opt1.md"; echo
hyperfine -N --warmup 3 --runs 20 --export-markdown "$WORK/opt.md" \
  -n "prisn run: import flask, requests" "$PRISN run $WORK/web-run.py" \
  -n "venv python: import flask, requests" "env -u PYTHONDONTWRITEBYTECODE $WORK/venv/bin/python $WORK/imports.py" >&2
cat "$WORK/opt.md"

echo; echo "## Disk: a second environment sharing packages with the first"
cat > "$WORK/web2.py" <<'PY'
# /// script
# dependencies = ["flask==3.1.0", "requests==2.32.3", "six==1.16.0"]
# ///
PY
ENV=$("$PRISN" build "$WORK/web.py")
"$PRISN" lock "$WORK/web2.py" --exclude-newer 2025-06-01T00:00:00Z >/dev/null 2>&1
ENV2=$("$PRISN" build "$WORK/web2.py")
one=$(du -sk "$ENV" | cut -f1); two=$(du -sk "$ENV2" | cut -f1); both=$(du -skc "$ENV" "$ENV2" | tail -1 | cut -f1)
echo "| env | KiB on disk |"
echo "|---|---|"
echo "| first (flask+requests) | $one |"
echo "| second alone (flask+requests+six) | $two |"
echo "| both together (du counts hardlinks once) | $both |"
echo "| extra disk for the second | $((both - one)) ($(( (both - one) * 100 / two ))% of its size) |"
