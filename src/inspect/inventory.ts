import { InterruptedError } from '../errors.js';
import type { LayoutEvent } from '../archive/reader.js';
import { padding } from '../archive/tar-header.js';
import { looksLikeManifest, parseManifest } from '../deserialize/manifest.js';
import { Annotation, type Descriptor, type Platform } from '../oci/descriptor.js';
import { isIndex, isManifest } from '../oci/mediatype.js';
import { digestBytes } from '../oci/verify.js';

/**
 * What a set of archive pieces holds, built from the reader's layout events without reading blob
 * bodies: only index.json (the reader parses it) and the bodies of manifests are read, and each
 * manifest is hashed before it is believed (STYLE habit 4). Manifests are known from index.json
 * and from their parents, which come first in ours and the original's archives (pre-order,
 * behaviour note 2.2); small blobs of unknown role are read too, so that an archive that stores
 * manifests before the index that names them (skopeo's order) is still understood.
 */

export interface BlobItem {
  digest: string;
  size: number;
  /** Byte offset of the body in its source (after decompression when compressed). */
  offset: number;
  /** Byte offset of the entry's first header (a PAX header counts). */
  headerOffset: number;
  /** Offset after the body's padding: the checkpoint ledger's `vnd.act3-ace.data.offset`. */
  end: number;
  /** Index into the report's `sources` (the piece that holds it) and the archive within it. */
  source: number;
  archive: number;
  mediaType?: string;
  kind: 'index' | 'manifest' | 'blob';
  /** The piece ends inside this blob: it is not whole (and does not count as present). */
  cut?: boolean;
}

export interface ImageItem {
  digest: string;
  mediaType: string;
  size: number;
  platform?: Platform;
  /** `org.opencontainers.image.ref.name` values from index.json descriptors and parents. */
  tags: string[];
  annotations?: Record<string, string>;
  root: boolean;
  /** Digest of the index that lists it (first seen), if any. */
  parent?: string;
  present: boolean;
  /** Children read from the manifest itself; undefined when its body was not read. */
  children?: number;
  /** Sum of the sizes of its non-manifest children (config and layers). */
  contentBytes?: number;
}

export interface MissingItem {
  digest: string;
  size?: number;
  mediaType?: string;
  kind: 'manifest' | 'blob';
  /** Manifests that reference it; empty when only index.json lists it. */
  neededBy: string[];
}

export interface ArchiveItem {
  source: number;
  archive: number;
  offset: number;
  compression: 'gzip' | 'zstd' | 'none';
  how?: 'trailer' | 'eof' | 'truncated';
  endOffset?: number;
  problem?: string;
}

/** Manifests larger than this are not read (registries refuse them above 4 MiB). */
const MAX_MANIFEST = 4 << 20;
/** Blobs of unknown role up to this size are read in case they are manifests. */
const PROBE_MAX = 64 << 10;
/** Bound on manifest bodies kept before anything names them (a hostile archive could send many). */
const EARLY_TOTAL_MAX = 64 << 20;

interface Known {
  desc: Descriptor;
  tags: Set<string>;
  parent?: string;
  children?: Descriptor[];
}

function hashOf(bytes: Uint8Array, digest: string): string | undefined {
  const alg = digest.slice(0, digest.indexOf(':'));
  if (alg !== 'sha256' && alg !== 'sha512') return undefined;
  return digestBytes(alg, bytes);
}

async function readBody(body: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array | undefined> {
  const out = new Uint8Array(size);
  let got = 0;
  for await (const c of body) {
    if (got + c.length > size) return undefined;
    out.set(c, got);
    got += c.length;
  }
  return got === size ? out : undefined;
}

export class Inventory {
  readonly blobs: BlobItem[] = [];
  readonly archives: ArchiveItem[] = [];
  readonly problems: string[] = [];
  duplicates = 0;
  ignored = 0;
  private readonly present = new Map<string, BlobItem>();
  /** Descriptors that name a digest (first one wins): media type and size where known. */
  private readonly named = new Map<string, Descriptor>();
  private readonly manifests = new Map<string, Known>();
  /** Manifest bodies read before anything said they were manifests. */
  private readonly early = new Map<string, Uint8Array>();
  private earlyBytes = 0;
  private root?: string;
  /** Entries seen per source (to tell a foreign file from a damaged archive). */
  private readonly entries = new Map<number, number>();
  private current?: { source: number; archive: number; last?: BlobItem };

  async consume(events: AsyncIterable<LayoutEvent>, source: number, name: string, signal?: AbortSignal): Promise<void> {
    for await (const ev of events) {
      if (signal?.aborted) throw new InterruptedError(signal.reason as NodeJS.Signals);
      if (ev.kind !== 'archive-start' && ev.kind !== 'archive-end') this.entries.set(source, (this.entries.get(source) ?? 0) + 1);
      switch (ev.kind) {
        case 'archive-start':
          this.current = { source, archive: ev.archive };
          this.archives.push({ source, archive: ev.archive, offset: ev.offset, compression: ev.compression });
          break;
        case 'archive-end': {
          const a = this.archives[this.archives.length - 1];
          Object.assign(a, { how: ev.how, endOffset: ev.offset, problem: ev.problem });
          const last = this.current?.last;
          if (ev.how === 'truncated' && last && last.offset + last.size > ev.offset) {
            last.cut = true;
            if (this.present.get(last.digest) === last) this.present.delete(last.digest);
          }
          break;
        }
        case 'ignored':
          this.ignored++;
          break;
        case 'index':
          this.onIndex(ev.index.manifests);
          break;
        case 'blob':
          await this.onBlob(ev, name);
          break;
        default:
          break;
      }
    }
  }

  private onIndex(list: Descriptor[]): void {
    if (this.root === undefined && list.length > 0) this.root = list[0].digest;
    for (const d of list) this.know(d, undefined);
  }

  /** A manifest named by index.json (parent undefined) or by a parent manifest. */
  private know(d: Descriptor, parent: string | undefined): void {
    if (!this.named.has(d.digest)) this.named.set(d.digest, d);
    if (!isManifest(d.mediaType)) return;
    let k = this.manifests.get(d.digest);
    if (!k) {
      k = { desc: d, tags: new Set(), parent };
      this.manifests.set(d.digest, k);
      const early = this.early.get(d.digest);
      if (early) {
        this.early.delete(d.digest);
        this.parse(k, early);
      }
    }
    const tag = d.annotations?.[Annotation.RefName];
    if (tag) k.tags.add(tag);
    if (!k.desc.platform && d.platform) k.desc = { ...k.desc, platform: d.platform };
    if (k.parent === undefined && parent) k.parent = parent;
  }

  private parse(k: Known, bytes: Uint8Array): void {
    try {
      const parsed = parseManifest(bytes, k.desc);
      k.children = parsed.children;
      for (const c of parsed.children) this.know(c, k.desc.digest);
    } catch (e) {
      this.problems.push(`manifest ${k.desc.digest} cannot be read: ${(e as Error).message}`);
    }
  }

  private async onBlob(ev: Extract<LayoutEvent, { kind: 'blob' }>, name: string): Promise<void> {
    const cur = this.current!;
    const pad = padding(ev.size);
    const dataOffset = ev.dataOffset;
    const item: BlobItem = {
      digest: ev.digest,
      size: ev.size,
      offset: dataOffset,
      headerOffset: ev.offset,
      end: dataOffset + ev.size + pad,
      source: cur.source,
      archive: cur.archive,
      kind: 'blob',
    };
    this.blobs.push(item);
    cur.last = item;
    if (this.present.has(ev.digest)) {
      this.duplicates++;
      return;
    }
    this.present.set(ev.digest, item);
    const k = this.manifests.get(ev.digest);
    const wanted = k ? !k.children && ev.size <= MAX_MANIFEST : ev.size <= PROBE_MAX && !this.named.has(ev.digest) && this.earlyBytes + ev.size <= EARLY_TOTAL_MAX;
    if (!wanted) return;
    const bytes = await readBody(ev.body, ev.size);
    if (!bytes) return; // cut: the archive-end event marks it
    if (hashOf(bytes, ev.digest) !== ev.digest) {
      if (k) this.problems.push(`manifest ${ev.digest} at byte ${dataOffset} in ${name} does not match its digest (corrupt)`);
      return;
    }
    if (k) this.parse(k, bytes);
    else if (looksLikeManifest(bytes)) {
      this.early.set(ev.digest, bytes);
      this.earlyBytes += bytes.length;
    }
  }

  entriesIn(source: number): number {
    return this.entries.get(source) ?? 0;
  }

  /** Media type of a digest, from the descriptors that name it. */
  mediaTypeOf(digest: string): string | undefined {
    return this.named.get(digest)?.mediaType;
  }

  finish(): { blobs: BlobItem[]; images: ImageItem[]; missing: MissingItem[]; root?: Descriptor } {
    for (const b of this.blobs) {
      b.mediaType = this.mediaTypeOf(b.digest);
      b.kind = isIndex(b.mediaType) ? 'index' : isManifest(b.mediaType) ? 'manifest' : 'blob';
    }
    const images: ImageItem[] = [];
    const missing = new Map<string, MissingItem>();
    const miss = (d: Descriptor, neededBy?: string) => {
      let m = missing.get(d.digest);
      if (!m) {
        m = { digest: d.digest, size: d.size, mediaType: d.mediaType, kind: isManifest(d.mediaType) ? 'manifest' : 'blob', neededBy: [] };
        missing.set(d.digest, m);
      }
      if (neededBy && !m.neededBy.includes(neededBy)) m.neededBy.push(neededBy);
    };
    for (const k of this.manifests.values()) {
      const d = k.desc;
      const present = this.present.has(d.digest);
      const content = k.children?.filter((c) => !isManifest(c.mediaType));
      images.push({
        digest: d.digest,
        mediaType: d.mediaType,
        size: d.size,
        platform: d.platform,
        tags: [...k.tags],
        annotations: d.annotations,
        root: d.digest === this.root,
        parent: k.parent,
        present,
        children: k.children?.length,
        contentBytes: isIndex(d.mediaType) ? undefined : content?.reduce((a, c) => a + c.size, 0),
      });
      if (!present) miss(d, k.parent);
      for (const c of k.children ?? []) if (!this.present.has(c.digest)) miss(c, d.digest);
    }
    const rootKnown = this.root ? this.manifests.get(this.root)?.desc : undefined;
    return { blobs: this.blobs, images, missing: [...missing.values()], root: rootKnown };
  }
}
