#!/usr/bin/env bash
# Local-mode figures for BENCHMARKS.md ("Local mode"):
#
#   1. deploy → port answering, warm store                                  goal ≤ 300 ms
#      a. a stdlib HTTP server (what prisn itself adds)
#      b. the hello API, examples/api.py (flask), as the store holds it today
#      c. the same with the environment's bytecode compiled (an experiment on the
#         benchmark's own store: what `uv pip install --compile-bytecode` would give)
#   2. `prisn get apps`                                                    goal ≤ 20 ms
#   3. first restart after a crash (kill -9 → new process; → port answers) goal ≤ 1 s
#   4. daemon idle memory (VmRSS), with no app and with the hello API     goal ≤ 20 MiB
#   5. daemon start (first command of a session) and recovery after kill -9
#
#   bench/local.sh            # prints a markdown table on stdout, details on stderr
#
# Needs: hyperfine (Debian package), curl, uv and the network once (to lock flask). Uses the
# release binary ($CARGO_TARGET_DIR/release/prisn, built if missing) in a temporary
# PRISN_HOME whose daemon is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/prisn
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/cargo-target}
RUNS=${RUNS:-10}
PORT=${PORT:-18931}

log() { printf '%s\n' "$*" >&2; }

cargo build --release --quiet --bin prisn
PRISN=$CARGO_TARGET_DIR/release/prisn
WORK=$(mktemp -d /tmp/prisn-bench-local.XXXXXX)
export PRISN_HOME=$WORK/home
cleanup() {
  "$PRISN" daemon stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
cp "$ROOT/examples/api.py" "$WORK/api.py"
cat >"$WORK/hello.py" <<'PY'
import http.server, os
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"hello\n")
http.server.HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Hello).serve_forever()
PY
cd "$WORK"

now_ms() { date +%s%3N; }
answers() { curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz"; }
pid_of() { "$PRISN" status "$1" -o json | sed -n 's/.*"PID": "\([0-9]*\)".*/\1/p'; }
rss_mib() { "$PRISN" daemon status -o json | sed -n 's/.*"rss_bytes": \([0-9]*\).*/\1/p' | awk '{printf "%.1f", $1/1048576}'; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%d", m}'; }
minmax() { sort -n | awk 'NR==1{lo=$1} {hi=$1} END {printf "%d–%d", lo, hi}'; }

log "== warm the store (lock flask, build the environments)"
"$PRISN" build api.py >/dev/null
"$PRISN" build hello.py >/dev/null

log "== 5. daemon start, empty home"
"$PRISN" daemon stop >/dev/null 2>&1 || true
t0=$(now_ms); "$PRISN" get >/dev/null 2>&1; t1=$(now_ms)
start_ms=$((t1 - t0))
sleep 2
rss_empty=$(rss_mib)

log "== 1. deploy → port answering (prisn deploy waits until the port answers)"
free_port="$PRISN delete hello --yes --ignore-not-found >/dev/null 2>&1; while curl -s -o /dev/null http://127.0.0.1:$PORT/; do sleep 0.05; done"
summary() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print('%d ms (min %d, max %d)' % (r['median']*1000, r['min']*1000, r['max']*1000))" "$1"; }
hyperfine --runs "$RUNS" --warmup 1 --export-json "$WORK/deploy-stdlib.json" --prepare "$free_port" \
  "$PRISN deploy hello.py --name hello --port $PORT -q" >&2
deploy_stdlib=$(summary "$WORK/deploy-stdlib.json")
hyperfine --runs "$RUNS" --warmup 1 --export-json "$WORK/deploy.json" --prepare "$free_port" \
  "$PRISN deploy api.py --name hello --port $PORT -q" >&2
deploy=$(summary "$WORK/deploy.json")
env_dir=$("$PRISN" build api.py)
"$env_dir/bin/python" -m compileall -q -j 0 "$env_dir" >/dev/null
hyperfine --runs "$RUNS" --warmup 1 --export-json "$WORK/deploy-pyc.json" --prepare "$free_port" \
  "$PRISN deploy api.py --name hello --port $PORT -q" >&2
deploy_pyc=$(summary "$WORK/deploy-pyc.json")
answers || { log "the hello API does not answer"; exit 1; }

log "== 2. prisn get apps"
hyperfine --runs 50 --warmup 5 --export-json "$WORK/get.json" -N "$PRISN get apps" >&2
get=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print('%.1f ms (min %.1f, max %.1f)' % (r['median']*1000, r['min']*1000, r['max']*1000))" "$WORK/get.json")

log "== 4. daemon idle memory with the hello API"
sleep 3
rss_app=$(rss_mib)

log "== 3. first restart after a crash (a fresh app each time: later restarts back off)"
: >"$WORK/restart-pid" ; : >"$WORK/restart-port"
for i in $(seq "$RUNS"); do
  "$PRISN" delete hello --yes --ignore-not-found >/dev/null 2>&1
  "$PRISN" deploy api.py --name hello --port "$PORT" -q >/dev/null
  old=$(pid_of hello)
  t0=$(now_ms)
  kill -9 "$old"
  while :; do new=$(pid_of hello); [ -n "$new" ] && [ "$new" != "$old" ] && break; sleep 0.01; done
  t1=$(now_ms)
  until answers; do sleep 0.01; done
  t2=$(now_ms)
  echo $((t1 - t0)) >>"$WORK/restart-pid"
  echo $((t2 - t0)) >>"$WORK/restart-port"
done
restart_pid="$(median <"$WORK/restart-pid") ms ($(minmax <"$WORK/restart-pid"))"
restart_port="$(median <"$WORK/restart-port") ms ($(minmax <"$WORK/restart-port"))"

log "== 5. recovery: kill -9 the daemon, next command restarts it and adopts the app"
app=$(pid_of hello)
daemon=$("$PRISN" daemon status -o json | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
kill -9 "$daemon"
t0=$(now_ms); "$PRISN" get apps >/dev/null; t1=$(now_ms)
recover_ms=$((t1 - t0))
[ "$(pid_of hello)" = "$app" ] || { log "the app was not adopted"; exit 1; }

cat <<MD
| figure | goal | measured |
|---|---|---|
| deploy → port answering, stdlib HTTP server, warm store, median of $RUNS | ≤ 300 ms | **$deploy_stdlib** |
| deploy → port answering, hello API (flask, examples/api.py), warm store | ≤ 300 ms | **$deploy** |
| … the same with the environment's bytecode compiled (experiment) | | $deploy_pyc |
| \`prisn get apps\` (one app), median of 50 | ≤ 20 ms | **$get** |
| first restart after a crash: kill -9 → new process (median, range of $RUNS) | ≤ 1 s | **$restart_pid** |
| … → port answering again (includes flask's start-up) | | $restart_port |
| daemon idle memory (VmRSS), no workload | ≤ 20 MiB | **$rss_empty MiB** |
| daemon idle memory (VmRSS), the hello API deployed | ≤ 20 MiB | **$rss_app MiB** |
| first command with no daemon (starts it) | | $start_ms ms |
| first command after \`kill -9\` of the daemon (restart + adopt the app) | | $recover_ms ms |
MD
