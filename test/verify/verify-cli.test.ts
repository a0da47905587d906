import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { buildNestedIndex, writeOciLayout } from '../helpers/images.js';
import { originalArchive, rawEntry, rootOf, tarOf } from '../deserialize/fixtures.js';

/**
 * `ace-dt mirror verify` through the built CLI, on archives written by our serializer (plain,
 * gzip, zstd, cut and resumed with a checkpoint) and in the original's layout.
 */
const dir = mkdtempSync(join(tmpdir(), 'ace-dt-verify-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const set = buildNestedIndex('v1', { layerSize: 200_000 });
const layout = join(dir, 'layout');

t.before(async () => {
  await writeOciLayout(layout, set);
});

t.test('archives from our serializer verify: plain, gzip, zstd', async (t) => {
  for (const c of [undefined, 'gzip', 'zstd']) {
    const out = join(dir, `ours-${c ?? 'plain'}.tar`);
    const s = await runCli(['mirror', 'serialize', `oci:${layout}:v1`, out, '--no-term', ...(c ? ['--compression', c] : [])]);
    t.equal(s.code, 0, `serialize ${c ?? 'plain'}: ${s.stderr}`);
    const v = await runCli(['mirror', 'verify', out]);
    t.equal(v.code, 0, `verify ${c ?? 'plain'}: ${v.stderr}`);
    const total = set.blobs.length + set.manifests.length;
    t.match(v.stdout, new RegExp(`OK: ${total} blobs intact, nothing missing`));
    t.match(v.stdout, new RegExp(`Digest: ${rootOf(set).digest}`));
    t.match(v.stdout, new RegExp(`blobs: ${total} verified`));
  }
});

t.test('a cut archive is incomplete (exit 1); with the resumed piece the set verifies', async (t) => {
  const full = join(dir, 'full.tar');
  const cp = join(dir, 'cp.jsonl');
  t.equal((await runCli(['mirror', 'serialize', `oci:${layout}:v1`, full, '--checkpoint', cp, '--no-term'])).code, 0);
  const bytes = readFileSync(full);
  const cut = Math.floor(bytes.length / 2) + 1000;
  const piece1 = join(dir, 'piece1.tar');
  writeFileSync(piece1, bytes.subarray(0, cut));
  const v1 = await runCli(['mirror', 'verify', piece1]);
  t.equal(v1.code, 1);
  t.match(v1.stderr, /missing (blob|manifest) sha256:[0-9a-f]{64}/, 'missing content listed by digest');
  t.match(v1.stderr, /ace-dt: error: the set is incomplete or damaged: \d+ missing \(/);
  const piece2 = join(dir, 'piece2.tar');
  const s2 = await runCli(['mirror', 'serialize', `oci:${layout}:v1`, piece2, '--existing-from-checkpoint', `${cp}:${cut}`, '--no-term']);
  t.equal(s2.code, 0, s2.stderr);
  t.ok(readFileSync(piece2).length < bytes.length, 'the resumed piece skips what piece 1 holds');
  const v2 = await runCli(['mirror', 'verify', piece2]);
  t.equal(v2.code, 1, 'piece 2 alone is incomplete');
  const v3 = await runCli(['mirror', 'verify', '--existing', `${cp}:${cut}`, piece2]);
  t.equal(v3.code, 0, `piece 2 with the checkpoint that explains the rest: ${v3.stderr}`);
  t.match(v3.stdout, /skipped on purpose: blob sha256:[0-9a-f]{64} \(\d+ B\), explained by checkpoint/);
  const v4 = await runCli(['mirror', 'verify', piece1, piece2]);
  t.equal(v4.code, 0, `both pieces in one call: ${v4.stderr}`);
  t.match(v4.stdout, /read 2 sources, 2 archives/);
  const v5 = await runCli(['mirror', 'verify', '-'], { input: undefined });
  t.equal(v5.code, 1, 'empty stdin holds no archive');
  t.match(v5.stderr, /no OCI layout archive found/);
});

t.test('verify an existing-image layout explains blobs skipped on purpose', async (t) => {
  const root = rootOf(set);
  const skip = new Set(set.blobs.slice(0, 3).map((b) => b.desc.digest));
  const arch = join(dir, 'skipped.tar');
  writeFileSync(arch, originalArchive(set, root, { tag: 'v1', skip }));
  const v = await runCli(['mirror', 'verify', arch, '--existing', `oci:${layout}:v1`]);
  t.equal(v.code, 0, v.stderr);
  t.match(v.stdout, /skipped on purpose: 3/);
  t.match(v.stdout, /explained by in existing image oci:/);
});

t.test('hostile and broken input: one clear line, exit 1', async (t) => {
  const evil = join(dir, 'evil.tar');
  writeFileSync(evil, tarOf([rawEntry({ name: '../../etc/passwd' }, Buffer.from('root::0:0::/:/bin/sh\n'))]));
  const v = await runCli(['mirror', 'verify', evil]);
  t.equal(v.code, 1);
  t.match(v.stderr, /ace-dt: error: archive entry "..\/..\/etc\/passwd" at byte 0 leaves the layout/);
  t.notMatch(v.stderr, /at .*\.js:\d+/, 'no stack trace');
  const missing = await runCli(['mirror', 'verify', join(dir, 'nope.tar')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /cannot open source .*nope.tar: no such file/);
  const usage = await runCli(['mirror', 'deserialize', 'only-one-arg']);
  t.equal(usage.code, 2, 'deserialize needs SOURCE... IMAGE');
});
