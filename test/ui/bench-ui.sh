#!/bin/bash
# UI overhead (not part of the test suite): CPU seconds (user+sys) of the same serialize of a ~1 GB
# OCI layout to /dev/null with -q, with plain lines (--no-term, stdout to /dev/null) and with the
# live display in a tmux pane; prints each run and the median ratios against -q.
# Usage: bash test/ui/bench-ui.sh [runs=5]   (needs tmux; builds nothing: run `npx tsc -p tsconfig.build.json` first)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${1:-5}
W=$(mktemp -d /tmp/ace-ui-bench.XXXXXX)
S=$W/tmux.sock
trap 'tmux -S $S kill-server 2>/dev/null || true; rm -rf "$W"' EXIT
node --input-type=module -e '
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
const dir = process.argv[1];
mkdirSync(join(dir, "blobs/sha256"), { recursive: true });
const put = (b) => { const h = createHash("sha256").update(b).digest("hex"); writeFileSync(join(dir, "blobs/sha256", h), b); return { digest: "sha256:" + h, size: b.length }; };
const json = (v) => Buffer.from(JSON.stringify(v));
const layers = [];
for (let i = 0; i < 6; i++) layers.push({ mediaType: "application/vnd.oci.image.layer.v1.tar", ...put(randomBytes(160 << 20)) });
const config = { mediaType: "application/vnd.oci.image.config.v1+json", ...put(json({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) } })) };
const mt = "application/vnd.oci.image.manifest.v1+json";
const m = { mediaType: mt, ...put(json({ schemaVersion: 2, mediaType: mt, config, layers })), platform: { architecture: "amd64", os: "linux" } };
const it = "application/vnd.oci.image.index.v1+json";
const idx = { mediaType: it, ...put(json({ schemaVersion: 2, mediaType: it, manifests: [m] })) };
writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
writeFileSync(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ ...idx, annotations: { "org.opencontainers.image.ref.name": "v1" } }] }));
' "$W/layout"
CMD="node $ROOT/bin/ace-dt.js mirror serialize oci:$W/layout:v1 /dev/null"
TIMEFORMAT='%U %S'
cpu() { { time $CMD "$@" > /dev/null 2>&1 ; } 2>&1 | awk '{print $1+$2}'; }
live() {
  rm -f "$W/live.t"
  tmux -S "$S" -f /dev/null new-session -d -x 100 -y 30 "TIMEFORMAT='%U %S'; { time $CMD ; } 2> $W/live.raw; awk '{print \$1+\$2}' $W/live.raw > $W/live.t"
  while [ ! -s "$W/live.t" ]; do sleep 0.05; done
  cat "$W/live.t"
}
: > "$W/all"
for i in $(seq "$RUNS"); do
  q=$(cpu -q); p=$(cpu --no-term); l=$(live)
  echo "run $i: -q $q s, plain $p s, live $l s" | tee -a /dev/stderr >/dev/null
  echo "$q $p $l" >> "$W/all"
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mq=$(cut -d' ' -f1 "$W/all" | median); mp=$(cut -d' ' -f2 "$W/all" | median); ml=$(cut -d' ' -f3 "$W/all" | median)
echo "median CPU s: -q $mq, plain $mp, live $ml; ratio plain/-q $(echo "scale=3; $mp/$mq" | bc), live/-q $(echo "scale=3; $ml/$mq" | bc)"
