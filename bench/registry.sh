# Sourced by the bench scripts: `start_registry DIR` runs Debian's docker-registry on a free
# loopback port with its storage and log in DIR, sets REG (host:port) and REG_PID, and returns
# once /v2/ answers. The caller's cleanup kills REG_PID.
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
