/**
 * Blob uploads (POST, PATCH, PUT ?digest=), committed only after the caller's verification says
 * yes, so an unverified blob never becomes visible. Over a Session (session.ts).
 */
import { Readable } from 'node:stream';
import { AceError, OciError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { discard, header, type Session } from './session.js';
import type { UploadSession } from './mounts.js';
import type { ResponseData } from './http.js';

/** Blobs up to this size are uploaded with one PUT; larger ones stream through a PATCH. */
const SMALL_BLOB = 4 << 20;

/**
 * Upload a blob. Small blobs are gathered and sent with the final PUT; larger ones stream with
 * one PATCH. The final `PUT ?digest=` is sent only after `verify()` says yes; otherwise the
 * upload session is cancelled, so an unverified blob never becomes visible. `session` is an
 * upload the registry already started (a mount it answered with 202, mounts.ts).
 */
export async function pushBlob(s: Session, desc: Descriptor, data: AsyncIterable<Uint8Array>, verify: () => Promise<boolean>, session?: UploadSession): Promise<void> {
  const what = s.ctx('push blob', desc.digest);
  let location: URL;
  if (session) {
    location = session.location;
  } else {
    const start = await s.send({ method: 'POST', url: 'blobs/uploads/', headers: { 'Content-Length': '0' }, what, scope: 'push' });
    if (start.statusCode !== 202) throw await s.responseError(start, what);
    await discard(start);
    location = uploadLocation(s, start, what);
  }
  const cancel = async () => {
    try {
      const res = await s.send({ method: 'DELETE', url: location, what, scope: 'push' });
      await discard(res);
    } catch {
      /* the session expires on its own */
    }
  };
  try {
    let body: Buffer | undefined;
    if (desc.size <= SMALL_BLOB) {
      const chunks: Uint8Array[] = [];
      let n = 0;
      for await (const c of data) {
        n += c.length;
        if (n > desc.size) throw new OciError('ESIZE', `${what}: more data than the declared ${desc.size} bytes`);
        chunks.push(c);
      }
      body = Buffer.concat(chunks);
    } else {
      const patch = await s.send({
        method: 'PATCH',
        url: location,
        headers: { 'Content-Type': 'application/octet-stream' },
        body: Readable.from(data, { objectMode: false }),
        what,
        scope: 'push',
      });
      if (patch.statusCode !== 202 && patch.statusCode !== 204) throw await s.responseError(patch, what);
      await discard(patch);
      location = uploadLocation(s, patch, what);
    }
    if (!(await verify())) throw new OciError('EDIGEST', `${what}: content does not match the digest; upload cancelled`);
    const commit = new URL(location);
    commit.searchParams.set('digest', desc.digest);
    const put = await s.send({
      method: 'PUT',
      url: commit,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body?.length ?? 0) },
      body: body ?? Buffer.alloc(0),
      what,
      scope: 'push',
    });
    if (put.statusCode !== 201 && put.statusCode !== 204) throw await s.responseError(put, what);
    await discard(put);
  } catch (e) {
    await cancel();
    throw e;
  }
}

function uploadLocation(s: Session, res: ResponseData, what: string): URL {
  const loc = header(res, 'location');
  if (!loc) throw new AceError('EREGISTRY', `${what}: upload answer without a Location`);
  return new URL(loc, s.endpoint.url);
}
