#!/usr/bin/env bash
# Remote-mode figures for BENCHMARKS.md ("Remote mode"), over TLS on loopback:
#
#   1. code-only change: `prisn deploy` (which waits until the port answers) → new code
#      answering, and the bytes uploaded                                       goal ≤ 300 ms
#   2. 50 concurrent clients doing get (list) and status over HTTPS with a token (bench/load),
#      a new TLS connection per request, and each keeping its connection:
#      p50/p99 and errors                                                     goal p99 ≤ 50 ms
#   3. idle memory (VmRSS) of the server, and of the namespace's daemon        goal ≤ 30 MiB
#   4. 20 concurrent deploys of different apps (no dependencies) to one server: all succeed
#   5. cold environment on an air-gapped server (`--offline`, empty uv cache, a new namespace
#      per run) from the wheels the client ships (the client's wheel cache warmed once), vs a
#      local `uv venv` + `uv pip install` of the same lock with an empty uv cache, from PyPI
#      and from the same wheels (--no-index --find-links)                    goal ≤ 1.3×
#
#   bench/remote.sh           # prints a markdown table on stdout, details on stderr
#
# Needs: curl, python3, go, uv and the network once (to lock flask). PRISN picks the binary
# (default: the release one, built if missing). Everything lives in a temporary directory;
# the server and its daemons are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/prisn
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/cargo-target}
RUNS=${RUNS:-10}
COLD_RUNS=${COLD_RUNS:-3}
PORT=${PORT:-18941}
API=${API:-17391}

log() { printf '%s\n' "$*" >&2; }
if [ -z "${PRISN:-}" ]; then
  cargo build --release --quiet --bin prisn
  PRISN=$CARGO_TARGET_DIR/release/prisn
fi
WORK=$(mktemp -d /tmp/prisn-bench-remote.XXXXXX)
export PRISN_HOME=$WORK/client
DATA=$WORK/data
cleanup() {
  [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null || true
  [ -n "${GAPPED:-}" ] && kill "$GAPPED" 2>/dev/null || true
  for h in "$DATA"/ns/*/home "${DATA2:-/nonexistent}"/ns/*/home; do
    [ -d "$h" ] && PRISN_HOME=$h "$PRISN" daemon stop >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

line=$("$PRISN" server init --data "$DATA" --namespace bench 2>/dev/null)
token=$(sed 's/.*--token \([^ ]*\).*/\1/' <<<"$line")
"$PRISN" server --data "$DATA" --listen "127.0.0.1:$API" 2>"$WORK/server.log" &
SERVER=$!
until curl -sk -o /dev/null "https://127.0.0.1:$API/v1/info"; do sleep 0.05; done
"$PRISN" context add bench --mode remote --server "127.0.0.1:$API" -n bench \
  --fingerprint "$(sed 's/.*--fingerprint \([^ ]*\).*/\1/' <<<"$line")" --token "$token" --use 2>/dev/null

cp "$ROOT/examples/api.py" "$WORK/api.py"
cd "$WORK"
now_ms() { date +%s%3N; }

log "== cold deploy of api.py (locks flask here, builds the environment on the server)"
t0=$(now_ms); "$PRISN" deploy api.py --port "$PORT" -q >&2; t1=$(now_ms)
cold_ms=$((t1 - t0))

log "== 1. code-only change → new code answering ($RUNS runs)"
times=(); bytes=()
for i in $(seq 1 "$RUNS"); do
  printf '\n# change %s\n' "$i" >>api.py
  t0=$(now_ms)
  out=$("$PRISN" deploy api.py --port "$PORT" 2>&1 >/dev/null)
  t1=$(now_ms)
  times+=($((t1 - t0)))
  bytes+=("$(sed -n 's/.*uploaded 1 of 2 files (\([0-9]*\) bytes).*/\1/p' <<<"$out")")
  curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" || { log "not answering after deploy $i"; exit 1; }
done
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%d", m}'; }
code_ms=$(printf '%s\n' "${times[@]}" | median)
code_range=$(printf '%s\n' "${times[@]}" | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {printf "%d–%d", lo, hi}')
sent=${bytes[-1]}
file_size=$(stat -c %s api.py)

log "== 2. 50 concurrent clients, get + status"
# A compiled client (bench/load, Go's standard library): a Python one spent three times the
# server's CPU per request, so its figure was the load generator's.
(cd "$ROOT/bench/load" && go build -o "$WORK/load" .)
conc=$("$WORK/load" -port "$API" -token "$token" -namespace bench -status api)
conc_keep=$("$WORK/load" -port "$API" -token "$token" -namespace bench -status api -keepalive)

log "== 3. idle memory"
sleep 2
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
daemon_pid=$(PRISN_HOME=$DATA/ns/bench/home "$PRISN" daemon status -o json | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
server_rss=$(rss "$SERVER")
daemon_rss=$(rss "$daemon_pid")

log "== 4. 20 concurrent deploys of different apps"
for i in $(seq 0 19); do
  cat >"app$i.py" <<PY
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        b = b"app$i"
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
PY
done
t0=$(now_ms)
pids=()
for i in $(seq 0 19); do
  "$PRISN" deploy "app$i.py" --port $((PORT + 100 + i)) -q >"app$i.out" 2>&1 & pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
t1=$(now_ms)
answering=0
for i in $(seq 0 19); do
  [ "$(curl -fs "http://127.0.0.1:$((PORT + 100 + i))/")" = "app$i" ] && answering=$((answering + 1))
done
many="20 deploys in $((t1 - t0)) ms, $fails failed, $answering/20 answering with their own code"
for i in $(seq 0 19); do "$PRISN" delete "app$i" --yes -q >/dev/null 2>&1 || true; done

log "== 5. cold environment from client-shipped wheels (air-gapped server) vs local uv"
DATA2=$WORK/data2
line2=$("$PRISN" server init --data "$DATA2" --namespace warm 2>/dev/null)
fp2=$(sed 's/.*--fingerprint \([^ ]*\).*/\1/' <<<"$line2")
UV_CACHE_DIR=$WORK/uv-server "$PRISN" server --data "$DATA2" --listen "127.0.0.1:$((API + 1))" --offline 2>"$WORK/server2.log" &
GAPPED=$!
until curl -sk -o /dev/null "https://127.0.0.1:$((API + 1))/v1/info"; do sleep 0.05; done
gapped_ctx() { # NAMESPACE: a context for it, with a fresh deploy token
  local tok
  tok=$("$PRISN" server token create --data "$DATA2" --namespace "$1" --role deploy 2>/dev/null)
  "$PRISN" context add "$1" --mode remote --server "127.0.0.1:$((API + 1))" -n "$1" \
    --fingerprint "$fp2" --token "$tok" >/dev/null 2>&1
}
gapped_ctx warm
# Warms the client's wheel cache (downloads the lock's wheels once).
"$PRISN" --context warm deploy api.py --port $((PORT + 1)) -q >&2
"$PRISN" --context warm delete api --yes -q >/dev/null 2>&1
shipped=(); pypi=(); links=()
LINKS=$WORK/links; mkdir -p "$LINKS"
find "$PRISN_HOME/cache/wheels" -name '*.whl' -exec ln -sf {} "$LINKS/" \;
python3 - prisn.lock api.py >reqs.txt <<'PY'
import sys, tomllib
sec = tomllib.load(open(sys.argv[1], "rb"))["scripts"][sys.argv[2]]
for p in sec["package"]:
    print(f"{p['name']}=={p['version']} " + " ".join(f"--hash={h}" for h in p["hashes"]))
PY
for i in $(seq 1 "$COLD_RUNS"); do
  gapped_ctx "cold$i"
  rm -rf "$WORK/uv-server"
  t0=$(now_ms); "$PRISN" --context "cold$i" deploy api.py --port $((PORT + 1 + i)) -q >&2; t1=$(now_ms)
  shipped+=($((t1 - t0)))
  "$PRISN" --context "cold$i" delete api --yes -q >/dev/null 2>&1
  for mode in pypi links; do
    rm -rf "$WORK/uv-local" "$WORK/venv"
    t0=$(now_ms)
    UV_CACHE_DIR=$WORK/uv-local uv venv -q "$WORK/venv" --python python3
    if [ $mode = pypi ]; then extra=(); else extra=(--no-index --find-links "$LINKS"); fi
    UV_CACHE_DIR=$WORK/uv-local uv pip install -q --python "$WORK/venv/bin/python" \
      --require-hashes --no-deps "${extra[@]}" -r reqs.txt
    t1=$(now_ms)
    if [ $mode = pypi ]; then pypi+=($((t1 - t0))); else links+=($((t1 - t0))); fi
  done
done
shipped_ms=$(printf '%s\n' "${shipped[@]}" | median)
# The server's own account of each cold run's environment build (its log, one line per build).
env_ms=$(sed -n 's/.*namespace cold[0-9]*: built the environment of api.py in \([0-9]*\) ms.*/\1/p' "$WORK/server2.log" | median)
pypi_ms=$(printf '%s\n' "${pypi[@]}" | median)
links_ms=$(printf '%s\n' "${links[@]}" | median)
wheels=$(find "$LINKS" -name '*.whl' | wc -l)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

cat <<TABLE
| figure | goal | measured |
|---|---|---|
| cold deploy of api.py (lock here, environment built on the server) | – | ${cold_ms} ms |
| code-only change → new code answering, over TLS | ≤ 300 ms | ${code_ms} ms median ($code_range, $RUNS runs) |
| bytes sent for that change | ≈ the changed file | $sent bytes (api.py is $file_size bytes) |
| 50 concurrent clients, get + status, a new TLS connection per request | p99 ≤ 50 ms, no errors | $conc |
| 50 concurrent clients, get + status, each keeping its connection | p99 ≤ 50 ms, no errors | $conc_keep |
| 20 concurrent deploys of different apps, one server | all succeed | $many |
| air-gapped server: whole deploy of api.py with a cold environment from $wheels client-shipped wheels (upload, checks, install, app answering) | – | ${shipped_ms} ms median ($COLD_RUNS runs): $(ratio "$shipped_ms" "$pypi_ms")× the local install from PyPI, $(ratio "$shipped_ms" "$links_ms")× the local install from the same wheels |
| of which the environment build on the server (its log: lock check, install from the shipped wheels, empty uv cache) | ≤ 1.3× local uv | ${env_ms} ms median: $(ratio "$env_ms" "$links_ms")× the local install from the same wheels, $(ratio "$env_ms" "$pypi_ms")× from PyPI |
| local \`uv venv\` + \`uv pip install\` of the same lock, empty uv cache: from PyPI / from the wheels (--no-index) | – | ${pypi_ms} ms / ${links_ms} ms |
| idle memory: server / namespace daemon (VmRSS; the daemon is a separate process, started on a namespace's first request) | ≤ 30 MiB | $server_rss MiB / $daemon_rss MiB |
TABLE
