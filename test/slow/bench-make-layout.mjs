// Writes an OCI layout of N random layers (AES-CTR keystream) + config + manifest, tag v1, for bench-deserialize.sh.
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, writeFileSync, openSync, writeSync, closeSync, renameSync } from 'node:fs';
import { join } from 'node:path';
const dir = process.argv[2]; const n = Number(process.argv[3] ?? 4); const size = Number(process.argv[4] ?? 256 << 20);
mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
const put = (mt, b) => { const d = 'sha256:' + createHash('sha256').update(b).digest('hex'); writeFileSync(join(dir, 'blobs/sha256', d.slice(7)), b); return { mediaType: mt, digest: d, size: b.length }; };
const layers = [];
for (let i = 0; i < n; i++) {
  const c = createCipheriv('aes-256-ctr', Buffer.alloc(32, i + 1), Buffer.alloc(16)); const h = createHash('sha256');
  const tmp = join(dir, 'tmp'); const fd = openSync(tmp, 'w'); const z = Buffer.alloc(1 << 20);
  for (let left = size; left > 0; left -= z.length) { const b = c.update(z); h.update(b); writeSync(fd, b); }
  closeSync(fd); const d = 'sha256:' + h.digest('hex'); renameSync(tmp, join(dir, 'blobs/sha256', d.slice(7)));
  layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: d, size });
}
const config = put('application/vnd.oci.image.config.v1+json', Buffer.from('{"architecture":"amd64","os":"linux"}'));
const m = put('application/vnd.oci.image.manifest.v1+json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers })));
writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...m, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
