/**
 * The manifest graph alone (src/deserialize/graph.ts): no registry, no archive. Manifests are
 * small hand-made documents; every ordering rule of deserialize (children before parents, shared
 * blobs, nested indexes, bytes before the index that names them) is checked on ready()'s answers.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { ManifestGraph, manifestDescriptor, type ManifestNode } from '../../src/deserialize/graph.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { MediaType } from '../../src/oci/mediatype.js';

interface Doc {
  desc: Descriptor;
  bytes: Uint8Array;
}

function doc(mediaType: string, content: Uint8Array): Doc {
  return { desc: { mediaType, digest: `sha256:${createHash('sha256').update(content).digest('hex')}`, size: content.length }, bytes: content };
}

const blob = (text: string) => doc('application/vnd.oci.image.layer.v1.tar', Buffer.from(text));
const config = (text: string) => doc('application/vnd.oci.image.config.v1+json', Buffer.from(JSON.stringify({ text })));

function manifest(cfg: Doc, layers: Doc[]): Doc {
  const body = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfg.desc, layers: layers.map((l) => l.desc) };
  return doc(MediaType.OciManifest, Buffer.from(JSON.stringify(body)));
}

function index(manifests: Doc[]): Doc {
  return doc(MediaType.OciIndex, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: manifests.map((m) => m.desc) })));
}

/** Every manifest ready() hands out, placed as pushed at once (what the engine's pump does). */
function drain(g: ManifestGraph): string[] {
  const out: string[] = [];
  for (let n = g.ready(); n; n = g.ready()) {
    out.push(n.desc.digest);
    g.placeManifest(n, 'pushed');
  }
  return out;
}

function attach(g: ManifestGraph, d: Doc, parent?: string): ManifestNode {
  const n = g.announce(d.desc, parent);
  g.attach(n, d.bytes);
  return n;
}

t.test('an image: the manifest waits for its config and layers, in any order', async (t) => {
  const c = config('a');
  const l1 = blob('layer 1');
  const l2 = blob('layer 2');
  const m = manifest(c, [l1, l2]);
  const g = new ManifestGraph();
  attach(g, m);
  t.same(drain(g), [], 'nothing is ready before its blobs');
  g.placeBlob(l2.desc.digest, l2.desc.size, 'pushed');
  g.placeBlob(c.desc.digest, c.desc.size, 'pushed');
  t.same(drain(g), [], 'one layer still missing');
  g.placeBlob(l1.desc.digest, l1.desc.size, 'pushed');
  t.same(drain(g), [m.desc.digest], 'ready once the last child is in place');
  t.same(drain(g), [], 'handed out once');
  t.same(g.missing(() => undefined), []);
});

t.test('a two-platform index goes up after both manifests, which go up after their blobs', async (t) => {
  const m1 = manifest(config('amd64'), [blob('x')]);
  const m2 = manifest(config('arm64'), [blob('y')]);
  const idx = index([m1, m2]);
  const g = new ManifestGraph();
  attach(g, idx);
  // The children are known (announced by the index) but their bytes come later, as in our archives.
  t.ok(g.node(m1.desc.digest) && g.node(m2.desc.digest), 'children announced by the index');
  t.same(g.node(m1.desc.digest)!.parents, new Set([idx.desc.digest]));
  attach(g, m2);
  attach(g, m1);
  for (const cfg of ['amd64', 'arm64']) g.placeBlob(config(cfg).desc.digest, config(cfg).desc.size, 'pushed');
  g.placeBlob(blob('y').desc.digest, 1, 'pushed');
  t.same(drain(g), [m2.desc.digest], 'm2 first: its blobs are in place, the index waits');
  g.placeBlob(blob('x').desc.digest, 1, 'pushed');
  t.same(drain(g), [m1.desc.digest, idx.desc.digest], 'then m1, then the index');
});

t.test('diamond: a blob shared by two manifests releases both', async (t) => {
  const shared = blob('base layer');
  const c1 = config('one');
  const c2 = config('two');
  const m1 = manifest(c1, [shared]);
  const m2 = manifest(c2, [shared]);
  const idx = index([m1, m2]);
  const g = new ManifestGraph();
  attach(g, idx);
  attach(g, m1);
  attach(g, m2);
  t.same(new Set(g.parentsOf(shared.desc.digest)), new Set([m1.desc.digest, m2.desc.digest]), 'both manifests are parents of the shared blob');
  g.placeBlob(c1.desc.digest, c1.desc.size, 'pushed');
  g.placeBlob(c2.desc.digest, c2.desc.size, 'pushed');
  t.same(drain(g), []);
  const missing = g.missing(() => undefined);
  t.equal(missing.length, 1, 'the shared blob is listed once');
  t.same(missing[0].neededBy, [m1.desc.digest, m2.desc.digest]);
  g.placeBlob(shared.desc.digest, shared.desc.size, 'existing');
  t.same(drain(g), [m1.desc.digest, m2.desc.digest, idx.desc.digest]);
});

t.test('nested indexes: innermost first', async (t) => {
  const m = manifest(config('inner'), [blob('z')]);
  const inner = index([m]);
  const outer = index([inner]);
  const g = new ManifestGraph();
  attach(g, outer);
  attach(g, inner);
  attach(g, m);
  g.placeBlob(config('inner').desc.digest, config('inner').desc.size, 'pushed');
  g.placeBlob(blob('z').desc.digest, 1, 'pushed');
  t.same(drain(g), [m.desc.digest, inner.desc.digest, outer.desc.digest]);
});

t.test("bytes before the index that names them (skopeo's order): kept, then claimed, nested too", async (t) => {
  const c = config('k');
  const l = blob('k');
  const m = manifest(c, [l]);
  const inner = index([m]);
  const outer = index([inner]);
  const g = new ManifestGraph();
  t.ok(g.keep(m.desc.digest, m.bytes));
  t.ok(g.keep(inner.desc.digest, inner.bytes));
  t.ok(g.keep(l.desc.digest, l.bytes), 'a blob that only looks kept is harmless');
  // The outer index's bytes arrive last, as the final index.json would list it.
  const o = g.announce(outer.desc);
  t.notOk(o.bytes, 'the outer index has no bytes yet');
  g.attach(o, outer.bytes);
  t.ok(g.node(inner.desc.digest)?.bytes, 'the inner index claimed its kept bytes');
  t.ok(g.node(m.desc.digest)?.bytes, 'and so did the manifest below it');
  t.same(g.unclaimed(), [l.desc.digest], 'only the blob is left unclaimed');
  g.placeBlob(c.desc.digest, c.desc.size, 'pushed');
  g.placeBlob(l.desc.digest, l.desc.size, 'pushed');
  t.same(drain(g), [m.desc.digest, inner.desc.digest, outer.desc.digest]);
});

t.test('keep is bounded', async (t) => {
  const g = new ManifestGraph({ keepMax: 10 });
  t.ok(g.keep('sha256:a', new Uint8Array(6)));
  t.notOk(g.keep('sha256:b', new Uint8Array(6)), 'over the bound: not kept');
  t.ok(g.keep('sha256:a', new Uint8Array(6)), 'the same digest again is already kept');
  t.same(g.unclaimed(), ['sha256:a']);
});

t.test('missing: blobs, manifests without bytes, with the reason the caller knows or a size mismatch', async (t) => {
  const c = config('m');
  const l1 = blob('cut one');
  const l2 = blob('wrong size');
  const m = manifest(c, [l1, l2]);
  const sub = manifest(config('never'), []);
  const idx = index([m, sub]);
  const g = new ManifestGraph();
  attach(g, idx);
  attach(g, m);
  g.placeBlob(c.desc.digest, c.desc.size, 'pushed');
  g.placeBlob(l2.desc.digest, l2.desc.size + 1, 'pushed');
  const listedOnly = g.announce(blob('listed in index.json only').desc);
  const missing = g.missing((d) => (d === l1.desc.digest ? 'cut at the end of a piece' : undefined));
  const by = new Map(missing.map((x) => [x.digest, x]));
  t.equal(by.get(l1.desc.digest)?.kind, 'blob');
  t.equal(by.get(l1.desc.digest)?.reason, 'cut at the end of a piece');
  t.same(by.get(l1.desc.digest)?.neededBy, [m.desc.digest]);
  t.match(by.get(l2.desc.digest)?.reason, /size mismatch: the archive's blob has 11 bytes, sha256:\w+ says 10/);
  t.equal(by.get(sub.desc.digest)?.kind, 'manifest', 'a child manifest never seen');
  t.same(by.get(sub.desc.digest)?.neededBy, [idx.desc.digest]);
  t.same(by.get(listedOnly.desc.digest)?.neededBy, [], 'listed in index.json, needed by nothing');
  t.notOk(by.has(idx.desc.digest), 'a manifest with bytes is not missing; its children are');
  t.same(drain(g), [], 'nothing goes up over a missing child');
});

t.test('duplicate announcements and attachments change nothing', async (t) => {
  const m = manifest(config('d'), []);
  const idx = index([m]);
  const g = new ManifestGraph();
  const a = g.announce(m.desc);
  const b = g.announce(m.desc);
  t.equal(a, b, 'one node per digest');
  attach(g, idx);
  t.equal(g.size, 2);
  t.same(a.parents, new Set([idx.desc.digest]), 'the parent learned from the index is added');
  g.attach(a, m.bytes);
  g.attach(a, m.bytes);
  g.placeBlob(config('d').desc.digest, config('d').desc.size, 'pushed');
  t.same(drain(g), [m.desc.digest, idx.desc.digest], 'each goes up once');
  g.announce(m.desc, idx.desc.digest);
  t.same(drain(g), [], 'announcing a manifest in place queues nothing');
});

t.test('attach refuses bytes of another size than the parent claims, and bytes that are not a manifest', async (t) => {
  const m = manifest(config('s'), []);
  const g = new ManifestGraph();
  const n = g.announce({ ...m.desc, size: m.desc.size + 1 });
  t.throws(() => g.attach(n, m.bytes), { code: 'EMANIFEST', message: /its parent says \d+ bytes, the archive holds \d+/ });
  const junk = doc(MediaType.OciManifest, Buffer.from('not json'));
  t.throws(() => g.attach(g.announce(junk.desc), junk.bytes), { code: 'EMANIFEST', message: /not valid JSON/ });
});

t.test('onChild sees every child in document order, once linked to its parent', async (t) => {
  const c = config('o');
  const l = blob('o');
  const m = manifest(c, [l]);
  const seen: string[] = [];
  const g: ManifestGraph = new ManifestGraph({ onChild: (d) => seen.push(`${d.digest}<-${g.parentsOf(d.digest).join(',')}`) });
  attach(g, m);
  t.same(seen, [`${c.desc.digest}<-${m.desc.digest}`, `${l.desc.digest}<-${m.desc.digest}`]);
});

t.test('placing without requeue, then recheck; explained and manifestDescriptor', async (t) => {
  const c = config('e');
  const m = manifest(c, []);
  const sub = manifest(config('gone'), []);
  const idx = index([m, sub]);
  const g = new ManifestGraph();
  const root = attach(g, idx);
  const n = attach(g, m);
  t.same(drain(g), []);
  g.placeBlob(c.desc.digest, c.desc.size, 'existing', false);
  t.same(drain(g), [], 'not requeued');
  g.recheck(n);
  t.same(drain(g), [m.desc.digest]);
  g.placeManifest(g.node(sub.desc.digest)!, 'explained');
  t.same(drain(g), [idx.desc.digest], 'an explained child counts as in place');
  const why = new Map([
    [c.desc.digest, 'checkpoint line 1'],
    [sub.desc.digest, 'checkpoint line 2'],
  ]);
  t.same(
    g.explained((d) => why.get(d)).map((e) => [e.kind, e.explainedBy]),
    [
      ['blob', 'checkpoint line 1'],
      ['manifest', 'checkpoint line 2'],
    ],
    'in the order the manifests became known',
  );
  t.same(manifestDescriptor(root), idx.desc);
});
