#!/usr/bin/env node
// `ace-dt util mbuffer` against Debian's mbuffer with the same block size, buffer and
// high-water mark (-s/-m/-P), file to file, interleaved, one process per run. Prints medians of
// MB/s and CPU seconds per GB (user+sys from /usr/bin/time), and the ratios. Not a test: run it
// on a quiet machine (`node scripts/bench-mbuffer.mjs [--size 2G] [--runs 5]`).
// Needs: mbuffer, /usr/bin/time, a built checkout (npm run build).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const sizeMiB = Number.parseInt(arg('--size', '2048'), 10);
const runs = Number.parseInt(arg('--runs', '5'), 10);
const block = arg('--block', '1M'); // mbuffer's M is 1024*1024; ours is spelled Mi
const buffer = arg('--buffer', '1G');
const hwm = arg('--hwm', '90');
const tmp = arg('--dir', os.tmpdir());
const input = path.join(tmp, `ace-dt-bench-${sizeMiB}MiB.bin`);
const output = path.join(tmp, `ace-dt-bench-out-${process.pid}.bin`);

if (!fs.existsSync(input) || fs.statSync(input).size !== sizeMiB * 1048576) {
  process.stderr.write(`generating ${sizeMiB} MiB of random data in ${input} (once)\n`);
  execFileSync('bash', ['-c', `head -c ${sizeMiB * 1048576} /dev/urandom > '${input}.tmp' && mv '${input}.tmp' '${input}'`]);
}
// Both tools read and write with O_DIRECT here (mbuffer's default; ours with --direct, the
// default), so the page cache is bypassed; the input is read once anyway so that its first
// timed run does not also pay for reading it into the cache (a file system without O_DIRECT).
execFileSync('bash', ['-c', `cat '${input}' > /dev/null`]);

const iec = (s) => s.replace(/([KMG])$/i, (u) => `${u.toUpperCase()}i`);
const tools = {
  mbuffer: ['mbuffer', '-q', '-s', block, '-m', buffer, '-P', hwm, '-i', input, '-o', output],
  'ace-dt': [process.execPath, path.join(root, 'bin/ace-dt.js'), 'util', 'mbuffer', '-q', '-b', iec(block), '-m', iec(buffer), '--hwm', hwm, '-i', input, '-o', output],
};

function once(name) {
  fs.rmSync(output, { force: true });
  execFileSync('sync');
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S', ...tools[name]], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const last = r.stderr.trim().split('\n').at(-1);
  const [wall, user, sys] = last.split(' ').map(Number);
  if (r.status !== 0 || fs.statSync(output).size !== sizeMiB * 1048576) throw new Error(`${name} failed (${r.status}): ${r.stderr}`);
  const gb = (sizeMiB * 1048576) / 1e9;
  return { mbs: (sizeMiB * 1048576) / 1e6 / wall, cpuPerGB: (user + sys) / gb, wall, user, sys };
}

// Fixed costs included in ace-dt's figures: the start-up of this very command on an empty input
// (Node itself, the CLI's modules, the addon), and of a bare Node for reference. Medians of 5.
const cpuOf = (argv) => {
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', ...argv], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const [u, s] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return u + s;
};
const medianOf = (n, f) => {
  const xs = Array.from({ length: n }, f).sort((a, b) => a - b);
  return xs[n >> 1];
};
const startup = medianOf(5, () => cpuOf([process.execPath, path.join(root, 'bin/ace-dt.js'), 'util', 'mbuffer', '-q', '-m', '1Mi', '-i', '/dev/null', '-o', '/dev/null']));
const bareNode = medianOf(5, () => cpuOf([process.execPath, '-e', '0']));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const results = { mbuffer: [], 'ace-dt': [] };
for (let i = 0; i < runs; i++) {
  // Interleaved, alternating who goes first.
  const order = i % 2 ? ['ace-dt', 'mbuffer'] : ['mbuffer', 'ace-dt'];
  for (const name of order) {
    const r = once(name);
    results[name].push(r);
    process.stderr.write(`run ${i + 1} ${name.padEnd(8)} ${r.mbs.toFixed(0).padStart(6)} MB/s  ${r.cpuPerGB.toFixed(3)} CPU s/GB  (wall ${r.wall}s user ${r.user}s sys ${r.sys}s)\n`);
  }
}
fs.rmSync(output, { force: true });
const summary = {};
for (const name of Object.keys(results)) {
  summary[name] = { mbs: median(results[name].map((r) => r.mbs)), cpuPerGB: median(results[name].map((r) => r.cpuPerGB)) };
}
console.log(`file to file, ${sizeMiB} MiB, block ${block}, buffer ${buffer}, hwm ${hwm}%, medians of ${runs} interleaved runs`);
for (const [name, s] of Object.entries(summary)) console.log(`  ${name.padEnd(8)} ${s.mbs.toFixed(0).padStart(6)} MB/s  ${s.cpuPerGB.toFixed(3)} CPU s/GB`);
console.log(`  (ace-dt's CPU includes ${startup.toFixed(2)} s of start-up per run, ${(startup / ((sizeMiB * 1048576) / 1e9)).toFixed(3)} s/GB at this size; a bare \`node -e 0\` is ${bareNode.toFixed(2)} s)`);
console.log(`  ratio ace-dt/mbuffer: ${(summary['ace-dt'].mbs / summary.mbuffer.mbs).toFixed(2)}x MB/s, ${(summary['ace-dt'].cpuPerGB / summary.mbuffer.cpuPerGB).toFixed(2)}x CPU per GB`);
