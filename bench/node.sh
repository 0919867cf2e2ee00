#!/usr/bin/env bash
# Real-node figures for BENCHMARKS.md ("Real node"), on the test bed's kubelet + containerd:
#
#   1. pod create → Ready for examples/api.py's image (flask), image already on the node and
#      not on the node (pulled from the node's registry on 127.0.0.1), with where the time
#      goes, from containerd's log and the container's log file (ns timestamps): scheduling
#      + kubelet until the sandbox is asked for, sandbox (RunPodSandbox: netns, CNI, pause),
#      pull, container create + start, app start (to its first line, "listening on :8080"),
#      then until Ready (kubelet's startup probe, every 1 s).      goals ≤ 1.5 s and ≤ 4 s
#   2. edit → new code answering: `prisn deploy --wait` of a one-line change of api.py, and
#      to the first HTTP answer with the new text through the Service.   goal ≤ 3 s
#   3. `import flask` in a pod, image built with bytecode (the default) and with `--no-bytecode`.
#
#   bench/node.sh          # markdown on stdout, details on stderr; RUNS=5 by default
#   PROFILE=release bench/node.sh   # prisn and the operator from the release profile
#
# Needs: the test bed up with its real node (tests/testbed/testbed.sh up, as root), skopeo,
# the test base images (made by tests/run.sh with `prisn base`). Runs the operator on the host
# for one namespace (the e2e tests cover the operator as a pod; here it only adds its
# reconcile to figure 2), in a namespace placed on the real node; removes both at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/prisn
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/cargo-target}
RUNS=${RUNS:-5}
PROFILE=${PROFILE:-dev}
STATE=$ROOT/target/testbed
[ -f "$STATE/ports.env" ] && grep -q '^REAL_NODE=' "$STATE/ports.env" \
  || { echo "no real node: run tests/testbed/testbed.sh up (as root)" >&2; exit 1; }
# shellcheck disable=SC1091
source "$STATE/ports.env"
export KUBECONFIG=$STATE/kubeconfig
REG=127.0.0.1:$REGISTRY_PORT
SOCK=$STATE/node/containerd/containerd.sock
CTD_LOG=$STATE/logs/containerd.log
k() { "$STATE/bin/kubectl" "$@"; }
now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%d", (b-a)*1000}'; }

if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --locked --bin prisn --bin prisn-operator -p prisn -p prisn-operator
  BIN=$CARGO_TARGET_DIR/release
else
  cargo build --quiet --locked --bin prisn --bin prisn-operator -p prisn -p prisn-operator
  BIN=$CARGO_TARGET_DIR/debug
fi

WORK=$(mktemp -d /tmp/prisn-bench-node.XXXXXX)
NS=bench-node-$$
OP_PID=
cleanup() {
  [ -n "$OP_PID" ] && kill "$OP_PID" 2>/dev/null
  k delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
  annotations:
    scheduler.alpha.kubernetes.io/node-selector: type=real
    scheduler.alpha.kubernetes.io/defaultTolerations: '[{"key":"testbed.prisn.io/real-node","operator":"Exists","effect":"NoSchedule"}]'
EOF
until k -n "$NS" get serviceaccount default >/dev/null 2>&1; do sleep 0.1; done
"$BIN/prisn" operator manifests --crds-only | k apply --server-side --force-conflicts -f - >/dev/null
"$BIN/prisn-operator" --namespace "$NS" --metrics-bind-address 0 --health-probe-bind-address 0 >"$WORK/operator.log" 2>&1 &
OP_PID=$!
BASE=$REG/library/python:3.11-slim
skopeo copy --quiet --dest-tls-verify=false "oci:$CACHE/base-images/python3:python3" "docker://$BASE"
export PRISN_HOME=$WORK/home
"$BIN/prisn" context add bench --mode kubernetes -n "$NS" --registry "$REG/bench" >/dev/null 2>&1
cp "$ROOT/examples/api.py" "$WORK/api.py"
cd "$WORK"
deploy() { "$BIN/prisn" deploy api.py --name api --port 8080 --base "$BASE" --wait --timeout 300s -o json >"$WORK/deploy.json" 2>"$WORK/deploy.err"; }
# KEY=ms fields of `deploy -o json`'s timings (lock, build, push, apply, ready).
timings() { python3 -c 'import json,sys; t=json.load(open(sys.argv[1])).get("timings",{}); print(" ".join(f"{k}={round(v*1000) if isinstance(v,float) else v}" for k,v in t.items()))' "$WORK/deploy.json"; }
deploy || { cat "$WORK/deploy.err" >&2; exit 1; }
IMAGE=$(k -n "$NS" get deploy api -o jsonpath='{.spec.template.spec.containers[0].image}')
echo "image: $IMAGE" >&2

# ------------------------------------------------------------- 1. cold start --
# A bare pod with the Deployment's pod spec (same image, command, probes, security context),
# so nothing else (ReplicaSet, operator) is in the measured path.
k -n "$NS" get deploy api -o json | python3 -c '
import json, sys
spec = json.load(sys.stdin)["spec"]["template"]["spec"]
print(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "NAME"}, "spec": spec}))
' >"$WORK/pod.json"
"$BIN/prisn" scale api 0 >/dev/null
k -n "$NS" wait --for=delete pod -l prisn.io/app=api --timeout=120s >/dev/null 2>&1 || true

forget_image() {  # forget_image all|app
  # What kubelet's image GC does: drop every name of an image (tag, repo digest and the
  # image-ID name CRI adds, all pointing at one manifest digest), so its layers go too (--sync).
  # `app` drops api's image only, so the base's layers stay when another image on the node
  # shares them (the usual case on a node running more than one app); `all` drops every
  # image of the test registry but the operator's, so the base is pulled too.
  local refs
  if [ "$1" = app ]; then
    refs=$(ctr --address "$SOCK" -n k8s.io images ls | awk -v d="${IMAGE#*@}" '$3 == d {print $1}')
  else
    # Kept: the operator's image and every image with a name outside the registry (pause).
    refs=$(ctr --address "$SOCK" -n k8s.io images ls | awk -v r="$REG/" -v op="$OPERATOR_DIGEST" '
      NR > 1 { name[NR] = $1; digest[NR] = $3
               if ($3 == op || (index($1, r) != 1 && $1 !~ /^sha256:/)) keep[$3] = 1 }
      END { for (i in name) if (!(digest[i] in keep)) print name[i] }')
  fi
  # shellcheck disable=SC2086
  [ -z "$refs" ] || ctr --address "$SOCK" -n k8s.io images rm --sync $refs >/dev/null
}

# timeline NS POD T0 T1 POD_LOGS: KEY=ms fields of the pod's start phases, from containerd's log.
timeline() {
  python3 - "$CTD_LOG" "$@" <<'PY'
import re, sys
from datetime import datetime, timezone
import glob
log, ns, pod, t0, t1, pod_logs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
def ts(line):
    m = re.match(r'time="([^"]+)"', line)
    s = m.group(1)
    base, frac = s[:19], s[20:-1]
    return datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp() + float("0." + frac)
sb0 = sb1 = pull0 = pull1 = cc0 = st1 = None
sandbox = container = None
for line in open(log, errors="replace"):
    if f"Name:{pod}," in line and f"Namespace:{ns}," in line and "RunPodSandbox for" in line:
        if "returns sandbox id" in line:
            sb1 = ts(line); sandbox = re.search(r'returns sandbox id \\?"([0-9a-f]+)', line).group(1)
        else:
            sb0 = ts(line)
    elif sandbox and "PullImage" in line and pull1 is None:
        if "returns image reference" in line:
            pull1 = ts(line)
        elif pull0 is None and sb1 is not None and ts(line) >= sb1:
            pull0 = ts(line)
    elif sandbox and f"CreateContainer within sandbox \\\"{sandbox}\\\"" in line and "returns container id" not in line:
        cc0 = ts(line)
    elif sandbox and "StartContainer for" in line and "returns successfully" in line and cc0 and st1 is None:
        st1 = ts(line)
pull = (pull1 - pull0) if pull0 and pull1 else 0.0
# The app's first line ("listening on :8080", flask ready to serve), from the CRI log file.
first = None
for f in glob.glob(f"{pod_logs}/{ns}_{pod}_*/*/0.log"):
    line = open(f, errors="replace").readline()
    if line:
        s = line.split(" ", 1)[0]
        first = datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp() + float("0." + s[20:-1])
phases = {
    "until_sandbox": sb0 - t0,
    "sandbox": sb1 - sb0,
    "pull": pull,
    "create+start": st1 - cc0,
    "app_start": (first or st1) - st1,
    "until_Ready": t1 - (first or st1),
}
print(" ".join(f"{k}={v*1000:.0f}" for k, v in phases.items()), f"total={(t1-t0)*1000:.0f}")
PY
}

cold_start() {  # cold_start LABEL N: create pod, wait Ready, print its timeline
  local name=bench-$1-$2 t0 t1
  sed "s/\"NAME\"/\"$name\"/" "$WORK/pod.json" >"$WORK/$name.json"
  t0=$(now)
  k -n "$NS" create -f "$WORK/$name.json" >/dev/null
  k -n "$NS" wait --for=condition=Ready "pod/$name" --timeout=180s >/dev/null
  t1=$(now)
  timeline "$NS" "$name" "$t0" "$t1" "$STATE/node/pod-logs"
  k -n "$NS" delete pod "$name" --grace-period=1 --wait=true >/dev/null
}

: >"$WORK/cached" ; : >"$WORK/pulled" ; : >"$WORK/cold"
# The operator's image (digest) stays: its pod runs on this node.
OPERATOR_DIGEST=$(k -n prisn-system get pods -o jsonpath='{.items[*].status.containerStatuses[*].imageID}' 2>/dev/null | tr ' ' '\n' | sed -n 's/.*@//p' | head -1)
for i in $(seq "$RUNS"); do
  forget_image all
  cold_start cold "$i" | tee -a "$WORK/cold" >&2
  # Another image on the base, as on a node running more than one app: the base itself.
  ctr --address "$SOCK" -n k8s.io images pull --plain-http "$BASE" >/dev/null
  forget_image app
  cold_start pulled "$i" | tee -a "$WORK/pulled" >&2
  cold_start cached "$i" | tee -a "$WORK/cached" >&2
done
# median KEY FILE: median of the KEY=VALUE fields of FILE's lines.
median() {
  awk -v key="$1" '{for (i = 1; i <= NF; i++) {split($i, kv, "="); if (kv[1] == key) print kv[2]}}' "$2" |
    sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}
row() {
  printf '| %s | **%s ms** | %s | %s | %s | %s | %s | %s |\n' "$1" "$(median total "$2")" "$(median until_sandbox "$2")" \
    "$(median sandbox "$2")" "$(median pull "$2")" "$(median create+start "$2")" "$(median app_start "$2")" "$(median until_Ready "$2")"
}

# ------------------------------------------------------------ 2. edit → answer --
"$BIN/prisn" scale api 1 >/dev/null
k -n "$NS" wait --for=condition=Ready pod -l prisn.io/app=api --timeout=180s >/dev/null
SVC=$(k -n "$NS" get svc api -o jsonpath='{.spec.clusterIP}:{.spec.ports[0].port}')
: >"$WORK/edit"
for i in $(seq "$RUNS"); do
  sed -i "s/greeting=f\"[a-z0-9-]*, {name}\"/greeting=f\"edit-$i, {name}\"/" api.py
  grep -q "edit-$i, {name}" api.py || { echo "api.py edit failed" >&2; exit 1; }
  t0=$(now)
  deploy || { cat "$WORK/deploy.err" >&2; exit 1; }
  t1=$(now)
  until curl -s --max-time 2 "http://$SVC/hello/x" | grep -q "edit-$i, x"; do sleep 0.02; done
  t2=$(now)
  echo "deploy=$(ms "$t0" "$t1") answer=$(ms "$t0" "$t2") $(timings)" | tee -a "$WORK/edit" >&2
done

# ------------------------------------------------------------ 3. import time --
import_pod() {  # import_pod IMAGE NAME: ms of `import flask` in a pod, as prisn runs Python (-B)
  local name=$2
  python3 - "$WORK/pod.json" "$1" "$name" >"$WORK/$name.json" <<'PY'
import json, sys
pod = json.load(open(sys.argv[1]))
pod["metadata"]["name"] = sys.argv[3]
c = pod["spec"]["containers"][0]
c["image"] = sys.argv[2]
c["command"] = ["python3", "-B", "-c",
    "import time; t = time.perf_counter(); import flask; print(round((time.perf_counter() - t) * 1000, 1))"]
c.pop("args", None)
for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
    c.pop(probe, None)
pod["spec"]["restartPolicy"] = "Never"
print(json.dumps(pod))
PY
  k -n "$NS" create -f "$WORK/$name.json" >/dev/null
  k -n "$NS" wait --for=jsonpath='{.status.phase}'=Succeeded "pod/$name" --timeout=180s >/dev/null
  k -n "$NS" logs "$name"
  k -n "$NS" delete pod "$name" --wait=false >/dev/null
}
PYC=$("$BIN/prisn" build api.py --base "$BASE" --image "$REG/bench/api-pyc:1" 2>/dev/null)
NOPYC=$("$BIN/prisn" build api.py --base "$BASE" --image "$REG/bench/api-nopyc:1" --no-bytecode 2>/dev/null)
: >"$WORK/import"
for i in $(seq "$RUNS"); do
  echo "pyc=$(import_pod "$PYC" "imp-pyc-$i") nopyc=$(import_pod "$NOPYC" "imp-nopyc-$i")" | tee -a "$WORK/import" >&2
done

# ------------------------------------------------------------------ report --
cat <<EOF
Medians of $RUNS runs, $(date -u +%Y-%m-%d), prisn/operator $PROFILE profile, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg).
Pod create → Ready of examples/api.py (flask; image $(echo "$IMAGE" | sed 's/@sha256:\(.\{12\}\).*/@sha256:\1…/')), phases in ms from containerd's log:

| image | create → Ready | until sandbox | sandbox | pull | create + start | app start | until Ready |
|---|---|---|---|---|---|---|---|
$(row "on the node" "$WORK/cached")
$(row "pulled, the base's layers on the node (another app uses them)" "$WORK/pulled")
$(row "pulled, nothing of it on the node" "$WORK/cold")

| edit → new code | median | goal |
|---|---|---|
| \`prisn deploy --wait\` of a one-line change returns | $(median deploy "$WORK/edit") ms | |
| … of which lock / build / push / apply / ready (\`-o json\`) | $(median lock "$WORK/edit") / $(median build "$WORK/edit") / $(median push "$WORK/edit") / $(median apply "$WORK/edit") / $(median ready "$WORK/edit") ms | |
| … first answer with the new code through the Service | **$(median answer "$WORK/edit") ms** | ≤ 3 s |

| \`import flask\` in the pod (\`python3 -B\`) | median |
|---|---|
| image with bytecode (the default) | $(median pyc "$WORK/import") ms |
| image built with \`--no-bytecode\` | $(median nopyc "$WORK/import") ms |
EOF
