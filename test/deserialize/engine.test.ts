import t from 'tap';
import type { Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readArchives } from '../../src/archive/reader.js';
import { Engine } from '../../src/deserialize/engine.js';
import { deserializeArchives, verifyArchives } from '../../src/deserialize/index.js';
import type { ImageSet } from '../helpers/images.js';
import { buildArtifactWithReferrer, buildDockerManifestList, buildNestedIndex, buildTwoPlatformIndex } from '../helpers/images.js';
import { chunked, contentOf, MemoryTarget, originalArchive, originalEntries, preorder, rootOf, tarOf } from './fixtures.js';
import type { Descriptor } from '../../src/oci/descriptor.js';

const dir = mkdtempSync(join(tmpdir(), 'ace-dt-eng-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(bytes: Uint8Array): string {
  const p = join(dir, `a${n++}.tar`);
  writeFileSync(p, bytes);
  return p;
}

interface Kind {
  name: string;
  set: ImageSet;
  root: Descriptor;
  extra?: Descriptor[];
}

const kinds: Kind[] = (() => {
  const two = buildTwoPlatformIndex('v1', { layerSize: 5000 });
  const docker = buildDockerManifestList('v1', { layerSize: 5000 });
  const nested = buildNestedIndex('v1', { layerSize: 5000 });
  const art = buildArtifactWithReferrer('v1', { layerSize: 5000 });
  return [
    { name: 'two-platform index', set: two, root: rootOf(two) },
    { name: 'Docker manifest list', set: docker, root: rootOf(docker) },
    { name: 'nested index', set: nested, root: rootOf(nested) },
    { name: 'artifact + referrer', set: art, root: rootOf(art, 'v1'), extra: [art.referrer] },
  ];
})();

/** The target holds exactly the set's content (all blobs and manifests reachable from the roots). */
function expectComplete(t: Test, target: MemoryTarget, k: Kind) {
  const walk = preorder(k.set, [k.root, ...(k.extra ?? [])]);
  for (const b of walk.blobs) {
    const have = target.blobs.has(b.desc.digest) || target.manifests.has(b.desc.digest);
    if (!have) t.fail(`missing ${b.desc.digest}`);
  }
  for (const m of walk.manifests) t.ok(target.manifests.has(m.digest), `manifest ${m.digest.slice(7, 19)} pushed`);
  t.same(target.violations, [], 'nothing unverified committed, children before parents');
}

t.test('each image kind deserializes from the original layout; root tagged; children first', async (t) => {
  for (const k of kinds) {
    const target = new MemoryTarget('v1');
    const r = await deserializeArchives([file(originalArchive(k.set, k.root, { tag: 'v1', extra: k.extra }))], { target, tag: 'v1' });
    t.ok(r.complete, `${k.name}: complete`);
    t.equal(target.tags.get('v1'), k.root.digest, `${k.name}: root tagged`);
    expectComplete(t, target, k);
    t.equal(r.missing.length, 0);
  }
});

t.test('blobs the registry already has are not sent again; a second run pushes no blob', async (t) => {
  const k = kinds[0];
  const target = new MemoryTarget('v1');
  const archive = file(originalArchive(k.set, k.root, { tag: 'v1' }));
  await deserializeArchives([archive], { target, tag: 'v1' });
  const pushes = target.blobPushes;
  const r = await deserializeArchives([archive], { target, tag: 'v1' });
  t.ok(r.complete);
  t.equal(target.blobPushes, pushes, 'no blob pushed twice');
  t.equal(r.blobs.existing, k.set.blobs.length, 'every blob found by HEAD');
});

t.test('multi-piece: a cut archive and the resumed rest (without the blobs already written) in one call', async (t) => {
  for (const k of kinds) {
    const full = originalArchive(k.set, k.root, { tag: 'v1', extra: k.extra });
    // Cut in the middle of the blobs, not at a boundary.
    const cutAt = Math.floor(full.length * 0.55) + 77;
    const piece1 = full.subarray(0, cutAt);
    // Blobs wholly in piece 1 (the ledger's records below the cut) are skipped by the resumed run.
    const entries = originalEntries(k.set, k.root, { tag: 'v1', extra: k.extra });
    const written = new Set<string>();
    let off = 0;
    for (const e of entries) {
      const len = tarOf([e], { trailer: false }).length;
      if (off + len <= cutAt && e.name.startsWith('blobs/') && e.type !== 'directory') written.add('sha256:' + e.name.split('/')[2]);
      off += len;
    }
    const piece2 = originalArchive(k.set, k.root, { tag: 'v1', extra: k.extra, skip: written });
    t.ok(written.size > 0 && written.size < contentOf(k.set).size, `${k.name}: the cut splits the blobs (${written.size} in piece 1)`);
    const target = new MemoryTarget('v1');
    const r = await deserializeArchives([file(piece1), file(piece2)], { target, tag: 'v1' });
    t.ok(r.complete, `${k.name}: complete from two pieces`);
    t.equal(target.tags.get('v1'), k.root.digest);
    expectComplete(t, target, k);
    // Piece 2 alone is incomplete: the blobs of piece 1 are listed as missing.
    const alone = new MemoryTarget('v1');
    const r2 = await deserializeArchives([file(piece2)], { target: alone, tag: 'v1' });
    t.notOk(r2.complete, `${k.name}: piece 2 alone is incomplete`);
    t.ok(r2.missing.length > 0, 'missing blobs listed');
    t.equal(alone.tags.size, 0, 'nothing tagged');
    t.same(alone.violations, []);
  }
});

t.test('the last piece cut: incomplete, missing listed, nothing tagged, nothing unverified pushed', async (t) => {
  const k = kinds[2];
  const full = originalArchive(k.set, k.root, { tag: 'v1' });
  const target = new MemoryTarget('v1');
  const r = await deserializeArchives([file(full.subarray(0, Math.floor(full.length * 0.6)))], { target, tag: 'v1' });
  t.notOk(r.complete);
  t.ok(r.missing.length > 0);
  t.ok(r.missing.some((m) => m.reason?.startsWith('cut at the end of a piece')), 'the cut blob is named');
  t.ok(r.problems.some((p) => /last piece is cut/.test(p)));
  t.equal(target.tags.size, 0);
  t.same(target.violations, []);
});

t.test('a corrupt blob is not pushed and is reported; a later intact copy fixes it', async (t) => {
  const k = kinds[0];
  const entries = originalEntries(k.set, k.root, { tag: 'v1' });
  const i = entries.findIndex((e) => e.name.startsWith('blobs/sha256/') && (e.data?.length ?? 0) > 4000);
  const bad = entries.map((e, j) => (j === i ? { ...e, data: Buffer.from(e.data!).fill(7, 100, 200) } : e));
  const target = new MemoryTarget('v1');
  const r = await deserializeArchives([file(tarOf(bad))], { target, tag: 'v1' });
  t.notOk(r.complete);
  t.equal(r.corrupt.length, 1);
  t.match(r.corrupt[0].reason, /digest mismatch/);
  t.notOk(target.blobs.has('sha256:' + entries[i].name.split('/')[2]), 'corrupt blob not in the registry');
  t.same(target.violations, []);
  const r2 = await deserializeArchives([file(tarOf(bad)), file(tarOf(entries))], { target: new MemoryTarget('v1'), tag: 'v1' });
  t.ok(r2.complete, 'the second piece has an intact copy');
});

t.test('dry-run pushes and tags nothing but tells what would happen', async (t) => {
  const k = kinds[1];
  const target = new MemoryTarget('v1');
  const r = await deserializeArchives([file(originalArchive(k.set, k.root, { tag: 'v1' }))], { target, tag: 'v1', dryRun: true });
  t.ok(r.complete, 'a shared blob does not look missing in dry-run');
  t.equal(r.tagged, 'v1');
  t.equal(target.blobPushes + target.manifestPushes, 0, 'nothing pushed');
  t.equal(r.blobs.pushed, k.set.blobs.length, 'would push every blob');
});

t.test("skopeo's order (index.json last, blobs in any order) works: manifests kept until known", async (t) => {
  const k = kinds[2];
  const entries = originalEntries(k.set, k.root, { tag: 'v1' });
  const blobs = entries.filter((e) => e.name.startsWith('blobs/')).reverse();
  const finalIndex = entries.filter((e) => e.name === 'index.json').at(-1)!;
  const target = new MemoryTarget('v1');
  const r = await deserializeArchives([file(tarOf([...blobs, entries[0], finalIndex]))], { target, tag: 'v1' });
  t.ok(r.complete);
  expectComplete(t, target, k);
});

t.test('strict mode: the original layout passes; a later index.json with missing content fails', async (t) => {
  const k = kinds[0];
  const target = new MemoryTarget('v1');
  const r = await deserializeArchives([file(originalArchive(k.set, k.root, { tag: 'v1', manifestJson: true }))], { target, tag: 'v1', strict: true });
  t.ok(r.complete, 'manifest.json passes strict');
  const skip = new Set([k.set.blobs[0].desc.digest]);
  await t.rejects(
    deserializeArchives([file(originalArchive(k.set, k.root, { tag: 'v1', skip }))], { target: new MemoryTarget('v1'), tag: 'v1', strict: true }),
    /expected 0 missing blobs when processing an index.json file, but found 1/,
  );
});

t.test('no index.json / empty manifests list / not an archive', async (t) => {
  const k = kinds[0];
  const entries = originalEntries(k.set, k.root);
  const r = await deserializeArchives([file(tarOf(entries.filter((e) => e.name !== 'index.json')))], { target: new MemoryTarget(), tag: 'latest' });
  t.notOk(r.complete);
  t.ok(r.problems.some((p) => /missing "index.json"/.test(p)));
  await t.rejects(
    deserializeArchives([file(tarOf([entries[0], { name: 'index.json', data: Buffer.from('{"schemaVersion":2,"manifests":[]}') }]))], { target: new MemoryTarget(), tag: 'latest' }),
    /lists no manifests/,
  );
  await t.rejects(deserializeArchives([file(Buffer.from('hello, this is not a tar archive at all'.repeat(20)))], { target: new MemoryTarget(), tag: 'latest' }), /invalid tar data at byte 0/);
  await t.rejects(deserializeArchives([join(dir, 'nope.tar')], { target: new MemoryTarget(), tag: 'latest' }), /cannot open source .*nope.tar: no such file/);
  const empty = await verifyArchives([file(new Uint8Array(0))]);
  t.notOk(empty.complete);
  t.ok(empty.problems.some((p) => /no OCI layout archive/.test(p)));
});

t.test('verify: intact, cut, corrupt, and blobs skipped on purpose explained by a checkpoint', async (t) => {
  const k = kinds[0];
  const full = originalArchive(k.set, k.root, { tag: 'v1' });
  const ok = await verifyArchives([file(full)]);
  t.ok(ok.complete);
  t.equal(ok.blobs.verified, k.set.blobs.length + k.set.manifests.length);
  const cut = await verifyArchives([file(full.subarray(0, full.length - 3000))]);
  t.notOk(cut.complete);
  const skip = new Set(k.set.blobs.slice(0, 2).map((b) => b.desc.digest));
  const partial = file(originalArchive(k.set, k.root, { tag: 'v1', skip }));
  const r = await verifyArchives([partial]);
  t.notOk(r.complete);
  t.same(r.missing.map((m) => m.digest).sort(), [...skip].sort());
  const existing = new Map([...skip].map((d) => [d, 'checkpoint cp.jsonl line 1']));
  const r2 = await verifyArchives([partial], { existing });
  t.ok(r2.complete, 'explained blobs are not missing');
  t.same(r2.explained.map((e) => e.digest).sort(), [...skip].sort());
  t.equal(r2.explained[0].explainedBy, 'checkpoint cp.jsonl line 1');
});

t.test('engine directly: events from several streams into one graph', async (t) => {
  const k = kinds[3];
  const target = new MemoryTarget('v1');
  const e = new Engine({ target });
  const full = originalArchive(k.set, k.root, { tag: 'v1', extra: k.extra });
  await e.consume(readArchives(chunked(full, 333), 'mem'), { source: 'mem', last: true });
  const r = await e.finish('v1');
  t.ok(r.complete);
  t.ok(target.manifests.has(k.extra![0].digest), 'the referrer (listed only in the final index.json) is pushed');
  t.same(target.violations, []);
});

t.test('archives concatenated in one file: read one after the other, root from the first', async (t) => {
  const a = kinds[0];
  const b = kinds[1];
  const target = new MemoryTarget('v1');
  const both = Buffer.concat([originalArchive(a.set, a.root, { tag: 'v1' }), Buffer.alloc(4096), originalArchive(b.set, b.root, { tag: 'v1' })]);
  const r = await deserializeArchives([file(both)], { target, tag: 'v1' });
  t.ok(r.complete);
  t.equal(r.archives, 2);
  t.equal(target.tags.get('v1'), a.root.digest, 'the root is the first manifest of the first index.json');
  t.ok(target.manifests.has(b.root.digest), "the second archive's manifests are pushed too");
  expectComplete(t, target, a);
  expectComplete(t, target, b);
});
