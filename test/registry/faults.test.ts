/**
 * Misbehaving servers (real loopback proxies in front of a real registry): retries on 429 and
 * 500, a download dropped mid-way resumed with Range, a registry that cannot resume, a blob cut
 * short every time, wrong bytes passed through for the caller's verifier to catch.
 */
import t from 'tap';
import { openRegistrySource } from '../../src/source/registry.js';
import { startRegistry } from '../helpers/registry.js';
import { pushImage, sha256 } from '../helpers/images.js';
import { startFaultyServer, type FaultMode } from '../helpers/faulty-server.js';

const reg = await startRegistry();
t.teardown(() => reg.stop());
const img = await pushImage(reg.host, 'f/img', 'v1', [{ size: 3 << 20, seed: 21 }]);
const layer = img.blobs[1];
const quick = { retry: { baseDelayMs: 5, maxDelayMs: 20 } };

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of it) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function through(mode: FaultMode, extra: Partial<Parameters<typeof startFaultyServer>[0]> = {}) {
  const f = await startFaultyServer({ upstream: reg.host, mode, ...extra });
  const src = await openRegistrySource(`${f.host}/f/img:v1`, quick);
  return {
    f,
    src,
    stop: async () => {
      await src.close();
      await f.stop();
    },
  };
}

for (const mode of ['429-then-ok', '500-then-ok'] as const) {
  t.test(`${mode}: retried with backoff`, async (t) => {
    const { f, src, stop } = await through(mode, { failures: 3 });
    t.teardown(stop);
    t.equal((await src.resolve()).digest, img.index.digest);
    t.equal(sha256(await collect(await src.fetchBlob(layer))), layer.digest);
    t.ok(f.requests.length >= 5, 'the failed attempts were made');
  });
}

t.test('too many 500s: a clear error, bounded attempts', async (t) => {
  const { f, src, stop } = await through('500-then-ok', { failures: 100 });
  t.teardown(stop);
  await t.rejects(src.resolve(), { code: 'EREGISTRY', message: /resolve, .*f\/img:v1: HTTP 500/ });
  t.equal(f.requests.length, 5);
});

t.test('drop-once: resumed with Range, bytes identical', async (t) => {
  const { f, src, stop } = await through('drop-once', { afterBytes: 1_000_000, digest: layer.digest });
  t.teardown(stop);
  const got = await collect(await src.fetchBlob(layer));
  t.equal(got.length, layer.size);
  t.equal(sha256(got), layer.digest);
  const gets = f.requests.filter((r) => r.url.includes(layer.digest));
  t.equal(gets.length, 2);
  t.equal(gets[1].headers.range, 'bytes=1000000-');
});

t.test('no-range: a registry that answers 200 to Range cannot resume', async (t) => {
  const { src, stop } = await through('no-range', { afterBytes: 500_000, digest: layer.digest });
  t.teardown(stop);
  await t.rejects(collect(await src.fetchBlob(layer)), { code: 'ENETWORK', message: /connection dropped after 500000 of 3145728 bytes and the registry cannot resume/ });
});

t.test('short: cut at the same byte every time, gives up', async (t) => {
  const { f, src, stop } = await through('short', { afterBytes: 200_000, digest: layer.digest });
  t.teardown(stop);
  const err = await collect(await src.fetchBlob(layer)).catch((e) => e);
  t.match(err, { code: 'ENETWORK', message: new RegExp(`fetch blob, ${layer.digest}, .*: connection dropped after 200000 of 3145728 bytes; gave up`) });
  t.ok(f.requests.length <= 8, 'bounded');
});

t.test('wrong-digest: bytes pass through for the caller to verify', async (t) => {
  const { src, stop } = await through('wrong-digest', { digest: layer.digest });
  t.teardown(stop);
  const got = await collect(await src.fetchBlob(layer));
  t.equal(got.length, layer.size);
  t.not(sha256(got), layer.digest);
});

t.test('abort signal stops a download', async (t) => {
  const src = await openRegistrySource(`${reg.host}/f/img:v1`, quick);
  t.teardown(() => src.close());
  const ac = new AbortController();
  const it = await src.fetchBlob(layer, ac.signal);
  let n = 0;
  const err = await (async () => {
    for await (const c of it) {
      n += c.length;
      ac.abort();
    }
  })().catch((e) => e);
  t.ok(err, 'the iteration fails');
  t.ok(n < layer.size);
});
