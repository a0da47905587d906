import type { Descriptor } from '../oci/descriptor.js';
import type { BlobStream } from '../stream/blob-stream.js';
import type { MountOutcome, UploadSession } from '../registry/mounts.js';

// The stream primitives live in src/stream (sources and the registry client both use them).
export type { BlobStream } from '../stream/blob-stream.js';
export type { UploadSession } from '../registry/mounts.js';

/**
 * Read capabilities of an image source (a registry repository or an OCI layout), one method each
 * so that a function takes only what it needs (oras-go's Fetcher/Resolver split).
 *
 * Nothing returned here is verified: callers check size and digest (see oci/verify.ts). Blob streams
 * from a registry resume a dropped download with a Range request internally, so a consumer sees
 * one continuous byte stream or an error.
 */
export interface Resolver {
  /** Resolve the source's own reference (tag or digest) to the root descriptor. */
  resolve(): Promise<Descriptor>;
}

export interface ManifestFetcher {
  /** Fetch a manifest's bytes by descriptor (size-limited; the caller verifies the digest). */
  fetchManifest(desc: Descriptor): Promise<Uint8Array>;
}

export interface BlobFetcher {
  /** Stream a blob's bytes; at most desc.size + 1 bytes are read so trailing data is detectable. */
  fetchBlob(desc: Descriptor, signal?: AbortSignal): Promise<BlobStream>;
}

export interface ReferrerLister {
  /** Manifests whose `subject` is desc (referrers API, tag-schema fallback). */
  referrers(desc: Descriptor): Promise<Descriptor[]>;
}

/** Everything serialize needs from IMAGE. */
export interface ImageSource extends Resolver, ManifestFetcher, BlobFetcher, ReferrerLister {
  /** The reference as the user wrote it, for messages. */
  readonly name: string;
  /** The tag part (or digest, or `latest`): index.json's org.opencontainers.image.ref.name. */
  readonly refName: string;
  close(): Promise<void>;
}

/** Write capabilities of a registry repository (deserialize). */
export interface BlobPusher {
  blobExists(desc: Descriptor): Promise<boolean>;
  /**
   * Upload a blob from a stream. The upload is committed (the final PUT ?digest=) only after
   * `verify()` resolves true, so an unverified blob never becomes visible in the registry.
   */
  pushBlob(desc: Descriptor, data: AsyncIterable<Uint8Array>, verify: () => Promise<boolean>, session?: UploadSession): Promise<void>;
}

/**
 * Cross-repository mounts into a registry repository (registry/mounts.ts). `from` is another
 * repository of the same registry; undefined asks the registry to find the blob itself.
 */
export interface BlobMounter {
  /** `registry` names the registry (host[:port]) and `repository` the target, for the location cache. */
  readonly registry: string;
  readonly repository: string;
  /** With `keepUpload`, a 202's upload session comes back for pushBlob; otherwise it is cancelled. */
  mountBlob(desc: Descriptor, from: string | undefined, keepUpload?: boolean): Promise<MountOutcome>;
  /** Whether `repository` holds the blob (what a dry run asks instead of mounting). */
  blobIn(repository: string, desc: Descriptor): Promise<boolean>;
}

export interface ManifestPusher {
  manifestExists(desc: Descriptor): Promise<boolean>;
  /** PUT a manifest by digest, or by tag when `tag` is given. */
  pushManifest(desc: Descriptor, bytes: Uint8Array, tag?: string): Promise<void>;
}

/**
 * Everything deserialize needs from IMAGE. `fetchBlob` reads back what the repository holds (the
 * manifests an earlier, incomplete call kept there as blobs, behaviour note 4.5).
 */
export interface ImageTarget extends BlobPusher, ManifestPusher, BlobMounter, BlobFetcher {
  readonly name: string;
  /** Tag to apply to the root (from IMAGE), `latest` if none. */
  readonly tag: string;
  close(): Promise<void>;
}
