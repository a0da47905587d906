import { Annotation, type Descriptor } from '../oci/descriptor.js';
import { isManifest } from '../oci/mediatype.js';
import { manifestAnnotations, successors } from '../oci/successors.js';
import { verifyBytes } from '../oci/verify.js';
import type { ManifestFetcher, ReferrerLister, Resolver } from '../source/types.js';

/** One blob the archive will hold, in write order. Manifests carry their verified bytes. */
export interface PlanBlob {
  descriptor: Descriptor;
  manifest?: Uint8Array;
}

export interface SkippedBlob {
  descriptor: Descriptor;
  /** Which EXISTING-IMAGE or checkpoint explains the skip. */
  reason: string;
}

/**
 * Everything known before the destination is opened (STYLE habit 3): the root, every manifest
 * (index.json #2), the blobs to write in order, what is skipped and why.
 */
export interface Plan {
  root: Descriptor;
  /** index.json #2: every manifest met, root first, pre-order, first descriptor seen wins. */
  manifests: Descriptor[];
  blobs: PlanBlob[];
  skipped: SkippedBlob[];
  /** Verified bytes of every manifest met (manifest.json, deserialize checks). */
  manifestBytes: Map<string, Uint8Array>;
  /** Copied from the root's vnd.act3-ace.data.layer.size.deduplicated annotation, "0" if absent. */
  dedupSize: string;
}

/** Digests assumed present on the far side, with the reason (EXISTING-IMAGE ref, checkpoint). */
export type SkipSet = Map<string, string>;

export interface PlanOptions {
  skip?: SkipSet;
  recursive?: boolean;
  /** index.json's org.opencontainers.image.ref.name for the root. */
  refName: string;
  /** For messages. */
  sourceName: string;
}

/**
 * Walk IMAGE depth-first, pre-order, exactly as the original (behaviour note 2): a manifest's
 * bytes before its children; manifests deduplicated on (mediaType, digest, size) and not
 * re-walked; blob bytes deduplicated on digest against the skip set, which EXISTING-IMAGEs and
 * checkpoints pre-seed. With `recursive`, each manifest's referrers follow its successors.
 */
export async function makePlan(src: Resolver & ManifestFetcher & ReferrerLister, opts: PlanOptions): Promise<Plan> {
  const resolved = await src.resolve();
  const root: Descriptor = { ...resolved, annotations: { [Annotation.RefName]: opts.refName } };
  const skip = opts.skip ?? new Map<string, string>();
  const written = new Set<string>();
  const visited = new Set<string>();
  const plan: Plan = { root, manifests: [], blobs: [], skipped: [], dedupSize: '0', manifestBytes: new Map() };
  const skippedSeen = new Set<string>();

  const addBlob = (desc: Descriptor, manifest?: Uint8Array) => {
    if (written.has(desc.digest)) return;
    const why = skip.get(desc.digest);
    if (why !== undefined) {
      if (!skippedSeen.has(desc.digest)) {
        skippedSeen.add(desc.digest);
        plan.skipped.push({ descriptor: desc, reason: why });
      }
      return;
    }
    written.add(desc.digest);
    plan.blobs.push({ descriptor: desc, manifest });
  };

  const walk = async (desc: Descriptor): Promise<void> => {
    const key = `${desc.mediaType}|${desc.digest}|${desc.size}`;
    if (visited.has(key)) return;
    visited.add(key);
    plan.manifests.push(desc);
    const bytes = await src.fetchManifest(desc);
    await verifyBytes(desc, bytes, opts.sourceName);
    plan.manifestBytes.set(desc.digest, bytes);
    if (desc === root) plan.dedupSize = manifestAnnotations(bytes)[Annotation.DedupSize] ?? '0';
    addBlob(desc, bytes);
    for (const child of successors(desc, bytes)) {
      if (isManifest(child.mediaType)) await walk(child);
      else addBlob(child);
    }
    if (opts.recursive) {
      for (const referrer of await src.referrers(desc)) await walk(referrer);
    }
  };
  await walk(root);
  return plan;
}

/**
 * Every non-manifest blob that EXISTING-IMAGE references, recursively (behaviour note 3): these
 * are on the far side. Manifests are not added: the original re-sends them, and so do we, since
 * the far side needs them to rebuild IMAGE.
 */
export async function existingBlobs(src: Resolver & ManifestFetcher, sourceName: string, into: SkipSet): Promise<void> {
  const root = await src.resolve();
  const visited = new Set<string>();
  const walk = async (desc: Descriptor): Promise<void> => {
    if (visited.has(desc.digest)) return;
    visited.add(desc.digest);
    const bytes = await src.fetchManifest(desc);
    await verifyBytes(desc, bytes, sourceName);
    for (const child of successors(desc, bytes)) {
      if (isManifest(child.mediaType)) await walk(child);
      else if (!into.has(child.digest)) into.set(child.digest, `in existing image ${sourceName}`);
    }
  };
  await walk(root);
}
