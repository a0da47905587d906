/**
 * Credentials and auth flows against real servers: docker-registry with htpasswd (basic), a
 * loopback token service in front of a registry (bearer, per-scope cache, expiry, identity
 * tokens), credentials from config.json and from a credential helper, wrong credentials, and a
 * blob redirect to another host that must not receive the Authorization header.
 */
import t from 'tap';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRegistrySource, openRegistryTarget } from '../../src/source/registry.js';
import { startRegistry, startTokenAuthProxy } from '../helpers/registry.js';
import { pushImage, pushTwoPlatformIndex, seededBytes, sha256 } from '../helpers/images.js';
import { startFaultyServer } from '../helpers/faulty-server.js';
import { redact } from '../../src/errors.js';

const USER = 'operator';
const PASSWORD = 's3cret-Pa55word';

const tmp = await mkdtemp(join(tmpdir(), 'ace-dt-auth-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

let n = 0;
/** A fresh environment whose Docker config holds `config`. */
async function envWith(config: unknown, extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
  const dir = join(tmp, `docker-${++n}`);
  await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.REGISTRY_AUTH_FILE;
  delete env.ACE_DT_REGISTRY_AUTH_FILE;
  return { ...env, DOCKER_CONFIG: dir, HOME: join(tmp, 'home'), ...extra };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of it) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

function noSecret(t: { notOk: (...a: any[]) => unknown }, e: unknown, ...secrets: string[]) {
  const text = String((e as Error)?.message) + String((e as Error)?.stack);
  for (const s of secrets) t.notOk(text.includes(s), 'secret not in the message');
}

t.test('basic auth (htpasswd)', async (t) => {
  const reg = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
  t.teardown(() => reg.stop());
  const img = await pushTwoPlatformIndex(reg.host, 'b/img', 'v1', { auth: { user: USER, password: PASSWORD } });
  const ref = `${reg.host}/b/img:v1`;

  const anon = await openRegistrySource(ref, { env: await envWith({}) });
  t.teardown(() => anon.close());
  await t.rejects(anon.resolve(), { code: 'EUNAUTHORIZED', message: new RegExp(`authentication required by ${reg.host} and no credentials found`) });

  const good = await openRegistrySource(ref, { env: await envWith({ auths: { [reg.host]: { auth: b64(`${USER}:${PASSWORD}`) } } }) });
  t.teardown(() => good.close());
  t.equal((await good.resolve()).digest, img.index.digest);
  const blob = img.blobs[0];
  t.equal(sha256(await collect(await good.fetchBlob(blob))), blob.digest);

  const fields = await openRegistrySource(ref, { env: await envWith({ auths: { [`https://${reg.host}/v1/`]: { username: USER, password: PASSWORD } } }) });
  t.teardown(() => fields.close());
  t.equal((await fields.resolve()).digest, img.index.digest, 'username/password fields, key with scheme and path');

  const authFile = join(tmp, 'auth.json');
  await writeFile(authFile, JSON.stringify({ auths: { [reg.host]: { auth: b64(`${USER}:${PASSWORD}`) } } }));
  const viaEnv = await openRegistrySource(ref, { env: await envWith({}, { REGISTRY_AUTH_FILE: authFile }) });
  t.teardown(() => viaEnv.close());
  t.equal((await viaEnv.resolve()).digest, img.index.digest, 'REGISTRY_AUTH_FILE wins over DOCKER_CONFIG');

  const bad = await openRegistrySource(ref, { env: await envWith({ auths: { [reg.host]: { auth: b64(`${USER}:wrong-${PASSWORD}`) } } }) });
  t.teardown(() => bad.close());
  const err = await bad.resolve().catch((e) => e);
  t.match(err, { code: 'EUNAUTHORIZED', message: new RegExp(`authentication failed for ${reg.host}`) });
  noSecret(t, err, PASSWORD, b64(`${USER}:wrong-${PASSWORD}`));

  // Push with basic auth.
  const target = await openRegistryTarget(`${reg.host}/b/pushed:v2`, { env: await envWith({ auths: { [reg.host]: { auth: b64(`${USER}:${PASSWORD}`) } } }) });
  t.teardown(() => target.close());
  const data = seededBytes(99, 5000);
  const d = { mediaType: 'application/octet-stream', digest: sha256(data), size: data.length };
  await target.pushBlob(d, (async function* () { yield data; })(), async () => true);
  t.equal(await target.blobExists(d), true);
});

t.test("podman's and skopeo's auth.json, after docker's config", async (t) => {
  const reg = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
  t.teardown(() => reg.stop());
  const img = await pushImage(reg.host, 'p/img', 'v1', [seededBytes(6, 3000)], { auth: { user: USER, password: PASSWORD } });
  const ref = `${reg.host}/p/img:v1`;
  const good = { auths: { [reg.host]: { auth: b64(`${USER}:${PASSWORD}`) } } };
  const home = join(tmp, 'podman-home');
  const runtime = join(tmp, 'podman-run');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(join(home, '.config', 'containers'), { recursive: true });
  await mkdir(join(runtime, 'containers'), { recursive: true });

  // podman login writes $XDG_RUNTIME_DIR/containers/auth.json.
  await writeFile(join(runtime, 'containers', 'auth.json'), JSON.stringify(good));
  const xdg = await openRegistrySource(ref, { env: { ...(await envWith({})), HOME: home, XDG_RUNTIME_DIR: runtime } });
  t.teardown(() => xdg.close());
  t.equal((await xdg.resolve()).digest, img.index.digest, '$XDG_RUNTIME_DIR/containers/auth.json');

  // ~/.config/containers/auth.json (skopeo's persistent file), with no XDG_RUNTIME_DIR.
  await writeFile(join(home, '.config', 'containers', 'auth.json'), JSON.stringify(good));
  const persistent = await openRegistrySource(ref, { env: { ...(await envWith({})), HOME: home, XDG_RUNTIME_DIR: '' } });
  t.teardown(() => persistent.close());
  t.equal((await persistent.resolve()).digest, img.index.digest, '~/.config/containers/auth.json');

  // Docker's config comes first: its (wrong) entry for the host answers.
  const dockerFirst = await openRegistrySource(ref, {
    env: { ...(await envWith({ auths: { [reg.host]: { auth: b64(`${USER}:wrong`) } } })), HOME: home, XDG_RUNTIME_DIR: runtime },
  });
  t.teardown(() => dockerFirst.close());
  await t.rejects(dockerFirst.resolve(), { code: 'EUNAUTHORIZED' }, "docker's config.json before auth.json");
});

t.test('credential helpers: credHelpers and credsStore', async (t) => {
  const reg = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
  t.teardown(() => reg.stop());
  const img = await pushImage(reg.host, 'h/img', 'v1', [seededBytes(5, 3000)], { auth: { user: USER, password: PASSWORD } });
  const bin = join(tmp, 'bin');
  await import('node:fs/promises').then((fs) => fs.mkdir(bin, { recursive: true }));
  const log = join(tmp, 'helper.log');
  // A helper in the docker-credential-helpers protocol: server URL on stdin, JSON on stdout.
  await writeFile(
    join(bin, 'docker-credential-acetest'),
    `#!/bin/sh\n[ "$1" = get ] || exit 1\nread server\necho "$server" >> ${log}\nif [ "$server" = "${reg.host}" ]; then\n  printf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASSWORD}"}' "$server"\nelse\n  echo "credentials not found in native keychain"; exit 1\nfi\n`,
  );
  await chmod(join(bin, 'docker-credential-acetest'), 0o755);
  const PATH = `${bin}:${process.env.PATH}`;

  const perHost = await openRegistrySource(`${reg.host}/h/img:v1`, { env: await envWith({ credHelpers: { [reg.host]: 'acetest' } }, { PATH }) });
  t.teardown(() => perHost.close());
  t.equal((await perHost.resolve()).digest, img.index.digest);

  const store = await openRegistrySource(`${reg.host}/h/img:v1`, { env: await envWith({ credsStore: 'acetest' }, { PATH }) });
  t.teardown(() => store.close());
  t.equal((await store.resolve()).digest, img.index.digest);
  const { readFile } = await import('node:fs/promises');
  t.match(await readFile(log, 'utf8'), reg.host, 'the helper got the host on stdin');

  // Docker asks a configured store before an inline entry (there mostly a placeholder): a wrong
  // inline password does not get in the way of the store's right one.
  const storeFirst = await openRegistrySource(`${reg.host}/h/img:v1`, {
    env: await envWith({ credsStore: 'acetest', auths: { [reg.host]: { auth: b64(`${USER}:wrong`) } } }, { PATH }),
  });
  t.teardown(() => storeFirst.close());
  t.equal((await storeFirst.resolve()).digest, img.index.digest, 'credsStore before inline auths');

  const missing = await openRegistrySource(`${reg.host}/h/img:v1`, { env: await envWith({ credsStore: 'nonexistent-helper' }, { PATH }) });
  t.teardown(() => missing.close());
  await t.rejects(missing.resolve(), { code: 'ECREDENTIALS', message: /docker-credential-nonexistent-helper/ });
});

t.test('bearer tokens: scoped, cached, refreshed, identity tokens, wrong credentials', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  // Layers of 2 MiB: large blobs come on the bare socket path, which must carry the token too.
  const img = await pushTwoPlatformIndex(reg.host, 'tok/img', 'v1', { layerSize: 2 << 20 });
  const proxy = await startTokenAuthProxy({ upstream: reg.host, user: USER, password: PASSWORD, expiresIn: 300 });
  t.teardown(() => proxy.stop());
  const ref = `${proxy.host}/tok/img:v1`;
  const creds = { auths: { [proxy.host]: { auth: b64(`${USER}:${PASSWORD}`) } } };

  const src = await openRegistrySource(ref, { env: await envWith(creds) });
  t.teardown(() => src.close());
  t.equal((await src.resolve()).digest, img.index.digest);
  for (const b of img.blobs) t.equal(sha256(await collect(await src.fetchBlob(b))), b.digest);
  for (const m of img.manifests) t.equal(sha256(await src.fetchManifest(m)), m.digest);
  t.equal(proxy.issued.length, 1, 'one token for the pull scope, reused');
  t.same(proxy.issued[0].scopes, ['repository:tok/img:pull']);
  t.equal(proxy.issued[0].user, USER, 'basic credentials sent to the token endpoint');

  // Parallel first requests share one token fetch.
  const before = proxy.issued.length;
  const par = await openRegistrySource(ref, { env: await envWith(creds) });
  t.teardown(() => par.close());
  const got = await Promise.all(img.blobs.map(async (b) => sha256(await collect(await par.fetchBlob(b)))));
  t.same(got, img.blobs.map((b) => b.digest));
  t.equal(proxy.issued.length, before + 1, 'one token for parallel requests');

  // Push needs pull,push: a second token for the other scope.
  const target = await openRegistryTarget(`${proxy.host}/tok/img:v2`, { env: await envWith(creds) });
  t.teardown(() => target.close());
  const data = seededBytes(7, 2000);
  const d = { mediaType: 'application/octet-stream', digest: sha256(data), size: data.length };
  await target.pushBlob(d, (async function* () { yield data; })(), async () => true);
  t.ok(proxy.issued.some((i) => i.scopes.includes('repository:tok/img:pull,push')));

  const bad = await openRegistrySource(ref, { env: await envWith({ auths: { [proxy.host]: { auth: b64(`${USER}:nope-nope`) } } }) });
  t.teardown(() => bad.close());
  const err = await bad.resolve().catch((e) => e);
  t.match(err, { code: 'EUNAUTHORIZED', message: new RegExp(`authentication failed for ${proxy.host}`) });
  noSecret(t, err, 'nope-nope');

  const anon = await openRegistrySource(ref, { env: await envWith({}) });
  t.teardown(() => anon.close());
  await t.rejects(anon.resolve(), { code: 'EUNAUTHORIZED', message: /no credentials found/ });

  // Identity token: OAuth2 refresh-token grant.
  proxy.refreshTokens.add('refresh-abc');
  const idt = await openRegistrySource(ref, { env: await envWith({ auths: { [proxy.host]: { identitytoken: 'refresh-abc' } } }) });
  t.teardown(() => idt.close());
  t.equal((await idt.resolve()).digest, img.index.digest);
  t.equal(proxy.issued.at(-1)?.grant, 'refresh_token');
});

t.test('bearer tokens expire and are refreshed', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const img = await pushImage(reg.host, 'exp/img', 'v1', [seededBytes(3, 1000)]);
  const proxy = await startTokenAuthProxy({ upstream: reg.host, user: USER, password: PASSWORD, expiresIn: 1, anonymousPull: true });
  t.teardown(() => proxy.stop());
  const src = await openRegistrySource(`${proxy.host}/exp/img:v1`, { env: await envWith({}) });
  t.teardown(() => src.close());
  t.equal((await src.resolve()).digest, img.index.digest);
  t.equal(proxy.issued.length, 1, 'anonymous token');
  t.equal(proxy.issued[0].grant, 'anonymous');
  await new Promise((r) => setTimeout(r, 1100));
  t.equal(sha256(await collect(await src.fetchBlob(img.blobs[1]))), img.blobs[1].digest);
  t.equal(proxy.issued.length, 2, 'a new token after expiry');
});

t.test('a redirect to another host does not carry Authorization', async (t) => {
  const authed = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
  t.teardown(() => authed.stop());
  const storage = await startRegistry();
  t.teardown(() => storage.stop());
  const layers = [seededBytes(11, 300_000)];
  const img = await pushImage(authed.host, 'r/img', 'v1', layers, { auth: { user: USER, password: PASSWORD } });
  await pushImage(storage.host, 'r/img', 'v1', layers);
  const f = await startFaultyServer({ upstream: authed.host, mode: 'redirect', redirectUpstream: storage.host });
  t.teardown(() => f.stop());
  const src = await openRegistrySource(`${f.host}/r/img:v1`, { env: await envWith({ auths: { [f.host]: { auth: b64(`${USER}:${PASSWORD}`) } } }) });
  t.teardown(() => src.close());
  t.equal((await src.resolve()).digest, img.index.digest);
  const layer = img.blobs[1];
  t.equal(sha256(await collect(await src.fetchBlob(layer))), layer.digest);
  const main = f.requests.filter((r) => r.listener === 'main' && r.url.includes('/blobs/'));
  const redirected = f.requests.filter((r) => r.listener === 'redirect');
  t.ok(main.some((r) => r.headers.authorization?.startsWith('Basic ')), 'the registry got the credentials');
  t.ok(redirected.length > 0, 'the blob came from the other host');
  t.ok(redirected.every((r) => r.headers.authorization === undefined), 'the other host got no Authorization');
});

t.test('redact() hides credentials in URLs and headers', async (t) => {
  const out = redact('GET https://u:pw@h/x?sig=abc: Bearer abc.def, Basic dXNlcjpwdw==');
  for (const s of ['pw@', 'sig=abc', 'abc.def', 'dXNlcjpwdw==']) t.notOk(out.includes(s), s);
});
