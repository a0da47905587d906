import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCli } from '../helpers/cli.js';
import { startRegistry } from '../helpers/registry.js';
import { pushArtifactWithReferrer, pushDockerManifestList, pushNestedIndex, pushTwoPlatformIndex, MT } from '../helpers/images.js';
import { startFaultyServer } from '../helpers/faulty-server.js';
import { listTar } from '../helpers/tar.js';

const exec = promisify(execFile);

const reg = await startRegistry();
t.teardown(() => reg.stop());

/** The digest a registry serves for a tag (Docker-Content-Digest of a HEAD). */
async function headDigest(repo: string, tag: string): Promise<string> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: [MT.OciIndex, MT.OciManifest, MT.DockerList, MT.DockerManifest].join(', ') },
  });
  return res.headers.get('docker-content-digest') ?? `status ${res.status}`;
}

/** skopeo, an independent reader (Go archive/tar), loads our archive into the registry. */
async function skopeoLoad(file: string, tag: string, dest: string): Promise<void> {
  await exec('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci-archive:${file}:${tag}`, `docker://${reg.host}/${dest}`], { timeout: 120_000 });
}

// skopeo 1.9 (Debian 12) reads only OCI manifests and indexes by ref.name from a layout and
// does not copy nested indexes ("Unexpectedly received a manifest list"), so those two kinds are
// read back by our own deserialize instead (test/deserialize has the exhaustive round trips).
const kinds = [
  { name: 'two-platform OCI index with shared layers', push: pushTwoPlatformIndex, reader: 'skopeo' },
  { name: 'Docker manifest list', push: pushDockerManifestList, reader: 'deserialize' },
  { name: 'nested index', push: pushNestedIndex, reader: 'deserialize' },
];

for (const [i, kind] of kinds.entries()) {
  t.test(`round trip through ${kind.reader}: ${kind.name}`, async (t) => {
    const repo = `rt${i}/src`;
    const pushed = await kind.push(reg.host, repo, 'v1', { seed: 10 + i });
    const file = join(t.testdir({}), 'out.tar');
    const r = await runCli(['mirror', 'serialize', `${reg.host}/${repo}:v1`, file, '--no-term']);
    t.equal(r.code, 0, r.stderr);
    const names = (await listTar(file)).map((e) => e.path);
    for (const b of [pushed.index, ...pushed.manifests, ...pushed.blobs]) {
      t.ok(names.includes(`blobs/sha256/${b.digest.slice(7)}`), `archive holds ${b.digest}`);
    }
    if (kind.reader === 'skopeo') await skopeoLoad(file, 'v1', `rt${i}/copy:v1`);
    else t.equal((await runCli(['mirror', 'deserialize', file, `${reg.host}/rt${i}/copy:v1`, '-q'])).code, 0);
    t.equal(await headDigest(`rt${i}/copy`, 'v1'), pushed.index.digest, 'the copy has the source root digest');
  });
}

t.test('-r follows referrers; the referrer and its subject travel together', async (t) => {
  const pushed = await pushArtifactWithReferrer(reg.host, 'art/src', 'v1', { seed: 31 });
  const file = join(t.testdir({}), 'out.tar');
  const without = join(t.testdir({}), 'plain.tar');
  t.equal((await runCli(['mirror', 'serialize', `${reg.host}/art/src:v1`, without, '-q'])).code, 0);
  t.notOk((await listTar(without)).some((e) => e.path.endsWith(pushed.referrer.digest.slice(7))), 'without -r: no referrer');
  const r = await runCli(['mirror', 'serialize', `${reg.host}/art/src:v1`, file, '-q', '-r']);
  t.equal(r.code, 0, r.stderr);
  const entries = await listTar(file);
  t.ok(entries.some((e) => e.path.endsWith(pushed.referrer.digest.slice(7))), 'with -r: the referrer manifest is in the archive');
  await skopeoLoad(file, 'v1', 'art/copy:v1');
  t.equal(await headDigest('art/copy', 'v1'), pushed.image.digest);
});

t.test('EXISTING-IMAGE: the archive lacks exactly its blobs and holds every other one', async (t) => {
  const a = await pushTwoPlatformIndex(reg.host, 'ex/a', 'v1', { seed: 50 });
  const b = await pushTwoPlatformIndex(reg.host, 'ex/b', 'v1', { seed: 51 });
  // An image that shares A's shared layer and one config: build it from A by pushing A's index to another repo.
  const file = join(t.testdir({}), 'out.tar');
  const r = await runCli(['mirror', 'serialize', `${reg.host}/ex/a:v1`, file, `${reg.host}/ex/b:v1`, `${reg.host}/ex/a:v1`, '--no-term']);
  t.equal(r.code, 0, r.stderr);
  const names = new Set((await listTar(file)).filter((e) => e.path.startsWith('blobs/sha256/')).map((e) => 'sha256:' + e.path.slice(13)));
  // Every blob of A is an existing blob (A is also EXISTING): only manifests remain, as in the original.
  for (const blob of a.blobs) t.notOk(names.has(blob.digest), `skipped ${blob.digest}`);
  for (const m of [a.index, ...a.manifests]) t.ok(names.has(m.digest), `manifest ${m.digest} still sent`);
  t.ok(b.blobs.length > 0);

  const file2 = join(t.testdir({}), 'out2.tar');
  t.equal((await runCli(['mirror', 'serialize', `${reg.host}/ex/a:v1`, file2, `${reg.host}/ex/b:v1`, '-q'])).code, 0);
  const names2 = new Set((await listTar(file2)).filter((e) => e.path.startsWith('blobs/sha256/')).map((e) => 'sha256:' + e.path.slice(13)));
  const bDigests = new Set(b.blobs.map((x) => x.digest));
  for (const blob of a.blobs) t.equal(names2.has(blob.digest), !bDigests.has(blob.digest), `${blob.digest} present iff not in B`);
});

for (const mode of ['wrong-digest', 'short'] as const) {
  t.test(`a registry that ${mode === 'short' ? 'cuts a blob short' : 'serves a wrong digest'}: clear error, exit 1, no complete archive`, async (t) => {
    const pushed = await pushTwoPlatformIndex(reg.host, `fault/${mode}`, 'v1', { seed: 70, layerSize: 300_000 });
    const victim = pushed.blobs.reduce((a, b) => (a.size > b.size ? a : b));
    const bad = await startFaultyServer({ upstream: reg.host, mode, digest: victim.digest, afterBytes: 1000 });
    t.teardown(() => bad.stop());
    const file = join(t.testdir({}), 'out.tar');
    const r = await runCli(['mirror', 'serialize', `${bad.host}/fault/${mode}:v1`, file, '--no-term']);
    t.equal(r.code, 1, 'exit code 1');
    t.match(r.stderr, victim.digest, 'the message names the digest');
    t.match(r.stderr, mode === 'short' ? /truncated|ended after|short|premature/i : /digest mismatch/i);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
    const bytes = readFileSync(file);
    t.notOk(bytes.length >= 1024 && bytes.subarray(bytes.length - 1024).every((x) => x === 0), 'no end-of-archive trailer: not presented as complete');
  });
}
