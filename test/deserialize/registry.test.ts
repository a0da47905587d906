import t from 'tap';
import type { Test } from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCli, BIN } from '../helpers/cli.js';
import { startRegistry } from '../helpers/registry.js';
import { pushArtifactWithReferrer, pushDockerManifestList, pushNestedIndex, pushTwoPlatformIndex, buildTwoPlatformIndex, MT, type PushedImages } from '../helpers/images.js';
import { originalArchive, rootOf } from './fixtures.js';

/**
 * Round trips against a real registry (Debian's docker-registry): serialize (ours, skopeo, the
 * original's layout) -> `ace-dt mirror deserialize` -> identical digests; pieces of a resumed
 * run in one call; nothing re-sent; missing blobs listed; dry-run pushes nothing.
 */
const exec = promisify(execFile);
const reg = await startRegistry();
t.teardown(() => reg.stop());
const ACCEPT = [MT.OciIndex, MT.OciManifest, MT.DockerList, MT.DockerManifest].join(', ');

async function headManifest(repo: string, ref: string): Promise<string> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, { method: 'HEAD', headers: { Accept: ACCEPT } });
  return res.headers.get('docker-content-digest') ?? `status ${res.status}`;
}

async function blobStatus(repo: string, digest: string): Promise<number> {
  return (await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).status;
}

/** Everything of `pushed` is in `repo`: blobs by HEAD, manifests by digest. */
async function holdsAll(t: Test, repo: string, pushed: PushedImages, extra: string[] = []) {
  for (const b of pushed.blobs) t.equal(await blobStatus(repo, b.digest), 200, `blob ${b.digest.slice(7, 19)} in ${repo}`);
  for (const m of [pushed.index, ...pushed.manifests]) t.equal(await headManifest(repo, m.digest), m.digest, `manifest ${m.digest.slice(7, 19)} in ${repo}`);
  for (const d of extra) t.equal(await headManifest(repo, d), d, `manifest ${d.slice(7, 19)} in ${repo}`);
}

const kinds = [
  { name: 'two-platform index', push: pushTwoPlatformIndex },
  { name: 'Docker manifest list', push: pushDockerManifestList },
  { name: 'nested index', push: pushNestedIndex },
];

for (const [i, kind] of kinds.entries()) {
  t.test(`ours: serialize -> deserialize, ${kind.name}: identical digests`, async (t) => {
    const pushed = await kind.push(reg.host, `k${i}/src`, 'v1', { seed: 60 + i });
    const file = join(t.testdir({}), 'a.tar');
    const s = await runCli(['mirror', 'serialize', `${reg.host}/k${i}/src:v1`, file, '-q']);
    t.equal(s.code, 0, s.stderr);
    const d = await runCli(['mirror', 'deserialize', file, `${reg.host}/k${i}/copy:v2`, '--no-term']);
    t.equal(d.code, 0, d.stderr);
    t.equal(await headManifest(`k${i}/copy`, 'v2'), pushed.index.digest, 'tag v2 = source root');
    await holdsAll(t, `k${i}/copy`, pushed);
    t.match(d.stdout, new RegExp(`Digest: ${pushed.index.digest}`));
    // Again: nothing is sent twice.
    const again = await runCli(['mirror', 'deserialize', file, `${reg.host}/k${i}/copy:v2`, '--no-term']);
    t.equal(again.code, 0, again.stderr);
    t.match(again.stdout, new RegExp(`0 uploaded \\(0 B\\), 0 mounted \\(0 B\\), ${pushed.blobs.length} skipped, already in the repository`));
  });
}

t.test('ours with -r: artifact + referrer, the referrer pushed after its subject', async (t) => {
  const pushed = await pushArtifactWithReferrer(reg.host, 'art/src', 'v1', { seed: 70 });
  const file = join(t.testdir({}), 'a.tar');
  t.equal((await runCli(['mirror', 'serialize', `${reg.host}/art/src:v1`, file, '-q', '-r'])).code, 0);
  const d = await runCli(['mirror', 'deserialize', file, `${reg.host}/art/copy:v1`, '--no-term']);
  t.equal(d.code, 0, d.stderr);
  t.equal(await headManifest('art/copy', 'v1'), pushed.image.digest);
  t.equal(await headManifest('art/copy', pushed.referrer.digest), pushed.referrer.digest, 'referrer pushed');
});

t.test("skopeo's oci-archive deserializes to identical digests", async (t) => {
  // skopeo cannot copy an index of indexes to oci-archive; a two-platform index it can.
  const pushed = await pushTwoPlatformIndex(reg.host, 'sk/src', 'v1', { seed: 80 });
  const file = join(t.testdir({}), 'sk.tar');
  await exec('skopeo', ['copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${reg.host}/sk/src:v1`, `oci-archive:${file}:v1`], { timeout: 120_000 });
  const d = await runCli(['mirror', 'deserialize', file, `${reg.host}/sk/copy:v1`, '--no-term']);
  t.equal(d.code, 0, d.stderr);
  t.equal(await headManifest('sk/copy', 'v1'), pushed.index.digest);
  await holdsAll(t, 'sk/copy', pushed);
  const v = await runCli(['mirror', 'verify', file]);
  t.equal(v.code, 0, v.stderr);
});

t.test("the original's layout (fixture), gzip and zstd", async (t) => {
  const set = buildTwoPlatformIndex('v1', { seed: 90, layerSize: 100_000 });
  const root = rootOf(set);
  const plain = originalArchive(set, root, { tag: 'v1', manifestJson: true });
  const dir = t.testdir({});
  const files = { plain: join(dir, 'o.tar'), gzip: join(dir, 'o.tar.gz'), zstd: join(dir, 'o.tar.zst') };
  writeFileSync(files.plain, plain);
  await exec('sh', ['-c', `gzip -9 -c ${files.plain} > ${files.gzip} && zstd -q -19 -c ${files.plain} > ${files.zstd}`]);
  for (const [k, f] of Object.entries(files)) {
    const d = await runCli(['mirror', 'deserialize', '--strict', f, `${reg.host}/orig-${k}/copy:v1`, '--no-term']);
    t.equal(d.code, 0, `${k}: ${d.stderr}`);
    t.equal(await headManifest(`orig-${k}/copy`, 'v1'), root.digest, `${k}: root tagged`);
  }
});

t.test('pieces of an interrupted and resumed serialize, in one call; a piece alone is incomplete', async (t) => {
  const pushed = await pushTwoPlatformIndex(reg.host, 'mp/src', 'v1', { seed: 100, layerSize: 300_000 });
  const dir = t.testdir({});
  const full = join(dir, 'full.tar');
  const cp = join(dir, 'cp.jsonl');
  t.equal((await runCli(['mirror', 'serialize', `${reg.host}/mp/src:v1`, full, '--checkpoint', cp, '-q'])).code, 0);
  const bytes = readFileSync(full);
  const cut = Math.floor(bytes.length * 0.45) + 321;
  const p1 = join(dir, 'p1.tar');
  const p2 = join(dir, 'p2.tar');
  writeFileSync(p1, bytes.subarray(0, cut));
  const s2 = await runCli(['mirror', 'serialize', `${reg.host}/mp/src:v1`, p2, '--existing-from-checkpoint', `${cp}:${cut}`, '-q']);
  t.equal(s2.code, 0, s2.stderr);

  const alone = await runCli(['mirror', 'deserialize', p2, `${reg.host}/mp/alone:v1`, '--no-term']);
  t.equal(alone.code, 1, 'piece 2 alone: exit 1');
  t.match(alone.stderr, /missing blob sha256:[0-9a-f]{64}/, 'missing blobs listed by digest');
  t.match(alone.stderr, /the root was not tagged/);
  t.equal(await headManifest('mp/alone', 'v1'), 'status 404', 'nothing tagged');

  const d = await runCli(['mirror', 'deserialize', p1, p2, `${reg.host}/mp/copy:v1`, '--no-term']);
  t.equal(d.code, 0, d.stderr);
  t.equal(await headManifest('mp/copy', 'v1'), pushed.index.digest);
  await holdsAll(t, 'mp/copy', pushed);

  // From standard input (one piece) after the first piece went in on its own.
  const first = await runCli(['mirror', 'deserialize', p1, `${reg.host}/mp/stdin:v1`, '--no-term']);
  t.equal(first.code, 1, 'piece 1 alone is incomplete');
  const { stdout } = await exec('sh', ['-c', `cat ${p2} | ${process.execPath} ${BIN} mirror deserialize - ${reg.host}/mp/stdin:v1 --no-term`]);
  t.match(stdout, /tagged "v1"/, 'the registry was the accumulator: piece 2 from stdin completes it');
  t.equal(await headManifest('mp/stdin', 'v1'), pushed.index.digest);
});

t.test('dry-run pushes nothing and says so', async (t) => {
  await pushTwoPlatformIndex(reg.host, 'dry/src', 'v1', { seed: 110 });
  const file = join(t.testdir({}), 'a.tar');
  t.equal((await runCli(['mirror', 'serialize', `${reg.host}/dry/src:v1`, file, '-q'])).code, 0);
  const d = await runCli(['mirror', 'deserialize', '--dry-run', file, `${reg.host}/dry/copy:v1`, '--no-term']);
  t.equal(d.code, 0, d.stderr);
  t.match(d.stdout, /would be pushed/);
  t.match(d.stdout, /dry run: nothing was pushed/);
  t.equal(await headManifest('dry/copy', 'v1'), 'status 404');
});
