import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, runCli } from '../helpers/cli.js';
import { startRegistry } from '../helpers/registry.js';
import { pushTwoPlatformIndex, MT } from '../helpers/images.js';
import { startThrottle } from '../helpers/throttle.js';

// --volume-size (issue 14 item 2): file volumes against a real registry, read back by verify and
// deserialize, resumed after kill -9 inside a volume.
const reg = await startRegistry();
t.teardown(() => reg.stop());
const pushed = await pushTwoPlatformIndex(reg.host, 'vol/src', 'v1', { seed: 1414, layerSize: 1_500_000 });
const slow = await startThrottle(reg.host, 6_000_000);
t.teardown(() => slow.stop());
const IMAGE = `${reg.host}/vol/src:v1`;

const base = t.testdir({});
const full = join(base, 'full.tar');
t.equal((await runCli(['mirror', 'serialize', IMAGE, full, '-q'])).code, 0, 'the plain run');
const fullBytes = readFileSync(full);

/** The volumes of `dest` in numeric order (a text sort is wrong past .999). */
function volumes(dest: string): string[] {
  const dir = join(dest, '..');
  const name = dest.slice(dir.length + 1);
  return readdirSync(dir)
    .filter((f) => f.startsWith(`${name}.`) && /^\d{3,}$/.test(f.slice(name.length + 1)))
    .sort((a, b) => Number(a.slice(name.length + 1)) - Number(b.slice(name.length + 1)))
    .map((f) => join(dir, f));
}
const concat = (dest: string) => Buffer.concat(volumes(dest).map((v) => readFileSync(v)));

async function headDigest(repo: string, tag: string): Promise<string> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: [MT.OciIndex, MT.OciManifest].join(', ') } });
  return res.headers.get('docker-content-digest') ?? `status ${res.status}`;
}

t.test('volumes concatenate to the plain archive, byte for byte, for several sizes', async (t) => {
  // Smaller than a blob (a blob spans many volumes), not a multiple of the block, a block exactly,
  // larger than the archive (one volume).
  for (const [size, block] of [[65536, '64Ki'], [1_000_000, '64Ki'], [4096, '4Ki'], [fullBytes.length + 1, '64Ki']] as const) {
    const dest = join(t.testdir({}), 'out.tar');
    const r = await runCli(['mirror', 'serialize', IMAGE, dest, '--volume-size', String(size), '-b', block, '--no-term']);
    t.equal(r.code, 0, `--volume-size ${size}: ${r.stderr}`);
    const vols = volumes(dest);
    t.equal(vols.length, Math.ceil(fullBytes.length / size), `${size}: ceil(archive / size) volumes`);
    vols.slice(0, -1).forEach((v) => t.equal(statSync(v).size, size, `${v} holds exactly ${size} bytes`));
    t.ok(concat(dest).equals(fullBytes), `${size}: the volumes in numeric order are the plain archive`);
    t.notOk(existsSync(dest), 'DEST itself is not written');
    if (size === 4096) {
      t.ok(existsSync(`${dest}.1000`), 'past 999 the number grows: .1000');
      t.match(r.stdout, /volume +1000: 4\.1 kB \(4096 B\) in 1 write, /, 'the summary lists the volumes');
      const v = await runCli(['mirror', 'verify', dest]);
      t.equal(v.code, 0, `verify DEST reads all ${vols.length} volumes in numeric order: ${v.stderr}`);
    }
  }
});

t.test('verify and deserialize take the volume set in one call', async (t) => {
  const dest = join(t.testdir({}), 'out.tar');
  t.equal((await runCli(['mirror', 'serialize', IMAGE, dest, '--volume-size', '700000', '-b', '64Ki', '-q'])).code, 0);
  const vols = volumes(dest);
  t.ok(vols.length >= 4, `${vols.length} volumes`);
  const v1 = await runCli(['mirror', 'verify', ...vols]);
  t.equal(v1.code, 0, `verify DEST.001 DEST.002 ...: ${v1.stderr}`);
  t.match(v1.stdout, /OK: \d+ blobs intact, nothing missing/);
  // A shell glob gives them in text order; any order of one set is read in numeric order.
  const v2 = await runCli(['mirror', 'verify', ...[...vols].reverse()]);
  t.equal(v2.code, 0, `verify of the volumes in another order: ${v2.stderr}`);
  const d1 = await runCli(['mirror', 'deserialize', dest, `${reg.host}/vol/dest1:v1`, '-q']);
  t.equal(d1.code, 0, `deserialize DEST: ${d1.stderr}`);
  t.equal(await headDigest('vol/dest1', 'v1'), pushed.index.digest, 'the registry holds the source root');
  const d2 = await runCli(['mirror', 'deserialize', ...vols, `${reg.host}/vol/dest2:v1`, '-q']);
  t.equal(d2.code, 0, `deserialize DEST.001 DEST.002 ...: ${d2.stderr}`);
  t.equal(await headDigest('vol/dest2', 'v1'), pushed.index.digest, 'the registry holds the source root');
  const gap = await runCli(['mirror', 'verify', vols[0], vols[2]]);
  t.equal(gap.code, 1, 'a gap in the volumes is refused');
  t.match(gap.stderr, /must be given from .*\.001 without a gap \(.*\.002 is missing\)/);
  const part = await runCli(['mirror', 'verify', vols[0], vols[1]]);
  t.equal(part.code, 1, 'two volumes of more are an incomplete archive');
  t.match(part.stderr, /\.003 exists but was not given/);
});

t.test('inspect reads a volume set by headers, skipping bodies across volumes', async (t) => {
  const dest = join(t.testdir({}), 'out.tar');
  t.equal((await runCli(['mirror', 'serialize', IMAGE, dest, '--volume-size', '600000', '-b', '64Ki', '-q'])).code, 0);
  const plain = await runCli(['mirror', 'inspect', '--json', full]);
  t.equal(plain.code, 0, plain.stderr);
  for (const args of [[dest], volumes(dest)]) {
    const r = await runCli(['mirror', 'inspect', '--json', ...args]);
    t.equal(r.code, 0, `inspect ${args.length === 1 ? 'DEST' : 'DEST.001 ...'}: ${r.stderr}`);
    const report = JSON.parse(r.stdout);
    const want = JSON.parse(plain.stdout);
    t.same(report.blobs.map((b: { digest: string; offset: number }) => [b.digest, b.offset]), want.blobs.map((b: { digest: string; offset: number }) => [b.digest, b.offset]), 'the blobs at the offsets of the plain archive');
    t.ok(report.totals.bytesSkipped > 3_000_000, `layer bodies were skipped, not read (${report.totals.bytesRead} B read, ${report.totals.bytesSkipped} B skipped)`);
  }
});

/** Start serialize through the throttled proxy and SIGKILL it once the volumes hold `offset` bytes. */
async function serializeAndKill(dest: string, cp: string, offset: number, size: number): Promise<'killed' | 'finished'> {
  const child = spawn(process.execPath, [BIN, 'mirror', 'serialize', `${slow.host}/vol/src:v1`, dest, '--checkpoint', cp, '--volume-size', String(size), '-m', '256Ki', '-b', '64Ki', '-q'], { stdio: 'ignore' });
  let done = false;
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  exited.then(() => (done = true));
  while (!done) {
    const held = volumes(dest).reduce((n, v) => n + (existsSync(v) ? statSync(v).size : 0), 0);
    if (held >= offset) {
      child.kill('SIGKILL');
      await exited;
      return 'killed';
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  return 'finished';
}

t.test('kill -9 inside a volume, then resume: it continues in the volume holding the cut', async (t) => {
  const size = 900_000;
  for (const [i, at] of [0.3, 0.55, 0.8].entries()) {
    const dir = t.testdir({});
    const dest = join(dir, 'out.tar');
    const cp = join(dir, 'cp.jsonl');
    const how = await serializeAndKill(dest, cp, Math.floor(at * fullBytes.length), size);
    t.equal(how, 'killed', `run ${i} was killed mid-archive`);
    const before = volumes(dest);
    // A stale later volume (another run's) must not survive the resume.
    writeFileSync(`${dest}.${String(before.length + 3).padStart(3, '0')}`, 'stale');
    const r = await runCli(['mirror', 'serialize', IMAGE, dest, '--checkpoint', cp, '--resume-from-checkpoint', cp, '--volume-size', String(size), '-m', '256Ki', '-b', '64Ki', '--no-term']);
    t.equal(r.code, 0, `resume: ${r.stderr}`);
    t.match(r.stdout, /resuming .*out\.tar: kept bytes 0-\d+/, 'the kept part was read back across volumes');
    t.ok(concat(dest).equals(fullBytes), `run ${i}: byte-identical to the plain archive`);
    volumes(dest).slice(0, -1).forEach((v) => t.equal(statSync(v).size, size, `${v} is a full volume`));
  }
  const dir = t.testdir({});
  const dest = join(dir, 'out.tar');
  const cp = join(dir, 'cp.jsonl');
  await serializeAndKill(dest, cp, Math.floor(fullBytes.length / 2), size);
  const wrong = await runCli(['mirror', 'serialize', IMAGE, dest, '--checkpoint', cp, '--resume-from-checkpoint', cp]);
  t.equal(wrong.code, 1, 'a resume without the --volume-size of the interrupted run is refused');
  t.match(wrong.stderr, new RegExp(`wrote volumes of ${size} bytes .*resume with --volume-size ${size}`));
});

t.test('--next-volume between file volumes: its environment; a failing command stops with the resume command', async (t) => {
  const dir = t.testdir({});
  const dest = join(dir, 'out.tar');
  const cp = join(dir, 'cp.jsonl');
  const log = join(dir, 'cmd.log');
  const cmd = `echo "$ACE_DT_VOLUME $ACE_DT_DEST $ACE_DT_PREVIOUS_PATH $ACE_DT_VOLUME_PATH $(stat -c %s "$ACE_DT_PREVIOUS_PATH")" >> ${log}; [ "$ACE_DT_VOLUME" != 3 ]`;
  const r = await runCli(['mirror', 'serialize', IMAGE, dest, '--checkpoint', cp, '--volume-size', '1000000', '-b', '64Ki', '--no-term', '--next-volume', cmd]);
  t.equal(r.code, 1, 'the command failed before volume 3');
  t.match(r.stderr, /--next-volume command .* exited with status 1 before volume 3/);
  const m = /(ace-dt mirror serialize .*--resume-from-checkpoint \S+)/.exec(r.stderr);
  t.ok(m, 'the resume command is printed');
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  t.same(lines, [`2 ${dest} ${dest}.001 ${dest}.002 1000000`, `3 ${dest} ${dest}.002 ${dest}.003 1000000`], 'ACE_DT_VOLUME, ACE_DT_DEST and the paths; the finished volume is complete when it runs');
  t.equal(volumes(dest).length, 2, 'no third volume was opened');
  t.match(m![1], /--volume-size 1000000 .*--next-volume '/, 'with the same volume flags');
  const again = await runCli(['mirror', 'serialize', IMAGE, dest, '--volume-size', '1000000', '-b', '64Ki', '--next-volume', 'true', '--checkpoint', cp, '--resume-from-checkpoint', cp, '-q']);
  t.equal(again.code, 0, `the resume completes: ${again.stderr}`);
  t.ok(concat(dest).equals(fullBytes), 'byte-identical to the plain archive');
});

t.test('bad --volume-size and --next-volume uses are usage errors', async (t) => {
  const dir = t.testdir({});
  const dest = join(dir, 'out.tar');
  const cases: [string[], RegExp][] = [
    [['--volume-size', '0'], /--volume-size: 0 B \(0 B\) is smaller than one block/],
    [['--volume-size', '1000', '-b', '4Ki'], /smaller than one block \(--block-size 4\.1 kB \(4096 B\)\)/],
    [['--volume-size', 'ten'], /--volume-size: invalid byte size "ten"/],
    [['--volume-size=-5'], /--volume-size: invalid byte size/],
  ];
  for (const [flags, msg] of cases) {
    const r = await runCli(['mirror', 'serialize', IMAGE, dest, ...flags]);
    t.equal(r.code, 2, `${flags.join(' ')}: exit 2`);
    t.match(r.stderr, msg);
  }
  const out = await runCli(['mirror', 'serialize', IMAGE, '-', '--volume-size', '1Mi']);
  t.equal(out.code, 2);
  t.match(out.stderr, /DEST cannot be - \(standard output\)/);
  const dev = await runCli(['mirror', 'serialize', IMAGE, '/dev/null', '--volume-size', '1Mi']);
  t.equal(dev.code, 2);
  t.match(dev.stderr, /DEST must be a file path, and \/dev\/null is a device/);
  const plain = await runCli(['mirror', 'serialize', IMAGE, dest, '--next-volume', 'true']);
  t.equal(plain.code, 2);
  t.match(plain.stderr, /--next-volume changes tapes .* or runs between file volumes \(with --volume-size\)/);
  t.same(readdirSync(dir), [], 'nothing was written');
});
