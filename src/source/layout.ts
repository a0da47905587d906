import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OciError, UserError } from '../errors.js';
import { Annotation, type Descriptor, isDescriptor } from '../oci/descriptor.js';
import { blobPath, isValidDigest } from '../oci/digest.js';
import { isManifest } from '../oci/mediatype.js';
import type { ImageSource } from './types.js';

/**
 * `oci:PATH[:TAG]` or `oci:PATH@DIGEST`: an OCI image layout on disk (image-spec image-layout.md),
 * so the tool runs offline and on the bundled sample. TAG matches the
 * org.opencontainers.image.ref.name annotation of index.json's entries.
 */
export function parseLayoutRef(ref: string): { path: string; tag?: string; digest?: string } {
  let rest = ref.slice('oci:'.length);
  let digest: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at > 0 && isValidDigest(rest.slice(at + 1))) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/') && colon > 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (rest === '') throw new UserError('EREFERENCE', `invalid reference ${JSON.stringify(ref)}: no layout path after "oci:"`);
  return { path: rest, tag, digest };
}

const MAX_MANIFEST = 4 * 1024 * 1024;
const READ_SIZE = 1 << 20;

export async function openLayoutSource(ref: string): Promise<ImageSource> {
  const { path, tag, digest } = parseLayoutRef(ref);
  let index: { manifests?: unknown };
  try {
    index = JSON.parse(await readFile(join(path, 'index.json'), 'utf8'));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new UserError('ENOTFOUND', `${ref}: no OCI layout at ${path} (index.json not found)`);
    throw new UserError('ELAYOUT', `${ref}: cannot read ${join(path, 'index.json')}: ${err.message}`);
  }
  const entries = Array.isArray(index.manifests) ? index.manifests.filter(isDescriptor) : [];

  const blobFile = (desc: Descriptor) => join(path, blobPath(desc.digest));

  return {
    name: ref,
    refName: digest ?? tag ?? 'latest',
    async resolve() {
      let found: Descriptor | undefined;
      if (digest) found = entries.find((d) => d.digest === digest);
      else if (tag) found = entries.find((d) => d.annotations?.[Annotation.RefName] === tag);
      else if (entries.length === 1) found = entries[0];
      else if (entries.length > 1) {
        const tags = entries.map((d) => d.annotations?.[Annotation.RefName]).filter(Boolean);
        throw new UserError('EAMBIGUOUS', `${ref}: the layout holds ${entries.length} manifests; name one with oci:${path}:TAG (tags: ${tags.join(', ') || 'none'})`);
      }
      if (!found && digest) {
        // A digest that is not listed in index.json but present as a manifest blob is fine.
        const fh = await open(blobFile({ mediaType: '', digest, size: 0 })).catch(() => undefined);
        if (fh) {
          const bytes = await fh.readFile();
          await fh.close();
          const mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType;
          if (mediaType && isManifest(mediaType)) return { mediaType, digest, size: bytes.length };
        }
      }
      if (!found) throw new UserError('ENOTFOUND_MANIFEST', `${ref}: ${digest ?? tag ?? 'the only manifest'} not found in ${join(path, 'index.json')}`);
      return { mediaType: found.mediaType, digest: found.digest, size: found.size };
    },
    async fetchManifest(desc) {
      if (desc.size > MAX_MANIFEST) throw new OciError('ESIZE', `${ref}: manifest ${desc.digest} claims ${desc.size} bytes (limit ${MAX_MANIFEST})`);
      try {
        return await readFile(blobFile(desc));
      } catch (e) {
        throw new OciError('ENOTFOUND_BLOB', `fetch manifest, ${desc.digest}, ${ref}: ${(e as Error).message}`);
      }
    },
    async fetchBlob(desc, signal) {
      const file = blobFile(desc);
      const fh = await open(file).catch((e: Error) => {
        throw new OciError('ENOTFOUND_BLOB', `fetch blob, ${desc.digest}, ${ref}: ${e.message}`);
      });
      // Aborted while the file was being opened (a download opened ahead for a tape that has
      // just filled): the listener below would never fire, and the file would stay open.
      if (signal?.aborted) {
        await fh.close();
        signal.throwIfAborted();
      }
      // Read one byte past the size so that trailing data is detected by the verifier.
      const limit = desc.size + 1;
      let consumed = false;
      // A blob opened ahead (prefetch) and aborted before anyone reads it: close the file.
      const onAbort = () => void (consumed || fh.close().catch(() => undefined));
      signal?.addEventListener('abort', onAbort, { once: true });
      const consume = () => {
        if (consumed) throw new OciError('EINTERNAL', `fetch blob, ${desc.digest}, ${ref}: a blob stream can be read only once`);
        consumed = true;
        // From here the reader closes the file, also when the signal has already fired (the
        // read stream's own abort handling, or the loop's check inside its try).
        signal?.removeEventListener('abort', onAbort);
      };
      return {
        [Symbol.asyncIterator]() {
          consume();
          return createReadStream('', { fd: fh, highWaterMark: READ_SIZE, end: desc.size, signal })[Symbol.asyncIterator]();
        },
        // Piped, each read lands in the consumer's ring when it offers room (no copy), else in
        // one reused buffer. Reads go on from the file's position (not pread): a blob that is a
        // pipe (a FIFO, a process substitution) reads as well as a file.
        async pipeTo(write, landing) {
          consume();
          let own: Buffer | undefined;
          try {
            for (let pos = 0; pos < limit; ) {
              signal?.throwIfAborted();
              const want = Math.min(READ_SIZE, limit - pos);
              const buf = landing?.(want) ?? (own ??= Buffer.allocUnsafe(READ_SIZE));
              const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, want), null).catch((e: NodeJS.ErrnoException) => {
                signal?.throwIfAborted();
                throw new OciError('EREAD', `fetch blob, ${desc.digest}, ${ref}: cannot read ${file} at byte ${pos}: ${e.message}`);
              });
              if (bytesRead === 0) break;
              pos += bytesRead;
              const wait = write(buf.subarray(0, bytesRead));
              if (wait) await wait;
            }
          } finally {
            await fh.close();
          }
        },
      };
    },
    async referrers(desc) {
      const out: Descriptor[] = [];
      for (const d of entries) {
        if (!isManifest(d.mediaType) || d.digest === desc.digest) continue;
        const bytes = await readFile(blobFile(d)).catch(() => undefined);
        if (!bytes) continue;
        try {
          const doc = JSON.parse(bytes.toString('utf8'));
          if (doc?.subject?.digest === desc.digest) {
            out.push({ mediaType: d.mediaType, digest: d.digest, size: d.size, artifactType: doc.artifactType, annotations: doc.annotations });
          }
        } catch {
          /* not JSON: not a referrer */
        }
      }
      return out;
    },
    async close() {},
  };
}
