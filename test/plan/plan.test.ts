/**
 * The plan loads manifests concurrently (issue 11) and still comes out as the sequential walk
 * would make it: a real registry behind the loopback latency proxy, which counts the requests in
 * flight.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existingBlobs, makePlan, type SkipSet } from '../../src/plan/plan.js';
import { openRegistrySource } from '../../src/source/registry.js';
import { startRegistry } from '../helpers/registry.js';
import { MT, pushSet, seededBytes, type ImageSet } from '../helpers/images.js';
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
