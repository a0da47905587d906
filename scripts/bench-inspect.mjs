#!/usr/bin/env node
// `ace-dt mirror inspect` of a ~2.2 GB archive against reading the same file whole (`sha256sum`,
// `cat > /dev/null`) and against `tar tvf` (GNU tar, which also seeks over bodies on a regular
// file), in one run, interleaved, one process per run; then, on the tape rig, inspect of a tape
// file against `dd` of it. Prints medians and ratios. Not a test: run on a quiet machine.
//
//   npm run bench:inspect            (BENCH_LAYERS=15 BENCH_LAYER_MIB=140 BENCH_RUNS=5 BENCH_DIR=$TMPDIR)
//   BENCH_TAPE=0 npm run bench:inspect   (skip the tape part; BENCH_TAPE_LAYER_MIB=40 sizes it; BENCH_FILE=0 runs only the tape part)
//   BENCH_BASELINE=DIR npm run bench:inspect   (also times DIR/bin/ace-dt.js, a built checkout of
//                                               another commit, in the same rounds: before/after)
//
// `node -e 0` runs in the same rounds: the start-up that any Node program pays, which inspect
// cannot go below; its ratio to cat says how far the 0.2x target is reachable at all.
//
// Page cache: "warm" rounds run with the archive in the page cache (it fits in RAM here).
// "cold" rounds first ask the kernel to drop this one file's pages (posix_fadvise DONTNEED via
// `dd iflag=nocache count=0`; dropping every cache is not ours to do on a shared machine) and
// print how much of it `fincore` still finds resident, because the kernel may keep some. On tmpfs
// the file is the cache and cannot be dropped: the bench says so (put BENCH_DIR on a disk).
// Needs: a built checkout (npm run build), sha256sum, GNU tar, fincore (util-linux).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const layers = Number(env.BENCH_LAYERS ?? 15);
const layerMiB = Number(env.BENCH_LAYER_MIB ?? 140);
const runs = Number(env.BENCH_RUNS ?? 5);
const dir = env.BENCH_DIR ?? os.tmpdir();
const ace = path.join(root, 'bin/ace-dt.js');
const layout = path.join(dir, `ace-dt-inspect-layout-${layers}x${layerMiB}`);
const archive = `${layout}.tar`;

let size = 0;

const baseline = env.BENCH_BASELINE ? path.resolve(env.BENCH_BASELINE, 'bin/ace-dt.js') : undefined;
const tools = {
  inspect: [process.execPath, ace, 'mirror', 'inspect', '--json', archive],
  ...(baseline ? { 'inspect (baseline)': [process.execPath, baseline, 'mirror', 'inspect', '--json', archive] } : {}),
  'node -e 0': [process.execPath, '-e', '0'],
  'tar tvf': ['tar', 'tvf', archive],
  sha256sum: ['sha256sum', archive],
  cat: ['bash', '-c', `cat '${archive}' > /dev/null`],
};

function dropFile() {
  spawnSync('dd', [`if=${archive}`, 'iflag=nocache', 'count=0', 'status=none']);
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', archive], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : NaN;
}

const isInspect = (name) => name.startsWith('inspect');

/** In-process time of the last run of an inspect (totals.durationMs: open to report, no start-up). */
let lastService = NaN;

function once(name) {
  const started = process.hrtime.bigint();
  const r = spawnSync(tools[name][0], tools[name].slice(1), { stdio: ['ignore', isInspect(name) ? 'pipe' : 'ignore', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) throw new Error(`${name} failed (${r.status}): ${r.stderr}`);
  if (isInspect(name)) lastService = JSON.parse(r.stdout).totals.durationMs;
  return ms;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function rounds(label, cold) {
  const names = Object.keys(tools);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  const resident = [];
  const service = Object.fromEntries(names.filter(isInspect).map((n) => [n, []]));
  // One discarded warm-up of each (the first run of anything pays for loading it).
  if (!cold) for (const n of names) once(n);
  // The start-up-sized commands (inspect, the baseline, node -e 0) take a fraction of a second
  // and move by tens of percent with the machine's load: they run after every reading tool
  // instead of once a round, for 3x the samples at little cost.
  const quick = names.filter((n) => isInspect(n) || n === 'node -e 0');
  const slow = names.filter((n) => !quick.includes(n));
  const run = (i, n) => {
    if (cold) resident.push(dropFile());
    const ms = once(n);
    times[n].push(ms);
    if (isInspect(n)) service[n].push(lastService);
    process.stderr.write(`${label} round ${i + 1} ${n.padEnd(18)} ${ms.toFixed(0).padStart(7)} ms\n`);
  };
  let turn = 0;
  const paired = [];
  for (let i = 0; i < runs; i++) {
    // Rotated so that no tool always runs first or right after the file was read.
    for (const n of slow.map((_, j) => slow[(i + j) % slow.length])) {
      run(i, n);
      turn++;
      for (const q of quick.map((_, j) => quick[(turn + j) % quick.length])) run(i, q);
      // Side by side in one group: their ratio is taken pair by pair, which the load's drift moves less.
      if (baseline) paired.push(times.inspect.at(-1) / times['inspect (baseline)'].at(-1));
    }
  }
  const med = Object.fromEntries(names.map((n) => [n, median(times[n])]));
  console.log(`\n${label}: ${(size / 1e9).toFixed(2)} GB archive, ${layers} layers, medians of ${runs} interleaved runs (${runs * slow.length} of ${quick.join(', ')}; wall clock, one process each)`);
  for (const n of names) console.log(`  ${n.padEnd(18)} ${med[n].toFixed(0).padStart(7)} ms  ${n === 'node -e 0' ? '(no archive)' : `${((size / 1e6) / (med[n] / 1000)).toFixed(0).padStart(7)} MB/s of archive`}`);
  for (const n of names.filter(isInspect)) {
    const svc = median(service[n]);
    console.log(`  ${n} in-process (open to report, no start-up): ${svc.toFixed(0)} ms; ratio to sha256sum ${(svc / med.sha256sum).toFixed(4)}x, to cat ${(svc / med.cat).toFixed(4)}x`);
  }
  if (cold) console.log(`  page cache before each run: median ${(median(resident) / 1e6).toFixed(1)} MB of the archive still resident (fincore), max ${(Math.max(...resident) / 1e6).toFixed(1)} MB`);
  for (const n of [...names.filter(isInspect), 'node -e 0']) {
    console.log(`  ratio ${n} / sha256sum: ${(med[n] / med.sha256sum).toFixed(3)}x   / cat: ${(med[n] / med.cat).toFixed(3)}x   / tar tvf: ${(med[n] / med['tar tvf']).toFixed(3)}x`);
  }
  if (baseline) console.log(`  inspect / inspect (baseline): ${(med.inspect / med['inspect (baseline)']).toFixed(3)}x of the medians; median of ${paired.length} paired ratios ${median(paired).toFixed(3)}x`);
  console.log('  (target: inspect <= 0.2x of reading the file; `node -e 0` is the floor of any Node program)');
  return med;
}

if (env.BENCH_FILE !== '0') fileBench();

function fileBench() {
if (!fs.existsSync(archive)) {
  process.stderr.write(`making ${layers} x ${layerMiB} MiB layers in ${layout} and serializing them to ${archive} (once)\n`);
  fs.rmSync(layout, { recursive: true, force: true });
  execFileSync(process.execPath, [path.join(root, 'test/slow/bench-make-layout.mjs'), layout, String(layers), String(layerMiB << 20)], { stdio: 'inherit' });
  execFileSync(process.execPath, [ace, 'mirror', 'serialize', `oci:${layout}:v1`, `${archive}.tmp`, '-q'], { stdio: 'inherit' });
  fs.renameSync(`${archive}.tmp`, archive);
}
size = fs.statSync(archive).size;
const fsType = spawnSync('stat', ['-f', '-c', '%T', archive], { encoding: 'utf8' }).stdout.trim();
if (fsType === 'tmpfs' || fsType === 'ramfs') console.log(`note: ${archive} is on ${fsType}: its pages cannot be dropped, the cold rounds are warm; set BENCH_DIR to a disk-backed directory`);
const report = JSON.parse(execFileSync(process.execPath, [ace, 'mirror', 'inspect', '--json', archive], { encoding: 'utf8', maxBuffer: 64 << 20 }));
console.log(`inspect of ${archive}: ${report.blobs.length} blobs, ${report.totals.reads} reads, ${report.totals.bytesRead} B read, ${report.totals.bytesSkipped} B skipped`);
const timed = (argv) =>
  median(
    Array.from({ length: 5 }, () => {
      const t0 = process.hrtime.bigint();
      spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' });
      return Number(process.hrtime.bigint() - t0) / 1e6;
    }),
  );
const startup = timed([process.execPath, ace, 'mirror', 'inspect', '--help']);
if (baseline) console.log(`(baseline: ${baseline}, \`mirror inspect --help\` ${timed([process.execPath, baseline, 'mirror', 'inspect', '--help']).toFixed(0)} ms)`);
const bare = timed([process.execPath, '-e', '0']);
const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`(inspect's wall time includes Node's start-up: \`ace-dt mirror inspect --help\` takes ${startup.toFixed(0)} ms, \`node -e 0\` ${bare.toFixed(0)} ms; load average ${load} on ${os.cpus().length} CPUs)`);
rounds('warm (archive in the page cache)', false);
rounds('cold (this file dropped from the page cache before each run)', true);
}

// ---- tape: inspect of a tape file against reading it whole, inside the tape rig
const tapeVm = env.TAPE_VM ?? path.resolve(root, 'test/tape/rig/tape-vm');
if (env.BENCH_TAPE === '0') {
  console.log('\ntape: skipped (BENCH_TAPE=0)');
} else if (!fs.existsSync(tapeVm) || process.getuid?.() !== 0) {
  console.log(`\ntape: skipped (needs root and the tape rig at ${tapeVm})`);
} else {
  const layer = env.BENCH_TAPE_LAYER_MIB ?? '40';
  process.stderr.write(`tape: booting the tape rig (TCG: slow), layers of ${layer} MiB\n`);
  const r = spawnSync('bash', [tapeVm, '--timeout', '2400', '--size', '2G', '--mem', '3072', '--', 'node', 'test/tape/guest/inspect.mjs'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...env, INSPECT_TIMING: '1', INSPECT_LAYER_MIB: layer },
    maxBuffer: 64 << 20,
  });
  const timing = r.stdout.split('\n').filter((l) => l.startsWith('# timing'));
  const failed = r.stdout.split('\n').filter((l) => l.startsWith('not ok'));
  console.log(`\ntape (tape-vm guest, TCG emulation, tgt virtual drive; best of 2 alternating runs each):`);
  for (const l of timing) console.log(`  ${l.slice('# timing '.length)}`);
  if (r.status !== 0 || failed.length) console.log(`  the guest reported failures (exit ${r.status}):\n${failed.join('\n')}\n${r.stderr.slice(-2000)}`);
}
