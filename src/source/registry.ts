/**
 * A registry repository as an ImageSource (serialize) and an ImageTarget (deserialize). Thin: the
 * HTTP work is in src/registry/client.ts, the only undici importer.
 */
import type { Descriptor } from '../oci/descriptor.js';
import { formatReference, parseReference } from '../oci/reference.js';
import { type ClientOptions, RegistryClient } from '../registry/client.js';
import type { ImageSource, ImageTarget } from './types.js';

/** Options of a registry source or target: the client's (config, auth environment, retries). */
export type RegistryOptions = ClientOptions;

/**
 * One repository of a registry, opened once: one session (token cache, connection pool) behind
 * both sides. `source` is what serialize reads from IMAGE; `target` what deserialize writes to
 * IMAGE, reading back from it as well (the manifests an earlier, incomplete call kept there as
 * blobs). Closing either one, or the repository, closes the session.
 */
export interface RegistryRepo {
  source: ImageSource;
  target: ImageTarget;
  close(): Promise<void>;
}

export async function openRegistryRepo(ref: string, opts: RegistryOptions = {}): Promise<RegistryRepo> {
  const parsed = parseReference(ref);
  const client = new RegistryClient(parsed, opts);
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= client.close());
  const selector = parsed.digest ?? parsed.tag ?? 'latest';
  const fetchBlob = (desc: Descriptor, signal?: AbortSignal) => client.fetchBlob(desc, signal);
  const source: ImageSource = {
    name: ref,
    refName: selector,
    resolve: () => client.resolve(selector),
    fetchManifest: (desc) => client.fetchManifest(desc),
    fetchBlob,
    referrers: (desc) => client.referrers(desc),
    close,
  };
  const target: ImageTarget = {
    name: formatReference(parsed),
    tag: parsed.tag ?? 'latest',
    blobExists: (desc) => client.blobExists(desc),
    pushBlob: (desc, data, verify, session) => client.pushBlob(desc, data, verify, session),
    fetchBlob,
    registry: client.endpoint.host,
    repository: client.repository,
    mountBlob: (desc, from, keepUpload) => client.mountBlob(desc, from, keepUpload),
    blobIn: (repository, desc) => client.blobIn(repository, desc),
    manifestExists: (desc) => client.manifestExists(desc),
    pushManifest: (desc, bytes, tag) => client.pushManifest(desc, bytes, tag),
    close,
  };
  return { source, target, close };
}

/** IMAGE as serialize reads it (src/source/index.ts: a registry reference). */
export async function openRegistrySource(ref: string, opts: RegistryOptions = {}): Promise<ImageSource> {
  return (await openRegistryRepo(ref, opts)).source;
}

/** IMAGE as deserialize writes it. */
export async function openRegistryTarget(ref: string, opts: RegistryOptions = {}): Promise<ImageTarget> {
  return (await openRegistryRepo(ref, opts)).target;
}
