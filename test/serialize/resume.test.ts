import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BIN, runCli } from '../helpers/cli.js';
import { startRegistry } from '../helpers/registry.js';
import { pushTwoPlatformIndex, MT } from '../helpers/images.js';
import { startThrottle } from '../helpers/throttle.js';
import { rng } from '../helpers/random.js';
import { listTar } from '../helpers/tar.js';

const exec = promisify(execFile);
const reg = await startRegistry();
t.teardown(() => reg.stop());
const pushed = await pushTwoPlatformIndex(reg.host, 'res/src', 'v1', { seed: 900, layerSize: 1_500_000 });
const slow = await startThrottle(reg.host, 6_000_000);
t.teardown(() => slow.stop());
const IMAGE = `${reg.host}/res/src:v1`;

async function headDigest(repo: string, tag: string): Promise<string> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: [MT.OciIndex, MT.OciManifest].join(', ') } });
  return res.headers.get('docker-content-digest') ?? `status ${res.status}`;
}

/** Start serialize through the throttled proxy and SIGKILL it once DEST holds `offset` bytes. */
async function serializeAndKill(dest: string, cp: string, offset: number): Promise<'killed' | 'finished'> {
  const child = spawn(process.execPath, [BIN, 'mirror', 'serialize', `${slow.host}/res/src:v1`, dest, '--checkpoint', cp, '-m', '256Ki', '-b', '64Ki', '-q'], { stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let done = false;
  exited.then(() => (done = true));
  while (!done) {
    const size = existsSync(dest) ? statSync(dest).size : 0;
    if (size >= offset) {
      child.kill('SIGKILL');
      await exited;
      return 'killed';
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  return 'finished';
}

const full = join(t.testdir({}), 'full.tar');
t.equal((await runCli(['mirror', 'serialize', IMAGE, full, '-q'])).code, 0);
const fullSize = statSync(full).size;

t.test('kill -9 at 20 seeded offsets, resume with one command: one valid archive, nothing twice', async (t) => {
  const random = rng(20261127);
  let killed = 0;
  for (let i = 0; i < 20; i++) {
    const offset = Math.floor(random() * fullSize);
    const dir = t.testdir({});
    const dest = join(dir, 'out.tar');
    const cp = join(dir, 'cp.jsonl');
    const how = await serializeAndKill(dest, cp, offset);
    if (how === 'killed') killed++;
    const cut = existsSync(dest) ? statSync(dest).size : 0;
    const r = await runCli(['mirror', 'serialize', IMAGE, dest, '--checkpoint', cp, '--resume-from-checkpoint', cp, '--no-term']);
    t.equal(r.code, 0, `seed ${i}: offset ${offset} (${how} at ${cut} bytes): resume exits 0 ${r.stderr}`);
    const entries = await listTar(dest);
    const blobs = entries.filter((e) => e.path.startsWith('blobs/sha256/'));
    t.equal(new Set(blobs.map((b) => b.path)).size, blobs.length, `seed ${i}: no blob twice`);
    t.equal(blobs.length, 1 + pushed.manifests.length + pushed.blobs.length, `seed ${i}: every blob once`);
    for (const b of blobs) t.equal(b.digest, 'sha256:' + b.path.slice(13));
    t.ok(readFileSync(dest).equals(readFileSync(full)), `seed ${i}: byte-identical to an uninterrupted run`);
    if (i % 5 === 0) {
      await exec('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci-archive:${dest}:v1`, `docker://${reg.host}/res/copy${i}:v1`], { timeout: 120_000 });
      t.equal(await headDigest(`res/copy${i}`, 'v1'), pushed.index.digest, `seed ${i}: skopeo loads it with the source digest`);
    }
  }
  t.ok(killed >= 18, `the runs were really killed mid-archive (${killed} of 20)`);
});

t.test('SIGINT: the ring drains, the ledger is synced, exit 130 and the resume command', async (t) => {
  const dir = t.testdir({});
  const dest = join(dir, 'out.tar');
  const cp = join(dir, 'cp.jsonl');
  const child = spawn(process.execPath, [BIN, 'mirror', 'serialize', `${slow.host}/res/src:v1`, dest, '--checkpoint', cp, '--no-term'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  while (!existsSync(cp) || !readFileSync(cp, 'utf8').includes('vnd.oci.image.config')) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  t.equal(code, 130);
  const m = /(ace-dt mirror serialize .*--resume-from-checkpoint \S+)/.exec(out);
  t.ok(m, `prints the resume command: ${out}`);
  const lines = readFileSync(cp, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const end = lines.at(-1);
  t.match(end.mediaType, /run-end/);
  const medium = JSON.parse(end.annotations['vnd.act3-ace.dt-ts.run']).mediumBytes;
  t.equal(medium, statSync(dest).size, 'the run-end record holds exactly what reached the file');
  const args = m![1].split(' ').slice(1);
  const r = await runCli(args.map((a) => a.replace(slow.host, reg.host)));
  t.equal(r.code, 0, r.stderr);
  t.ok(readFileSync(dest).equals(readFileSync(full)), 'resumed archive is byte-identical to an uninterrupted run');
});

t.test('a ledger in the original format drives --existing-from-checkpoint; ours parses as the original expects', async (t) => {
  const dir = t.testdir({});
  // Written by hand from behaviour note 4.1: compact JSON descriptors with the offset annotation.
  const [first, second] = pushed.blobs;
  const original = [
    JSON.stringify({ mediaType: first.mediaType, digest: first.digest, size: first.size, annotations: { 'vnd.act3-ace.data.offset': '5000' } }),
    JSON.stringify({ mediaType: second.mediaType, digest: second.digest, size: second.size, annotations: { 'vnd.act3-ace.data.offset': '900000000' } }),
  ].join('\n') + '\n';
  writeFileSync(join(dir, 'orig.jsonl'), original);
  const out = join(dir, 'out.tar');
  const r = await runCli(['mirror', 'serialize', IMAGE, out, '-q', '--existing-from-checkpoint', `${join(dir, 'orig.jsonl')}:6000`]);
  t.equal(r.code, 0, r.stderr);
  const names = (await listTar(out)).map((e) => e.path);
  t.notOk(names.includes(`blobs/sha256/${first.digest.slice(7)}`), 'offset 5000 < 6000: skipped');
  t.ok(names.includes(`blobs/sha256/${second.digest.slice(7)}`), 'offset >= 6000: sent (strict rule)');

  const cp = join(dir, 'ours.jsonl');
  t.equal((await runCli(['mirror', 'serialize', IMAGE, join(dir, 'o2.tar'), '-q', '--checkpoint', cp])).code, 0);
  for (const line of readFileSync(cp, 'utf8').split('\n').filter(Boolean)) {
    const d = JSON.parse(line);
    t.same(Object.keys(d).slice(0, 3), ['mediaType', 'digest', 'size'], 'Go field order');
    t.match(d.annotations['vnd.act3-ace.data.offset'], /^\d+$/, 'offset is a decimal string');
    t.match(d.digest, /^sha256:[0-9a-f]{64}$/);
  }
});

t.test('bad resume input: clear errors and nothing written', async (t) => {
  const dir = t.testdir({});
  const dest = join(dir, 'out.tar');
  const cp = join(dir, 'cp.jsonl');
  await serializeAndKill(dest, cp, Math.floor(fullSize / 2));
  const before = readFileSync(dest);
  const ledgerBefore = readFileSync(cp);

  const big = await runCli(['mirror', 'serialize', IMAGE, dest, '--resume-from-checkpoint', cp, '--resume-from-offset', String(before.length + 1)]);
  t.equal(big.code, 1);
  t.match(big.stderr, /larger than the medium holds/);

  const other = await pushTwoPlatformIndex(reg.host, 'res/other', 'v1', { seed: 901 });
  t.ok(other);
  const foreign = await runCli(['mirror', 'serialize', `${reg.host}/res/other:v1`, dest, '--resume-from-checkpoint', cp]);
  t.equal(foreign.code, 1);
  t.match(foreign.stderr, /another image/);

  const missing = await runCli(['mirror', 'serialize', IMAGE, dest, '--resume-from-checkpoint', join(dir, 'nope.jsonl')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /nope\.jsonl.*no such file/);

  writeFileSync(join(dir, 'junk.jsonl'), 'hello world\n{}\n');
  const junk = await runCli(['mirror', 'serialize', IMAGE, dest, '--resume-from-checkpoint', join(dir, 'junk.jsonl')]);
  t.equal(junk.code, 1);
  t.match(junk.stderr, /not an ace-dt checkpoint/);

  t.ok(readFileSync(dest).equals(before), 'DEST untouched');
  t.ok(readFileSync(cp).equals(ledgerBefore), 'ledger untouched');
});
