/**
 * Benchmark (a script, not a test): CPU seconds per small blob of `mirror serialize` from a
 * loopback registry, for one or more builds, interleaved and paired (issue 11's per-blob cost).
 * CPU time (user + sys of the serialize process, from /usr/bin/time), not wall time: on a shared
 * machine the wall clock follows the other load, the CPU a process spends does far less.
 *
 *   node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs test/helpers/bench-small-blobs.ts \
 *     [ROUNDS] [bin/ace-dt.js /other/build/bin/ace-dt.js ...]
 *
 * Env: BENCH_BLOBS (2000), BENCH_BLOB_KB (64), BENCH_HOST (a registry already seeded by an earlier
 * run with the same BENCH_BLOBS and BENCH_BLOB_KB: skips starting and pushing), BENCH_ARGS (extra
 * serialize flags). Per blob = (CPU of the N-blob image - CPU of a 1-blob image) / (N - 1), so the
 * start-up cost (loading modules, the addon) is not counted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startRegistry } from './registry.js';
import { MT, putManifest, seededBytes, sha256, uploadBlob } from './images.js';

const rounds = Number(process.argv[2] ?? 3);
const bins = process.argv.slice(3).length > 0 ? process.argv.slice(3).map((b) => resolve(b)) : [resolve('bin/ace-dt.js')];
const count = Number(process.env.BENCH_BLOBS ?? 2000);
const size = Number(process.env.BENCH_BLOB_KB ?? 64) << 10;
const extra = (process.env.BENCH_ARGS ?? '').split(' ').filter(Boolean);

/** Push an image of `n` seeded layers of `size` bytes, tagged `tag`; 8 uploads at a time. */
async function seed(host: string, repo: string, n: number): Promise<void> {
  const layers = Array.from({ length: n }, (_, i) => {
    const bytes = seededBytes(77_000 + i, size);
    return { bytes, desc: { mediaType: MT.OciLayer, digest: sha256(bytes), size } };
  });
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < layers.length) {
        const l = layers[next++];
        await uploadBlob(host, repo, l.bytes, {}, l.desc.digest);
      }
    }),
  );
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.desc.digest) } }));
  const config = { mediaType: MT.OciConfig, digest: sha256(configBytes), size: configBytes.length };
  await uploadBlob(host, repo, configBytes, {}, config.digest);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.OciManifest, config, layers: layers.map((l) => l.desc) }));
  await putManifest(host, repo, 'v1', MT.OciManifest, manifest);
}

/** CPU seconds (user + sys) and peak RSS (MB) of one serialize. */
function run(bin: string, image: string, out: string): { cpu: number; rss: number } {
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', process.execPath, bin, 'mirror', 'serialize', image, out, '-q', ...extra], { encoding: 'utf8' });
  const last = r.stderr.trim().split('\n').pop() ?? '';
  const m = /^([\d.]+) ([\d.]+) (\d+)$/.exec(last);
  if (r.status !== 0 || !m) throw new Error(`${bin} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return { cpu: Number(m[1]) + Number(m[2]), rss: Number(m[3]) / 1024 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const reg = process.env.BENCH_HOST ? undefined : await startRegistry();
const host = process.env.BENCH_HOST ?? reg!.host;
const work = mkdtempSync(join(tmpdir(), 'ace-bench-small-'));
try {
  if (reg) {
    await seed(host, 'bench/one', 1);
    await seed(host, 'bench/many', count);
    process.stderr.write(`seeded ${host} (BENCH_HOST=${host} reuses it while it runs)\n`);
  }
  const perBlob: number[][] = bins.map(() => []);
  const manyCpu: number[][] = bins.map(() => []);
  const oneCpu: number[][] = bins.map(() => []);
  for (let round = 0; round < rounds; round++) {
    // Paired and interleaved: every build runs once per round, in an order that rotates.
    const order = bins.map((_, i) => (i + round) % bins.length);
    for (const i of order) {
      const one = run(bins[i], `${host}/bench/one:v1`, join(work, 'one.tar'));
      const many = run(bins[i], `${host}/bench/many:v1`, join(work, 'many.tar'));
      const ms = ((many.cpu - one.cpu) / (count - 1)) * 1e3;
      perBlob[i].push(ms);
      manyCpu[i].push(many.cpu);
      oneCpu[i].push(one.cpu);
      process.stderr.write(`round ${round + 1} ${bins[i]}: ${many.cpu.toFixed(2)} s CPU for ${count} blobs, ${one.cpu.toFixed(2)} s for 1, ${ms.toFixed(3)} ms per blob, peak RSS ${many.rss.toFixed(0)} MB\n`);
    }
  }
  console.log(`CPU per blob of ${size >> 10} KiB (ms, ${count} blobs, ${rounds} rounds, paired):`);
  for (const [i, b] of bins.entries()) {
    console.log(`  ${b}: median ${median(perBlob[i]).toFixed(3)}  [${perBlob[i].map((x) => x.toFixed(3)).join(', ')}]`);
    console.log(`    whole runs, CPU s: ${count} blobs median ${median(manyCpu[i]).toFixed(2)} [${manyCpu[i].map((x) => x.toFixed(2)).join(', ')}], 1 blob median ${median(oneCpu[i]).toFixed(2)} [${oneCpu[i].map((x) => x.toFixed(2)).join(', ')}]`);
    if (i > 0) {
      const diffs = perBlob[i].map((x, r) => x - perBlob[0][r]);
      console.log(`    paired difference against the first: median ${median(diffs).toFixed(3)} [${diffs.map((x) => x.toFixed(3)).join(', ')}]`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
  await reg?.stop();
}
