import t from 'tap';
import type { Test } from 'tap';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { startRegistry, startTokenAuthProxy } from '../helpers/registry.js';
import { startFaultyServer, type RecordedRequest } from '../helpers/faulty-server.js';
import { buildTwoPlatformIndex, pushSet, pushTwoPlatformIndex, putManifest, MT, type PushedImages } from '../helpers/images.js';

/**
 * Cross-repository mounts in `mirror deserialize` (issue 16), against a real registry (Debian's
 * docker-registry) through a recording proxy: what was mounted, what was uploaded, that no upload
 * session is left behind, and that the result's digests are the source's in every case.
 */
const reg = await startRegistry();
t.teardown(() => reg.stop());
const rec = await startFaultyServer({ upstream: reg.host, mode: 'proxy' });
t.teardown(() => rec.stop());
const ACCEPT = [MT.OciIndex, MT.OciManifest, MT.DockerList, MT.DockerManifest].join(', ');

async function headManifest(host: string, repo: string, ref: string): Promise<string> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, { method: 'HEAD', headers: { Accept: ACCEPT } });
  return res.headers.get('docker-content-digest') ?? `status ${res.status}`;
}

/** The copy is the source: tag -> root digest, every blob and manifest present. */
async function sameAsSource(t: Test, repo: string, tag: string, pushed: PushedImages): Promise<void> {
  t.equal(await headManifest(reg.host, repo, tag), pushed.index.digest, `${repo}:${tag} = source root`);
  for (const b of pushed.blobs) t.equal((await fetch(`${reg.url}/v2/${repo}/blobs/${b.digest}`, { method: 'HEAD' })).status, 200, `blob ${b.digest.slice(7, 19)} in ${repo}`);
  for (const m of pushed.manifests) t.equal(await headManifest(reg.host, repo, m.digest), m.digest, `manifest ${m.digest.slice(7, 19)} in ${repo}`);
}

/**
 * Live upload sessions the registry holds for `repo` (a leaked 202 would stay here). Distribution
 * 2.8 leaves an empty `hashstates` husk of a cancelled session (its DELETE answers 204 and the
 * session is unknown from then on); a live one has its `startedat` file.
 */
function openUploads(repo: string): number {
  const dir = join(reg.rootDir, 'data', 'docker', 'registry', 'v2', 'repositories', repo, '_uploads');
  return existsSync(dir) ? readdirSync(dir).filter((u) => existsSync(join(dir, u, 'startedat'))).length : 0;
}

/** Requests recorded while `fn` ran. */
async function recording<T>(fn: () => Promise<T>): Promise<{ value: T; requests: RecordedRequest[] }> {
  const from = rec.requests.length;
  const value = await fn();
  return { value, requests: rec.requests.slice(from) };
}

const uploadsOf = (rs: RecordedRequest[]) => rs.filter((r) => (r.method === 'PATCH' || r.method === 'PUT') && r.url.includes('/blobs/uploads/'));
const mountsOf = (rs: RecordedRequest[]) => rs.filter((r) => r.method === 'POST' && /[?&]from=/.test(r.url));

async function serialize(t: Test, repo: string, tag: string): Promise<string> {
  const file = join(t.testdir({}), 'a.tar');
  const s = await runCli(['mirror', 'serialize', `${reg.host}/${repo}:${tag}`, file, '-q']);
  t.equal(s.code, 0, s.stderr);
  return file;
}

/** A cache home of the test's own (t.testdir is taken by the archive). */
function cacheHome(t: Test): { env: NodeJS.ProcessEnv; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ace-dt-mounts-cache-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { env: { XDG_CACHE_HOME: dir }, file: join(dir, 'ace-dt', 'blob-locations.json') };
}

t.test('a second deserialize into another repository mounts every blob (the cache)', async (t) => {
  const pushed = await pushTwoPlatformIndex(reg.host, 'm1/src', 'v1', { seed: 160 });
  const file = await serialize(t, 'm1/src', 'v1');
  const { env, file: cache } = cacheHome(t);
  const first = await recording(() => runCli(['mirror', 'deserialize', file, `${rec.host}/m1/a:v1`, '--no-term'], { env }));
  t.equal(first.value.code, 0, first.value.stderr);
  t.equal(uploadsOf(first.requests).length > 0, true, 'the first run uploads');
  t.match(first.value.stdout, new RegExp(`${pushed.blobs.length} uploaded .*, 0 mounted`));
  t.ok(existsSync(cache), 'the blob-location cache is written');

  const second = await recording(() => runCli(['mirror', 'deserialize', file, `${rec.host}/m1/b:v1`, '--no-term'], { env }));
  t.equal(second.value.code, 0, second.value.stderr);
  t.same(uploadsOf(second.requests), [], 'no blob PATCH or PUT');
  t.equal(mountsOf(second.requests).length, pushed.blobs.length, 'one mount per blob');
  t.ok(mountsOf(second.requests).every((r) => r.url.includes('from=m1%2Fa')), 'mounted from the first repository');
  t.match(second.value.stdout, new RegExp(`0 uploaded \\(0 B\\), ${pushed.blobs.length} mounted`));
  await sameAsSource(t, 'm1/b', 'v1', pushed);
  t.equal(openUploads('m1/b'), 0, 'no upload session left behind');

  // --dry-run says what would be mounted, and changes nothing.
  const dry = await recording(() => runCli(['mirror', 'deserialize', '--dry-run', file, `${rec.host}/m1/dry:v1`, '--no-term'], { env }));
  t.equal(dry.value.code, 0, dry.value.stderr);
  t.match(dry.value.stdout, new RegExp(`0 would be uploaded \\(0 B\\), ${pushed.blobs.length} would be mounted`));
  t.same(dry.requests.filter((r) => r.method !== 'GET' && r.method !== 'HEAD'), [], 'a dry run only reads');
});

t.test('--mount-from, with an empty cache; another registry is a usage error', async (t) => {
  const pushed = await pushTwoPlatformIndex(reg.host, 'm2/base', 'v1', { seed: 170 });
  const file = await serialize(t, 'm2/base', 'v1');
  const { env } = cacheHome(t);
  const run = await recording(() => runCli(['mirror', 'deserialize', '--mount-from', `${rec.host}/m2/base`, '--mount-from', 'm2/nothing-here', file, `${rec.host}/m2/copy:v1`, '--no-term'], { env }));
  t.equal(run.value.code, 0, run.value.stderr);
  t.same(uploadsOf(run.requests), [], 'nothing uploaded');
  t.match(run.value.stdout, new RegExp(`0 uploaded \\(0 B\\), ${pushed.blobs.length} mounted`));
  await sameAsSource(t, 'm2/copy', 'v1', pushed);
  const other = await runCli(['mirror', 'deserialize', '--mount-from', 'other.example.com/m2/base', file, `${reg.host}/m2/x:v1`], { env });
  t.equal(other.code, 2, 'usage error');
  t.match(other.stderr, /mounts happen within IMAGE's registry/);
});

t.test('a stale cache (repository deleted, blob gone) and a corrupt one fall back to upload', async (t) => {
  const pushed = await pushTwoPlatformIndex(reg.host, 'm3/src', 'v1', { seed: 180 });
  const file = await serialize(t, 'm3/src', 'v1');
  const { env, file: cache } = cacheHome(t);
  mkdirSync(join(cache, '..'), { recursive: true });
  // Every blob "seen" in a repository that never existed, and in one that holds none of them.
  const stale = Object.fromEntries(pushed.blobs.map((b) => [b.digest, { 'm3/deleted': 2_000_000_000, 'm3/empty': 1_999_999_999 }]));
  writeFileSync(cache, JSON.stringify({ version: 1, registries: { [rec.host]: stale } }));
  await pushTwoPlatformIndex(reg.host, 'm3/empty', 'v1', { seed: 181 });
  const run = await recording(() => runCli(['mirror', 'deserialize', file, `${rec.host}/m3/copy:v1`, '--no-term'], { env }));
  t.equal(run.value.code, 0, run.value.stderr);
  t.equal(mountsOf(run.requests).length, 2 * pushed.blobs.length, 'both stale repositories tried');
  t.match(run.value.stdout, new RegExp(`${pushed.blobs.length} uploaded .*, 0 mounted`));
  await sameAsSource(t, 'm3/copy', 'v1', pushed);
  t.equal(openUploads('m3/copy'), 0, "the refused mounts' upload sessions were used or cancelled");
  const after = JSON.parse(readFileSync(cache, 'utf8')) as { registries: Record<string, Record<string, Record<string, number>>> };
  for (const b of pushed.blobs) t.same(Object.keys(after.registries[rec.host][b.digest]), ['m3/copy'], 'stale entries forgotten, the new one kept');

  for (const garbage of ['{"version":1,"registries":{"x":', '\0\0\0', 'null', '{"version":1,"registries":{"h":{"sha256:zz":{"r":"x"}}}}']) {
    writeFileSync(cache, garbage);
    const r = await runCli(['mirror', 'deserialize', file, `${reg.host}/m3/again:v1`, '--no-term'], { env });
    t.equal(r.code, 0, `corrupt cache ${JSON.stringify(garbage.slice(0, 12))} is ignored: ${r.stderr}`);
    t.doesNotThrow(() => JSON.parse(readFileSync(cache, 'utf8')), 'and rewritten whole');
  }
  await sameAsSource(t, 'm3/again', 'v1', pushed);
});

t.test("the archive's source annotation (the original's gather index) names the repository to mount from", async (t) => {
  const set = buildTwoPlatformIndex('v1', { seed: 190 });
  await pushSet(reg.host, 'm4/src', set);
  await pushSet(reg.host, 'm4/gather', set);
  const root = set.manifests.find((m) => m.tag === 'v1')!.desc;
  const gather = new TextEncoder().encode(
    JSON.stringify({ schemaVersion: 2, mediaType: MT.OciIndex, manifests: [{ ...root, annotations: { 'vnd.act3-ace.manifest.source': `reg.low.example/m4/src:v1` } }] }),
  );
  await putManifest(reg.host, 'm4/gather', 'g1', MT.OciIndex, gather);
  const file = await serialize(t, 'm4/gather', 'g1');
  const { env } = cacheHome(t);
  const run = await recording(() => runCli(['mirror', 'deserialize', file, `${rec.host}/m4/copy:g1`, '--no-term'], { env }));
  t.equal(run.value.code, 0, run.value.stderr);
  t.same(uploadsOf(run.requests), [], 'nothing uploaded');
  t.ok(mountsOf(run.requests).length > 0 && mountsOf(run.requests).every((r) => r.url.includes('from=m4%2Fsrc')), 'mounted from the annotated source repository');
  t.ok(run.requests.every((r) => !JSON.stringify(r.headers).includes('reg.low.example')), 'nothing goes to the source registry');
});

t.test('a token service that grants push but not pull on the source: the mount falls back to upload', async (t) => {
  const user = 'mounter';
  const password = 's3cret';
  const auth = await startTokenAuthProxy({ upstream: reg.host, user, password, pullDenied: ['m5/secret'] });
  t.teardown(() => auth.stop());
  const pushed = await pushTwoPlatformIndex(reg.host, 'm5/secret', 'v1', { seed: 200 });
  const file = await serialize(t, 'm5/secret', 'v1');
  const { env: cacheEnv, file: cache } = cacheHome(t);
  const dir = join(cache, '..', '..');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [auth.host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }));
  const env = { ...cacheEnv, DOCKER_CONFIG: dir, REGISTRY_AUTH_FILE: '' };
  const run = await runCli(['mirror', 'deserialize', '--mount-from', 'm5/secret', file, `${auth.host}/m5/copy:v1`, '--no-term'], { env });
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, new RegExp(`${pushed.blobs.length} uploaded .*, 0 mounted`));
  t.ok(auth.issued.some((i) => i.scopes.includes('repository:m5/copy:pull,push') && !i.scopes.some((s) => s.startsWith('repository:m5/secret'))), 'the token service refused pull on the source');
  await sameAsSource(t, 'm5/copy', 'v1', pushed);
  t.equal(openUploads('m5/copy'), 0, 'no upload session left behind');
});

t.test('a registry that refuses mounts with 403 DENIED: every blob is uploaded, exit 0, no error', async (t) => {
  const denying = await startFaultyServer({ upstream: reg.host, mode: 'mount-403' });
  t.teardown(() => denying.stop());
  const pushed = await pushTwoPlatformIndex(reg.host, 'm6/base', 'v1', { seed: 210 });
  const file = await serialize(t, 'm6/base', 'v1');
  const { env } = cacheHome(t);
  const from = denying.requests.length;
  const run = await runCli(['mirror', 'deserialize', '--mount-from', 'm6/base', file, `${denying.host}/m6/copy:v1`, '--no-term'], { env });
  const requests = denying.requests.slice(from);
  t.equal(run.code, 0, run.stderr);
  t.ok(mountsOf(requests).length >= pushed.blobs.length, 'a mount from m6/base was tried for every blob (and refused)');
  t.equal(uploadsOf(requests).filter((r) => r.method === 'PUT').length, pushed.blobs.length, 'then every blob was uploaded');
  t.match(run.stdout, new RegExp(`${pushed.blobs.length} uploaded .*, 0 mounted`));
  t.notMatch(run.stderr, /403|DENIED|error/i, 'a refused mount is not an error');
  await sameAsSource(t, 'm6/copy', 'v1', pushed);
  t.equal(openUploads('m6/copy'), 0, 'no upload session left behind');
});
