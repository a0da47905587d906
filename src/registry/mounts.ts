/**
 * Cross-repository blob mounts (distribution spec, "Mounting a blob from another repository"):
 * `POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`.
 *
 * - 201 Created: the registry linked the blob it holds in <repo> into <name>; nothing is uploaded.
 * - 202 Accepted: it did not (the digest or the repository is unknown to it, or it does not mount)
 *   and started an upload session instead. The caller either gets that session to upload into, or
 *   it is cancelled here: an upload session is never left behind.
 * - Without `from` (OCI distribution 1.1) a registry may mount from any repository where it knows
 *   the blob; registries that do not ignore the parameter and answer 202, which is then the upload.
 *
 * A mount needs pull on <repo> as well as push on <name>, so the token is asked for both scopes.
 * A token service that grants less makes the registry answer 401 (after the one challenge round of
 * `send()`) or 403: that is "denied", not an error; the caller uploads instead. Requests only ever
 * go to this session's registry, with its own credentials: <repo> is a repository of the same
 * registry, whatever registry the name was first seen on.
 */
import { AceError, OciError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import type { ResponseData } from './http.js';
import { discard, header, type Session } from './session.js';

/** An upload the registry has started (the Location of its 202), for `pushBlob` to continue. */
export interface UploadSession {
  location: URL;
}

/**
 * What a mount attempt came to. `absent`: the registry does not hold the blob there (202);
 * `denied`: not allowed (401/403); `refused`: any other 4xx (a registry without mounts, a bad name).
 */
export type MountOutcome = { mounted: true } | { mounted: false; why: 'absent' | 'denied' | 'refused'; upload?: UploadSession };

/** Codes of the auth failures that mean "this token may not do that" (auth.ts, client.ts). */
function isDenial(e: unknown): boolean {
  return e instanceof AceError && (e.code === 'EUNAUTHORIZED' || e.code === 'EDENIED');
}

/**
 * Try to mount `desc` into the session's repository from `from` (or from anywhere, when `from` is
 * undefined). With `keepUpload`, a 202's session is returned for the upload; otherwise it is
 * cancelled before this returns.
 */
export async function mountBlob(s: Session, desc: Descriptor, from: string | undefined, keepUpload = false): Promise<MountOutcome> {
  const what = s.ctx(from ? `mount blob from ${from}` : 'mount blob', desc.digest);
  const url = s.url('blobs/uploads/');
  url.searchParams.set('mount', desc.digest);
  if (from) url.searchParams.set('from', from);
  let res: ResponseData;
  try {
    res = await s.send({ method: 'POST', url, headers: { 'Content-Length': '0' }, what, scope: 'push', alsoScope: from ? `repository:${from}:pull` : undefined });
  } catch (e) {
    if (isDenial(e)) return { mounted: false, why: 'denied' };
    throw e;
  }
  const status = res.statusCode;
  if (status === 201) {
    const got = header(res, 'docker-content-digest');
    await discard(res);
    // Content addressing makes the digest the whole check; a registry that names another is lying.
    if (got && got !== desc.digest && got.split(':')[0] === desc.digest.split(':')[0]) {
      throw new OciError('EDIGEST', `${what}: the registry mounted ${got}`);
    }
    return { mounted: true };
  }
  if (status === 202) {
    const loc = header(res, 'location');
    await discard(res);
    if (!loc) throw new AceError('EREGISTRY', `${what}: upload answer without a Location`);
    const upload = { location: new URL(loc, s.endpoint.url) };
    if (keepUpload) return { mounted: false, why: 'absent', upload };
    await cancelUpload(s, upload, what);
    return { mounted: false, why: 'absent' };
  }
  if (status === 401 || status === 403) {
    await discard(res);
    return { mounted: false, why: 'denied' };
  }
  if (status >= 400 && status < 500) {
    await discard(res);
    return { mounted: false, why: 'refused' };
  }
  throw await s.responseError(res, what);
}

/**
 * Whether repository `repo` of this registry holds `desc` (HEAD, pull on `repo`): what a dry run
 * asks instead of mounting. Denied or not found are both "no".
 */
export async function blobIn(s: Session, repo: string, desc: Descriptor): Promise<boolean> {
  const what = s.ctx(`check blob in ${repo}`, desc.digest);
  const url = new URL(`${s.endpoint.url}/v2/${repo}/blobs/${desc.digest}`);
  let res: ResponseData;
  try {
    res = await s.send({ method: 'HEAD', url, what, alsoScope: `repository:${repo}:pull`, redirects: true });
  } catch (e) {
    if (isDenial(e)) return false;
    throw e;
  }
  await discard(res);
  if (res.statusCode === 200) return true;
  if (res.statusCode >= 400 && res.statusCode < 500) return false;
  throw await s.responseError(res, what);
}

/** End an upload session nobody will use; a failure only leaves it to expire on the registry. */
export async function cancelUpload(s: Session, upload: UploadSession, what: string): Promise<void> {
  try {
    await discard(await s.send({ method: 'DELETE', url: upload.location, what, scope: 'push' }));
  } catch {
    /* the registry purges stale sessions on its own */
  }
}
