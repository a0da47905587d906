import { createHash } from 'node:crypto';
import { DigestMismatchError, OciError } from '../errors.js';
import type { Descriptor } from './descriptor.js';
import { parseDigest } from './digest.js';

/**
 * Hashing and verification: the only module of src/ that imports node:crypto's createHash
 * (test/oci/hash-policy.test.ts keeps it so). Other comments about hashing point here.
 *
 * The hashing policy (where each digest is computed, and why):
 * - Blobs streamed into an archive (archive/writer.ts) and re-read on resume (archive/kept.ts):
 *   verifyingWriter, inline on the JavaScript thread with node:crypto (OpenSSL, with the CPU's
 *   SHA extensions). Measured on two cores against the native hasher thread fed a copy of each
 *   lent chunk: the thread cost 40% more CPU and was slower (thread hand-offs, copies).
 * - Deserialize and verify reading an archive without uploading (hash only): verifyingWriter,
 *   inline (deserialize/blob-push.ts). Measured in one run against the native hasher (1 GB archive, loaded 2-core
 *   machine): 5.5 s vs 6.2-8.2 s and 110 vs 170 MB RSS; with nothing else for the JavaScript
 *   thread to do, a second thread does not pay.
 * - Deserialize uploading blobs to a registry (deserialize/blob-push.ts): verifyingWriter,
 *   inline. It used the addon's hasher thread until issue 13; a paired run of a 321 MB
 *   deserialize into a fresh repository, 10 alternating runs each, gave the inline build a
 *   median of 1.03x the wall time and 1.02x the CPU of the native one (noise), so one way won
 *   and the addon's hasher (and with it the addon's use of OpenSSL) was removed.
 * - Whole buffers (manifests, index.json, ledger run records, blobs kept in the ring for the
 *   next volume, manifests read by inspect): digestBytes, inline; they are small.
 */

/** node:crypto's incremental hash on the calling thread, synchronous: every inline digest is one. */
function inlineHash(algorithm: string): { update(data: Uint8Array | string): void; digest(): string } {
  const h = createHash(algorithm);
  return {
    update: (data) => void h.update(data),
    digest: () => `${algorithm}:${h.digest('hex')}`,
  };
}

/** `<algorithm>:<hex>` of a whole buffer (a string is hashed as its UTF-8 bytes). */
export function digestBytes(algorithm: string, bytes: Uint8Array | string): string {
  const h = inlineHash(algorithm);
  h.update(bytes);
  return h.digest();
}

/**
 * Checks a blob's bytes against its descriptor as they pass to `next` (oras-go's VerifyReader,
 * made strict, for bytes that are pushed: a BlobStream's pipeTo): exactly `size` bytes, no
 * trailing data, the digest. The chunk that completes the blob reaches `next` only after the
 * digest is confirmed, so an entry is never completed with unverified content. Call end() when
 * the stream has ended. Hashes inline and synchronously (the policy above).
 */
export function verifyingWriter(
  desc: Descriptor,
  context: string,
  next: (chunk: Uint8Array) => Promise<void> | undefined,
): { write: (chunk: Uint8Array) => Promise<void> | undefined; end(): void } {
  const { algorithm } = parseDigest(desc.digest);
  const hash = inlineHash(algorithm);
  let seen = 0;
  const check = () => {
    const actual = hash.digest();
    if (actual !== desc.digest) {
      throw new DigestMismatchError(`${context}: digest mismatch for ${desc.digest}: content of ${desc.size} bytes hashes to ${actual}`, actual);
    }
  };
  return {
    write(chunk) {
      seen += chunk.length;
      if (seen > desc.size) {
        throw new OciError('ESIZE', `${context}: blob ${desc.digest} is larger than its descriptor's ${desc.size} bytes (trailing data)`);
      }
      hash.update(chunk);
      if (seen === desc.size) check();
      return next(chunk);
    },
    end() {
      if (seen < desc.size) {
        throw new OciError('ESHORT', `${context}: blob ${desc.digest} ended after ${seen} of ${desc.size} bytes (truncated download)`);
      }
      if (desc.size === 0) check(); // no chunk came: the empty content must still match
    },
  };
}

/** Whole-buffer check for manifests. */
export async function verifyBytes(desc: Descriptor, bytes: Uint8Array, context: string): Promise<void> {
  if (bytes.length !== desc.size) {
    throw new OciError('ESIZE', `${context}: manifest ${desc.digest} is ${bytes.length} bytes, its descriptor says ${desc.size}`);
  }
  const actual = digestBytes(parseDigest(desc.digest).algorithm, bytes);
  if (actual !== desc.digest) {
    throw new DigestMismatchError(`${context}: digest mismatch for manifest ${desc.digest}: content hashes to ${actual}`, actual);
  }
}
