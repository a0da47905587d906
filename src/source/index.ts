/**
 * Image sources and targets: IMAGE and EXISTING-IMAGE as the one-method capabilities that the
 * plan, the archive writer and deserialize take (types.ts): a local OCI layout (layout.ts) or a
 * registry repository (registry.ts, one session per repository for both sides).
 *
 * May import: `registry` (the client), `oci`, `stream`, `errors.ts`. Never the archive, the sink
 * or a service.
 */
import type { ImageSource } from './types.js';
import { openLayoutSource } from './layout.js';
import type { RegistryOptions } from './registry.js';

/** IMAGE or EXISTING-IMAGE: `oci:PATH[:TAG]` is a local layout, anything else a registry reference. */
export async function openSource(ref: string, opts: RegistryOptions = {}): Promise<ImageSource> {
  if (ref.startsWith('oci:')) return openLayoutSource(ref);
  const { openRegistrySource } = await import('./registry.js');
  return openRegistrySource(ref, opts);
}
