import { OciError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { parseDigest } from '../oci/digest.js';
import { isManifest } from '../oci/mediatype.js';
import { successors } from '../oci/successors.js';

/**
 * Manifest parsing for deserialize, only ever called on bytes whose digest and size were verified.
 * The children come from oci/successors.ts (the same walk serialize does); here we also settle
 * the media type to push with and refuse children whose digest we could never verify.
 */

export interface ParsedManifest {
  /** The media type to push with: the manifest's own `mediaType`, else the descriptor's. */
  mediaType: string;
  children: Descriptor[];
}

/** Looks like a manifest or index (used to keep small blobs whose role is not known yet). */
export function looksLikeManifest(bytes: Uint8Array): boolean {
  if (bytes.length < 2 || bytes[0] !== 0x7b /* { */) return false;
  try {
    const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown>;
    return typeof v === 'object' && v !== null && v.schemaVersion === 2 && (Array.isArray(v.manifests) || Array.isArray(v.layers) || Array.isArray(v.blobs) || typeof v.config === 'object');
  } catch {
    return false;
  }
}

export function parseManifest(bytes: Uint8Array, desc: Descriptor): ParsedManifest {
  let own: unknown;
  try {
    own = (JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown> | null)?.mediaType;
  } catch (e) {
    throw new OciError('EMANIFEST', `manifest ${desc.digest} is not valid JSON: ${(e as Error).message}`);
  }
  // The document's own mediaType is verified content; the parent's descriptor is only a claim.
  let mediaType = typeof own === 'string' && own !== '' ? own : desc.mediaType;
  if (!isManifest(mediaType) && isManifest(desc.mediaType)) mediaType = desc.mediaType;
  const children = successors({ ...desc, mediaType }, bytes);
  children.forEach((c, i) => {
    try {
      parseDigest(c.digest);
    } catch {
      throw new OciError('EMANIFEST', `manifest ${desc.digest}: child ${i} has an invalid or unsupported digest ${JSON.stringify(c.digest)}`);
    }
  });
  return { mediaType, children };
}

