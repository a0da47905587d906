import { OciError } from '../errors.js';
import { Annotation, type Descriptor, isDescriptor } from './descriptor.js';
import { MediaType } from './mediatype.js';

/**
 * The children of a manifest, in the order the original walks them (oras-go content.Successors,
 * behaviour note 2.2): image manifest -> subject, config, layers; index -> subject, manifests,
 * then the descriptors of the vnd.act3-ace.data.extra-manifests annotation. Anything that is not
 * a manifest has no children. Pure: the caller fetched and verified `bytes`.
 */
export function successors(desc: Descriptor, bytes: Uint8Array): Descriptor[] {
  const bad = (why: string) => new OciError('EMANIFEST', `malformed manifest ${desc.digest} (${desc.mediaType}): ${why}`);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw bad(`not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('not a JSON object');
  const one = (v: unknown, field: string): Descriptor[] => {
    if (v === undefined || v === null) return [];
    if (!isDescriptor(v)) throw bad(`${field} is not a valid descriptor`);
    return [v];
  };
  const list = (v: unknown, field: string): Descriptor[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw bad(`${field} is not an array`);
    return v.flatMap((x, i) => one(x, `${field}[${i}]`));
  };
  switch (desc.mediaType) {
    case MediaType.OciManifest:
    case MediaType.DockerManifest:
      if (doc.config === undefined) throw bad('no config');
      return [...one(doc.subject, 'subject'), ...one(doc.config, 'config'), ...list(doc.layers, 'layers')];
    case MediaType.OciArtifact:
      return [...one(doc.subject, 'subject'), ...list(doc.blobs, 'blobs')];
    case MediaType.OciIndex:
    case MediaType.DockerList: {
      if (!Array.isArray(doc.manifests)) throw bad('no manifests array');
      const out = [...one(doc.subject, 'subject'), ...list(doc.manifests, 'manifests')];
      const annotations = doc.annotations as Record<string, unknown> | undefined;
      const extra = annotations?.[Annotation.ExtraManifests];
      if (typeof extra === 'string' && extra !== '') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(extra);
        } catch {
          throw bad(`annotation ${Annotation.ExtraManifests} is not JSON`);
        }
        out.push(...list(parsed, Annotation.ExtraManifests));
      }
      return out;
    }
    default:
      return [];
  }
}

/** Annotations of a manifest document (for the index's dedup-size annotation). */
export function manifestAnnotations(bytes: Uint8Array): Record<string, string> {
  try {
    const doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return (doc && typeof doc.annotations === 'object' && doc.annotations) || {};
  } catch {
    return {};
  }
}
