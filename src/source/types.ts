import type { Descriptor } from '../oci/descriptor.js';
import type { BlobStream } from '../stream/blob-stream.js';

// The stream primitives live in src/stream (sources and the registry client both use them).
export type { BlobStream, ChunkWriter, Landing } from '../stream/blob-stream.js';

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
  pushBlob(desc: Descriptor, data: AsyncIterable<Uint8Array>, verify: () => Promise<boolean>): Promise<void>;
}

export interface ManifestPusher {
  manifestExists(desc: Descriptor): Promise<boolean>;
  /** PUT a manifest by digest, or by tag when `tag` is given. */
  pushManifest(desc: Descriptor, bytes: Uint8Array, tag?: string): Promise<void>;
}

export interface ImageTarget extends BlobPusher, ManifestPusher {
  readonly name: string;
  /** Tag to apply to the root (from IMAGE), `latest` if none. */
  readonly tag: string;
  close(): Promise<void>;
}
