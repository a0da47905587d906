/**
 * Blob downloads (GET /v2/<name>/blobs/<digest>, redirects followed) with the Range resume of a
 * cut connection, and the existence check deserialize uses. Over a Session (session.ts).
 */
import { AceError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { pipeIterable, pushBlobStream, type BlobStream, type ChunkWriter, type Landing } from '../stream/blob-stream.js';
import { classifyError, isRetryable, pause } from './retry.js';
import { discard, header, type Session } from './session.js';
import type { ResponseData } from './http.js';

/** Stream buffer per blob response through a proxy (undici): large, so bytes flow in big chunks. */
const BLOB_HIGH_WATER_MARK = 4 << 20;
/** Thrown by the byte counter once size+1 bytes arrived: the rest is not read. */
const ENOUGH = Symbol('enough');

/**
 * GET a blob (following redirects) and stream at most size+1 bytes. A connection dropped
 * mid-way is resumed with `Range: bytes=N-` when the registry answers 206; a 200 to a Range
 * request means it cannot resume, which is an error (ENETWORK). Blobs come on a bare socket whose
 * bytes are lent to the consumer (socket.ts), small ones too: for a 64 KiB blob that cost about
 * 15% less CPU than undici's pool (issue 11; test/helpers/bench-small-blobs.ts), which copies every
 * read into its parser and allocates a buffer per read. Through a proxy they go through undici.
 */
export async function fetchBlob(s: Session, desc: Descriptor, signal?: AbortSignal): Promise<BlobStream> {
  const what = s.ctx('fetch blob', desc.digest);
  const first = await s.send({ method: 'GET', url: `blobs/${desc.digest}`, what, redirects: true, signal, highWaterMark: BLOB_HIGH_WATER_MARK, lend: true });
  if (first.statusCode !== 200) throw await s.responseError(first, what, 'blob');
  return pushBlobStream((write, landing) => deliverBlob(s, desc, first, what, write, signal, landing));
}

async function deliverBlob(s: Session, desc: Descriptor, first: ResponseData, what: string, write: ChunkWriter, signal?: AbortSignal, landing?: Landing): Promise<void> {
  const limit = desc.size + 1;
  let received = 0;
  let res = first;
  let stalled = 0;
  let resumes = 0;
  // The consumer's own failures (a digest mismatch, a full tape) end the download; only the
  // connection's failures are resumed.
  let consumerFailed: { error: unknown } | undefined;
  const counted: ChunkWriter = (chunk) => {
    if (received >= limit) throw ENOUGH;
    const c = received + chunk.length > limit ? chunk.subarray(0, limit - received) : chunk;
    received += c.length;
    try {
      const wait = write(c);
      return wait?.catch((error: unknown) => {
        consumerFailed = { error };
        throw error;
      });
    } catch (error) {
      consumerFailed = { error };
      throw error;
    }
  };
  try {
    for (;;) {
      const before = received;
      try {
        await (res.body.pipeTo ? res.body.pipeTo(counted, landing) : pipeIterable(res.body as AsyncIterable<Uint8Array>, counted));
        return;
      } catch (e) {
        if (consumerFailed) throw consumerFailed.error;
        if (e === ENOUGH) return;
        const err = classifyError(e, what);
        if (!isRetryable(err)) throw err;
        stalled = received > before ? 0 : stalled + 1;
        resumes++;
        if (received >= desc.size) return; // everything arrived; the caller checks the rest
        if (stalled > s.retry.resumesWithoutProgress || resumes > s.retry.resumesTotal) {
          throw new AceError('ENETWORK', `${what}: connection dropped after ${received} of ${desc.size} bytes; gave up after ${resumes} attempts to resume`, { cause: e });
        }
      }
      await pause(s.backoff(Math.max(stalled, 1)), signal ?? s.signal, what);
      res = await s.send({
        method: 'GET',
        url: `blobs/${desc.digest}`,
        headers: { Range: `bytes=${received}-` },
        what,
        redirects: true,
        signal,
        highWaterMark: BLOB_HIGH_WATER_MARK,
        lend: true,
      });
      if (res.statusCode === 200) {
        res.body.destroy();
        throw new AceError('ENETWORK', `${what}: connection dropped after ${received} of ${desc.size} bytes and the registry cannot resume (it ignores Range requests)`);
      }
      if (res.statusCode !== 206) throw await s.responseError(res, what, 'blob');
      const start = /^bytes (\d+)-/.exec(header(res, 'content-range') ?? '');
      if (!start || Number(start[1]) !== received) {
        res.body.destroy();
        throw new AceError('EREGISTRY', `${what}: the registry answered a resume from byte ${received} with Content-Range ${JSON.stringify(header(res, 'content-range') ?? '')}`);
      }
    }
  } finally {
    if (!res.body.destroyed) res.body.destroy();
  }
}

export async function blobExists(s: Session, desc: Descriptor): Promise<boolean> {
  const what = s.ctx('check blob', desc.digest);
  const res = await s.send({ method: 'HEAD', url: `blobs/${desc.digest}`, what, scope: 'push', redirects: true });
  await discard(res);
  if (res.statusCode === 200) return true;
  if (res.statusCode === 404) return false;
  throw await s.responseError(res, what);
}
