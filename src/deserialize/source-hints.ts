import { Annotation, type Descriptor } from '../oci/descriptor.js';
import { parseReference } from '../oci/reference.js';

/** Annotations naming where a manifest came from (behaviour note 1.4): a full reference. */
const SOURCE_ANNOTATIONS = [Annotation.ManifestSource, Annotation.RefName];

/**
 * The repositories an archive names as where its content came from: the original tool's gather
 * indexes annotate each child with `vnd.act3-ace.manifest.source` (and copy it to
 * `org.opencontainers.image.ref.name`), and those annotations travel into index.json. A blob is
 * likely in the repository of the manifest above it, so a mount tries there first (issue 16).
 */
export class SourceHints {
  private readonly sources = new Map<string, Set<string>>();

  /** Learn from a descriptor met in index.json or in a manifest. */
  note(desc: Descriptor): void {
    for (const key of SOURCE_ANNOTATIONS) {
      const v = desc.annotations?.[key];
      // ref.name is a mere tag in index.json's root entry; only a full reference names a repository.
      if (typeof v !== 'string' || !v.includes('/')) continue;
      try {
        const repo = parseReference(v).repository;
        let set = this.sources.get(desc.digest);
        if (!set) this.sources.set(desc.digest, (set = new Set()));
        set.add(repo);
      } catch {
        /* not a reference: no hint */
      }
    }
  }

  /** Source repositories of `digest`: its own, else those of the manifests above it, nearest first. */
  for(digest: string, parentsOf: (digest: string) => Iterable<string>): string[] {
    if (this.sources.size === 0) return [];
    const out = new Set<string>();
    const seen = new Set<string>();
    let level = [digest];
    for (let depth = 0; depth < 16 && level.length && out.size < 8; depth++) {
      const next: string[] = [];
      for (const d of level) {
        if (seen.has(d)) continue;
        seen.add(d);
        for (const r of this.sources.get(d) ?? []) out.add(r);
        next.push(...parentsOf(d));
      }
      level = next;
    }
    return [...out];
  }
}
