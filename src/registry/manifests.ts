/**
 * Manifests of a repository (distribution spec: HEAD/GET/PUT /v2/<name>/manifests/<reference>):
 * resolve a tag or digest, fetch by digest, check, push. Over a Session (session.ts).
 */
import { AceError, OciError, UserError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { MANIFEST_MEDIA_TYPES, MediaType } from '../oci/mediatype.js';
import { digestBytes } from '../oci/verify.js';
import { ACCEPT_MANIFESTS, MAX_MANIFEST, acceptFor, discard, header, mediaTypeOf, readLimited, type Session } from './session.js';

/** HEAD (or GET when HEAD lacks the digest) the manifest named by the reference. */
export async function resolve(s: Session, selector: string): Promise<Descriptor> {
  const what = s.ctx('resolve');
  const headers = { Accept: ACCEPT_MANIFESTS };
  const head = await s.send({ method: 'HEAD', url: `manifests/${selector}`, headers, what, redirects: true });
  await discard(head);
  if (head.statusCode === 404) {
    // HEAD has no body to say whether the tag or the repository is missing: ask with GET.
    const get = await s.send({ method: 'GET', url: `manifests/${selector}`, headers, what, redirects: true });
    if (get.statusCode !== 200) {
      const err = await s.responseError(get, what, 'manifest');
      // Distribution answers MANIFEST_UNKNOWN for a missing repository too; the tag list tells.
      if (err.code === 'ENOTFOUND_MANIFEST' && (await repositoryMissing(s))) {
        throw new UserError('ENOTFOUND_REPO', `${what}: repository ${s.repository} not found on ${s.endpoint.host}`);
      }
      throw err;
    }
    await discard(get);
    throw new AceError('EREGISTRY', `${what}: HEAD answered 404 but GET found the manifest`);
  }
  const digestHeader = header(head, 'docker-content-digest');
  const lengthHeader = header(head, 'content-length');
  const typeHeader = mediaTypeOf(header(head, 'content-type'));
  if (head.statusCode === 200 && digestHeader && lengthHeader && typeHeader && MANIFEST_MEDIA_TYPES.includes(typeHeader)) {
    const d: Descriptor = { mediaType: typeHeader, digest: digestHeader, size: Number(lengthHeader) };
    if (s.ref.digest && d.digest !== s.ref.digest) {
      throw new OciError('EDIGEST', `${what}: the registry resolved ${s.ref.digest} to ${d.digest}`);
    }
    return d;
  }
  if (head.statusCode !== 200 && head.statusCode !== 405 && head.statusCode !== 400) {
    throw await s.responseError(head, what, 'manifest');
  }
  // Fall back to GET and hash the bytes ourselves.
  const get = await s.send({ method: 'GET', url: `manifests/${selector}`, headers, what, redirects: true });
  if (get.statusCode !== 200) throw await s.responseError(get, what, 'manifest');
  const bytes = await readLimited(get, MAX_MANIFEST + 1, what);
  if (bytes.length > MAX_MANIFEST) throw new OciError('ESIZE', `${what}: manifest larger than ${MAX_MANIFEST} bytes`);
  const alg = s.ref.digest?.split(':')[0] ?? 'sha256';
  const digest = digestBytes(alg, bytes);
  if (s.ref.digest && digest !== s.ref.digest) {
    throw new OciError('EDIGEST', `${what}: the registry served bytes with digest ${digest} for ${s.ref.digest}`);
  }
  let mediaType = mediaTypeOf(header(get, 'content-type'));
  // A generic Content-Type says nothing: read the manifest's own mediaType. A specific one
  // (schema1, an artifact type) is kept, and the walk treats it as a plain blob.
  if (!mediaType || ['application/json', 'text/plain', 'application/octet-stream'].includes(mediaType)) {
    try {
      const m = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown };
      mediaType = m.mediaType ?? (m.manifests ? MediaType.OciIndex : MediaType.OciManifest);
    } catch {
      throw new OciError('EMANIFEST', `${what}: the registry served a manifest that is not JSON (Content-Type ${mediaType ?? 'none'})`);
    }
  }
  return { mediaType, digest, size: bytes.length };
}

async function repositoryMissing(s: Session): Promise<boolean> {
  try {
    const res = await s.send({ method: 'GET', url: 'tags/list?n=1', what: s.ctx('list tags') });
    const err = res.statusCode === 404 ? await s.responseError(res, '') : undefined;
    if (!err) await discard(res);
    return err?.code === 'ENOTFOUND_REPO';
  } catch {
    return false;
  }
}

/** GET a manifest by digest, reading at most size+1 bytes (the caller verifies). */
export async function fetchManifest(s: Session, desc: Descriptor): Promise<Uint8Array> {
  const what = s.ctx('fetch manifest', desc.digest);
  const res = await s.send({ method: 'GET', url: `manifests/${desc.digest}`, headers: { Accept: acceptFor(desc.mediaType) }, what, redirects: true });
  if (res.statusCode !== 200) throw await s.responseError(res, what, 'manifest');
  return readLimited(res, desc.size + 1, what);
}

export async function manifestExists(s: Session, desc: Descriptor): Promise<boolean> {
  const what = s.ctx('check manifest', desc.digest);
  const res = await s.send({ method: 'HEAD', url: `manifests/${desc.digest}`, headers: { Accept: acceptFor(desc.mediaType) }, what, scope: 'push' });
  await discard(res);
  if (res.statusCode === 200) return true;
  if (res.statusCode === 404) return false;
  throw await s.responseError(res, what);
}

export async function pushManifest(s: Session, desc: Descriptor, bytes: Uint8Array, tag?: string): Promise<void> {
  const what = s.ctx(tag ? `push manifest as ${tag}` : 'push manifest', desc.digest);
  const res = await s.send({
    method: 'PUT',
    url: `manifests/${tag ?? desc.digest}`,
    headers: { 'Content-Type': desc.mediaType, 'Content-Length': String(bytes.length) },
    body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    what,
    scope: 'push',
  });
  if (res.statusCode !== 201 && res.statusCode !== 200 && res.statusCode !== 202) throw await s.responseError(res, what);
  const got = header(res, 'docker-content-digest');
  await discard(res);
  if (got && got !== desc.digest && got.split(':')[0] === desc.digest.split(':')[0]) {
    throw new OciError('EDIGEST', `${what}: the registry stored it as ${got}`);
  }
}
