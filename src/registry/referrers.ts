/**
 * Referrers of a manifest: the referrers API (GET /v2/<name>/referrers/<digest>, paged by Link),
 * or the tag schema `<alg>-<hex>` where the registry lacks it (auto mode remembers which, on the
 * session). Over a Session (session.ts).
 */
import { AceError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { MediaType } from '../oci/mediatype.js';
import { MAX_MANIFEST, descriptorsOf, discard, header, mediaTypeOf, readLimited, type Session } from './session.js';

/** Manifests whose subject is desc: the referrers API, or the `<alg>-<hex>` tag schema. */
export async function referrers(s: Session, desc: Descriptor): Promise<Descriptor[]> {
  const mode = s.endpoint.referrers;
  if (mode === 'api' || (mode === 'auto' && s.referrersApi !== false)) {
    const found = await referrersViaApi(s, desc);
    if (found !== undefined) {
      s.referrersApi = true;
      return found;
    }
    if (mode === 'api') throw new AceError('EREGISTRY', `${s.ctx('list referrers', desc.digest)}: the registry has no referrers API (supportsReferrers: api)`);
    s.referrersApi = false;
  }
  return referrersViaTag(s, desc);
}

async function referrersViaApi(s: Session, desc: Descriptor): Promise<Descriptor[] | undefined> {
  const what = s.ctx('list referrers', desc.digest);
  const out: Descriptor[] = [];
  let url: URL = s.url(`referrers/${desc.digest}`);
  for (let page = 0; page < 1000; page++) {
    const res = await s.send({ method: 'GET', url, headers: { Accept: MediaType.OciIndex }, what, redirects: true });
    if (res.statusCode === 404 || res.statusCode === 405 || res.statusCode === 400) {
      await discard(res);
      if (page === 0) return undefined; // not supported
      break;
    }
    if (res.statusCode !== 200) throw await s.responseError(res, what);
    const type = mediaTypeOf(header(res, 'content-type'));
    const link = header(res, 'link');
    const bytes = await readLimited(res, MAX_MANIFEST + 1, what);
    if (type !== MediaType.OciIndex) {
      if (page === 0) return undefined; // an answer from something that is not the API
      break;
    }
    out.push(...descriptorsOf(bytes, what));
    const next = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
    if (!next) break;
    url = new URL(next[1], url);
  }
  return out;
}

async function referrersViaTag(s: Session, desc: Descriptor): Promise<Descriptor[]> {
  const what = s.ctx('list referrers (tag schema)', desc.digest);
  const tag = desc.digest.replace(':', '-');
  const res = await s.send({ method: 'GET', url: `manifests/${tag}`, headers: { Accept: `${MediaType.OciIndex}, ${MediaType.DockerList}` }, what, redirects: true });
  if (res.statusCode === 404) {
    await discard(res);
    return [];
  }
  if (res.statusCode !== 200) throw await s.responseError(res, what);
  return descriptorsOf(await readLimited(res, MAX_MANIFEST + 1, what), what);
}
