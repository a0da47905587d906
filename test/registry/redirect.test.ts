/**
 * Blob GETs redirected to another origin (blob storage, a CDN) on both transports (issue 11): the
 * bare socket (blob GETs) and undici's pool (every other request, and blob GETs through a proxy):
 * the other origin gets connections of its own, pooled and reused from blob to blob, and never
 * the registry's Authorization; the registry's own connection survives each redirect answer. A
 * real docker-registry with basic auth behind a real loopback server that answers blob GETs with
 * 307 to a second listener on another port (the "CDN", which proxies to a registry without auth
 * holding the same blobs), both counting the TCP connections they accept.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryClient } from '../../src/registry/client.js';
import { parseReference } from '../../src/oci/reference.js';
import { startRegistry } from '../helpers/registry.js';
import { pushImage, sha256 } from '../helpers/images.js';
import { startFaultyServer } from '../helpers/faulty-server.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import type { ResponseData } from '../../src/registry/http.js';

const auth = { user: 'cdn', password: 'cdn-secret' };
const authed = await startRegistry({ htpasswd: auth });
t.teardown(() => authed.stop());
const storage = await startRegistry();
t.teardown(() => storage.stop());
// Six small blobs (send() on undici's pool) and four large ones (fetchBlob, the bare socket), in both registries.
const layers = Array.from({ length: 10 }, (_, i) => ({ size: i < 6 ? 20_000 + i : (2 << 20) + i, seed: 4400 + i }));
const img = await pushImage(authed.host, 'cdn/img', 'v1', layers, { auth });
await pushImage(storage.host, 'cdn/img', 'v1', layers);
const small = img.blobs.slice(1, 7);
const large = img.blobs.slice(7);

const home = mkdtempSync(join(tmpdir(), 'ace-dt-redirect-'));
t.teardown(() => rmSync(home, { recursive: true, force: true }));

/** A redirecting server and a client of it holding the registry's credentials. */
async function redirecting(t: Test) {
  const f = await startFaultyServer({ upstream: authed.host, mode: 'redirect', redirectUpstream: storage.host });
  t.teardown(() => f.stop());
  const dir = mkdtempSync(join(home, 'docker-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [f.host]: { auth: Buffer.from(`${auth.user}:${auth.password}`).toString('base64') } } }));
  const client = new RegistryClient(parseReference(`${f.host}/cdn/img:v1`), { env: { ...process.env, DOCKER_CONFIG: dir } });
  t.teardown(() => client.close());
  t.equal((await client.resolve('v1')).digest, img.index.digest, 'resolved (the registry asked for Basic)');
  return { f, client };
}

async function bytesOf(res: ResponseData): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** What each origin saw of the blob GETs: connections, and who got the Authorization. */
function check(t: Test, f: Awaited<ReturnType<typeof redirecting>>['f'], blobs: Descriptor[]) {
  const toRegistry = f.requests.filter((r) => r.listener === 'main' && r.url.includes('/blobs/'));
  const toCdn = f.requests.filter((r) => r.listener === 'redirect');
  t.equal(toCdn.length, blobs.length, 'every blob came from the other origin');
  t.ok(toRegistry.every((r) => r.headers.authorization?.startsWith('Basic ')), 'the registry got the credentials with each GET');
  t.same(toCdn.filter((r) => r.headers.authorization !== undefined).map((r) => r.url), [], 'the other origin never got the Authorization');
  t.equal(f.connections.redirect, 1, `one connection to the other origin for ${blobs.length} blobs, one after another`);
  // The resolve's two HEADs (undici closes a connection after a HEAD) and the GETs' one or two;
  // one per redirect answer would be 8 and 6.
  t.ok(f.connections.main <= 5, `${f.connections.main} connections to the registry for ${toRegistry.length} GETs: kept across its redirect answers`);
}

t.test("undici's pool: a redirect target has its own pooled connections and no Authorization", async (t) => {
  const { f, client } = await redirecting(t);
  for (const b of small) {
    // send() as the concerns call it, on the undici transport (not `lend`): it follows the 307 itself.
    const res = await client.send({ method: 'GET', url: `blobs/${b.digest}`, what: `fetch blob, ${b.digest}`, redirects: true });
    t.equal(res.statusCode, 200);
    t.equal(sha256(await bytesOf(res)), b.digest);
  }
  check(t, f, small);
});

t.test('the bare socket: a redirect target has its own pooled connections and no Authorization', async (t) => {
  const { f, client } = await redirecting(t);
  for (const b of large) {
    const chunks: Buffer[] = [];
    await (await client.fetchBlob(b)).pipeTo((c) => void chunks.push(Buffer.from(c)));
    t.equal(sha256(Buffer.concat(chunks)), b.digest);
  }
  check(t, f, large);
});
