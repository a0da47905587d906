// What checking the kept part of a file costs a resume (issue 15). An OCI layout of BENCH_LAYERS
// random layers of BENCH_LAYER_MB each is serialized to a file with a checkpoint; each round cuts
// the archive to 90% (as a kill would) and resumes it twice, interleaved: with the default check
// (every tar header of the kept part read back) and with --resume-rehash (every kept blob read
// and hashed). The peer is `sha256sum` of the same kept bytes, the machine's limit for reading
// and hashing them. Prints medians and ratios; the page cache is warm (the file was just written).
//   node scripts/bench-resume.mjs            BENCH_LAYERS=8 BENCH_LAYER_MB=128 BENCH_ROUNDS=3
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const layers = Number(process.env.BENCH_LAYERS ?? 8);
const layerMb = Number(process.env.BENCH_LAYER_MB ?? 128);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'bench-resume-'));
const ace = (...args) => spawnSync(process.execPath, [join(root, 'bin/ace-dt.js'), ...args], { cwd: dir, encoding: 'utf8' });
const seconds = (f) => {
  const t = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  execFileSync(process.execPath, [join(root, 'test/slow/bench-make-layout.mjs'), join(dir, 'layout'), String(layers), String(layerMb << 20)]);
  const first = ace('mirror', 'serialize', 'oci:layout:v1', 'out.tar', '--checkpoint', 'cp.jsonl', '-q');
  if (first.status !== 0) throw new Error(first.stderr);
  const full = statSync(join(dir, 'out.tar')).size;
  const kept = Math.floor(full * 0.9);
  const t = { header: [], rehash: [], sha: [] };
  for (let i = 0; i < rounds; i++) {
    for (const mode of ['header', 'rehash']) {
      truncateSync(join(dir, 'out.tar'), kept);
      const extra = mode === 'rehash' ? ['--resume-rehash'] : [];
      let r;
      t[mode].push(seconds(() => (r = ace('mirror', 'serialize', 'oci:layout:v1', 'out.tar', '--checkpoint', 'cp.jsonl', '--resume-from-checkpoint', 'cp.jsonl', '-q', ...extra))));
      if (r.status !== 0) throw new Error(r.stderr);
      if (statSync(join(dir, 'out.tar')).size !== full) throw new Error('the resumed archive has the wrong size');
    }
    t.sha.push(seconds(() => execFileSync('sh', ['-c', `head -c ${kept} out.tar | sha256sum`], { cwd: dir })));
  }
  const [h, r, s] = [median(t.header), median(t.rehash), median(t.sha)];
  console.log(`archive ${(full / 1e9).toFixed(2)} GB, kept ${(kept / 1e9).toFixed(2)} GB in ${layers} blobs, ${rounds} rounds (medians)`);
  console.log(`resume, headers checked:  ${h.toFixed(2)} s (includes writing the last 10%)`);
  console.log(`resume, --resume-rehash:  ${r.toFixed(2)} s`);
  console.log(`sha256sum of the kept part: ${s.toFixed(2)} s`);
  console.log(`--resume-rehash adds ${(r - h).toFixed(2)} s = ${((r - h) / s).toFixed(2)}x sha256sum of the kept part (${((kept / 1e6) / (r - h)).toFixed(0)} MB/s)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
