#!/usr/bin/env bash
# Kubernetes-mode figures for BENCHMARKS.md ("Kubernetes mode"), on the test bed:
#
#   1. `prisn deploy` of an already built image → CR applied          goal ≤ 200 ms
#      peer: `kubectl apply -f` of the same PrisnApp YAML, same run
#   2. full `prisn deploy --wait` of examples/api.py, broken down into lock / build / push /
#      apply / ready (from `-o json` timings), cold (empty PRISN_HOME) and after a code change
#
#   bench/kube.sh        # markdown on stdout, details on stderr
#
# Needs: the test bed up (tests/testbed/testbed.sh up), docker-registry, skopeo, hyperfine,
# the test base images (tests/fixtures/base-images/build.sh). Starts its own registry, an
# operator for one namespace, and stops both at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/prisn
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/cargo-target}
export KUBECONFIG=$ROOT/target/testbed/kubeconfig
RUNS=${RUNS:-20}
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
tests/testbed/testbed.sh status >/dev/null || { echo "test bed not running: tests/testbed/testbed.sh up" >&2; exit 1; }
cargo build --release --quiet --bin prisn -p prisn -p prisn-operator
PRISN=$CARGO_TARGET_DIR/release/prisn
OPERATOR=$CARGO_TARGET_DIR/release/prisn-operator
KUBECTL=$(bash tests/testbed/testbed.sh env | sed -n 's/^export PATH="\([^:]*\):.*/\1/p')/kubectl
[ -x "$KUBECTL" ] || KUBECTL=kubectl

WORK=$(mktemp -d /tmp/prisn-bench-kube.XXXXXX)
NS=bench-kube-$$
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/registry}}
http: {addr: 127.0.0.1:$PORT}
YML
OP_PID=
cleanup() {
  kill $OP_PID "$REG_PID" 2>/dev/null || true
  "$KUBECTL" delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
trap cleanup EXIT
"$KUBECTL" create namespace "$NS" >/dev/null
"$PRISN" operator manifests --crds-only | "$KUBECTL" apply --server-side -f - >/dev/null
"$OPERATOR" --namespace "$NS" --metrics-bind-address 0 --health-probe-bind-address 0 >"$WORK/operator.log" 2>&1 &
OP_PID=$!
until curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null; do sleep 0.1; done
BASE=127.0.0.1:$PORT/base/python3:test
skopeo copy --quiet --dest-tls-verify=false "oci:$CACHE/base-images/python3:python3" "docker://$BASE"

export PRISN_HOME=$WORK/home
"$PRISN" context add bench --mode kubernetes -n "$NS" --registry "127.0.0.1:$PORT/team" >/dev/null 2>&1
cp "$ROOT/examples/api.py" "$WORK/api.py"
cd "$WORK"
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); t=d.get("timings",{}); print(" | ".join(str(t.get(k,"-")) for k in ["lock","build","push","apply","ready"]), "|", sum(t.values()))'; }

echo "## Full deploy --wait of examples/api.py on the test bed (ms per phase)"
echo
echo "| run | lock | build | push | apply | ready | total |"
echo "|---|---|---|---|---|---|---|"
printf "| cold (empty PRISN_HOME, empty registry but the base) | "
"$PRISN" deploy api.py --port 8080 --replicas 3 --base "$BASE" --wait --timeout 120s -o json 2>/dev/null | json
sed -i 's/hello, {name}/hi, {name}/' api.py
printf "| code change (one line) | "
"$PRISN" deploy api.py --port 8080 --replicas 3 --base "$BASE" --wait --timeout 120s -o json 2>/dev/null | json
printf "| nothing changed | "
"$PRISN" deploy api.py --port 8080 --replicas 3 --base "$BASE" --wait --timeout 120s -o json 2>/dev/null | json

echo
echo "## prisn deploy of an already built image → CR applied, vs kubectl apply of the same CR"
"$PRISN" deploy api.py --port 8080 --replicas 3 --base "$BASE" --dry-run -o yaml 2>/dev/null > cr.yaml
hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown deploy.md \
  -n "prisn deploy (image built and pushed, --no-wait)" "$PRISN deploy $WORK/api.py --port 8080 --replicas 3 --base $BASE --no-wait" \
  -n "kubectl apply --server-side -f cr.yaml" "$KUBECTL apply --server-side --field-manager prisn -f $WORK/cr.yaml" >&2
cat deploy.md
