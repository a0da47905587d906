#!/usr/bin/env node
// Where the serialize throughput ceiling comes from: one blob of a local docker-registry received
// by curl, by undici's request(), and by a bare node:net socket (static onread buffer, and fresh
// buffers through an async iterator), to /dev/null, interleaved in one run. Prints MB/s.
//   tsc -p tsconfig.bench.json && node scripts/bench-receive.mjs [MB=200] [ROUNDS=3]
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

const root = fileURLToPath(new URL('..', import.meta.url));
const { startRegistry } = await import(join(root, 'dist-bench/test/helpers/registry.js'));
const { pushImage } = await import(join(root, 'dist-bench/test/helpers/images.js'));
const mb = Number(process.argv[2] ?? 200);
const rounds = Number(process.argv[3] ?? 3);
const reg = await startRegistry();
try {
  const img = await pushImage(reg.host, 'rx/img', 'v1', [{ size: mb * 1e6, seed: 7 }]);
  const path = `/v2/rx/img/blobs/${img.blobs.find((b) => b.size === mb * 1e6).digest}`;
  const url = `${reg.url}${path}`;
  const [host, port] = reg.host.split(':');
  const time = async (fn) => {
    const t0 = process.hrtime.bigint();
    const bytes = await fn();
    return bytes / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  const raw = (fresh) =>
    time(
      () =>
        new Promise((resolve, reject) => {
          let bytes = 0;
          const fixed = Buffer.allocUnsafe(1 << 20);
          const s = net.connect({ host, port: Number(port), onread: { buffer: fresh ? () => Buffer.allocUnsafe(1 << 16) : fixed, callback: (n) => ((bytes += n), true) } });
          s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: ${reg.host}\r\nConnection: close\r\n\r\n`));
          s.on('end', () => resolve(bytes));
          s.on('error', reject);
        }),
    );
  const peers = {
    curl: () => time(async () => Number(spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{size_download}', url], { encoding: 'utf8' }).stdout)),
    undici: () =>
      time(async () => {
        const r = await request(url, { highWaterMark: 4 << 20 });
        let bytes = 0;
        for await (const c of r.body) bytes += c.length;
        return bytes;
      }),
    'net static buffer': () => raw(false),
    'net fresh buffers': () => raw(true),
  };
  const results = Object.fromEntries(Object.keys(peers).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) for (const [k, run] of Object.entries(peers)) results[k].push(await run());
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const curl = median(results.curl);
  console.log(`one ${mb} MB blob from a loopback docker-registry to /dev/null, medians of ${rounds}`);
  for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(18)} ${median(v).toFixed(0).padStart(6)} MB/s  ${(median(v) / curl).toFixed(2)}x curl`);
} finally {
  await reg.stop();
}
