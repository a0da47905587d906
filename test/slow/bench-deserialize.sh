#!/usr/bin/env bash
# Benchmark of `mirror verify` and `mirror deserialize` against peers measured in the same run
# (not part of the test suite). Usage, from the repository root with dist/ built:
#   bash test/slow/bench-deserialize.sh [LAYERS] [LAYER_BYTES]      (default 4 x 256 MiB)
# verify is compared with `openssl dgst -sha256` of the whole archive (one hash, no parsing);
# deserialize with `skopeo copy oci-archive: docker://` into the same loopback docker-registry,
# registry storage wiped and skopeo's blob-info cache removed before every run, and with a curl
# monolithic PUT of the largest blob (the registry's ingest limit).
set -euo pipefail
N=${1:-4}; SIZE=${2:-268435456}; RUNS=${RUNS:-3}
W=$(mktemp -d /tmp/ace-dt-bench-deser.XXXXXX); PORT=$((5200 + RANDOM % 500)); REGPID=
cleanup() { [ -n "$REGPID" ] && kill "$REGPID" 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
node test/slow/bench-make-layout.mjs "$W/layout" "$N" "$SIZE"
node bin/ace-dt.js mirror serialize "oci:$W/layout:v1" "$W/a.tar" -q
BYTES=$(stat -c %s "$W/a.tar")
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/reg\nhttp:\n  addr: 127.0.0.1:%s\n' "$W" "$PORT" > "$W/reg.yml"
restart() {
  [ -n "$REGPID" ] && kill "$REGPID" 2>/dev/null && wait "$REGPID" 2>/dev/null || true
  rm -rf "$W/reg"; mkdir -p "$W/reg"
  docker-registry serve "$W/reg.yml" > "$W/reg.log" 2>&1 & REGPID=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" && break; sleep 0.1; done
  rm -f /var/lib/containers/cache/blob-info-cache-v1.sqlite ~/.local/share/containers/cache/blob-info-cache-v1.sqlite
  sync
}
t() { local s=$(date +%s.%N); "$@" > /dev/null; echo "$(date +%s.%N) - $s" | bc; }
mbs() { echo "scale=0; $BYTES / $1 / 1000000" | bc; }
echo "archive: $BYTES bytes, $RUNS runs each"
for i in $(seq "$RUNS"); do
  a=$(t node bin/ace-dt.js mirror verify -q "$W/a.tar"); b=$(t openssl dgst -sha256 "$W/a.tar")
  echo "verify $a s ($(mbs "$a") MB/s) | openssl dgst $b s ($(mbs "$b") MB/s) | ratio verify/openssl time $(echo "scale=2; $a / $b" | bc)"
done
big=$(ls -S "$W/layout/blobs/sha256" | head -1); bigsize=$(stat -c %s "$W/layout/blobs/sha256/$big")
for i in $(seq "$RUNS"); do
  restart; a=$(t node bin/ace-dt.js mirror deserialize -q "$W/a.tar" "127.0.0.1:$PORT/ours/x:v1")
  restart; b=$(t skopeo copy -q --all --dest-tls-verify=false "oci-archive:$W/a.tar:v1" "docker://127.0.0.1:$PORT/sko/x:v1")
  restart; loc=$(curl -s -D - -o /dev/null -X POST "http://127.0.0.1:$PORT/v2/c/x/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
  c=$(t curl -s -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$W/layout/blobs/sha256/$big" "${loc}&digest=sha256:$big")
  echo "deserialize $a s ($(mbs "$a") MB/s) | skopeo $b s ($(mbs "$b") MB/s) | curl PUT of one blob $(echo "scale=0; $bigsize / $c / 1000000" | bc) MB/s | ratio skopeo/ours time $(echo "scale=2; $b / $a" | bc)"
done
