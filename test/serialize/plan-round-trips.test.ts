/**
 * The plan of a wide graph costs about its depth in round trips, not its count (issue 11): an
 * index of 100 manifests, two of them with referrers (followed with -r), and an EXISTING-IMAGE of
 * 20 manifests, from a real registry behind the loopback latency proxy in lock-step: it releases
 * the requests it holds in rounds, the next round once the last one was answered and the client
 * sent nothing more for a while. Behaviour, not time: the rounds the plan took, and the most
 * requests in flight at once.
 */
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { startRegistry } from '../helpers/registry.js';
import { MT, SBOM_ARTIFACT_TYPE, pushSet, seededBytes, type ImageSet } from '../helpers/images.js';
import { peakInFlight, startLatencyProxy, type ProxiedRequest } from '../helpers/latency-proxy.js';

const reg = await startRegistry();
t.teardown(() => reg.stop());

const descOf = (mediaType: string, bytes: Uint8Array) => ({ mediaType, digest: 'sha256:' + createHash('sha256').update(bytes).digest('hex'), size: bytes.length });

/** An index of `count` one-layer images (the layer shared); the images at `referred` get an SBOM referrer (tag schema). */
function wideIndex(tag: string, count: number, seed: number, referred: number[] = []): ImageSet {
  const set: ImageSet = { blobs: [], manifests: [] };
  const blob = (mediaType: string, bytes: Uint8Array) => {
    const d = descOf(mediaType, bytes);
    if (!set.blobs.some((b) => b.desc.digest === d.digest)) set.blobs.push({ desc: d, bytes });
    return d;
  };
  const manifest = (mediaType: string, body: Record<string, unknown>, tagged?: string) => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, ...body }));
    const d = descOf(mediaType, bytes);
    set.manifests.push({ desc: d, bytes, tag: tagged });
    return d;
  };
  const layer = blob(MT.OciLayer, seededBytes(seed, 2000));
  const empty = blob(MT.OciEmpty, Buffer.from('{}'));
  const images = Array.from({ length: count }, (_, n) => {
    const config = blob(MT.OciConfig, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed, n })));
    const image = manifest(MT.OciManifest, { config, layers: [layer] });
    if (referred.includes(n)) {
      const sbom = blob('application/spdx+json', Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', seed, n })));
      const subject = { mediaType: image.mediaType, digest: image.digest, size: image.size };
      const referrer = manifest(MT.OciManifest, { artifactType: SBOM_ARTIFACT_TYPE, config: empty, layers: [sbom], subject });
      manifest(MT.OciIndex, { manifests: [{ ...referrer, artifactType: SBOM_ARTIFACT_TYPE }] }, image.digest.replace(':', '-'));
    }
    return image;
  });
  manifest(MT.OciIndex, { manifests: images }, tag);
  return set;
}

await pushSet(reg.host, 'depth/img', wideIndex('v1', 100, 1, [10, 70]));
await pushSet(reg.host, 'depth/old', wideIndex('v1', 20, 2));

/** The plan's requests (manifests, referrers, tags) of the repositories named, in order of arrival. */
const planRequests = (log: ProxiedRequest[], ...repos: string[]) =>
  log.filter((r) => repos.some((repo) => r.url.startsWith(`/v2/${repo}/`)) && !r.url.includes('/blobs/'));

/** Serialize IMAGE (with -r and the EXISTING-IMAGE) through the proxy in lock-step. */
async function serialize(t: Test, concurrency: number): Promise<ProxiedRequest[]> {
  const proxy = await startLatencyProxy(reg.host, 0, { lockstepMs: 150 });
  t.teardown(() => proxy.stop());
  const out = join(t.testdir({}), 'out.tar');
  const r = await runCli(['mirror', 'serialize', `${proxy.host}/depth/img:v1`, out, `${proxy.host}/depth/old:v1`, '-r', '--concurrency', String(concurrency), '-q']);
  t.equal(r.code, 0, r.stderr);
  // Dozens of requests on the run's abort signal once drew a MaxListenersExceededWarning here.
  t.equal(r.stderr, '', 'nothing on stderr with -q');
  return proxy.log;
}

t.test('100 manifests, their referrers and an EXISTING-IMAGE: round trips of the depth, not the count', async (t) => {
  const log = await serialize(t, 128);
  const plan = planRequests(log, 'depth/img', 'depth/old');
  // 1 resolve + 1 index + 100 manifests + 102 referrer lists + 2 referrers, and the EXISTING-IMAGE's 22.
  t.ok(plan.length >= 226, `${plan.length} plan requests`);
  // IMAGE's depth: resolve, index, manifests, referrer list (the referrers API probed first
  // until a 404 says distribution 2.8 has none, then the tag schema), referrer, its referrer list:
  // 7 round trips. One request after another it would be over 200.
  const rounds = Math.max(...plan.map((r) => r.round ?? Infinity));
  const inRound = (n: number) => plan.filter((r) => r.round === n).map((r) => `${r.method} ${r.url}`);
  t.ok(rounds <= 7 + 1, `${rounds} rounds for ${plan.length} requests`, { last: inRound(rounds) });
});

t.test('the requests in flight reach --concurrency and never pass it', async (t) => {
  const log = await serialize(t, 16);
  // The EXISTING-IMAGE has its own source and limit: IMAGE's repository alone.
  const peak = peakInFlight(planRequests(log, 'depth/img'));
  t.equal(peak, 16, `${peak} of IMAGE's plan requests in flight at most`);
});
