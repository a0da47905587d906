/**
 * The registry client against a real docker-registry: resolve and fetch every image kind, Accept
 * negotiation, errors for missing tags and repositories, referrers (tag fallback; the API through
 * a loopback server that implements it), pushes committed only after verification.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openRegistrySource, openRegistryTarget } from '../../src/source/registry.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { MediaType } from '../../src/oci/mediatype.js';
import { startRegistry } from '../helpers/registry.js';
import { MT, pushArtifactWithReferrer, pushDockerManifestList, pushImage, pushNestedIndex, pushTwoPlatformIndex, seededBytes, sha256 } from '../helpers/images.js';
import { startFaultyServer } from '../helpers/faulty-server.js';
import { AceError } from '../../src/errors.js';

const reg = await startRegistry();
t.teardown(() => reg.stop());

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of it) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

const quick = { retry: { baseDelayMs: 5, maxDelayMs: 20 } };

t.test('two-platform OCI index: resolve, manifests, blobs', async (t) => {
  const img = await pushTwoPlatformIndex(reg.host, 'kinds/oci', 'v1');
  const src = await openRegistrySource(`${reg.host}/kinds/oci:v1`);
  t.teardown(() => src.close());
  t.equal(src.refName, 'v1');
  t.same(await src.resolve(), { mediaType: MediaType.OciIndex, digest: img.index.digest, size: img.index.size });
  for (const m of img.manifests) {
    const bytes = await src.fetchManifest(m);
    t.equal(sha256(bytes), m.digest, `manifest ${m.digest}`);
  }
  for (const b of img.blobs) {
    const bytes = await collect(await src.fetchBlob(b));
    t.equal(sha256(bytes), b.digest);
    t.equal(bytes.length, b.size);
  }
});

t.test('by digest, Docker manifest list, nested index', async (t) => {
  const list = await pushDockerManifestList(reg.host, 'kinds/docker', 'v1');
  const nested = await pushNestedIndex(reg.host, 'kinds/nested', 'v1');
  const byDigest = await openRegistrySource(`${reg.host}/kinds/docker@${list.index.digest}`);
  t.teardown(() => byDigest.close());
  t.equal(byDigest.refName, list.index.digest);
  t.same(await byDigest.resolve(), { mediaType: MediaType.DockerList, digest: list.index.digest, size: list.index.size });
  const child = list.manifests[0];
  t.equal(child.mediaType, MediaType.DockerManifest);
  t.equal(sha256(await byDigest.fetchManifest(child)), child.digest);

  const n = await openRegistrySource(`${reg.host}/kinds/nested:v1`);
  t.teardown(() => n.close());
  const root = await n.resolve();
  t.equal(root.digest, nested.index.digest);
  const rootJson = JSON.parse(Buffer.from(await n.fetchManifest(root)).toString()) as { manifests: Descriptor[] };
  t.equal(rootJson.manifests[0].mediaType, MediaType.OciIndex, 'index of an index');
  t.equal(sha256(await n.fetchManifest(rootJson.manifests[0])), rootJson.manifests[0].digest);

  const latest = await openRegistrySource(`${reg.host}/kinds/nested`);
  t.teardown(() => latest.close());
  t.equal(latest.refName, 'latest');
});

t.test('Accept negotiation: the registry answers with the stored type only when we accept it', async (t) => {
  const list = await pushDockerManifestList(reg.host, 'kinds/accept', 'v1');
  // Without a Docker list in Accept, distribution 2.8 refuses (or converts); we send every type.
  const res = await fetch(`${reg.url}/v2/kinds/accept/manifests/v1`, { method: 'HEAD', headers: { Accept: MT.OciManifest } });
  t.not(res.headers.get('content-type'), MediaType.DockerList, 'the registry negotiates on Accept');
  const src = await openRegistrySource(`${reg.host}/kinds/accept:v1`);
  t.teardown(() => src.close());
  t.equal((await src.resolve()).mediaType, MediaType.DockerList);
  t.equal((await src.resolve()).digest, list.index.digest);
});

t.test('missing tag, repository, blob: clear errors', async (t) => {
  await pushTwoPlatformIndex(reg.host, 'kinds/missing', 'v1');
  const tag = await openRegistrySource(`${reg.host}/kinds/missing:nope`);
  t.teardown(() => tag.close());
  await t.rejects(tag.resolve(), { code: 'ENOTFOUND_MANIFEST', message: /resolve, .*kinds\/missing:nope: manifest not found \(no tag nope/ });
  const repo = await openRegistrySource(`${reg.host}/no/such/repo:v1`);
  t.teardown(() => repo.close());
  await t.rejects(repo.resolve(), { code: 'ENOTFOUND_REPO', message: /repository no\/such\/repo not found/ });
  const blob = { mediaType: MT.OciLayer, digest: sha256('absent'), size: 6 };
  await t.rejects(tag.fetchBlob(blob), { code: 'ENOTFOUND_BLOB', message: new RegExp(`fetch blob, ${blob.digest}, `) });
  const down = await openRegistrySource(`127.0.0.1:1/x:v1`, quick);
  t.teardown(() => down.close());
  await t.rejects(down.resolve(), { code: 'ENETWORK', message: /resolve, 127\.0\.0\.1:1\/x:v1: ECONNREFUSED/ });
});

t.test('fetchManifest reads at most size+1 bytes from a lying registry', async (t) => {
  const img = await pushTwoPlatformIndex(reg.host, 'kinds/lie', 'v1');
  const f = await startFaultyServer({ upstream: reg.host, mode: 'lie-size', extra: 8 << 20 });
  t.teardown(() => f.stop());
  const src = await openRegistrySource(`${f.host}/kinds/lie:v1`);
  t.teardown(() => src.close());
  const m = img.manifests[0];
  const bytes = await src.fetchManifest(m);
  t.equal(bytes.length, m.size + 1, 'one extra byte shows the caller there is trailing data');
});

t.test('blob stream yields at most size+1 bytes', async (t) => {
  const img = await pushImage(reg.host, 'kinds/short-desc', 'v1', [seededBytes(7, 10000)]);
  const src = await openRegistrySource(`${reg.host}/kinds/short-desc:v1`);
  t.teardown(() => src.close());
  const layer = img.blobs[1];
  const got = await collect(await src.fetchBlob({ ...layer, size: 100 }));
  t.equal(got.length, 101);
});

t.test('referrers: tag-schema fallback on distribution 2.8, forced tag mode, and the API', async (t) => {
  const art = await pushArtifactWithReferrer(reg.host, 'kinds/art', 'v1');
  const src = await openRegistrySource(`${reg.host}/kinds/art:v1`);
  t.teardown(() => src.close());
  const refs = await src.referrers(art.image);
  t.equal(refs.length, 1);
  t.equal(refs[0].digest, art.referrer.digest);
  t.equal(refs[0].artifactType, art.referrer.artifactType);
  t.same(await src.referrers(art.referrer), [], 'no referrers: empty');

  // A loopback server with the referrers API, proxying the rest to the registry.
  const seen: string[] = [];
  const api = createServer((req, res) => {
    seen.push(req.url ?? '');
    const m = /^\/v2\/(.+)\/referrers\/(sha256:[a-f0-9]+)$/.exec(req.url ?? '');
    if (m) {
      const manifests = m[2] === art.image.digest ? [{ ...art.referrer, annotations: { via: 'api' } }] : [];
      res.writeHead(200, { 'Content-Type': MediaType.OciIndex });
      return void res.end(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => api.close(() => r())));
  const apiHost = `127.0.0.1:${(api.address() as AddressInfo).port}`;
  const viaApi = await openRegistrySource(`${apiHost}/kinds/art:v1`);
  t.teardown(() => viaApi.close());
  const r2 = await viaApi.referrers(art.image);
  t.equal(r2[0].annotations?.via, 'api');
  t.ok(seen.some((u) => u.includes('/referrers/')));

  // supportsReferrers: tag never asks the API.
  const config = {
    registryConfig: {
      registries: { [apiHost]: { endpoints: [`http://${reg.host}`] } },
      endpointConfig: { [`http://${reg.host}`]: { supportsReferrers: 'tag' as const } },
    },
  };
  const forced = await openRegistrySource(`${apiHost}/kinds/art:v1`, { config });
  t.teardown(() => forced.close());
  const before = seen.length;
  t.equal((await forced.referrers(art.image))[0].digest, art.referrer.digest);
  t.equal(seen.length, before, 'endpoint rewritten to the registry, API not asked');
});

t.test('push: verified blobs commit, unverified ones do not', async (t) => {
  const target = await openRegistryTarget(`${reg.host}/push/x:v1`);
  t.teardown(() => target.close());
  t.equal(target.tag, 'v1');
  for (const size of [1000, 6 << 20]) {
    const data = seededBytes(size, size);
    const desc = { mediaType: MT.OciLayer, digest: sha256(data), size };
    t.equal(await target.blobExists(desc), false);
    async function* chunks() {
      for (let o = 0; o < data.length; o += 65536) yield data.subarray(o, o + 65536);
    }
    await t.rejects(
      target.pushBlob(desc, chunks(), async () => false),
      { code: 'EDIGEST' },
    );
    t.equal(await target.blobExists(desc), false, `${size}: nothing committed after verify false`);
    let verified = false;
    await target.pushBlob(desc, chunks(), async () => {
      verified = createHash('sha256').update(data).digest('hex') === desc.digest.slice(7);
      return verified;
    });
    t.equal(await target.blobExists(desc), true, `${size}: committed`);
  }
  // A source error mid-stream cancels the upload and surfaces.
  const big = { mediaType: MT.OciLayer, digest: sha256('x'), size: 8 << 20 };
  async function* broken() {
    yield new Uint8Array(1 << 20);
    throw new AceError('ESOURCE', 'source broke');
  }
  await t.rejects(target.pushBlob(big, broken(), async () => true));

  const img = await pushTwoPlatformIndex(reg.host, 'push/src', 'v1');
  const m = img.manifests[0];
  const bytes = img.content.get(m.digest)!;
  for (const b of img.blobs) {
    const data = img.content.get(b.digest)!;
    if (!(await target.blobExists(b))) {
      await target.pushBlob(b, (async function* () { yield data; })(), async () => true);
    }
  }
  t.equal(await target.manifestExists(m), false);
  await target.pushManifest(m, bytes);
  t.equal(await target.manifestExists(m), true);
  await target.pushManifest(m, bytes, 'v1');
  const check = await openRegistrySource(`${reg.host}/push/x:v1`);
  t.teardown(() => check.close());
  t.equal((await check.resolve()).digest, m.digest);
});

t.test('HEAD without Docker-Content-Digest: resolved by GET and hashing', async (t) => {
  const img = await pushDockerManifestList(reg.host, 'kinds/nodigest', 'v1');
  const f = await startFaultyServer({ upstream: reg.host, mode: 'no-digest' });
  t.teardown(() => f.stop());
  const src = await openRegistrySource(`${f.host}/kinds/nodigest:v1`);
  t.teardown(() => src.close());
  t.same(await src.resolve(), { mediaType: MediaType.DockerList, digest: img.index.digest, size: img.index.size });
  t.same(f.requests.map((r) => r.method), ['HEAD', 'GET']);
  const byDigest = await openRegistrySource(`${f.host}/kinds/nodigest@${img.index.digest}`);
  t.teardown(() => byDigest.close());
  t.equal((await byDigest.resolve()).digest, img.index.digest);
});

t.test('rewritePull maps the repository path', async (t) => {
  const img = await pushTwoPlatformIndex(reg.host, 'mirror/library/app', 'v1');
  const config = {
    registryConfig: {
      registries: { [reg.host]: { rewritePull: { '^library/(.*)$': 'mirror/library/${1}' } } },
      endpointConfig: {},
    },
  };
  const src = await openRegistrySource(`${reg.host}/library/app:v1`, { config });
  t.teardown(() => src.close());
  t.equal((await src.resolve()).digest, img.index.digest);
});
