/**
 * Benchmark (a script, not a test): raw blob GET throughput of our registry client against
 * `curl -o /dev/null` of the same blobs from the same registry, in the same run.
 *
 *   node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs test/helpers/bench-registry-fetch.ts [MB] [concurrency]
 */
import { execFileSync } from 'node:child_process';
import { openRegistrySource } from '../../src/source/registry.js';
import { startRegistry } from './registry.js';
import { pushImage } from './images.js';

const totalMB = Number(process.argv[2] ?? 1024);
const concurrency = Number(process.argv[3] ?? 1);
const layers = 4;
const size = Math.floor((totalMB * 1e6) / layers);

const reg = await startRegistry();
try {
  const img = await pushImage(reg.host, 'bench/fetch', 'v1', Array.from({ length: layers }, (_, i) => ({ size, seed: 1000 + i })));
  const blobs = img.blobs.filter((b) => b.size === size);
  const bytes = blobs.length * size;
  const best = (xs: number[]) => Math.max(...xs);

  const curl: number[] = [];
  const ours: number[] = [];
  const cpu: number[] = [];
  for (let round = 0; round < 3; round++) {
    let t0 = process.hrtime.bigint();
    for (const b of blobs) execFileSync('curl', ['-sf', '-o', '/dev/null', `${reg.url}/v2/bench/fetch/blobs/${b.digest}`]);
    curl.push(bytes / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9));

    const src = await openRegistrySource(`${reg.host}/bench/fetch:v1`, { concurrency });
    t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    let got = 0;
    const queue = [...blobs];
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let b = queue.shift(); b; b = queue.shift()) {
          for await (const c of await src.fetchBlob(b)) got += c.length;
        }
      }),
    );
    ours.push(bytes / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9));
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e3 / (bytes / 1e9));
    await src.close();
    if (got !== bytes) throw new Error(`got ${got} of ${bytes} bytes`);
  }
  console.log(`blob GET of ${(bytes / 1e6).toFixed(0)} MB in ${blobs.length} blobs, best of 3 (concurrency ${concurrency})`);
  console.log(`  curl -o /dev/null, one at a time: ${best(curl).toFixed(0)} MB/s`);
  console.log(`  ace-dt registry client (undici):  ${best(ours).toFixed(0)} MB/s  (${(best(ours) / best(curl)).toFixed(2)}x curl), ${Math.min(...cpu).toFixed(0)} ms CPU per GB received`);
} finally {
  await reg.stop();
}
