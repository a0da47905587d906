#!/usr/bin/env node
// Makes the bundled sample: an OCI image layout (sample/layout) holding a two-platform image
// index (linux/amd64, linux/arm64) whose manifests share a base layer, tagged "v1".
// Deterministic: the same bytes on every run (fixed mtimes, no randomness), so the golden
// archive made from it is stable. Usage: node scripts/make-sample.mjs [DIR]
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';

const dir = process.argv[2] ?? new URL('../sample/layout', import.meta.url).pathname;

async function tarOf(files) {
  const pack = tarStream.pack();
  const chunks = [];
  pack.on('data', (c) => chunks.push(c));
  const done = new Promise((r) => pack.on('end', r));
  for (const [name, text] of files) {
    pack.entry({ name, mtime: new Date(0), mode: 0o644, uid: 0, gid: 0, uname: '', gname: '' }, text);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const blobs = new Map();
function put(bytes) {
  const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
  blobs.set(digest, bytes);
  return { digest, size: bytes.length };
}
const json = (v) => Buffer.from(JSON.stringify(v));

const base = await tarOf([
  ['etc/os-release', 'NAME="ace-dt sample"\nID=sample\n'],
  ['etc/motd', 'Moved across the air gap by ace-dt.\n'],
]);
// gzip with a fixed header (mtime 0, OS byte fixed by zlib) is deterministic.
const baseLayer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...put(gzipSync(base, { level: 9 })) };

const manifests = [];
for (const [arch, greeting] of [['amd64', 'hello from x86-64'], ['arm64', 'hello from aarch64']]) {
  const app = await tarOf([[`opt/app/${arch}.txt`, `${greeting}\n`]]);
  const appLayer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', ...put(app) };
  const diffIds = [createHash('sha256').update(base).digest('hex'), createHash('sha256').update(app).digest('hex')];
  const config = {
    mediaType: 'application/vnd.oci.image.config.v1+json',
    ...put(json({
      architecture: arch,
      os: 'linux',
      config: { Cmd: ['/bin/cat', `/opt/app/${arch}.txt`] },
      rootfs: { type: 'layers', diff_ids: diffIds.map((d) => 'sha256:' + d) },
      created: '1970-01-01T00:00:00Z',
    })),
  };
  const manifest = json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config,
    layers: [baseLayer, appLayer],
    annotations: { 'org.opencontainers.image.title': `sample ${arch}` },
  });
  manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...put(manifest), platform: { architecture: arch, os: 'linux' } });
}
const index = json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests });
const root = { mediaType: 'application/vnd.oci.image.index.v1+json', ...put(index), annotations: { 'org.opencontainers.image.ref.name': 'v1' } };

rmSync(dir, { recursive: true, force: true });
mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [root] }, null, 2) + '\n');
for (const [digest, bytes] of blobs) writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
console.log(`sample layout in ${dir}: ${blobs.size} blobs, root ${root.digest}`);
