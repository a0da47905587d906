// Deserialize into a registry that already holds the blobs in another repository (issue 16):
// ours (`mirror deserialize`) against skopeo (`skopeo copy --all oci-archive:FILE docker://...`),
// both into an empty registry and then, from the same archive, into a second repository of that
// registry (where skopeo mounts what its blob-info cache knows, and we mount what ours knows).
// Each round starts two fresh loopback docker-registry processes (one per tool, so "empty" is
// empty) and a fresh cache for ours; the four runs are interleaved, their order alternating
// between rounds. Prints medians and ratios. Targets: second repository >= 1.0x skopeo's speed,
// and <= 0.3x the time of our own first run.
//   npm run bench:mounts                  BENCH_LAYERS=13 BENCH_LAYER_MB=51 BENCH_ROUNDS=3 (15 blobs, 695 MB)
//   BENCH_LAYERS=4 BENCH_LAYER_MB=16 BENCH_ROUNDS=1 npm run bench:mounts      (quick)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const layers = Number(process.env.BENCH_LAYERS ?? 13);
const layerMiB = Number(process.env.BENCH_LAYER_MB ?? 51);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const registryBin = process.env.ACE_DT_TEST_REGISTRY ?? '/usr/bin/docker-registry';
const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'bench-mounts-'));
const archive = join(dir, 'image.tar');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function startRegistry(name) {
  const data = join(dir, name);
  mkdirSync(data, { recursive: true });
  const host = `127.0.0.1:${await freePort()}`;
  const config = join(data, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log: {level: error, accesslog: {disabled: true}}',
      `storage: {filesystem: {rootdirectory: ${JSON.stringify(join(data, 'store'))}}, maintenance: {uploadpurging: {enabled: false}}}`,
      `http: {addr: ${JSON.stringify(host)}}`,
    ].join('\n') + '\n',
  );
  const child = spawn(registryBin, ['serve', config], { stdio: 'ignore' });
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(`http://${host}/v2/`).then((r) => r.ok, () => false);
    if (ok) return { host, stop: () => child.kill('SIGTERM') };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('docker-registry did not start');
}

function timed(cmd, args, env) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return { s, out: r.stdout };
}

const ours = (image, cacheHome) => timed(process.execPath, [join(root, 'bin/ace-dt.js'), 'mirror', 'deserialize', archive, image, '--no-term'], { XDG_CACHE_HOME: cacheHome });
const skopeo = (image) => timed('skopeo', ['copy', '--all', '-q', '--dest-tls-verify=false', `oci-archive:${archive}`, `docker://${image}`]);

try {
  execFileSync(process.execPath, [join(root, 'test/slow/bench-make-layout.mjs'), join(dir, 'layout'), String(layers), String(layerMiB << 20)]);
  const s = spawnSync(process.execPath, [join(root, 'bin/ace-dt.js'), 'mirror', 'serialize', `oci:${join(dir, 'layout')}:v1`, archive, '-q'], { encoding: 'utf8' });
  if (s.status !== 0) throw new Error(s.stderr);
  const t = { oursFirst: [], oursSecond: [], skopeoFirst: [], skopeoSecond: [] };
  let mountedLine = '';
  for (let i = 0; i < rounds; i++) {
    const [a, b] = [await startRegistry(`ours-${i}`), await startRegistry(`skopeo-${i}`)];
    const cacheHome = join(dir, `cache-${i}`);
    try {
      const runOurs = () => {
        t.oursFirst.push(ours(`${a.host}/bench/first:v1`, cacheHome).s);
        const second = ours(`${a.host}/bench/second:v1`, cacheHome);
        t.oursSecond.push(second.s);
        mountedLine = second.out.split('\n').find((l) => l.startsWith('blobs:')) ?? '';
      };
      const runSkopeo = () => {
        t.skopeoFirst.push(skopeo(`${b.host}/bench/first:v1`).s);
        t.skopeoSecond.push(skopeo(`${b.host}/bench/second:v1`).s);
      };
      if (i % 2 === 0) (runOurs(), runSkopeo());
      else (runSkopeo(), runOurs());
    } finally {
      a.stop();
      b.stop();
    }
  }
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
  const mb = statSync(archive).size / 1e6;
  console.log(`archive ${mb.toFixed(0)} MB, ${layers + 2} blobs; ${rounds} round${rounds === 1 ? '' : 's'}, medians (seconds)`);
  console.log(`| run | skopeo copy --all oci-archive: -> docker:// | ours mirror deserialize | speed ours/skopeo |`);
  console.log(`|---|---|---|---|`);
  console.log(`| into an empty registry | ${m.skopeoFirst.toFixed(2)} | ${m.oursFirst.toFixed(2)} | ${(m.skopeoFirst / m.oursFirst).toFixed(2)}x |`);
  console.log(`| into a second repository | ${m.skopeoSecond.toFixed(2)} | ${m.oursSecond.toFixed(2)} | ${(m.skopeoSecond / m.oursSecond).toFixed(2)}x |`);
  console.log(`ours, second repository: ${mountedLine.trim()}`);
  const vsSkopeo = m.skopeoSecond / m.oursSecond;
  const vsFirst = m.oursSecond / m.oursFirst;
  console.log(`second repository vs skopeo: ${vsSkopeo.toFixed(2)}x (target >= 1.0x) ${vsSkopeo >= 1 ? 'met' : 'NOT met'}`);
  console.log(`second repository vs our first run: ${vsFirst.toFixed(2)}x the time (target <= 0.3x) ${vsFirst <= 0.3 ? 'met' : 'NOT met'}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
