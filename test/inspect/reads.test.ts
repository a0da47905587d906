/**
 * `mirror inspect` reads a number of times proportional to the entries, not the bytes: counted
 * by the kernel (strace -c on the CLI process, pread64 is what positioned reads become) and by
 * the source's own counters, on archives of the same shape with 8x larger blobs, and of the same
 * blob size with 4x more blobs.
 */
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BIN, ROOT, runCli } from '../helpers/cli.js';
import type { InspectReport } from '../../src/inspect/index.js';

const exec = promisify(execFile);
const MAKE_LAYOUT = join(ROOT, 'test/slow/bench-make-layout.mjs');
const MiB = 1 << 20;

async function archive(dir: string, name: string, layers: number, size: number): Promise<string> {
  const layout = join(dir, `${name}-layout`);
  await exec(process.execPath, [MAKE_LAYOUT, layout, String(layers), String(size)]);
  const tar = join(dir, `${name}.tar`);
  const r = await runCli(['mirror', 'serialize', `oci:${layout}:v1`, tar, '-q']);
  if (r.code !== 0) throw new Error(r.stderr);
  return tar;
}

/** pread64 and read calls of one `mirror inspect --json` process, and its report. */
async function traced(tar: string, dir: string): Promise<{ pread: number; read: number; report: InspectReport }> {
  const out = join(dir, `${Date.now()}-${Math.random()}.strace`);
  const { stdout } = await exec('strace', ['-f', '-c', '-e', 'trace=pread64,read', '-o', out, process.execPath, BIN, 'mirror', 'inspect', '--json', tar], { maxBuffer: 64 << 20 });
  // strace -c columns: % time, seconds, usecs/call, calls, [errors,] syscall.
  const rows = readFileSync(out, 'utf8').split('\n').map((l) => l.trim().split(/\s+/));
  const count = (sys: string) => Number(rows.find((f) => f[f.length - 1] === sys)?.[3] ?? NaN);
  return { pread: count('pread64'), read: count('read'), report: JSON.parse(stdout) };
}

const haveStrace = spawnSync('strace', ['-V']).status === 0;

t.test('reads follow the entries, not the bytes', { skip: haveStrace ? false : 'strace is not installed' }, async (t) => {
  const dir = t.testdir({});
  const small = await archive(dir, 'small', 4, MiB);
  const large = await archive(dir, 'large', 4, 8 * MiB);
  const many = await archive(dir, 'many', 16, MiB);
  const s = await traced(small, dir);
  const l = await traced(large, dir);
  const m = await traced(many, dir);
  t.comment(`pread64: ${s.pread} (4 x 1 MiB), ${l.pread} (4 x 8 MiB), ${m.pread} (16 x 1 MiB); read: ${s.read}, ${l.read}, ${m.read}`);
  t.ok(Math.abs(l.pread - s.pread) <= 1, '8x the bytes in the same entries: the same number of positioned reads');
  // Plain read() calls are node loading its modules (hundreds, and they vary run to run): the
  // archive is only ever read with pread64.
  const extra = m.pread - s.pread;
  t.ok(extra >= 10 && extra <= 14, `12 more blobs: ${extra} more reads`);
  for (const [x, tar] of [[s, small], [l, large], [m, many]] as const) {
    const size = statSync(tar).size;
    t.equal(x.report.sources[0].records, x.report.blobs.length - 2 + 1, `${tar.split('/').pop()}: one read per skipped layer, and the first (source counters)`);
    t.ok(x.report.totals.bytesRead < size / 8, `${x.report.totals.bytesRead} of ${size} bytes read`);
    t.equal(x.report.totals.bytesRead + x.report.totals.bytesSkipped, size, 'every byte was read or skipped, once');
  }
});
