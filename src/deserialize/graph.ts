import { OciError } from '../errors.js';
import { basicDescriptor, type Descriptor } from '../oci/descriptor.js';
import { isManifest } from '../oci/mediatype.js';
import { parseManifest } from './manifest.js';

/**
 * The manifest graph of a deserialize or verify run: which manifests are known, which of them
 * have verified bytes, what their children are, and which are ready to go up. Pure: no registry,
 * no I/O, no clock; the engine feeds it what the archives and the target say and acts on what
 * it answers, so every ordering rule is tested here without a registry (test/deserialize/graph.test.ts).
 *
 * - announce: a manifest is known (listed in index.json, or a child of an attached manifest);
 * - attach: its verified bytes arrived: the children are learned, the manifest queued;
 * - ready: a manifest with bytes whose children are all in place, children before parents
 *   whatever order the archive has (ours is pre-order, skopeo's is not);
 * - missing: what still keeps a manifest from going up, with the reason when one is known.
 *
 * Small blobs that look like manifests are kept until something names them (`keep`): in skopeo's
 * order a manifest's bytes come before the index that lists it.
 */

/**
 * How content came to be in place. The graph records it for the report: explained() reads back
 * 'explained' and 'existing' (what `mirror verify --existing` accounts for); the rest is a label.
 */
export type Placed = 'pushed' | 'existing' | 'mounted' | 'verified' | 'dry-run' | 'explained';

export interface ManifestNode {
  /** The descriptor it was first announced with (digest, size, media type: a parent's claim). */
  readonly desc: Descriptor;
  /** The media type to push with, settled from the verified bytes (manifest.ts). */
  mediaType?: string;
  bytes?: Uint8Array;
  children?: Descriptor[];
  /** Digests of the manifests that name it. */
  readonly parents: Set<string>;
  /** In place (pushed, found in the target, or explained); set by placeManifest. */
  done: boolean;
  how?: Placed;
}

/** What a manifest is pushed as: its digest and size, with the media type its verified bytes settle. */
export function manifestDescriptor(node: ManifestNode): Descriptor {
  return { mediaType: node.mediaType ?? node.desc.mediaType, digest: node.desc.digest, size: node.desc.size };
}

export interface MissingItem {
  digest: string;
  size?: number;
  mediaType?: string;
  kind: 'blob' | 'manifest';
  neededBy: string[];
  /** Why it is not there when we know (cut piece, digest mismatch, size mismatch). */
  reason?: string;
}

export interface ExplainedItem {
  digest: string;
  size?: number;
  kind: 'blob' | 'manifest';
  explainedBy: string;
}

export interface GraphOptions {
  /**
   * Called for each child of a manifest as its bytes are attached, in document order, once the
   * child is linked to that parent (the engine notes source hints and starts look-ups here).
   */
  onChild?: (child: Descriptor) => void;
  /** Bytes of manifest-like blobs kept at most (default 256 MiB). */
  keepMax?: number;
}

export class ManifestGraph {
  private readonly nodes = new Map<string, ManifestNode>();
  private readonly blobs = new Map<string, { size: number; how: Placed }>();
  private readonly blobParents = new Map<string, Set<string>>();
  /** Manifest-like bytes that nothing has named yet. */
  private readonly kept = new Map<string, Uint8Array>();
  private keptBytes = 0;
  /** Manifests to look at again: attached, or a child of theirs came into place. */
  private readonly queue: ManifestNode[] = [];

  constructor(private readonly opts: GraphOptions = {}) {}

  /** Number of manifests known. */
  get size(): number {
    return this.nodes.size;
  }

  node(digest: string): ManifestNode | undefined {
    return this.nodes.get(digest);
  }

  /** Every known manifest, in the order it became known. */
  manifests(): IterableIterator<ManifestNode> {
    return this.nodes.values();
  }

  /** A blob in place, with the size it was placed with. */
  blob(digest: string): { size: number; how: Placed } | undefined {
    return this.blobs.get(digest);
  }

  /** The manifests that name `digest` (as a blob or as a manifest). */
  parentsOf(digest: string): string[] {
    return [...(this.blobParents.get(digest) ?? []), ...(this.nodes.get(digest)?.parents ?? [])];
  }

  /** Know a manifest (from index.json, or as `parent`'s child); bytes kept earlier are attached now. */
  announce(desc: Descriptor, parent?: string): ManifestNode {
    const { node, kept } = this.link(desc, parent);
    if (kept) this.attach(node, kept);
    return node;
  }

  /**
   * Keep verified bytes that look like a manifest until a manifest of that digest is announced.
   * False (nothing kept) when the bound is reached.
   */
  keep(digest: string, bytes: Uint8Array): boolean {
    if (this.kept.has(digest)) return true;
    if (this.keptBytes + bytes.length > (this.opts.keepMax ?? 256 << 20)) return false;
    this.kept.set(digest, bytes);
    this.keptBytes += bytes.length;
    return true;
  }

  /** Digests of kept manifest-like bytes that no index.json or manifest names. */
  unclaimed(): string[] {
    return [...this.kept.keys()].filter((d) => !this.nodes.has(d));
  }

  /**
   * A manifest's verified bytes: learn its children (claiming kept bytes of child manifests in
   * turn) and queue it. Iterative, since graphs can be deep. Throws EMANIFEST when the bytes are
   * not the size the parent claimed, or not a manifest (manifest.ts).
   */
  attach(first: ManifestNode, firstBytes: Uint8Array): void {
    const work: Array<[ManifestNode, Uint8Array]> = [[first, firstBytes]];
    while (work.length) {
      const [node, bytes] = work.pop()!;
      if (node.bytes) continue;
      if (bytes.length !== node.desc.size) {
        throw new OciError('EMANIFEST', `manifest ${node.desc.digest}: its parent says ${node.desc.size} bytes, the archive holds ${bytes.length}`);
      }
      const parsed = parseManifest(bytes, node.desc);
      node.bytes = bytes;
      node.mediaType = parsed.mediaType;
      node.children = parsed.children;
      for (const child of parsed.children) {
        if (isManifest(child.mediaType)) {
          const { node: cn, kept } = this.link(child, node.desc.digest);
          if (kept) work.push([cn, kept]);
        } else {
          let ps = this.blobParents.get(child.digest);
          if (!ps) this.blobParents.set(child.digest, (ps = new Set()));
          ps.add(node.desc.digest);
        }
        this.opts.onChild?.(child);
      }
      this.queue.push(node);
    }
  }

  /**
   * A blob is in place (or verified, without a target). Its parents are looked at again, unless
   * `requeue` is false: `mirror verify --existing` accounts for blobs a node at a time and
   * queues that node itself (recheck), which keeps the order of its lines.
   */
  placeBlob(digest: string, size: number, how: Placed, requeue = true): void {
    this.blobs.set(digest, { size, how });
    if (requeue) this.requeueParents(this.blobParents.get(digest));
  }

  /** A manifest is in place (pushed, found in the target, or explained): its parents are looked at again. */
  placeManifest(node: ManifestNode, how: Placed): void {
    node.done = true;
    node.how = how;
    this.requeueParents(node.parents);
  }

  /** Look at `node` again at the next `ready()`. */
  recheck(node: ManifestNode): void {
    this.queue.push(node);
  }

  /**
   * The next manifest that can go up: verified bytes, not in place, every child in place (a blob
   * of the size the manifest names). Queued ones that cannot are dropped until a child of theirs
   * comes into place. The caller places it (placeManifest) before asking again.
   */
  ready(): ManifestNode | undefined {
    while (this.queue.length) {
      const node = this.queue.shift()!;
      if (!node.done && node.bytes && this.childrenInPlace(node)) return node;
    }
    return undefined;
  }

  /** What keeps manifests from going up; `reasonOf` gives what the caller knows about a digest. */
  missing(reasonOf: (digest: string) => string | undefined): MissingItem[] {
    const out = new Map<string, MissingItem>();
    const add = (d: Descriptor, kind: MissingItem['kind'], by: string | undefined) => {
      let m = out.get(d.digest);
      if (!m) {
        m = { digest: d.digest, size: d.size, mediaType: d.mediaType, kind, neededBy: [] };
        const why = reasonOf(d.digest);
        const b = this.blobs.get(d.digest);
        if (why) m.reason = why;
        else if (b && b.size !== d.size) m.reason = `size mismatch: the archive's blob has ${b.size} bytes, ${by ?? 'index.json'} says ${d.size}`;
        out.set(d.digest, m);
      }
      if (by && !m.neededBy.includes(by)) m.neededBy.push(by);
    };
    for (const node of this.nodes.values()) {
      if (node.done) continue;
      if (!node.bytes) {
        const parents = [...node.parents];
        if (parents.length === 0) add(node.desc, 'manifest', undefined);
        for (const p of parents) add(node.desc, 'manifest', p);
        continue;
      }
      for (const c of node.children ?? []) {
        if (isManifest(c.mediaType)) continue; // reported at that manifest
        if (!this.blobInPlace(c)) add(c, 'blob', node.desc.digest);
      }
    }
    return [...out.values()];
  }

  /** Manifests and blobs placed as 'explained' (or found 'existing') that `why` accounts for. */
  explained(why: (digest: string) => string | undefined): ExplainedItem[] {
    const out = new Map<string, ExplainedItem>();
    for (const node of this.nodes.values()) {
      if (node.how === 'explained') out.set(node.desc.digest, { digest: node.desc.digest, size: node.desc.size, kind: 'manifest', explainedBy: why(node.desc.digest)! });
      for (const c of node.children ?? []) {
        const reason = why(c.digest);
        if (reason && this.blobs.get(c.digest)?.how === 'existing' && !isManifest(c.mediaType)) out.set(c.digest, { digest: c.digest, size: c.size, kind: 'blob', explainedBy: reason });
      }
    }
    return [...out.values()];
  }

  private link(desc: Descriptor, parent: string | undefined): { node: ManifestNode; kept?: Uint8Array } {
    let node = this.nodes.get(desc.digest);
    if (!node) {
      node = { desc: basicDescriptor(desc), parents: new Set(), done: false };
      this.nodes.set(desc.digest, node);
    }
    if (parent) node.parents.add(parent);
    const kept = node.bytes ? undefined : this.kept.get(desc.digest);
    if (kept) {
      this.kept.delete(desc.digest);
      this.keptBytes -= kept.length;
    }
    return { node, kept };
  }

  private requeueParents(parents: Iterable<string> | undefined): void {
    for (const p of parents ?? []) {
      const node = this.nodes.get(p);
      if (node && !node.done) this.queue.push(node);
    }
  }

  private blobInPlace(child: Descriptor): boolean {
    return this.blobs.get(child.digest)?.size === child.size;
  }

  private childrenInPlace(node: ManifestNode): boolean {
    for (const c of node.children ?? []) {
      if (isManifest(c.mediaType) ? !this.nodes.get(c.digest)?.done : !this.blobInPlace(c)) return false;
    }
    return true;
  }
}
