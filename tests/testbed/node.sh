# The test bed's real node: containerd (Debian) + runc + CNI bridge, kubelet and
# kube-proxy (built with the control plane). Sourced by testbed.sh; every name
# here starts with node_ or NODE_. See README.md, "The real node".
#
# What lives outside $STATE while the node runs (and what `down` removes):
#   - the bridge $NODE_BRIDGE with $NODE_GW, the veths CNI attaches to it, and a
#     route for the service range through it;
#   - iptables chains: PRISN-TESTBED* (ours), KUBE-* (kube-proxy, kubelet);
#   - sysctls net.ipv4.ip_forward and net.bridge.bridge-nf-call-iptables, and
#     the ones kubelet sets (kernel.panic, vm.overcommit_memory, …): the old
#     values are kept in $STATE/node/sysctl.saved and written back;
#   - containerd-shim processes and mounts under $STATE/node.
# One real node per machine (bridge, iptables and sysctls are machine-wide):
# /run/prisn-testbed-node names the state dir that has it.

NODE_NAME=real-node-0
NODE_LABEL=type=real
NODE_TAINT_KEY=testbed.prisn.io/real-node
NODE_BRIDGE=prisn0
NODE_POD_CIDR=10.244.0.0/24
NODE_GW=10.244.0.1
NODE_CLUSTER_CIDR=10.244.0.0/16
NODE_PAUSE_IMAGE=localhost/prisn-testbed/pause:1
NODE_OWNER_FILE=/run/prisn-testbed-node
NODE_COMPONENTS=(containerd registry kubelet kube-proxy)
# Kernel settings the node changes; saved at `up`, restored at `down`.
NODE_SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables vm.overcommit_memory vm.panic_on_oom
  kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes)

# PRISN_TESTBED_REAL_NODE: 1 (start it, fail without root), 0 (kwok only), unset: start it
# when running as root, else say so and go without.
node_enabled() {
  case "${PRISN_TESTBED_REAL_NODE:-}" in
    0) return 1 ;;
    1) return 0 ;;
    *) [[ "$(id -u)" == 0 ]] ;;
  esac
}

node_sock() { echo "$STATE/node/containerd/containerd.sock"; }

# The PID runs containerd or docker-registry (Debian's binaries, not in our cache).
node_ours() {
  local pid="$1" exe
  [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  [[ "$exe" == "$CACHE_ROOT_REAL"/* || "$exe" == /usr/bin/containerd || "$exe" == /usr/bin/docker-registry ]]
}

node_need_tools() {
  [[ "$(id -u)" == 0 ]] || die "the real node needs root (containerd, network namespaces, iptables); run as root or set PRISN_TESTBED_REAL_NODE=0 for the kwok node only"
  need_cmd containerd containerd
  need_cmd docker-registry docker-registry
  need_cmd runc runc
  need_cmd iptables iptables
  need_cmd ip iproute2
  need_cmd umoci umoci
  need_cmd gcc gcc
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback && -x /usr/lib/cni/portmap ]] \
    || need_cmd /usr/lib/cni/bridge containernetworking-plugins
  # gcc -static needs libc.a; gcc prints the bare name when it has none.
  if [[ "$(gcc -print-file-name=libc.a)" != /* ]]; then
    say "installing libc6-dev (for gcc -static)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libc6-dev; } >/dev/null 2>&1 \
      || die "gcc -static needs libc.a: 'apt-get install -y libc6-dev' failed"
  fi
}

# Refuses to start a second real node on this machine.
node_claim() {
  if [[ -f "$NODE_OWNER_FILE" ]]; then
    local other; other="$(cat "$NODE_OWNER_FILE")"
    if [[ "$other" != "$STATE" && -f "$other/pids" ]] && grep -q '^containerd ' "$other/pids"; then
      local pid; pid="$(awk '$1=="containerd"{print $2}' "$other/pids")"
      if node_ours "$pid"; then
        die "the real node is already run by the test bed in $other (one per machine: bridge, iptables and sysctls are shared); run 'down' there, or set PRISN_TESTBED_REAL_NODE=0"
      fi
    fi
  fi
  echo "$STATE" >"$NODE_OWNER_FILE"
}

node_pick_ports() {
  pick_port KUBELET_PORT KUBELET 16450
  pick_port KUBELET_HEALTHZ_PORT KUBELET_HEALTHZ 16451
  pick_port PROXY_HEALTHZ_PORT KUBE_PROXY_HEALTHZ 16452
  pick_port PROXY_METRICS_PORT KUBE_PROXY_METRICS 16453
  pick_port REGISTRY_PORT REGISTRY 16454
}

# Called from gen_pki (same CA, same `sign`).
node_pki() {
  local server=("basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth")
  local client=("basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=clientAuth")
  # The API server reaches the kubelet at the node's InternalIP (the bridge's address) for logs and exec.
  sign kubelet-serving "/CN=$NODE_NAME" "${server[@]}" "subjectAltName=IP:$NODE_GW,IP:127.0.0.1,DNS:$NODE_NAME"
  # The Node authorizer knows a kubelet by this name and group.
  sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "${client[@]}"
  # Bound to the system:node-proxier ClusterRole by RBAC's defaults.
  sign kube-proxy "/CN=system:kube-proxy" "${client[@]}"
}

node_save_sysctls() {
  local f="$STATE/node/sysctl.saved" k
  [[ -f "$f" ]] && return 0
  for k in "${NODE_SYSCTLS[@]}"; do
    if [[ -r "/proc/sys/${k//.//}" ]]; then echo "$k=$(cat "/proc/sys/${k//.//}")"; fi
  done >"$f.tmp"
  mv "$f.tmp" "$f"
}

node_restore_sysctls() {
  local f="$1/sysctl.saved" kv
  [[ -f "$f" ]] || return 0
  while IFS= read -r kv; do
    echo "${kv#*=}" >"/proc/sys/$(echo "${kv%%=*}" | tr . /)" 2>/dev/null || true
  done <"$f"
  rm -f "$f"
}

# The bridge exists before any pod (CNI's bridge plugin adopts it), so the
# service-range route and the API server rule can be set up front.
node_network_up() {
  if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    ip link add "$NODE_BRIDGE" type bridge
  fi
  ip addr replace "$NODE_GW/24" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  # Host → ClusterIP: the first route lookup must not pick the default route
  # (eth0). kube-proxy's DNAT then sends it to a pod on the bridge; a Service
  # with no rule stays on the bridge too. Nothing leaves the machine.
  ip route replace "$SERVICE_CIDR" dev "$NODE_BRIDGE" src "$NODE_GW"
  echo 1 >/proc/sys/net/ipv4/ip_forward
  # kube-proxy's rules must see bridged pod → pod traffic (Service hairpin).
  echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
  # Pods reach the API server (127.0.0.1 only) at the `kubernetes` Service IP:
  # DNAT to loopback, which the kernel routes only with route_localnet.
  echo 1 >"/proc/sys/net/ipv4/conf/$NODE_BRIDGE/route_localnet"
  local t
  for t in filter nat; do
    iptables -w -t "$t" -N PRISN-TESTBED 2>/dev/null || iptables -w -t "$t" -F PRISN-TESTBED
  done
  iptables -w -t nat -A PRISN-TESTBED -i "$NODE_BRIDGE" -d "$SERVICE_IP" -p tcp --dport 443 \
    -m comment --comment "prisn test bed: pods -> kube-apiserver on loopback" -j DNAT --to-destination "$HOST:$APISERVER_PORT"
  iptables -w -t nat -I PREROUTING 1 -j PRISN-TESTBED
  # Pods talk to each other and to this host, never beyond it.
  iptables -w -t filter -A PRISN-TESTBED -i "$NODE_BRIDGE" ! -o "$NODE_BRIDGE" \
    -m comment --comment "prisn test bed: pod traffic stays on this machine" -j DROP
  iptables -w -t filter -I FORWARD 1 -j PRISN-TESTBED
  # route_localnet lets the kernel accept packets from the bridge addressed to 127.0.0.0/8:
  # only the DNAT above may use that. A pod with CAP_NET_RAW could otherwise hand-craft a
  # frame to 127.0.0.1 and reach etcd or the registry on this host's loopback.
  iptables -w -t filter -N PRISN-TESTBED-INPUT 2>/dev/null || iptables -w -t filter -F PRISN-TESTBED-INPUT
  iptables -w -t filter -A PRISN-TESTBED-INPUT -i "$NODE_BRIDGE" -d 127.0.0.0/8 -m conntrack ! --ctstate DNAT \
    -m comment --comment "prisn test bed: pods reach loopback only through the API server DNAT" -j DROP
  iptables -w -t filter -I INPUT 1 -j PRISN-TESTBED-INPUT
}

node_write_cni() {
  local d="$STATE/node/cni"
  mkdir -p "$d/net.d" "$d/ipam"
  cat >"$d/net.d/10-prisn-testbed.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "prisn-testbed",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$d/ipam",
        "ranges": [[{"subnet": "$NODE_POD_CIDR", "gateway": "$NODE_GW"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

node_write_containerd_config() {
  local d="$STATE/node/containerd"
  mkdir -p "$d/root" "$d/state" "$d/certs.d"
  cat >"$d/config.toml" <<EOF
# containerd for the prisn test bed's real node: its own root, state and socket
# (no systemd, no /var/lib/containerd); see tests/testbed/README.md.
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$d/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  # Imported at \`up\` (tests/testbed/node/pause.c); never pulled.
  sandbox_image = "$NODE_PAUSE_IMAGE"
  # This machine refuses to lower oom_score_adj (no CAP_SYS_RESOURCE); kubelet
  # asks -998 for sandboxes, and runc then fails with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  # Network namespaces under $d/state/netns, not /var/run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        # runc's state here, not in /run/containerd/runc.
        Root = "$d/state/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/node/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    # One directory per registry host (hosts.toml); read at every pull.
    config_path = "$d/certs.d"
EOF
}

# node_registry_hosts HOST SERVER: containerd pulls images named HOST/… from SERVER.
node_registry_hosts() {
  local dir="$STATE/node/containerd/certs.d/$1"
  mkdir -p "$dir"
  printf 'server = "%s"\n\n[host."%s"]\n  capabilities = ["pull", "resolve"]\n' "$2" "$2" >"$dir/hosts.toml"
}

# The node's registry: distribution (Debian's docker-registry) on 127.0.0.1,
# storage in $STATE/node/registry. containerd reaches it over plain HTTP, as
# itself and as docker.io: Docker Hub is not reachable from these machines, and
# the mirror keeps every docker.io name (the operator manifest's
# `prisn-operator:latest`, the default bases `python:3.11-slim`, …) on this
# machine. A test pushes `library/NAME:TAG` here to serve `NAME:TAG`.
node_registry_up() {
  local d="$STATE/node/registry"
  mkdir -p "$d/data"
  cat >"$d/config.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $d/data}
  delete: {enabled: true}
http: {addr: "$HOST:$REGISTRY_PORT", secret: prisn-testbed}
EOF
  nohup docker-registry serve "$d/config.yml" >"$STATE/logs/registry.log" 2>&1 </dev/null 8>&- 9>&- &
  echo "registry $!" >>"$STATE/pids"
  node_registry_hosts "$HOST:$REGISTRY_PORT" "http://$HOST:$REGISTRY_PORT"
  node_registry_hosts docker.io "http://$HOST:$REGISTRY_PORT"
  wait_for "registry on $HOST:$REGISTRY_PORT" 20 curl -sf --max-time 1 "http://$HOST:$REGISTRY_PORT/v2/"
}

# The pause image, built from pause.c once per source and compiler, as an OCI archive.
node_pause_archive() {
  local h tar
  h="$( { cat "$HERE/node/pause.c"; gcc --version | head -n1; umoci --version; } | sha256sum | cut -c1-12)"
  tar="$CACHE_ROOT/pause-$h.tar"
  if [[ ! -f "$tar" ]]; then
    local tmp; tmp="$(mktemp -d)"
    mkdir -p "$tmp/root"
    gcc -static -Os -s -Wall -Wextra -Werror -o "$tmp/root/pause" "$HERE/node/pause.c" \
      || { rm -rf "$tmp"; die "gcc -static failed for $HERE/node/pause.c (is libc6-dev installed?)"; }
    touch -h -d @0 "$tmp/root/pause" "$tmp/root"
    local epoch=1970-01-01T00:00:00Z
    {
      umoci init --layout "$tmp/oci"
      umoci new --image "$tmp/oci:1"
      umoci insert --image "$tmp/oci:1" --history.created "$epoch" "$tmp/root" /
      umoci config --image "$tmp/oci:1" --config.entrypoint /pause --config.user 65535:65535 \
        --created "$epoch" --history.created "$epoch"
      umoci gc --layout "$tmp/oci"
    } >/dev/null 2>&1 || { rm -rf "$tmp"; die "umoci could not pack the pause image"; }
    tar -C "$tmp/oci" --sort=name --mtime=@0 --owner=0 --group=0 -cf "$tar.$$" .
    mv "$tar.$$" "$tar"
    rm -rf "$tmp"
  fi
  echo "$tar"
}

node_write_kubelet_config() {
  local d="$STATE/node" pki="$STATE/pki"
  mkdir -p "$d/kubelet" "$d/pod-logs" "$d/volume-plugins"
  # No cluster DNS: pods resolve nothing (and ask no resolver off this machine).
  echo "# prisn test bed: no DNS for pods" >"$d/resolv.conf"
  cat >"$d/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The node's IP is the bridge's: kubelet refuses a loopback node IP (then the node has
# no InternalIP and the API server cannot reach it for logs). Nothing routes to it from
# outside this machine.
address: $NODE_GW
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: $HOST
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$d/containerd/containerd.sock
imageServiceEndpoint: unix://$d/containerd/containerd.sock
# This machine: cgroups v1 (hybrid), no systemd, swap irrelevant, no QoS cgroup tree.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
makeIPTablesUtilChains: false
podLogsDir: $d/pod-logs
volumePluginDir: $d/volume-plugins
resolvConf: $d/resolv.conf
registerWithTaints:
- {key: $NODE_TAINT_KEY, value: "true", effect: NoSchedule}
serializeImagePulls: false
maxPods: 110
# This machine's disk reports ~250 GiB with ~15 % available however empty it is (a thin
# disk), so kubelet's defaults (image GC from 85 % used, eviction below 15 % imagefs
# available) fire at once: they removed the pause image mid-run once. The test bed is
# thrown away at \`down\`; nothing here needs collecting.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%", imagefs.inodesFree: "1%"}
EOF
}

node_write_proxy_config() {
  cat >"$STATE/node/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: $STATE/kube-proxy.kubeconfig
hostnameOverride: $NODE_NAME
bindAddress: $HOST
healthzBindAddress: $HOST:$PROXY_HEALTHZ_PORT
metricsBindAddress: $HOST:$PROXY_METRICS_PORT
clusterCIDR: $NODE_CLUSTER_CIDR
# Leave the machine's conntrack table size and timeouts alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
# NodePorts on the node's IP only (127.0.0.1 would set net.ipv4.conf.all.route_localnet
# machine-wide).
nodePortAddresses: ["$NODE_GW/32"]
iptables: {localhostNodePorts: false}
EOF
}

node_ready() {
  [[ "$(kubectl_ get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

# Starts containerd, kubelet and kube-proxy; the control plane is up.
node_up() {
  local d="$STATE/node"
  mkdir -p "$d"
  node_save_sysctls
  node_network_up
  node_write_cni
  node_write_containerd_config
  write_kubeconfig "$STATE/kubelet.kubeconfig" kubelet
  write_kubeconfig "$STATE/kube-proxy.kubeconfig" kube-proxy
  node_write_kubelet_config
  node_write_proxy_config

  # containerd is Debian's binary: `start` runs binaries from our cache.
  node_registry_up
  nohup containerd --config "$d/containerd/config.toml" >"$STATE/logs/containerd.log" 2>&1 </dev/null 8>&- 9>&- &
  echo "containerd $!" >>"$STATE/pids"
  wait_for "containerd on $(node_sock)" 30 ctr --address "$(node_sock)" version
  local pause; pause="$(node_pause_archive)"
  ctr --address "$(node_sock)" -n k8s.io images import --base-name "${NODE_PAUSE_IMAGE%:*}" "$pause" >/dev/null \
    || die "could not import the pause image ($pause) into containerd"
  mark containerd

  start kubelet --config "$d/kubelet.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_GW" --root-dir "$d/kubelet" \
    --node-labels "$NODE_LABEL"
  wait_for "kubelet: node $NODE_NAME Ready" 90 node_ready
  start kube-proxy --config "$d/kube-proxy.yaml"
  wait_for "kube-proxy /healthz" 60 curl -sf --max-time 1 "http://$HOST:$PROXY_HEALTHZ_PORT/healthz"
  mark "real node"
}

node_ports_env() {
  cat <<EOF
KUBELET_PORT=$KUBELET_PORT
KUBELET_HEALTHZ_PORT=$KUBELET_HEALTHZ_PORT
KUBE_PROXY_HEALTHZ_PORT=$PROXY_HEALTHZ_PORT
KUBE_PROXY_METRICS_PORT=$PROXY_METRICS_PORT
REGISTRY_PORT=$REGISTRY_PORT
REAL_NODE=$NODE_NAME
EOF
}

# Deletes rules that jump to our chains, then the chains: PRISN-TESTBED (ours),
# KUBE-* (kube-proxy, kubelet), CNI-* (portmap).
node_iptables_sweep() {
  local cmd t line chain
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null 2>&1 || continue
    for t in filter nat mangle raw; do
      local dump; dump="$("$cmd-save" -t "$t" 2>/dev/null)" || continue
      while IFS= read -r line; do
        # iptables-save quotes what needs quoting, so the line reads back as arguments.
        eval "$cmd -w -t $t -D ${line#-A }" 2>/dev/null || true
      done < <(echo "$dump" | grep -E '^-A [A-Z]+ .*-j (PRISN-TESTBED[A-Z-]*|KUBE-|CNI-)' | grep -vE '^-A (PRISN-TESTBED[A-Z-]*|KUBE-|CNI-)' || true)
      local chains; chains="$(echo "$dump" | grep -oE '^:(PRISN-TESTBED[A-Z-]*|KUBE-[A-Z0-9-]+|CNI-[A-Za-z0-9-]+)' | cut -c2- || true)"
      for chain in $chains; do "$cmd" -w -t "$t" -F "$chain" 2>/dev/null || true; done
      for chain in $chains; do "$cmd" -w -t "$t" -X "$chain" 2>/dev/null || true; done
    done
  done
}

# Stops the node and removes every trace of it; safe on a half-started or
# killed node, and a no-op when there is none.
node_down() {
  local d="$STATE/node"
  [[ -d "$d" ]] || return 0
  # The bridge, the chains and the sysctls are the machine's: only the state dir that
  # claimed the node may remove them.
  if [[ -f "$NODE_OWNER_FILE" && "$(cat "$NODE_OWNER_FILE")" != "$STATE" ]]; then
    say "not removing the real node's network: it belongs to the test bed in $(cat "$NODE_OWNER_FILE")"
    rm -rf "$d"
    return 0
  fi
  local name pid kube=() ctd=() reg=()
  while read -r name pid; do
    case "$name" in
      kubelet | kube-proxy) kube+=("$name:$pid") ;;
      containerd) ctd+=("$name:$pid") ;;
      registry) reg+=("$name:$pid") ;;
    esac
  done < <(recorded_pids)
  # kubelet first, so it restarts nothing while the sandboxes go.
  node_term_wait 5 "${kube[@]}"
  if [[ -S "$(node_sock)" ]] && [[ ${#ctd[@]} -gt 0 ]] && node_ours "${ctd[0]#*:}"; then
    timeout 120 "$BIN/testbed-cri" "unix://$(node_sock)" sweep >/dev/null \
      || say "warning: could not remove every pod sandbox through CRI; removing what is left by hand"
  fi
  node_term_wait 10 "${ctd[@]}" "${reg[@]}"
  # Shims of our containerd (they outlive it by design) and their containers.
  local shim
  for shim in $(pgrep -f "containerd-shim-runc-v2 .*-address $(node_sock)" || true); do
    kill -KILL "$shim" 2>/dev/null || true
  done
  # Containers whose shim is gone (containerd or the shims were killed): runc still knows
  # them by its state dir; delete --force kills their processes and removes their cgroups.
  local runc_root="$d/containerd/state/runc/k8s.io" id
  if [[ -d "$runc_root" ]]; then
    for id in $(runc --root "$runc_root" list -q 2>/dev/null || true); do
      runc --root "$runc_root" delete --force "$id" >/dev/null 2>&1 || true
    done
  fi
  # Mounts left by a killed kubelet or containerd (tmpfs volumes, rootfs, netns, shm), deepest first.
  if [[ -d "$d" ]]; then
    local m
    while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done < <(findmnt -rn -o TARGET | grep -F "$d/" | sort -r)
  fi
  # CNI DEL removed the veths; a killed run may have left some on the bridge.
  local veth
  for veth in $( (ip -o link show master "$NODE_BRIDGE" 2>/dev/null || true) | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$veth" 2>/dev/null || true
  done
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  # containerd 1.6 puts shim sockets in /run/containerd/s whatever its state dir; remove
  # the directories if they are empty (a containerd of the machine's own keeps them busy).
  rmdir /run/containerd/s /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd 2>/dev/null || true
  node_iptables_sweep
  node_restore_sysctls "$d"
  if [[ -f "$NODE_OWNER_FILE" && "$(cat "$NODE_OWNER_FILE")" == "$STATE" ]]; then rm -f "$NODE_OWNER_FILE"; fi
  rm -rf "$d"
}

# Like term_wait, for node components (containerd is not in our cache).
node_term_wait() {
  local grace="$1" entry i; shift
  local left=()
  for entry in "$@"; do
    if node_ours "${entry#*:}"; then kill -TERM "${entry#*:}" 2>/dev/null || true; left+=("$entry"); fi
  done
  for ((i = 0; i < grace * 10 && ${#left[@]} > 0; i++)); do
    sleep 0.1
    local alive=()
    for entry in "${left[@]}"; do node_ours "${entry#*:}" && alive+=("$entry"); done
    left=("${alive[@]}")
  done
  for entry in "${left[@]}"; do kill -KILL "${entry#*:}" 2>/dev/null || true; done
}

node_status() {
  [[ -S "$(node_sock)" ]] || return 0
  echo "pods on $NODE_NAME (containerd, through CRI):"
  "$BIN/testbed-cri" "unix://$(node_sock)" ps 2>&1 | sed 's/^/  /'
}

# Prints what a real node left on this machine (after `down`); exit 1 when anything.
node_leftovers() {
  local found=0 line
  if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then echo "bridge $NODE_BRIDGE still exists"; found=1; fi
  # CNI's bridge plugin names host-side veths veth + 8 hex digits.
  while IFS= read -r line; do echo "veth: $line"; found=1; done < <(ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | grep -E '^veth[0-9a-f]{8}(@|$)' || true)
  while IFS= read -r line; do echo "mount: $line"; found=1; done < <(findmnt -rn -o TARGET | grep -F "$STATE/node/" || true)
  local cmd
  for cmd in iptables-save ip6tables-save; do
    command -v "$cmd" >/dev/null 2>&1 || continue
    while IFS= read -r line; do echo "$cmd: $line"; found=1; done < <("$cmd" 2>/dev/null | grep -E '^(:|-A )(PRISN-TESTBED[A-Z-]*|KUBE-|CNI-)|-j (PRISN-TESTBED[A-Z-]*|KUBE-|CNI-)' || true)
  done
  while IFS= read -r line; do echo "process: $line"; found=1; done < <(pgrep -af "containerd-shim-runc-v2 .*$STATE/node/" || true)
  local runc_root="$STATE/node/containerd/state/runc/k8s.io"
  if [[ -d "$runc_root" ]]; then
    while IFS= read -r line; do echo "container: $line"; found=1; done < <(runc --root "$runc_root" list -q 2>/dev/null || true)
  fi
  [[ -f "$NODE_OWNER_FILE" && "$(cat "$NODE_OWNER_FILE")" == "$STATE" ]] && { echo "owner file $NODE_OWNER_FILE"; found=1; }
  return $found
}
