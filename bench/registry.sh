# Sourced by the bench scripts (which run from the repository root).
#
# `bench_work NAME`: a fresh WORK directory (/tmp/prisn-bench-NAME.XXXXXX) and an EXIT trap
# that kills the registry below, runs the caller's `bench_cleanup` if it defines one, and
# removes WORK.
bench_work() {
  WORK=$(mktemp -d "/tmp/prisn-bench-$1.XXXXXX")
  REG_PID=
  trap _bench_exit EXIT
}
_bench_exit() {
  if [ -n "${REG_PID:-}" ]; then kill "$REG_PID" 2>/dev/null || true; fi
  if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi
  rm -rf "$WORK"
}

# `start_registry DIR` runs Debian's docker-registry on a free loopback port with its storage
# and log in DIR, sets REG (host:port) and REG_PID, and returns once /v2/ answers.
start_registry() {
  local dir=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  REG=127.0.0.1:$port
  mkdir -p "$dir/registry"
  cat >"$dir/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $dir/registry}, delete: {enabled: true}}
http: {addr: $REG, secret: bench}
YML
  docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
  REG_PID=$!
  for _ in $(seq 100); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.05; done
}
