/**
 * A registry repository as an ImageSource (serialize) or ImageTarget (deserialize). Thin: the HTTP
 * work is in src/registry/client.ts, the only undici importer.
 */
import { loadConfig } from '../config/index.js';
import type { Descriptor } from '../oci/descriptor.js';
import { formatReference, parseReference } from '../oci/reference.js';
import { type ClientOptions, RegistryClient } from '../registry/client.js';
import type { ImageSource, ImageTarget } from './types.js';

/** Options of a registry source or target: the client's (config, auth environment, retries). */
export type RegistryOptions = ClientOptions;

export async function openRegistrySource(ref: string, opts: RegistryOptions = {}): Promise<ImageSource> {
  const parsed = parseReference(ref);
  const client = new RegistryClient(parsed, opts);
  const selector = parsed.digest ?? parsed.tag ?? 'latest';
  return {
    name: ref,
    refName: parsed.digest ?? parsed.tag ?? 'latest',
    resolve: () => client.resolve(selector),
    fetchManifest: (desc: Descriptor) => client.fetchManifest(desc),
    fetchBlob: (desc: Descriptor, signal?: AbortSignal) => client.fetchBlob(desc, signal),
    referrers: (desc: Descriptor) => client.referrers(desc),
    close: () => client.close(),
  };
}

export async function openRegistryTarget(ref: string, opts: RegistryOptions = {}): Promise<ImageTarget> {
  const parsed = parseReference(ref);
  const client = new RegistryClient(parsed, opts);
  return {
    name: formatReference(parsed),
    tag: parsed.tag ?? 'latest',
    blobExists: (desc) => client.blobExists(desc),
    pushBlob: (desc, data, verify, session) => client.pushBlob(desc, data, verify, session),
    registry: client.endpoint.host,
    repository: client.repository,
    mountBlob: (desc, from, keepUpload) => client.mountBlob(desc, from, keepUpload),
    blobIn: (repository, desc) => client.blobIn(repository, desc),
    manifestExists: (desc) => client.manifestExists(desc),
    pushManifest: (desc, bytes, tag) => client.pushManifest(desc, bytes, tag),
    close: () => client.close(),
  };
}

/**
 * Registry options from the CLI's `--config` values (and ACE_DT_CONFIG etc.), for commands:
 * `openSource(image, await registryOptionsFromFlags(this.config))`.
 */
export async function registryOptionsFromFlags(configPaths: string[] | undefined, env: NodeJS.ProcessEnv = process.env): Promise<RegistryOptions> {
  const config = await loadConfig(configPaths, env);
  return { config, env, concurrency: config.concurrentHTTP };
}
