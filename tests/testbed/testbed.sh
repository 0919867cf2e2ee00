#!/usr/bin/env bash
# The prisn Kubernetes test bed: a real control plane on 127.0.0.1, built from
# the official Go modules (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl from k8s.io/kubernetes; etcd from go.etcd.io/etcd;
# kwok from sigs.k8s.io/kwok for fake nodes).
#
#   tests/testbed/testbed.sh build    compile once into a cache outside the repo
#   tests/testbed/testbed.sh up       start everything (builds first if needed)
#   tests/testbed/testbed.sh env      print `export KUBECONFIG=… PATH=…`
#   tests/testbed/testbed.sh status   say what runs (exit 0 when up, 3 when not)
#   tests/testbed/testbed.sh down     stop the recorded PIDs, remove the data dir
#   tests/testbed/testbed.sh leftovers  after down: list what the real node left (exit 1 if any)
#
# State (PIDs, ports, certs, data, logs) lives in <repo>/target/testbed/.
# Binaries live in ${PRISN_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/prisn/testbed}/<key>/.
# See tests/testbed/README.md.
set -Eeuo pipefail
# Any unexpected failure still ends with one line naming the command.
trap 'echo "testbed: error: line $LINENO: \`$BASH_COMMAND\` failed (exit $?)" >&2' ERR

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
STATE="${PRISN_TESTBED_STATE:-$ROOT/target/testbed}"
CACHE_ROOT="${PRISN_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/prisn/testbed}"
NODES="${PRISN_TESTBED_NODES:-1}"
HOST=127.0.0.1

K8S_VERSION="$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$HERE/go.mod")"
ETCD_VERSION="$(awk '$1=="go.etcd.io/etcd/server/v3" && $2 ~ /^v/ {print $2; exit}' "$HERE/go.mod")"
KWOK_VERSION="$(awk '$1=="sigs.k8s.io/kwok" && $2 ~ /^v/ {print $2; exit}' "$HERE/go.mod")"
GO_MIN=1.26

COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
# shellcheck source=node.sh
source "$HERE/node.sh"

die() { echo "testbed: error: $*" >&2; exit 1; }
say() { echo "testbed: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
PHASES=""
mark() { PHASES+="${PHASES:+, }$1 $(elapsed "$PHASE_T0")s"; PHASE_T0="$(now)"; }

# ---------------------------------------------------------------- toolchain --

find_go() {
  local g
  g="$(command -v go 2>/dev/null || true)"
  [[ -z "$g" && -x /usr/local/go/bin/go ]] && g=/usr/local/go/bin/go
  [[ -n "$g" ]] || die "Go toolchain not found: need go >= $GO_MIN on PATH or at /usr/local/go/bin/go (Kubernetes $K8S_VERSION is built from source)"
  local v
  v="$(GOTOOLCHAIN=local "$g" env GOVERSION 2>/dev/null)" || die "'$g env GOVERSION' failed: broken Go toolchain at $g"
  v="${v#go}"
  local major="${v%%.*}" rest="${v#*.}"; local minor="${rest%%.*}"
  if (( major < 1 || (major == 1 && minor < ${GO_MIN#1.}) )); then
    die "Go $v at $g is too old: Kubernetes $K8S_VERSION needs go >= $GO_MIN"
  fi
  GO="$g"; GO_VERSION="go$v"
}

# The cache key changes whenever the pinned versions, go.sum or the compiler change.
cache_key() {
  local h
  h="$( { cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/cri/main.go"; echo "$GO_VERSION"; declare -f build_binaries; } | sha256sum | cut -c1-12)"
  echo "k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-$h"
}

set_paths() {
  mkdir -p "$CACHE_ROOT"
  CACHE_ROOT_REAL="$(realpath "$CACHE_ROOT")"
  find_go
  KEY="$(cache_key)"
  CACHE="$CACHE_ROOT/$KEY"
  BIN="$CACHE/bin"
}

built() {
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl kwok etcd kubelet kube-proxy testbed-cri; do
    [[ -x "$BIN/$b" ]] || return 1
  done
  [[ -f "$CACHE/crds/kwok.x-k8s.io_logs.yaml" && -f "$CACHE/built" ]]
}

build_binaries() {
  # $1: output dir. Version stamps make `kubectl version` and /version report the real release.
  local out="$1" v="$K8S_VERSION" minor
  minor="$(echo "$v" | cut -d. -f2)"
  local ld="-s -w"
  local p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  (cd "$HERE" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 GOCACHE="$CACHE_ROOT/go-build" \
    "$GO" build -trimpath -ldflags "$ld" -o "$out/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubectl \
      k8s.io/kubernetes/cmd/kubelet \
      k8s.io/kubernetes/cmd/kube-proxy \
      sigs.k8s.io/kwok/cmd/kwok \
      go.etcd.io/etcd/server/v3 \
      ./cri)
  # go.etcd.io/etcd/server/v3 is the etcd main package; go names its binary "server".
  mv "$out/server" "$out/etcd"
  mv "$out/cri" "$out/testbed-cri"
}

cmd_build() {
  set_paths
  need_cmd flock util-linux
  if built; then
    say "binaries cached in $BIN"
    return 0
  fi
  mkdir -p "$CACHE_ROOT"
  # One builder at a time per cache key (two `up`s racing, or CI's two runs).
  exec 8>"$CACHE_ROOT/$KEY.lock"
  flock 8
  if built; then say "binaries cached in $BIN"; exec 8>&-; return 0; fi

  local t0; t0="$(now)"
  local proxy; proxy="$(GOTOOLCHAIN=local "$GO" env GOPROXY)"
  say "building Kubernetes $K8S_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION with $GO_VERSION (first run only; 6-8 min on 2 cores)"
  local dl
  if ! dl="$(cd "$HERE" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly "$GO" mod download 2>&1)"; then
    die "cannot download the Go modules through the module proxy (GOPROXY=$proxy): $(echo "$dl" | grep -v '^go: downloading' | tail -n1)"
  fi
  local tmp="$CACHE.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp/bin" "$tmp/crds"
  local log="$CACHE_ROOT/$KEY.build.log"
  if ! build_binaries "$tmp/bin" >"$log" 2>&1; then
    rm -rf "$tmp"
    die "go build failed (log: $log): $(grep -v '^go: downloading' "$log" | tail -n1)"
  fi
  local kwokdir
  kwokdir="$(cd "$HERE" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly "$GO" list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
  cp "$kwokdir/kustomize/crd/bases/kwok.x-k8s.io_logs.yaml" "$tmp/crds/"
  local secs; secs="$(elapsed "$t0")"
  printf 'key=%s\ngo=%s\nbuild_seconds=%s\nbuilt_at=%s\n' "$KEY" "$GO_VERSION" "$secs" "$(date -u +%FT%TZ)" >"$tmp/built"
  rm -rf "$CACHE"; mv "$tmp" "$CACHE"
  exec 8>&-
  say "built in ${secs}s into $BIN"
}

# --------------------------------------------------------------- packages --

need_cmd() {
  # need_cmd CMD DEBIAN_PACKAGE: install the package when the command is missing.
  command -v "$1" >/dev/null 2>&1 && return 0
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    say "installing $2 (for $1)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >/dev/null 2>&1 \
      || die "'$1' is missing and 'apt-get install -y $2' failed"
  fi
  command -v "$1" >/dev/null 2>&1 || die "'$1' is missing: install the Debian package $2"
}

# ------------------------------------------------------------------ ports --

# Ports with a listener on any address (IPv4 and IPv6), from /proc.
listening_ports() {
  local hex
  awk 'FNR > 1 && $4 == "0A" { n = split($2, a, ":"); print a[n] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    while read -r hex; do echo $((16#$hex)); done | sort -un
}

port_busy() { listening_ports | grep -qx "$1"; }

# pick_port VAR NAME DEFAULT: sets VAR to $PRISN_TESTBED_<NAME>_PORT if that is
# set (it must be free), else to DEFAULT, else to the next free port above it.
declare -A TAKEN=()
pick_port() {
  local out="$1" env="PRISN_TESTBED_${2}_PORT" p
  p="${!env:-}"
  if [[ -n "$p" ]]; then
    port_busy "$p" && die "port $p on $HOST (from $env) is already in use; free it or unset $env"
  else
    p="$3"
    while port_busy "$p" || [[ -n "${TAKEN[$p]:-}" ]]; do
      p=$((p + 1))
      (( p < $3 + 500 )) || die "no free port on $HOST in $3..$((p - 1)) for $2"
    done
  fi
  TAKEN[$p]=1
  printf -v "$out" '%s' "$p"
}

# ------------------------------------------------------------------- pids --

# True when PID is alive and is one of our binaries (guards against PID reuse).
ours() {
  local pid="$1" exe
  [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  [[ "$exe" == "$CACHE_ROOT_REAL"/* ]] || node_ours "$pid"
}

recorded_pids() { if [[ -f "$STATE/pids" ]]; then cat "$STATE/pids"; fi; }

# term_wait GRACE NAME:PID...: SIGTERM, then SIGKILL whatever still runs after GRACE seconds.
term_wait() {
  local grace="$1" entry i; shift
  local left=()
  for entry in "$@"; do
    if ours "${entry#*:}"; then kill -TERM "${entry#*:}" 2>/dev/null || true; left+=("$entry"); fi
  done
  for ((i = 0; i < grace * 10 && ${#left[@]} > 0; i++)); do
    sleep 0.1
    local alive=()
    for entry in "${left[@]}"; do ours "${entry#*:}" && alive+=("$entry"); done
    left=("${alive[@]}")
  done
  for entry in "${left[@]}"; do
    kill -KILL "${entry#*:}" 2>/dev/null || true
  done
}

# Stops the recorded PIDs (only those still running one of our binaries). The
# control plane first, quickly: kube-apiserver drains in-flight watches for up
# to a minute on SIGTERM, and its state is thrown away anyway. etcd last.
stop_recorded() {
  local name pid front=() back=()
  while read -r name pid; do
    [[ -n "${pid:-}" ]] || continue
    if [[ "$name" == etcd ]]; then back+=("$name:$pid"); else front+=("$name:$pid"); fi
  done < <(recorded_pids)
  term_wait 2 "${front[@]}"
  term_wait 5 "${back[@]}"
  rm -f "$STATE/pids"
}

# ---------------------------------------------------------------- readiness --

api_get() {
  # api_get PATH: GET through the admin certificate; prints the body.
  curl -sS --max-time 3 --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/admin.crt" --key "$STATE/pki/admin.key" \
    "https://$HOST:$APISERVER_PORT$1"
}

apiserver_ready() { [[ "$(api_get /readyz)" == ok ]]; }

all_alive() {
  local name pid n=0
  while read -r name pid; do
    ours "$pid" || return 1
    n=$((n + 1))
  done < <(recorded_pids)
  local want=${#COMPONENTS[@]}
  if node_enabled; then want=$((want + ${#NODE_COMPONENTS[@]})); fi
  [[ $n -eq $want ]]
}

is_up() {
  [[ -f "$STATE/ports.env" && -f "$STATE/kubeconfig" ]] || return 1
  # shellcheck disable=SC1091
  source "$STATE/ports.env"
  all_alive && [[ "$(api_get /readyz 2>/dev/null)" == ok ]]
}

wait_for() {
  # wait_for WHAT SECONDS COMMAND...: poll every 0.1 s.
  local what="$1" secs="$2"; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) >= deadline )); then
      die "$what not ready after ${secs}s (logs: $STATE/logs/)"
    fi
    check_alive
    sleep 0.1
  done
}

check_alive() {
  local name pid
  while read -r name pid; do
    if ! ours "$pid"; then
      die "$name (pid $pid) exited during start-up: $(tail -n 3 "$STATE/logs/$name.log" 2>/dev/null | tr '\n' ' ' | cut -c1-600)"
    fi
  done < <(recorded_pids)
}

# ---------------------------------------------------------------------- pki --

gen_pki() {
  local d="$STATE/pki"
  mkdir -p "$d"; chmod 700 "$d"
  local days=3650
  # ECDSA P-256 and one openssl call per certificate: with RSA and req+x509
  # pairs this step took 3.5 s of `up` on 2 busy cores.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days "$days" \
    -subj "/CN=prisn-testbed-ca" 2>/dev/null
  # sign NAME SUBJECT EXTENSION...: key + certificate signed by the CA, one openssl call.
  printf '[req]\ndistinguished_name=dn\n[dn]\n' >"$d/req.cnf"
  sign() {
    local name="$1" subj="$2" ext; shift 2
    local args=()
    for ext in "$@"; do args+=(-addext "$ext"); done
    openssl req -config "$d/req.cnf" -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$d/$name.key" -out "$d/$name.crt" -days "$days" -subj "$subj" \
      -CA "$d/ca.crt" -CAkey "$d/ca.key" "${args[@]}" 2>/dev/null
  }
  local server=("basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth")
  local client=("basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=clientAuth")
  sign apiserver "/CN=kube-apiserver" "${server[@]}" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:$SERVICE_IP"
  sign kwok-serving "/CN=kwok" "${server[@]}" "subjectAltName=IP:127.0.0.1,DNS:localhost"
  sign admin "/O=system:masters/CN=prisn-testbed-admin" "${client[@]}"
  sign controller-manager "/CN=system:kube-controller-manager" "${client[@]}"
  sign scheduler "/CN=system:kube-scheduler" "${client[@]}"
  # kwok plays every kubelet: it creates node leases and writes node and pod status.
  sign kwok "/O=system:masters/CN=kwok-controller" "${client[@]}"
  sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "${client[@]}"
  if node_enabled; then node_pki; fi
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$d/sa.key" 2>/dev/null
  openssl pkey -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  chmod 600 "$d"/*.key
}

write_kubeconfig() {
  # write_kubeconfig FILE CERT_NAME
  local ca crt key
  ca="$(base64 -w0 <"$STATE/pki/ca.crt")"
  crt="$(base64 -w0 <"$STATE/pki/$2.crt")"
  key="$(base64 -w0 <"$STATE/pki/$2.key")"
  umask 077
  cat >"$1.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: prisn-testbed
  cluster:
    server: https://$HOST:$APISERVER_PORT
    certificate-authority-data: $ca
users:
- name: $2
  user:
    client-certificate-data: $crt
    client-key-data: $key
contexts:
- name: prisn-testbed
  context:
    cluster: prisn-testbed
    user: $2
    namespace: default
current-context: prisn-testbed
EOF
  mv "$1.tmp" "$1"
  umask 022
}

# --------------------------------------------------------------------- start --

start() {
  # start NAME ARGS...: background the binary, record its PID at once.
  local name="$1"; shift
  # 8>&- 9>&-: the daemons must not inherit (and so hold) the build and state locks.
  nohup "$BIN/$name" "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null 8>&- 9>&- &
  echo "$name $!" >>"$STATE/pids"
}

write_kwok_config() {
  local f="$STATE/kwok.yaml"
  mkdir -p "$STATE/pod-logs"
  # CRI log format, which kwok's log server parses.
  printf '%s stdout F %s\n' "$(date -u +%FT%T.000000000Z)" "kwok fake container log (prisn test bed)" >"$STATE/pod-logs/default.log"
  cat >"$f" <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  cidr: 10.0.0.1/16
  nodeIP: $HOST
  nodePort: $KWOK_PORT
  serverAddress: $HOST:$KWOK_PORT
  tlsCertFile: $STATE/pki/kwok-serving.crt
  tlsPrivateKeyFile: $STATE/pki/kwok-serving.key
  manageNodesWithAnnotationSelector: kwok.x-k8s.io/node=fake
  nodeLeaseDurationSeconds: 40
  nodeLeaseParallelism: 4
  nodePlayStageParallelism: 4
  podPlayStageParallelism: 4
  podsOnNodeSyncParallelism: 2
  enablePodsOnNodeSyncListPager: true
  enableDebuggingHandlers: true
  enableProfilingHandler: false
  enableCRDs:
  - Logs
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: default
spec:
  selector: {}
  logs:
  - containers: []
    logsFile: $STATE/pod-logs/default.log
---
EOF
  cat "$HERE/kwok/stages.yaml" >>"$f"
}

node_manifest() {
  local i
  for i in $(seq 0 $((NODES - 1))); do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    node-role.kubernetes.io/agent: ""
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "1000"}
  capacity: {cpu: "32", memory: 256Gi, pods: "1000"}
EOF
  done
}

kubectl_() { "$BIN/kubectl" --kubeconfig "$STATE/kubeconfig" "$@"; }

nodes_ready() {
  local ready
  ready="$(kubectl_ get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$' || true)"
  [[ "$ready" -ge "$NODES" ]]
}

# One `up`/`down` at a time per state dir.
lock_state() {
  mkdir -p "$STATE"
  exec 9>"$STATE/lock"
  flock 9
}

cmd_up() {
  set_paths
  need_cmd flock util-linux
  lock_state
  if is_up; then
    say "already up (API server https://$HOST:$APISERVER_PORT); nothing to do"
    return 0
  fi
  cmd_build
  # Fail before starting anything when the node cannot run here.
  if node_enabled; then node_need_tools; node_claim; fi
  need_cmd openssl openssl
  need_cmd curl curl

  local t0; t0="$(now)"; PHASE_T0="$t0"
  # A previous run that was killed leaves PIDs or a data dir behind: clean them.
  if [[ -f "$STATE/pids" ]]; then say "cleaning up a previous run that is not healthy"; fi
  node_down
  stop_recorded
  rm -rf "$STATE/data" "$STATE/pki" "$STATE/kubeconfig" "$STATE/ports.env"
  mkdir -p "$STATE/data" "$STATE/logs"
  rm -f "$STATE"/logs/*.log

  pick_port ETCD_PORT ETCD 23790
  pick_port ETCD_PEER_PORT ETCD_PEER $((ETCD_PORT + 1))
  pick_port APISERVER_PORT APISERVER 16443
  pick_port KCM_PORT CONTROLLER_MANAGER 16444
  pick_port SCHEDULER_PORT SCHEDULER 16445
  pick_port KWOK_PORT KWOK 16446
  if node_enabled; then node_pick_ports; fi
  SERVICE_CIDR=10.96.0.0/16
  SERVICE_IP=10.96.0.1

  gen_pki
  write_kubeconfig "$STATE/kubeconfig" admin
  write_kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$STATE/scheduler.kubeconfig" scheduler
  write_kubeconfig "$STATE/kwok.kubeconfig" kwok
  write_kwok_config
  mark pki

  start etcd --name testbed --data-dir "$STATE/data/etcd" \
    --listen-client-urls "http://$HOST:$ETCD_PORT" --advertise-client-urls "http://$HOST:$ETCD_PORT" \
    --listen-peer-urls "http://$HOST:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://$HOST:$ETCD_PEER_PORT" \
    --initial-cluster "testbed=http://$HOST:$ETCD_PEER_PORT" --initial-cluster-state new \
    --unsafe-no-fsync --log-level warn
  wait_for "etcd on $HOST:$ETCD_PORT" 20 curl -sf --max-time 1 "http://$HOST:$ETCD_PORT/health"
  mark etcd

  local pki="$STATE/pki"
  start kube-apiserver \
    --etcd-servers "http://$HOST:$ETCD_PORT" \
    --bind-address "$HOST" --advertise-address "$HOST" --secure-port "$APISERVER_PORT" \
    --cert-dir "$pki" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction,PodNodeSelector,PodTolerationRestriction \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --endpoint-reconciler-type none \
    --allow-privileged=true \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$pki/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --requestheader-client-ca-file "$pki/ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --profiling=false
  wait_for "kube-apiserver /readyz on $HOST:$APISERVER_PORT" 60 apiserver_ready
  mark kube-apiserver
  # Not earlier: before /readyz, RBAC's bootstrap roles may be missing and the
  # controller-manager exits on "forbidden".
  start kube-controller-manager \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address "$HOST" --secure-port "$KCM_PORT" \
    --leader-elect=false \
    --kube-api-qps 200 --kube-api-burst 400 \
    --use-service-account-credentials=true \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --profiling=false
  start kube-scheduler \
    --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --bind-address "$HOST" --secure-port "$SCHEDULER_PORT" \
    --leader-elect=false --profiling=false \
    --kube-api-qps 200 --kube-api-burst 400


  kubectl_ apply -f "$CACHE/crds/kwok.x-k8s.io_logs.yaml" >/dev/null
  start kwok --kubeconfig "$STATE/kwok.kubeconfig" --config "$STATE/kwok.yaml"
  node_manifest | kubectl_ apply -f - >/dev/null

  cat >"$STATE/ports.env" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
CONTROLLER_MANAGER_PORT=$KCM_PORT
SCHEDULER_PORT=$SCHEDULER_PORT
KWOK_PORT=$KWOK_PORT
EOF
  if node_enabled; then node_ports_env >>"$STATE/ports.env"; fi
  # Tests find kubectl (and the rest) here.
  ln -sfn "$BIN" "$STATE/bin"
  wait_for "$NODES kwok node(s) Ready" 60 nodes_ready
  mark "kwok node"
  # The ServiceAccount controller (controller-manager) must have made the
  # default ServiceAccount, or pod creation is refused by admission.
  wait_for "controller-manager (default ServiceAccount)" 60 kubectl_ get serviceaccount default -n default
  wait_for "kube-controller-manager /healthz" 30 curl -skf --max-time 1 "https://$HOST:$KCM_PORT/healthz"
  wait_for "kube-scheduler /healthz" 30 curl -skf --max-time 1 "https://$HOST:$SCHEDULER_PORT/healthz"
  mark controllers
  if node_enabled; then
    node_up
  else
    say "no real node (PRISN_TESTBED_REAL_NODE=${PRISN_TESTBED_REAL_NODE:-unset}, uid $(id -u)): pods run on kwok only"
  fi
  say "up in $(elapsed "$t0")s ($PHASES): API server https://$HOST:$APISERVER_PORT, kubeconfig $STATE/kubeconfig"
}

cmd_down() {
  set_paths
  lock_state
  if [[ ! -f "$STATE/pids" && ! -d "$STATE/data" ]]; then
    say "not running"
    return 0
  fi
  node_down
  stop_recorded
  rm -rf "$STATE/data" "$STATE/pki" "$STATE/kubeconfig" "$STATE"/*.kubeconfig "$STATE/ports.env" "$STATE/kwok.yaml" "$STATE/pod-logs" "$STATE/bin"
  say "down (logs of the last run kept in $STATE/logs/)"
}

cmd_env() {
  set_paths
  built || die "not built: run tests/testbed/testbed.sh build"
  echo "export KUBECONFIG=$STATE/kubeconfig"
  echo "export PATH=$BIN:\$PATH"
}

cmd_status() {
  set_paths
  local rc=0
  if built; then echo "binaries: $BIN ($(grep build_seconds "$CACHE/built"))"; else echo "binaries: not built (key $KEY)"; fi
  if [[ ! -f "$STATE/pids" ]]; then echo "test bed: down"; return 3; fi
  # shellcheck disable=SC1091
  [[ -f "$STATE/ports.env" ]] && source "$STATE/ports.env"
  local name pid rss total=0
  while read -r name pid; do
    if ours "$pid"; then
      rss="$(awk '/^VmRSS/{print $2}' "/proc/$pid/status")"
      total=$((total + rss))
      printf '%-24s pid %-8s running  rss %6d MiB\n' "$name" "$pid" $((rss / 1024))
    else
      printf '%-24s pid %-8s NOT RUNNING (log: %s)\n' "$name" "$pid" "$STATE/logs/$name.log"
      rc=3
    fi
  done < <(recorded_pids)
  echo "total rss: $((total / 1024)) MiB"
  if [[ -n "${APISERVER_PORT:-}" ]]; then
    local r; r="$(api_get /readyz 2>&1 || true)"
    echo "API server https://$HOST:$APISERVER_PORT /readyz: $r"
    [[ "$r" == ok ]] || rc=3
    if [[ $rc == 0 ]]; then kubectl_ get nodes -o wide 2>/dev/null || true; node_status; fi
  fi
  echo "kubeconfig: $STATE/kubeconfig"
  return $rc
}

case "${1:-}" in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  status) cmd_status ;;
  leftovers) node_leftovers && echo "testbed: nothing of the real node is left" >&2 ;;
  *) echo "usage: $0 build|up|down|env|status|leftovers" >&2; exit 2 ;;
esac
