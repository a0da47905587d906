import { Annotation, type Descriptor } from '../oci/descriptor.js';
import { blobPath, parseDigest } from '../oci/digest.js';
import { goIndex, goJson } from '../oci/json.js';
import { isIndex } from '../oci/mediatype.js';
import type { Plan } from '../plan/plan.js';
import { type EntryHeader, TRAILER_SIZE, entrySize } from './tar-header.js';

/** `oci-layout`: compact JSON, 30 bytes (behaviour note 1.1). */
export const OCI_LAYOUT = Buffer.from('{"imageLayoutVersion":"1.0.0"}');

export interface IndexOptions {
  version: string;
}

function indexAnnotations(plan: Plan, opts: IndexOptions): Record<string, string> {
  return {
    [Annotation.Version]: opts.version,
    [Annotation.SerializationVersion]: '2',
    [Annotation.DedupSize]: plan.dedupSize,
  };
}

/** index.json #1: the root only. */
export function firstIndex(plan: Plan, opts: IndexOptions): Buffer {
  return Buffer.from(goIndex([plan.root], indexAnnotations(plan, opts)));
}

/** index.json #2: every manifest met, root first (with its ref.name annotation). */
export function finalIndex(plan: Plan, opts: IndexOptions): Buffer {
  const manifests = plan.manifests.map((d, i) => (i === 0 ? plan.root : d));
  return Buffer.from(goIndex(manifests, indexAnnotations(plan, opts)));
}

interface DockerManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

/**
 * manifest.json for `docker load` (behaviour note 1.6): from index.json #2's descriptors that carry
 * vnd.act3-ace.manifest.source; for an index, its last linux/amd64 child, else its first. Unlike
 * the original, a child without a platform does not crash, and when no descriptor carries a
 * source (a plain registry image), the root is listed under IMAGE's reference.
 */
export function manifestJson(plan: Plan, imageRef: string): Buffer {
  const entries: DockerManifestEntry[] = [];
  const byDigest = new Map<string, DockerManifestEntry>();
  const parse = (d: Descriptor) => {
    const bytes = plan.manifestBytes.get(d.digest);
    return bytes ? JSON.parse(Buffer.from(bytes).toString('utf8')) : undefined;
  };
  const add = (desc: Descriptor, ref: string) => {
    let target = desc;
    if (isIndex(desc.mediaType)) {
      const children: Descriptor[] = parse(desc)?.manifests ?? [];
      const amd = children.filter((c) => c.platform?.os === 'linux' && c.platform?.architecture === 'amd64');
      const pick = amd[amd.length - 1] ?? children[0];
      if (!pick) return;
      target = pick;
    }
    const doc = parse(target);
    if (!doc?.config) return;
    const existing = byDigest.get(target.digest);
    if (existing) {
      if (!existing.RepoTags.includes(ref)) existing.RepoTags.push(ref);
      return;
    }
    const entry: DockerManifestEntry = {
      Config: blobPath(doc.config.digest),
      RepoTags: [ref],
      Layers: (doc.layers ?? []).map((l: Descriptor) => blobPath(l.digest)),
    };
    byDigest.set(target.digest, entry);
    entries.push(entry);
  };
  for (const d of plan.manifests) {
    const src = d.annotations?.[Annotation.ManifestSource];
    if (src) add(d, src);
  }
  if (entries.length === 0) add(plan.root, imageRef);
  return Buffer.from(goJson(entries, '  '));
}

/** A piece of the archive: either fixed bytes or a blob streamed from the source. */
export type ArchiveEntry =
  | { kind: 'data'; header: EntryHeader; data: Uint8Array }
  | { kind: 'dir'; header: EntryHeader }
  | { kind: 'blob'; header: EntryHeader; descriptor: Descriptor; manifest?: Uint8Array };

export interface LayoutOptions extends IndexOptions {
  manifestJson?: boolean;
  imageRef: string;
  /** Directories already in the archive (continuing a cut archive). */
  dirsPresent?: Iterable<string>;
}

/** The archive's entries in the original's order (behaviour note 1.1), directories emitted lazily. */
export function* prefixEntries(plan: Plan, opts: LayoutOptions): Generator<ArchiveEntry> {
  yield { kind: 'data', header: { name: 'oci-layout', type: 'file', size: OCI_LAYOUT.length }, data: OCI_LAYOUT };
  const idx = firstIndex(plan, opts);
  yield { kind: 'data', header: { name: 'index.json', type: 'file', size: idx.length }, data: idx };
}

export function* blobEntries(plan: Plan, opts: LayoutOptions): Generator<ArchiveEntry> {
  const dirs = new Set(opts.dirsPresent ?? []);
  for (const b of plan.blobs) {
    const { algorithm } = parseDigest(b.descriptor.digest);
    for (const dir of ['blobs', `blobs/${algorithm}`]) {
      if (dirs.has(dir)) continue;
      dirs.add(dir);
      yield { kind: 'dir', header: { name: dir, type: 'directory', size: 0 } };
    }
    yield { kind: 'blob', header: { name: blobPath(b.descriptor.digest), type: 'file', size: b.descriptor.size }, descriptor: b.descriptor, manifest: b.manifest };
  }
}

export function* suffixEntries(plan: Plan, opts: LayoutOptions): Generator<ArchiveEntry> {
  const idx = finalIndex(plan, opts);
  yield { kind: 'data', header: { name: 'index.json', type: 'file', size: idx.length }, data: idx };
  if (opts.manifestJson) {
    const mj = manifestJson(plan, opts.imageRef);
    yield { kind: 'data', header: { name: 'manifest.json', type: 'file', size: mj.length }, data: mj };
  }
}

/** Exact uncompressed archive size, known before the destination is opened. */
export function archiveSize(plan: Plan, opts: LayoutOptions, withPrefix = true): number {
  let total = TRAILER_SIZE;
  const all = [...(withPrefix ? prefixEntries(plan, opts) : []), ...blobEntries(plan, opts), ...suffixEntries(plan, opts)];
  for (const e of all) total += entrySize(e.header);
  return total;
}
