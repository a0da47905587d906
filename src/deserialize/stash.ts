import type { Descriptor } from '../oci/descriptor.js';
import { MediaType } from '../oci/mediatype.js';
import { readVerified, uploadBytes } from './blob-push.js';
import type { ManifestNode } from './graph.js';
import type { Placer } from './placement.js';
import type { TargetCache } from './target-cache.js';
import type { EngineTarget } from './types.js';

/**
 * Manifests kept in the registry as blobs between calls (the original's one-call-per-piece flow,
 * behaviour note 4.5): an incomplete call keeps the verified manifests it could not push yet, and
 * a later call with the remaining pieces reads them back (verified again) instead of needing them
 * in its own archives.
 */
export class ManifestStash {
  private readonly tried = new Set<string>();

  constructor(
    private readonly target: EngineTarget,
    private readonly cache: TargetCache,
    private readonly placer: Placer,
    private readonly maxManifest: number,
  ) {}

  /** The verified bytes of a manifest an earlier call kept, once per digest; undefined when not there or not intact. */
  async fetch(desc: Descriptor): Promise<Uint8Array | undefined> {
    const t = this.target;
    if (!t.fetchBlob || desc.size > this.maxManifest || this.tried.has(desc.digest)) return undefined;
    this.tried.add(desc.digest);
    const blob = asBlob(desc.digest, desc.size);
    if (!(await this.cache.blobExists(blob))) return undefined;
    const r = await readVerified(blob, await t.fetchBlob(blob), `read back ${desc.digest}`);
    return r.flaw ? undefined : r.bytes;
  }

  /** Keep the verified manifests not yet in place; returns how many were uploaded. */
  async keep(nodes: Iterable<ManifestNode>): Promise<number> {
    let n = 0;
    for (const node of nodes) {
      if (node.done || !node.bytes) continue;
      const blob = asBlob(node.desc.digest, node.bytes.length);
      if (await this.cache.blobExists(blob)) continue;
      await uploadBytes(this.target, blob, node.bytes);
      this.placer.landed(blob);
      n++;
    }
    return n;
  }
}

function asBlob(digest: string, size: number): Descriptor {
  return { mediaType: MediaType.OctetStream, digest, size };
}
