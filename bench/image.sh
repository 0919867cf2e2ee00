#!/usr/bin/env bash
# Image figures for BENCHMARKS.md ("Images"), measured side by side in one run:
#
#   1. no-op rebuild + push (all cached, image already in the registry): prisn vs buildah
#   2. code-only change (one line of the script): prisn vs buildah, and what was uploaded
#   3. cold image for flask+requests: prisn vs buildah vs `uv pip install` of the same pins
#   4. layer packing throughput: prisn's packer (1 and 2 threads) vs `tar c DIR | gzip -6`
#   5. bytecode: image size and import time with bytecode (the default) and --no-bytecode
#   6. same digest from two checkouts (other directory, later, umask 077, TZ, another user)
#
#   bench/image.sh            # prints a markdown section on stdout, details on stderr
#
# Needs: hyperfine, docker-registry, skopeo, umoci, runc, buildah (Debian packages), uv, and
# the bases, made here with `prisn base` (python3, bash, node as tests/run.sh makes them, and
# python3-pip: python3 plus pip, for buildah's `RUN pip install`), cached beside the test bases.
# Uses the release binary ($CARGO_TARGET_DIR/release/prisn, built if missing) and the network
# for PyPI/npm (cold runs download wheels, as any cold build does).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/prisn
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/cargo-target}
export UV_PYTHON_DOWNLOADS=never
RUNS=${RUNS:-10}
# On a shared machine, BENCH_PRIORITY=1 gives this benchmark's session (its autogroup) a
# higher CPU weight, so other sessions' builds do not hide parallel speed-ups. It changes
# nothing outside this session; the weight goes back when the session ends.
if [ "${BENCH_PRIORITY:-0}" = 1 ] && [ -w /proc/$$/autogroup ]; then
  echo -15 >/proc/$$/autogroup
fi

log() { printf '%s\n' "$*" >&2; }

cargo build --release --quiet --bin prisn
cargo build --release --quiet -p prisn-builder --example pack
PRISN=$CARGO_TARGET_DIR/release/prisn
PACK=$CARGO_TARGET_DIR/release/examples/pack
BASES=${PRISN_BASE_IMAGES:-$CACHE/base-images}
mkdir -p "$BASES"
base() { # NAME DIR [prisn base flags…]: build once, reuse the layout while its lock holds
  PRISN_HOME=$CACHE/base-home "$PRISN" --quiet base "$1" --lock "$BASES/base.lock" --output "$BASES/$2" "${@:3}" >/dev/null
}
for b in python3 bash node; do
  [ -e "$BASES/$b/index.json" ] || { base "$b" "$b-prisn" && ln -sfn "$b-prisn" "$BASES/$b"; }
done
# A second lock: base.lock holds one section per base name, and this python3 has other roots.
PRISN_HOME=$CACHE/base-home "$PRISN" --quiet base python3 --lock "$BASES/python3-pip.lock" --output "$BASES/python3-pip" \
  --packages python3,python3-pip,base-files,ca-certificates,coreutils,dash,netbase,tzdata >/dev/null

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# shellcheck source=bench/registry.sh
source bench/registry.sh
bench_cleanup() {
  buildah rm --all >/dev/null 2>&1 || true
  buildah rmi --all --force >/dev/null 2>&1 || true
}
bench_work image
chmod 755 "$WORK"

# --- a registry on a free loopback port --------------------------------------------------
start_registry "$WORK"

skopeo copy --quiet --dest-tls-verify=false "oci:$BASES/python3-pip:python3" "docker://$REG/bench/python3-pip:latest"
BASE=$REG/bench/python3-pip:latest

# buildah: chroot isolation, host network, runc, lowered ulimits (infra.md §3).
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
netns = "host"
[engine]
runtime = "runc"
EOF
cat >"$WORK/registries.conf" <<EOF
unqualified-search-registries = []
[[registry]]
location = "$REG"
insecure = true
EOF
export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf
BUILDAH=(buildah --storage-driver vfs --root "$WORK/buildah/root" --runroot "$WORK/buildah/run")

# --- the app: flask + requests -----------------------------------------------------------
mkdir -p "$WORK/prisn-app" "$WORK/buildah-app"
cat >"$WORK/prisn-app/app.py" <<'EOF'
# /// script
# requires-python = ">=3.11"
# dependencies = ["flask>=3,<4", "requests>=2.31,<3"]
# ///
import flask, requests
print("flask", flask.__version__, "requests", requests.__version__)
EOF
export PRISN_HOME=$WORK/home UV_CACHE_DIR=$WORK/uv-cache
"$PRISN" lock "$WORK/prisn-app/app.py" >&2
NPKG=$(python3 -c 'import sys, tomllib; print(len(tomllib.load(open(sys.argv[1], "rb"))["scripts"]["app.py"]["package"]))' "$WORK/prisn-app/prisn.lock")
# The same pins, with hashes, for the peers.
python3 - "$WORK/prisn-app/prisn.lock" >"$WORK/requirements.txt" <<'PY'
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
for pkg in lock["scripts"]["app.py"]["package"]:
    print(f"{pkg['name']}=={pkg['version']} " + " ".join(f"--hash={h}" for h in pkg["hashes"]))
PY
cp "$WORK/prisn-app/app.py" "$WORK/buildah-app/app.py"
cp "$WORK/requirements.txt" "$WORK/buildah-app/requirements.txt"
# pip in the container must trust the same CAs as this machine (there may be a proxy).
cp "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$WORK/buildah-app/ca.crt"
cat >"$WORK/buildah-app/Containerfile" <<EOF
FROM $BASE
COPY requirements.txt /tmp/requirements.txt
RUN --mount=type=bind,source=ca.crt,target=/tmp/ca.crt \\
    python3 -m pip install --no-cache-dir --break-system-packages --require-hashes --no-deps \\
      --cert /tmp/ca.crt --target /opt/prisn/site-packages -r /tmp/requirements.txt
ENV PYTHONPATH=/opt/prisn/site-packages
COPY app.py /app/app.py
ENTRYPOINT ["python3", "-u", "-B", "/app/app.py"]
EOF

prisn_build() { "$PRISN" -q build "$WORK/prisn-app/app.py" --image "$REG/bench/prisn-app:$1" --base "$BASE" "${@:2}"; }
# Functions run in hyperfine's bash: arrays are not exported, so buildah's flags are a string.
buildah_build() {
  # shellcheck disable=SC2086
  $BUILDAH_CMD bud -q --layers --isolation chroot --network host -t "$REG/bench/buildah-app:$1" "$WORK/buildah-app" >/dev/null \
    && $BUILDAH_CMD push -q --tls-verify=false "$REG/bench/buildah-app:$1" >/dev/null
}
export -f prisn_build buildah_build
export PRISN BASE REG WORK
export BUILDAH_CMD="${BUILDAH[*]}"

JSON=$WORK/json
mkdir -p "$JSON"
mean() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join("%.3f" % x["mean"] for x in r))' "$1"; }
hf() { hyperfine --shell bash --style none --export-json "$JSON/$1.json" "${@:2}" >&2; }

# --- 3. cold image (first, while every cache is empty) -----------------------------------
log "== cold image for flask+requests"
echo 0 >"$WORK/n"
hf cold --runs 3 \
  --prepare "rm -rf $PRISN_HOME/cache $UV_CACHE_DIR $WORK/uv-target; ${BUILDAH[*]} rmi --all --force >/dev/null 2>&1 || true; echo \$((\$(cat $WORK/n)+1)) > $WORK/n" \
  -n prisn "prisn_build cold\$(cat $WORK/n) >/dev/null" \
  -n buildah "buildah_build cold\$(cat $WORK/n)" \
  -n "uv pip install" "uv pip install -q --target $WORK/uv-target --python-version 3.11 --python-platform x86_64-manylinux_2_36 --only-binary :all: --require-hashes --no-deps -r $WORK/requirements.txt"
read -r COLD_PRISN COLD_BUILDAH COLD_UV < <(mean "$JSON/cold.json")

# --- 1. no-op rebuild + push -------------------------------------------------------------
log "== no-op rebuild + push"
prisn_build v1 >/dev/null
buildah_build v1
hf noop --warmup 2 --runs "$RUNS" -n prisn "prisn_build v1 >/dev/null" -n buildah "buildah_build v1"
read -r NOOP_PRISN NOOP_BUILDAH < <(mean "$JSON/noop.json")
NOOP_UPLOADS=$(prisn_build v1 -o json | python3 -c 'import json,sys; p=json.load(sys.stdin)["push"]; print("%d blobs, %d bytes" % (len(p["uploaded"]), p["bytes_uploaded"]))')

# --- 2. code-only change -----------------------------------------------------------------
log "== code-only change"
hf code --warmup 1 --runs "$RUNS" \
  --prepare "echo \"# \$(date +%s%N)\" >> $WORK/prisn-app/app.py; echo \"# \$(date +%s%N)\" >> $WORK/buildah-app/app.py" \
  -n prisn "prisn_build v1 >/dev/null" -n buildah "buildah_build v1"
read -r CODE_PRISN CODE_BUILDAH < <(mean "$JSON/code.json")
echo "# one more line" >>"$WORK/prisn-app/app.py"
CODE_UPLOADS=$(prisn_build v1 -o json | python3 -c '
import json,sys
d=json.load(sys.stdin); p=d["push"]; code=d["layers"][-1]["digest"]
kinds=["code layer" if u==code else "config" for u in p["uploaded"]]
print(", ".join(sorted(kinds)) + " + manifest (%d bytes of blobs)" % p["bytes_uploaded"])')

# --- 4. layer packing throughput ---------------------------------------------------------
log "== packing throughput"
TREE=$WORK/tree
mkdir -p "$TREE"
tar -xzf "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"]; m=json.load(open(sys.argv[1]+"/blobs/sha256/"+d.split(":")[1])); print(sys.argv[1]+"/blobs/sha256/"+m["layers"][0]["digest"].split(":")[1])' "$BASES/python3-pip")" -C "$TREE"
TREE_MB=$(du -sm --apparent-size "$TREE" | cut -f1)
hf pack --warmup 1 --runs "$RUNS" \
  -n "tar | gzip -6" "tar -C $TREE -cf - . | gzip -6 > /dev/null" \
  -n "tar | gzip -1" "tar -C $TREE -cf - . | gzip -1 > /dev/null" \
  -n "prisn, 1 thread" "$PACK $TREE 1 > /dev/null" \
  -n "prisn, 2 threads" "$PACK $TREE 2 > /dev/null"
# gzip -6 is the goal's peer; gzip -1 packs at prisn's level (builder/src/image/gzip.rs, LEVEL).
read -r PACK_GZIP PACK_GZIP1 PACK_1 PACK_2 < <(mean "$JSON/pack.json")
PACK_DIGESTS=$(for _ in 1 2 3 4 5; do "$PACK" "$TREE" 2 | cut -d' ' -f1; done; "$PACK" "$TREE" 1 | cut -d' ' -f1)
PACK_UNIQUE=$(echo "$PACK_DIGESTS" | sort -u | wc -l)
read -r _ PACK_SIZE TAR_SIZE _ < <("$PACK" "$TREE" 2)
GZIP_SIZE=$(tar -C "$TREE" -cf - . | gzip -6 | wc -c)
GZIP1_SIZE=$(tar -C "$TREE" -cf - . | gzip -1 | wc -c)

# --- 5. bytecode ---------------------------------------------------------------------------
log "== bytecode"
"$PRISN" -q build "$WORK/prisn-app/app.py" --output "$WORK/img-plain" --base "$BASE" --no-bytecode >/dev/null
"$PRISN" -q build "$WORK/prisn-app/app.py" --output "$WORK/img-pyc" --base "$BASE" >/dev/null
deps_size() { python3 -c '
import json,sys
d=json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"]
m=json.load(open(sys.argv[1]+"/blobs/sha256/"+d.split(":")[1]))
print(m["layers"][-2]["size"])' "$1"; }
unpack_probe() {
  local bundle=$WORK/bundle-$1
  umoci unpack --image "$WORK/img-$1:latest" "$bundle" >/dev/null 2>&1
  python3 - "$bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = ["python3", "-B", "-c",
  "import time; t=time.perf_counter(); import flask, requests; print(round((time.perf_counter()-t)*1000, 1))"]
json.dump(c, open(sys.argv[1], "w"))
PY
}
unpack_probe plain
unpack_probe pyc
# Alternate the two images so load changes hit both alike; median of 15 each.
for i in $(seq 15); do
  runc run --bundle "$WORK/bundle-plain" "bench-plain-$$-$i" >>"$WORK/t-plain"
  runc run --bundle "$WORK/bundle-pyc" "bench-pyc-$$-$i" >>"$WORK/t-pyc"
done
median() { sort -n "$1" | sed -n 8p; }
PYC_OFF_SIZE=$(deps_size "$WORK/img-plain"); PYC_ON_SIZE=$(deps_size "$WORK/img-pyc")
PYC_OFF_MS=$(median "$WORK/t-plain"); PYC_ON_MS=$(median "$WORK/t-pyc")
# Reproducible with bytecode too: same digest from a second home and another directory.
cp -r "$WORK/prisn-app" "$WORK/prisn-app-2"
D1=$(cat "$WORK/img-pyc/index.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["digest"])')
D2=$(PRISN_HOME=$WORK/home-2 "$PRISN" -q build "$WORK/prisn-app-2/app.py" --output "$WORK/img-pyc-2" --base "$BASE")
PYC_SAME=$([ "$D1" = "$D2" ] && echo yes || echo NO)

# --- 6. same digest from two checkouts -----------------------------------------------------
log "== reproducibility across checkouts"
skopeo copy --quiet --dest-tls-verify=false "oci:$BASES/python3:python3" "docker://$REG/bench/python3:latest"
skopeo copy --quiet --dest-tls-verify=false "oci:$BASES/bash:bash" "docker://$REG/bench/bash:latest"
skopeo copy --quiet --dest-tls-verify=false "oci:$BASES/node:node" "docker://$REG/bench/node:latest"
# The second "user" is uid 65534 with its own HOME, PATH and tools outside /root.
mkdir -p "$WORK/bin" "$WORK/other-home"
cp "$PRISN" "$WORK/bin/prisn"
cp "$(pyenv which uv 2>/dev/null || command -v uv)" "$WORK/bin/uv"
chmod -R a+rX "$WORK/bin"; chown 65534:65534 "$WORK/other-home"
REPRO_TOTAL=0; REPRO_SAME=0; REPRO_ROWS=""
for ex in hello.py api.py project job.sh node-app; do
  case "$ex" in *.py | project) b=$REG/bench/python3:latest ;; job.sh) b=$REG/bench/bash:latest ;; *) b=$REG/bench/node:latest ;; esac
  A=$WORK/checkout-a; B=$WORK/elsewhere/checkout-b
  rm -rf "$A" "$B"; mkdir -p "$A" "$B"
  cp -r "$ROOT/examples/$ex" "$A/"
  [ -f "$ROOT/examples/prisn.lock" ] && [ ! -d "$ROOT/examples/$ex" ] && cp "$ROOT/examples/prisn.lock" "$A/"
  da=$(PRISN_HOME=$WORK/repro-home-a "$PRISN" -q build "$A/$ex" --output "$WORK/repro-a-$ex" --base "$b")
  # The second checkout gets the lock as committed after the first build (with the base pin).
  (cd "$A" && tar cf - .) | (cd "$B" && tar xf -)
  find "$B" -exec touch -d '2003-04-05 06:07:08' {} +
  chmod -R a+rwX "$WORK/elsewhere"
  sleep 1
  db=$(setpriv --reuid 65534 --regid 65534 --clear-groups env -i HOME="$WORK/other-home" \
    PATH="$WORK/bin:/usr/bin:/bin" TZ=Pacific/Kiritimati LANG=C UV_PYTHON_DOWNLOADS=never \
    SSL_CERT_FILE="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" \
    NODE_EXTRA_CA_CERTS="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}" \
    PRISN_HOME="$WORK/other-home/.prisn" \
    sh -c 'umask 077; cd / && exec "$0" "$@"' "$WORK/bin/prisn" -q build "$B/$ex" --output "$WORK/elsewhere/out-$ex" --base "$b")
  REPRO_TOTAL=$((REPRO_TOTAL + 1))
  same=no; [ "$da" = "$db" ] && { same=yes; REPRO_SAME=$((REPRO_SAME + 1)); }
  REPRO_ROWS+="| \`examples/$ex\` | \`${da:7:12}…\` | \`${db:7:12}…\` | $same |"$'\n'
done

# --- the section -------------------------------------------------------------------------
ratio() { python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
ms() { python3 -c "import sys; print('%.0f ms' % (float(sys.argv[1]) * 1000))" "$1"; }
mbs() { python3 -c "import sys; print('%.0f MB/s' % (float(sys.argv[1]) / float(sys.argv[2])))" "$TREE_MB" "$1"; }
cat <<EOF
## Images

\`bench/image.sh\`, one run on $(nproc) cores ($(date -u +%Y-%m-%d)); prisn $("$PRISN" --version | cut -d' ' -f2) (release build),
$(buildah --version | cut -d' ' -f1-3), $(uv --version), $(hyperfine --version). Registry: Debian's
docker-registry on 127.0.0.1. Base: \`prisn base python3 --packages python3,python3-pip,…\` (Debian bookworm
python3 3.11 + pip). App: one script with flask + requests ($NPKG pinned packages).
The buildah peer is the equivalent Containerfile (FROM the same base, \`pip install --require-hashes\`
of the same pins, COPY the code), built with \`buildah bud --layers\` and pushed with \`buildah push\`.
Means of $RUNS runs (cold: 3 runs) with hyperfine; load average at the start: $LOAD0$( [ "${BENCH_PRIORITY:-0}" = 1 ] && echo ", bench session at autogroup nice -15 (BENCH_PRIORITY=1)").

| figure | prisn | peer | ratio | goal |
|---|---|---|---|---|
| no-op rebuild + push (all cached, image in registry) | $(ms "$NOOP_PRISN"); uploaded $NOOP_UPLOADS | buildah $(ms "$NOOP_BUILDAH") | $(ratio "$NOOP_BUILDAH" "$NOOP_PRISN")× faster | ≤ 100 ms, 0 blobs, ≥ 10× |
| code-only change (one line) | $(ms "$CODE_PRISN"); uploaded $CODE_UPLOADS | buildah $(ms "$CODE_BUILDAH") | $(ratio "$CODE_BUILDAH" "$CODE_PRISN")× faster | ≤ 300 ms, code + config + manifest |
| cold image, flask + requests (empty caches, wheels from PyPI) | $(ms "$COLD_PRISN") | buildah $(ms "$COLD_BUILDAH"); \`uv pip install\` alone $(ms "$COLD_UV") | buildah/prisn $(ratio "$COLD_BUILDAH" "$COLD_PRISN")×; prisn/uv $(ratio "$COLD_PRISN" "$COLD_UV")× | — |
| layer packing, ${TREE_MB} MB tree (the base's rootfs) | 2 threads $(ms "$PACK_2") ($(mbs "$PACK_2")), 1 thread $(ms "$PACK_1") | \`tar c \| gzip -6\` $(ms "$PACK_GZIP") ($(mbs "$PACK_GZIP")); \`gzip -1\` $(ms "$PACK_GZIP1") | $(ratio "$PACK_GZIP" "$PACK_2")× (vs \`gzip -1\`: $(ratio "$PACK_GZIP1" "$PACK_2")×) | ≥ 1.5× |

- Packing output: $PACK_SIZE bytes gzip from $TAR_SIZE bytes of tar (\`gzip -6\`: $GZIP_SIZE bytes, \`gzip -1\`: $GZIP1_SIZE bytes);
  $PACK_UNIQUE distinct digest(s) over 6 runs with 1 and 2 threads (blocks of 1 MiB, each its own gzip member).
- Bytecode (the default; PEP 552 unchecked-hash pycs by the base's own Python): dependency layer $PYC_OFF_SIZE → $PYC_ON_SIZE bytes;
  \`import flask, requests\` in the running container (median of 15 \`runc run\` each, alternating) $PYC_OFF_MS ms → $PYC_ON_MS ms;
  same digest from a second home and directory: $PYC_SAME.

Same digest from two checkouts: $REPRO_SAME of $REPRO_TOTAL examples ($((100 * REPRO_SAME / REPRO_TOTAL)) %). Checkout B is a copy
in another directory, built a second later by uid 65534 (another HOME, PRISN_HOME, PATH with Debian's
/usr/bin/python3 3.11.2 instead of pyenv's 3.11.7), with umask 077, TZ=Pacific/Kiritimati and every
mtime set to 2003.

| example | checkout A | checkout B | same |
|---|---|---|---|
$REPRO_ROWS
EOF
