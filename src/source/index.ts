import type { ImageSource } from './types.js';
import { openLayoutSource } from './layout.js';
import type { RegistryOptions } from './registry.js';

/** IMAGE or EXISTING-IMAGE: `oci:PATH[:TAG]` is a local layout, anything else a registry reference. */
export async function openSource(ref: string, opts: RegistryOptions = {}): Promise<ImageSource> {
  if (ref.startsWith('oci:')) return openLayoutSource(ref);
  const { openRegistrySource } = await import('./registry.js');
  return openRegistrySource(ref, opts);
}
