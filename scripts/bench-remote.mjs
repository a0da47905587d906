#!/usr/bin/env node
// Benchmark of issue 11: `mirror serialize` from a registry across a (simulated) WAN, many small
// blobs and a few large ones, against the fetch limit for the same blob URLs (curl --parallel
// --parallel-max 64 to /dev/null) and against skopeo copy --all to an oci-archive. Everything is
// measured interleaved in one run on one loopback docker-registry, directly and through a loopback
// proxy that holds each request 50 ms (scripts/splice-proxy.py: answers spliced in the kernel, as
// a WAN costs the client machine no CPU; BENCH_PROXY=node for the tests' Node proxy,
// test/helpers/latency-proxy.ts, which costs about as much CPU as a serialize). Prints seconds,
// ratios and peak RSS, and for the FIFO check the CPU of every process involved. Not a test: the
// machine is shared, only the ratios of one run mean something.
//
//   npm run bench:remote                           # 4 x 1,000 x 64 KiB, 15 x 46 MB, 1k/10k blobs
//   BENCH_QUICK=1 npm run bench:remote             # about 3 minutes: smaller images
//   BENCH_BASELINE=/path/to/old/bin/ace-dt.js ...  # also runs another build ("before") in the same rounds
//
// Other knobs: BENCH_MANIFESTS, BENCH_LAYERS, BENCH_LAYER_KB (many-blob image), BENCH_LARGE_BLOBS,
// BENCH_LARGE_MB (large-blob image), BENCH_PERBLOB=0 (skip the 1k/10k per-blob runs),
// BENCH_PERBLOB_KB, BENCH_DELAY_MS (50), BENCH_ROUNDS (1), BENCH_SKOPEO=large|all|none (large:
// skopeo on the large-blob image only; at 50 ms it takes minutes on the many-blob one),
// BENCH_FIFO=0 (skip the FIFO check), BENCH_FIFO_MBPS (400), BENCH_ARGS (extra serialize flags),
// BENCH_ONLY=many,large,per,fifo (a subset), BENCH_PROXY=splice|node.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { startRegistry } = await import(join(root, 'dist-bench/test/helpers/registry.js'));
const { uploadBlob, putManifest, seededBytes, sha256, MT } = await import(join(root, 'dist-bench/test/helpers/images.js'));
const { startLatencyProxy } = await import(join(root, 'dist-bench/test/helpers/latency-proxy.js'));

const env = process.env;
const quick = env.BENCH_QUICK === '1';
const num = (k, full, small) => Number(env[k] ?? (quick ? small : full));
const cfg = {
  manifests: num('BENCH_MANIFESTS', 4, 4),
  layers: num('BENCH_LAYERS', 1000, 250),
  layerKB: num('BENCH_LAYER_KB', 64, 64),
  largeBlobs: num('BENCH_LARGE_BLOBS', 15, 8),
  largeMB: num('BENCH_LARGE_MB', 46, 24),
  perBlob: env.BENCH_PERBLOB !== '0',
  perBlobKB: num('BENCH_PERBLOB_KB', 4, 4),
  perBlobSmall: num('BENCH_PERBLOB_SMALL', 1000, 500),
  perBlobLarge: num('BENCH_PERBLOB_LARGE', 10000, 5000),
  delay: num('BENCH_DELAY_MS', 50, 50),
  rounds: num('BENCH_ROUNDS', 1, 1),
  skopeo: env.BENCH_SKOPEO ?? 'large',
  fifo: env.BENCH_FIFO !== '0',
  fifoMBps: num('BENCH_FIFO_MBPS', 400, 400),
  extra: (env.BENCH_ARGS ?? '').split(' ').filter(Boolean),
  proxy: env.BENCH_PROXY ?? (spawnSync('python3', ['-c', 'import os; os.splice']).status === 0 ? 'splice' : 'node'),
};
// The FIFO's reader, a tape drive at its native rate: reads 1 MiB at a time (a 64 KiB pipe gives
// less), never faster than MBPS from its first byte on. Idle time earns no credit beyond 4 MB (a
// little, so that the sleeps' overshoot is made up): a drive that waited cannot then write faster
// than its rate, and a reader that catches up at pipe speed (this one did, timed from the open,
// which comes long before the first fill) empties the ring and counts underruns the drive would
// not have had. Prints its own CPU seconds, and the rate from its first byte.
const drainer = `
const fs = require('node:fs');
const [path, mbps] = process.argv.slice(1);
const fd = fs.openSync(path, 'r');
const buf = Buffer.allocUnsafe(1 << 20);
const opened = performance.now();
const perMs = Number(mbps) * 1e3;
const slackMs = 4e6 / perMs;
let first;
let due;
let total = 0;
for (;;) {
  const n = fs.readSync(fd, buf, 0, buf.length, null);
  if (n <= 0) break;
  const now = performance.now();
  first ??= now;
  total += n;
  due = Math.max(due ?? now, now - slackMs) + n / perMs;
  const wait = due - performance.now();
  if (wait > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
}
const secs = (performance.now() - (first ?? opened)) / 1000;
const cpu = process.cpuUsage();
process.stdout.write(JSON.stringify({ mb: total / 1e6, secs, firstByte: ((first ?? opened) - opened) / 1000, cpu: (cpu.user + cpu.system) / 1e6 }));
`;

const baseline = env.BENCH_BASELINE;
// BENCH_ONLY=large,fifo (any of many, large, per, fifo): run only those parts.
const only = env.BENCH_ONLY?.split(',');
if (only) {
  if (!only.includes('many')) cfg.manifests = 0;
  if (!only.includes('large') && !only.includes('fifo')) cfg.largeBlobs = 0;
  if (!only.includes('per')) cfg.perBlob = false;
  if (!only.includes('fifo')) cfg.fifo = false;
}
const work = mkdtempSync(join(env.BENCH_DIR ?? tmpdir(), 'ace-bench-remote-'));
const log = (s) => process.stderr.write(s + '\n');

/** Run `fn` on every item, `n` at a time. */
async function pool(items, n, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

/** Push an index of `manifests` images of `layers` seeded layers of `size` bytes each. */
async function pushIndex(host, repo, manifests, layers, size, seed) {
  const descs = [];
  for (let m = 0; m < manifests; m++) {
    const layerDescs = Array.from({ length: layers }, (_, l) => {
      const bytes = seededBytes(seed + m * 1_000_000 + l, size);
      return { bytes, desc: { mediaType: MT.OciLayer, digest: sha256(bytes), size } };
    });
    await pool(layerDescs, 8, (l) => uploadBlob(host, repo, l.bytes, {}, l.desc.digest));
    const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', variant: `v${m}`, rootfs: { type: 'layers', diff_ids: layerDescs.map((l) => l.desc.digest) } }));
    const config = { mediaType: MT.OciConfig, digest: sha256(configBytes), size: configBytes.length };
    await uploadBlob(host, repo, configBytes, {}, config.digest);
    const mb = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.OciManifest, config, layers: layerDescs.map((l) => l.desc) }));
    const md = { mediaType: MT.OciManifest, digest: sha256(mb), size: mb.length, platform: { architecture: 'amd64', os: 'linux', variant: `v${m}` } };
    await putManifest(host, repo, md.digest, MT.OciManifest, mb);
    descs.push({ manifest: md, blobs: [config, ...layerDescs.map((l) => l.desc)] });
  }
  const ib = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.OciIndex, manifests: descs.map((d) => d.manifest) }));
  await putManifest(host, repo, 'v1', MT.OciIndex, ib);
  const blobs = descs.flatMap((d) => d.blobs);
  return { ref: `${repo}:v1`, repo, blobs, bytes: blobs.reduce((n, b) => n + b.size, 0) };
}

/**
 * Run a command under /usr/bin/time: wall seconds and peak RSS in MB. Asynchronous: the latency
 * proxy runs in this process and must keep serving meanwhile.
 */
async function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  const child = spawn('/usr/bin/time', ['-f', '%M %U %S', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const status = await new Promise((r) => child.once('close', r));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${status}): ${stderr.slice(-2000)}`);
  const [rss, user, sys] = stderr.trim().split('\n').pop().split(' ').map(Number);
  return { secs, rssMB: rss / 1024, cpu: user + sys };
}

const out = join(work, 'out.tar');
const serializeWith = (bin) => (host, img, extra = []) => {
  rmSync(out, { force: true });
  return timed(process.execPath, [bin, 'mirror', 'serialize', `${host}/${img.ref}`, out, '-q', ...cfg.extra, ...extra]);
};
const tools = {
  ours: serializeWith(join(root, 'bin/ace-dt.js')),
  ...(baseline ? { before: serializeWith(baseline) } : {}),
  curl: (host, img) => {
    const conf = join(work, 'curl.conf');
    writeFileSync(conf, img.blobs.map((b) => `url = "http://${host}/v2/${img.repo}/blobs/${b.digest}"\noutput = "/dev/null"\n`).join(''));
    return timed('curl', ['-sf', '--parallel', '--parallel-max', '64', '-K', conf]);
  },
  skopeo: (host, img) => {
    rmSync(out, { force: true });
    return timed('skopeo', ['copy', '--all', '-q', '--src-tls-verify=false', `docker://${host}/${img.ref}`, `oci-archive:${out}:v1`]);
  },
};

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuOf(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}
/** CPU seconds every process of the machine has used so far (/proc/stat: user, nice, system, irq, softirq). */
function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/ +/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6]) / 100;
}

/** The splice proxy as a child process: its CPU is its own, apart from this script's. */
async function startSpliceProxy(upstream, delayMs) {
  const child = spawn('python3', [join(root, 'scripts/splice-proxy.py'), upstream, String(delayMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [host] = await Promise.race([
    createInterface({ input: child.stdout })[Symbol.asyncIterator]().next().then((r) => [r.value]),
    new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`splice proxy exited (${code})`)))),
  ]);
  const exited = new Promise((r) => child.once('exit', r));
  return { host, cpu: () => cpuOf(child.pid), stop: async () => (child.stdin.end(), await exited) };
}

const reg = await startRegistry();
const proxy = cfg.proxy === 'splice'
  ? await startSpliceProxy(reg.host, cfg.delay)
  : Object.assign(await startLatencyProxy(reg.host, cfg.delay), { cpu: () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; } });
const results = {};
const record = (key, tool, r) => ((results[key] ??= {})[tool] ??= []).push(r);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const med = (key, tool) => (results[key]?.[tool] ? { secs: median(results[key][tool].map((r) => r.secs)), rssMB: Math.max(...results[key][tool].map((r) => r.rssMB)) } : undefined);
try {
  log(`config ${JSON.stringify(cfg)}${baseline ? `, baseline ${baseline}` : ''}`);
  log(`pushing to ${reg.host} (${cfg.proxy} proxy ${proxy.host}, +${cfg.delay} ms a request) ...`);
  const many = await pushIndex(reg.host, 'bench/many', cfg.manifests, cfg.layers, cfg.layerKB * 1024, 1);
  const large = await pushIndex(reg.host, 'bench/large', 1, cfg.largeBlobs, cfg.largeMB * 1e6, 7_000_000);
  const per = cfg.perBlob
    ? {
        small: await pushIndex(reg.host, 'bench/per1k', 1, cfg.perBlobSmall, cfg.perBlobKB * 1024, 20_000_000),
        large: await pushIndex(reg.host, 'bench/per10k', cfg.perBlobLarge / 1000, 1000, cfg.perBlobKB * 1024, 30_000_000),
      }
    : undefined;
  log(`many: ${many.blobs.length} blobs, ${(many.bytes / 1e6).toFixed(0)} MB; large: ${large.blobs.length} blobs, ${(large.bytes / 1e6).toFixed(0)} MB`);

  const cases = [];
  for (const [name, img] of [['many', many], ['large', large]]) {
    if (img.blobs.length === 0 || (only && !only.includes(name))) continue;
    for (const [path, host] of [['direct', reg.host], [`+${cfg.delay}ms`, proxy.host]]) {
      const names = Object.keys(tools).filter((t) => t !== 'skopeo' || cfg.skopeo === 'all' || (cfg.skopeo === 'large' && name === 'large'));
      cases.push({ key: `${name} ${path}`, img, host, names });
    }
  }
  if (per) for (const [k, img] of [['per-blob 1k', per.small], ['per-blob 10k', per.large]]) cases.push({ key: k, img, host: reg.host, names: ['ours', ...(baseline ? ['before'] : [])] });

  for (let r = 0; r < cfg.rounds; r++) {
    for (const c of cases) {
      // Interleaved: the tools of one case run back to back, in an order that rotates per round.
      const order = [...c.names.slice(r % c.names.length), ...c.names.slice(0, r % c.names.length)];
      for (const t of order) {
        const res = await tools[t](c.host, c.img);
        record(c.key, t, res);
        log(`round ${r + 1} ${c.key.padEnd(14)} ${t.padEnd(6)} ${res.secs.toFixed(2)} s  ${(c.img.bytes / 1e6 / res.secs).toFixed(0)} MB/s  peak RSS ${res.rssMB.toFixed(0)} MB`);
      }
    }
  }

  let fifo;
  if (cfg.fifo) {
    // The large-blob image at +delay into a FIFO read at an LTO-9's native rate: after the
    // ring's first fill the writer must never find it empty (the sink counts underruns).
    const path = join(work, 'tape.fifo');
    spawnSync('mkfifo', [path]);
    const drain = spawn(process.execPath, ['-e', drainer, path, String(cfg.fifoMBps)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const drainClosed = new Promise((r) => drain.once('close', r));
    let drained = '';
    drain.stdout.on('data', (d) => (drained += d));
    const events = join(work, 'events.jsonl');
    // CPU of every process involved, and of the whole machine (the rest is other people's).
    const before = { proxy: proxy.cpu(), registry: cpuOf(reg.pid), machine: machineCpu() };
    const res = await timed(process.execPath, [join(root, 'bin/ace-dt.js'), 'mirror', 'serialize', `${proxy.host}/${large.ref}`, path, '-q', '--debug', events, ...cfg.extra]);
    await drainClosed;
    const done = readFileSync(events, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.type === 'done');
    const d = JSON.parse(drained);
    const cpu = { ours: res.cpu, proxy: proxy.cpu() - before.proxy, registry: cpuOf(reg.pid) - before.registry, drainer: d.cpu };
    const others = machineCpu() - before.machine - Object.values(cpu).reduce((a, b) => a + b, 0);
    fifo = { ...res, underruns: done?.summary?.sink?.underruns, drained: d, cpu, others };
  }

  console.log(`\n# bench:remote, one run (${cfg.rounds} round${cfg.rounds > 1 ? 's' : ''}, medians); proxy adds ${cfg.delay} ms per request`);
  console.log(`many-blob image: ${cfg.manifests} manifests x ${cfg.layers} layers of ${cfg.layerKB} KiB (${many.blobs.length} blobs, ${(many.bytes / 1e6).toFixed(0)} MB)`);
  console.log(`large-blob image: ${cfg.largeBlobs} layers of ${cfg.largeMB} MB (${(large.bytes / 1e6).toFixed(0)} MB)\n`);
  console.log(`${'case'.padEnd(16)}${Object.keys(tools).map((t) => t.padStart(16)).join('')}`);
  for (const c of cases) {
    const cells = Object.keys(tools).map((t) => {
      const m = med(c.key, t);
      return (m ? `${m.secs.toFixed(2)} s/${m.rssMB.toFixed(0)} MB` : '-').padStart(16);
    });
    console.log(`${c.key.padEnd(16)}${cells.join('')}`);
  }
  const ratio = (key, a, b) => {
    const x = med(key, a);
    const y = med(key, b);
    return x && y ? y.secs / x.secs : NaN;
  };
  const d = `+${cfg.delay}ms`;
  const line = (label, v, target) => console.log(`${label.padEnd(44)} ${Number.isNaN(v) ? '-' : v.toFixed(2) + 'x'}   (target ${target})`);
  console.log('');
  line(`many blobs ${d}: ours vs parallel curl`, ratio(`many ${d}`, 'ours', 'curl'), '>= 0.8x');
  line('many blobs direct: ours vs parallel curl', ratio('many direct', 'ours', 'curl'), '>= 0.9x');
  line('large blobs direct: ours vs skopeo', ratio('large direct', 'ours', 'skopeo'), '>= 5x');
  line(`large blobs ${d}: ours vs skopeo`, ratio(`large ${d}`, 'ours', 'skopeo'), '>= 5x');
  if (baseline) {
    for (const c of cases) line(`${c.key}: ours vs before (speed-up)`, ratio(c.key, 'ours', 'before'), 'no loss');
  }
  if (per) {
    const a = med('per-blob 1k', 'ours').secs / per.small.blobs.length;
    const b = med('per-blob 10k', 'ours').secs / per.large.blobs.length;
    console.log(`per-blob time: ${(a * 1e3).toFixed(3)} ms at ${per.small.blobs.length} blobs, ${(b * 1e3).toFixed(3)} ms at ${per.large.blobs.length} blobs: ${((b / a - 1) * 100).toFixed(0)}% (target within +10%)`);
  }
  const rss = Math.max(...Object.values(results).flatMap((r) => (r.ours ?? []).map((x) => x.rssMB)));
  console.log(`ours peak RSS over every case: ${rss.toFixed(0)} MB (target <= 200 MB at defaults)`);
  if (fifo) {
    const { mb, secs, firstByte } = fifo.drained;
    console.log(`large blobs ${d} into a FIFO read at ${cfg.fifoMBps} MB/s: ${fifo.secs.toFixed(2)} s, underruns ${fifo.underruns} (target 0); the reader got ${mb.toFixed(0)} MB in ${secs.toFixed(2)} s from its first byte (${(mb / secs).toFixed(0)} MB/s), ${firstByte.toFixed(2)} s after the open`);
    const c = fifo.cpu;
    console.log(`  CPU seconds: ours ${c.ours.toFixed(2)}, ${cfg.proxy} proxy ${c.proxy.toFixed(2)}, docker-registry ${c.registry.toFixed(2)}, FIFO reader ${c.drainer.toFixed(2)}; the machine's other processes ${fifo.others.toFixed(2)} in ${fifo.secs.toFixed(2)} s on ${availableParallelism()} cores`);
  }
} finally {
  await proxy.stop();
  await reg.stop();
  rmSync(work, { recursive: true, force: true });
}
