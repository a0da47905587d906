/**
 * A client for one repository of one registry (OCI distribution spec v1.1), split by concern as
 * regclient splits its registry scheme: session.ts (endpoint, auth, `send()` with redirects and
 * the retry policy), manifests.ts, blobs.ts, uploads.ts, referrers.ts. This class only puts them
 * together as the methods image sources and targets call (src/source/registry.ts).
 */
import type { Descriptor } from '../oci/descriptor.js';
import type { BlobStream } from '../stream/blob-stream.js';
import { blobExists, fetchBlob } from './blobs.js';
import { fetchManifest, manifestExists, pushManifest, resolve } from './manifests.js';
import { referrers } from './referrers.js';
import { Session } from './session.js';
import { blobIn, mountBlob, type MountOutcome, type UploadSession } from './mounts.js';
import { pushBlob } from './uploads.js';

export type { ClientOptions, RetryPolicy, Scope } from './session.js';

export class RegistryClient extends Session {
  /** HEAD (or GET when HEAD lacks the digest) the manifest named by the reference. */
  resolve(selector: string): Promise<Descriptor> {
    return resolve(this, selector);
  }

  /** GET a manifest by digest, reading at most size+1 bytes (the caller verifies). */
  fetchManifest(desc: Descriptor): Promise<Uint8Array> {
    return fetchManifest(this, desc);
  }

  manifestExists(desc: Descriptor): Promise<boolean> {
    return manifestExists(this, desc);
  }

  pushManifest(desc: Descriptor, bytes: Uint8Array, tag?: string): Promise<void> {
    return pushManifest(this, desc, bytes, tag);
  }

  /** Stream a blob (at most size+1 bytes), a cut connection resumed with Range. */
  fetchBlob(desc: Descriptor, signal?: AbortSignal): Promise<BlobStream> {
    return fetchBlob(this, desc, signal);
  }

  blobExists(desc: Descriptor): Promise<boolean> {
    return blobExists(this, desc);
  }

  /** Upload a blob, committed only once `verify()` resolves true (into `session` when given). */
  pushBlob(desc: Descriptor, data: AsyncIterable<Uint8Array>, verify: () => Promise<boolean>, session?: UploadSession): Promise<void> {
    return pushBlob(this, desc, data, verify, session);
  }

  /** Mount a blob from another repository of this registry (or from anywhere: `from` undefined). */
  mountBlob(desc: Descriptor, from: string | undefined, keepUpload?: boolean): Promise<MountOutcome> {
    return mountBlob(this, desc, from, keepUpload);
  }

  /** Whether another repository of this registry holds the blob (what a dry run asks). */
  blobIn(repository: string, desc: Descriptor): Promise<boolean> {
    return blobIn(this, repository, desc);
  }

  /** Manifests whose subject is desc: the referrers API, or the tag schema. */
  referrers(desc: Descriptor): Promise<Descriptor[]> {
    return referrers(this, desc);
  }
}
