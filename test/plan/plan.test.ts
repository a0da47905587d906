/**
 * The plan loads manifests concurrently (issue 11) and still comes out as the sequential walk
 * would make it: a real registry behind the loopback latency proxy, which counts the requests in
 * flight.
 */
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { existingBlobs, makePlan, type SkipSet } from '../../src/plan/plan.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLayoutSource } from '../../src/source/layout.js';
import { openRegistrySource } from '../../src/source/registry.js';
import { startRegistry } from '../helpers/registry.js';
import { MT, buildNestedIndex, buildTwoPlatformIndex, pushSet, seededBytes, writeOciLayout, type ImageSet } from '../helpers/images.js';
import { startLatencyProxy } from '../helpers/latency-proxy.js';

const reg = await startRegistry();
t.teardown(() => reg.stop());

const desc = (mediaType: string, bytes: Uint8Array) => ({ mediaType, digest: 'sha256:' + createHash('sha256').update(bytes).digest('hex'), size: bytes.length });

/** index -> 3 indexes -> 8 images each (one layer apiece, every fourth layer shared). */
function wideNestedIndex(tag: string): ImageSet {
  const set: ImageSet = { blobs: [], manifests: [] };
  const seen = new Set<string>();
  const blob = (mediaType: string, bytes: Uint8Array) => {
    const d = desc(mediaType, bytes);
    if (!seen.has(d.digest)) {
      seen.add(d.digest);
      set.blobs.push({ desc: d, bytes });
    }
    return d;
  };
  const manifest = (mediaType: string, body: unknown, tagged?: string) => {
    const bytes = Buffer.from(JSON.stringify(body));
    const d = desc(mediaType, bytes);
    set.manifests.push({ desc: d, bytes, tag: tagged });
    return d;
  };
  const inner = [0, 1, 2].map((g) => {
    const images = Array.from({ length: 8 }, (_, i) => {
      const n = g * 8 + i;
      const layer = blob(MT.OciLayer, n % 4 === 0 ? seededBytes(1, 1000) : seededBytes(100 + n, 1000 + n));
      const config = blob(MT.OciConfig, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n })));
      return manifest(MT.OciManifest, { schemaVersion: 2, mediaType: MT.OciManifest, config, layers: [layer] });
    });
    return manifest(MT.OciIndex, { schemaVersion: 2, mediaType: MT.OciIndex, manifests: images });
  });
  manifest(MT.OciIndex, { schemaVersion: 2, mediaType: MT.OciIndex, manifests: inner }, tag);
  return set;
}

await pushSet(reg.host, 'plan/wide', wideNestedIndex('v1'));

t.test('27 manifests load at most --concurrency at a time and make the sequential plan', async (t) => {
  const proxy = await startLatencyProxy(reg.host, 10);
  t.teardown(() => proxy.stop());
  const plans = [];
  for (const concurrency of [1, 8]) {
    const src = await openRegistrySource(`${proxy.host}/plan/wide:v1`, { concurrency });
    const before = proxy.stats.peakInFlight;
    plans.push(await makePlan(src, { refName: 'v1', sourceName: 'wide', concurrency }));
    await src.close();
    if (concurrency === 1) t.equal(proxy.stats.peakInFlight, 1, 'one at a time');
    else t.equal(proxy.stats.peakInFlight, 8, `the limit is reached and kept (was ${before})`);
  }
  const [a, b] = plans;
  t.equal(a.manifests.length, 1 + 3 + 24);
  t.same(b.manifests, a.manifests, 'the same manifests in the same order');
  t.same(b.blobs.map((x) => x.descriptor), a.blobs.map((x) => x.descriptor), 'the same blobs in the same order');
});

t.test('EXISTING-IMAGE blobs, loaded concurrently, are the sequential set', async (t) => {
  const sets: SkipSet[] = [];
  for (const concurrency of [1, 8]) {
    const src = await openRegistrySource(`${reg.host}/plan/wide:v1`, { concurrency });
    const into: SkipSet = new Map();
    await existingBlobs(src, 'wide', into, concurrency);
    await src.close();
    sets.push(into);
  }
  t.equal(sets[0].size, 24 - 6 + 1 + 24, 'layers (every fourth shared) and configs');
  t.same(new Set(sets[1].keys()), new Set(sets[0].keys()));
});

t.test('a missing child manifest fails the plan with the sequential error', async (t) => {
  const set = wideNestedIndex('broken');
  // One image manifest of the second inner index goes missing (the registry refuses an index
  // whose children it lacks, so it is deleted after the push).
  const missing = set.manifests[9 + 3];
  await pushSet(reg.host, 'plan/broken', set);
  const del = await fetch(`${reg.url}/v2/plan/broken/manifests/${missing.desc.digest}`, { method: 'DELETE' });
  t.equal(del.status, 202);
  const errors = [];
  for (const concurrency of [1, 8]) {
    const src = await openRegistrySource(`${reg.host}/plan/broken:broken`, { concurrency });
    errors.push(await makePlan(src, { refName: 'broken', sourceName: 'broken', concurrency }).catch((e: Error) => e));
    await src.close();
  }
  t.match(errors[0], { code: 'ENOTFOUND_MANIFEST' });
  t.equal((errors[1] as Error).message, (errors[0] as Error).message);
});

// The walk itself, on OCI layouts on disk (no registry needed): order, deduplication, skips,
// the dedup-size annotation, and manifests checked against their descriptors.

/** Pre-order as behaviour note 2.2 describes it, computed from the set's own JSON. */
function expectedOrder(set: ImageSet, root: string): string[] {
  const bytes = new Map([...set.blobs, ...set.manifests].map((x) => [x.desc.digest, x.bytes] as const));
  const out: string[] = [];
  const walk = (digest: string) => {
    if (out.includes(digest)) return;
    out.push(digest);
    const doc = JSON.parse(Buffer.from(bytes.get(digest)!).toString());
    const kids: { digest: string; mediaType: string }[] = doc.manifests ?? [doc.config, ...doc.layers];
    for (const k of kids) {
      if (/manifest|index/.test(k.mediaType)) walk(k.digest);
      else if (!out.includes(k.digest)) out.push(k.digest);
    }
  };
  walk(root);
  return out;
}

async function layoutPlan(t: Test, set: ImageSet, tag: string, skip?: SkipSet) {
  const dir = t.testdir({});
  await writeOciLayout(dir, set);
  const src = await openLayoutSource(`oci:${dir}:${tag}`);
  return { dir, plan: await makePlan(src, { refName: tag, sourceName: `layout ${tag}`, skip }) };
}

t.test('pre-order, manifests before their children, every blob once', async (t) => {
  const set = buildNestedIndex('nest');
  const root = set.manifests.find((m) => m.tag === 'nest')!.desc;
  const { plan } = await layoutPlan(t, set, 'nest');
  t.same(plan.blobs.map((b) => b.descriptor.digest), expectedOrder(set, root.digest));
  t.equal(plan.blobs.length, set.blobs.length + set.manifests.length, 'the shared layer once');
  t.same(plan.manifests.map((m) => m.digest), plan.blobs.filter((b) => b.manifest).map((b) => b.descriptor.digest), 'index.json #2 lists the manifests in walk order');
  t.same(plan.root, { mediaType: root.mediaType, digest: root.digest, size: root.size, annotations: { 'org.opencontainers.image.ref.name': 'nest' } });
  for (const b of plan.blobs.filter((x) => x.manifest)) t.same(plan.manifestBytes.get(b.descriptor.digest), b.manifest, 'manifest bytes kept');
  t.equal(plan.dedupSize, '0', 'no annotation on the root');
  t.same(plan.skipped, []);
});

t.test('skipped blobs are listed once with the reason, and not written', async (t) => {
  const set = buildTwoPlatformIndex('two');
  const shared = set.blobs.find((b) => b.desc.mediaType === MT.OciLayer)!.desc; // in both images
  const { plan } = await layoutPlan(t, set, 'two', new Map([[shared.digest, 'in existing image old:v1']]));
  t.same(plan.skipped, [{ descriptor: shared, reason: 'in existing image old:v1' }]);
  t.notOk(plan.blobs.some((b) => b.descriptor.digest === shared.digest));
  t.equal(plan.blobs.length, set.blobs.length + set.manifests.length - 1);
});

t.test("the root's dedup-size annotation is copied; the same manifest twice is walked once", async (t) => {
  const set = buildTwoPlatformIndex('two');
  const children = JSON.parse(Buffer.from(set.manifests.at(-1)!.bytes).toString()).manifests;
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.OciIndex, manifests: [...children, children[0]], annotations: { 'vnd.act3-ace.data.layer.size.deduplicated': '4242' } }));
  set.manifests.push({ desc: desc(MT.OciIndex, body), bytes: body, tag: 'dedup' });
  const { plan } = await layoutPlan(t, set, 'dedup');
  t.equal(plan.dedupSize, '4242');
  t.equal(plan.manifests.length, 3, 'root and two images, the repeated descriptor once');
});

t.test('a manifest that does not match its descriptor fails the plan, naming the source', async (t) => {
  const set = buildTwoPlatformIndex('two');
  const child = set.manifests[0];
  const { dir } = await layoutPlan(t, set, 'two');
  const forged = Buffer.from(child.bytes);
  forged[forged.length - 2] ^= 1; // same size, other bytes
  writeFileSync(join(dir, 'blobs/sha256', child.desc.digest.slice(7)), forged);
  const src = await openLayoutSource(`oci:${dir}:two`);
  await t.rejects(makePlan(src, { refName: 'two', sourceName: 'layout two' }), { code: 'EDIGEST', message: new RegExp(`^layout two: digest mismatch for manifest ${child.desc.digest}`) });
  writeFileSync(join(dir, 'blobs/sha256', child.desc.digest.slice(7)), Buffer.concat([child.bytes, Buffer.from(' ')]));
  await t.rejects(makePlan(src, { refName: 'two', sourceName: 'layout two' }), { code: 'ESIZE' });
});
