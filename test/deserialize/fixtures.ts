/**
 * Fixtures for the deserialize/verify tests: archives in the original's exact layout (behaviour
 * note 1.1) built from the in-memory image sets of test/helpers/images.ts, raw tar headers for
 * hostile entries, a seeded PRNG, and an in-memory target that refuses (and records) anything a
 * real registry would refuse: an unverified blob commit, a manifest before its children.
 */
import { createHash } from 'node:crypto';
import { encodeHeader, padded } from '../../src/archive/tar-header.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { isManifest, MediaType } from '../../src/oci/mediatype.js';
import { successors } from '../../src/oci/successors.js';
import type { EngineTarget } from '../../src/deserialize/engine.js';
import type { ImageSet } from '../helpers/images.js';

export interface Entry {
  name: string;
  type?: 'file' | 'directory';
  data?: Uint8Array;
  /** Pre-built bytes (header(s), data, padding) used as is. */
  raw?: Uint8Array;
}

export function digestOf(bytes: Uint8Array, alg = 'sha256'): string {
  return `${alg}:${createHash(alg).update(bytes).digest('hex')}`;
}

export function entryBytes(e: Entry): Uint8Array {
  if (e.raw) return e.raw;
  const type = e.type ?? 'file';
  const data = e.data ?? new Uint8Array(0);
  const h = encodeHeader({ name: e.name, type, size: type === 'directory' ? 0 : data.length });
  const out = new Uint8Array(h.length + (type === 'directory' ? 0 : padded(data.length)));
  out.set(h, 0);
  if (type !== 'directory') out.set(data, h.length);
  return out;
}

export function tarOf(entries: Entry[], opts: { trailer?: boolean } = {}): Buffer {
  const parts = entries.map(entryBytes);
  if (opts.trailer !== false) parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}

/** A hand-made header block, checksum computed; every field settable (hostile input). */
export function rawHeader(o: { name: string; typeflag?: string; size?: number | string; linkname?: string; magic?: string; version?: string; prefix?: string; mode?: string }): Uint8Array {
  const b = new Uint8Array(512);
  const put = (off: number, len: number, s: string) => {
    const bytes = Buffer.from(s, 'utf8');
    b.set(bytes.subarray(0, len), off);
  };
  put(0, 100, o.name);
  put(100, 8, o.mode ?? '0000644\0');
  put(108, 8, '0000000\0');
  put(116, 8, '0000000\0');
  put(124, 12, typeof o.size === 'string' ? o.size : (o.size ?? 0).toString(8).padStart(11, '0') + '\0');
  put(136, 12, '00000000000\0');
  b[156] = (o.typeflag ?? '0').charCodeAt(0);
  put(157, 100, o.linkname ?? '');
  put(257, 6, o.magic ?? 'ustar\0');
  put(263, 2, o.version ?? '00');
  if (o.prefix) put(345, 155, o.prefix);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i];
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return b;
}

/** A raw entry: header + data padded. */
export function rawEntry(h: Parameters<typeof rawHeader>[0], data: Uint8Array = new Uint8Array(0)): Entry {
  const head = rawHeader({ size: data.length, ...h });
  const out = new Uint8Array(512 + padded(data.length));
  out.set(head, 0);
  out.set(data, 512);
  return { name: h.name, raw: out };
}

/** PAX `x` header entry carrying records, as its own Entry (precedes the next one). */
export function paxEntry(name: string, records: Record<string, string>): Entry {
  let body = '';
  for (const [k, v] of Object.entries(records)) {
    const rest = ` ${k}=${v}\n`;
    let len = rest.length + 1;
    while (String(len).length + rest.length !== len) len++;
    body += `${len}${rest}`;
  }
  return rawEntry({ name, typeflag: 'x' }, Buffer.from(body));
}

export interface Content {
  byDigest: Map<string, { desc: Descriptor; bytes: Uint8Array }>;
}

export function contentOf(set: ImageSet): Map<string, { desc: Descriptor; bytes: Uint8Array }> {
  const m = new Map<string, { desc: Descriptor; bytes: Uint8Array }>();
  for (const x of [...set.blobs, ...set.manifests]) m.set(x.desc.digest, x);
  return m;
}

/** The root: the manifest tagged with the set's tag (pushed last among tagged ones). */
export function rootOf(set: ImageSet, tag?: string): Descriptor {
  const m = set.manifests.find((x) => (tag ? x.tag === tag : x.tag && !x.tag.startsWith('sha256-')));
  if (!m) throw new Error('no root');
  return { mediaType: m.desc.mediaType, digest: m.desc.digest, size: m.desc.size };
}

/** Pre-order walk (behaviour note 2.2): manifest bytes before its children, dedup by digest. */
export function preorder(set: ImageSet, roots: Descriptor[]): { blobs: { desc: Descriptor; bytes: Uint8Array }[]; manifests: Descriptor[] } {
  const content = contentOf(set);
  const seen = new Set<string>();
  const blobs: { desc: Descriptor; bytes: Uint8Array }[] = [];
  const manifests: Descriptor[] = [];
  const walk = (d: Descriptor) => {
    const c = content.get(d.digest);
    if (!c) throw new Error(`no content for ${d.digest}`);
    if (isManifest(d.mediaType)) {
      if (manifests.some((m) => m.digest === d.digest)) return;
      manifests.push({ mediaType: d.mediaType, digest: d.digest, size: d.size });
    }
    if (!seen.has(d.digest)) {
      seen.add(d.digest);
      blobs.push({ desc: d, bytes: c.bytes });
    }
    if (isManifest(d.mediaType)) for (const ch of successors(d, c.bytes)) walk(ch);
  };
  for (const r of roots) walk(r);
  return { blobs, manifests };
}

export interface LayoutOpts {
  tag?: string;
  /** Extra top-level manifests (referrers) walked after the root. */
  extra?: Descriptor[];
  manifestJson?: boolean;
  /** Blobs left out (EXISTING-IMAGE, or written by an earlier piece). */
  skip?: Set<string>;
}

function indexJson(manifests: Descriptor[]): Uint8Array {
  return Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests,
        annotations: { 'vnd.act3-ace.data.version': 'test', 'vnd.act3-ace.data.serialization.version': '2', 'vnd.act3-ace.data.layer.size.deduplicated': '0' },
      },
      null,
      2,
    ),
  );
}

/** The entries the original serializer writes for `set` (behaviour note 1.1). */
export function originalEntries(set: ImageSet, root: Descriptor, opts: LayoutOpts = {}): Entry[] {
  const tag = opts.tag ?? 'latest';
  const walk = preorder(set, [root, ...(opts.extra ?? [])]);
  const rootDesc = { ...root, annotations: { 'org.opencontainers.image.ref.name': tag } };
  const out: Entry[] = [
    { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { name: 'index.json', data: indexJson([rootDesc]) },
  ];
  const dirs = new Set<string>();
  for (const b of walk.blobs) {
    if (opts.skip?.has(b.desc.digest)) continue;
    const [alg, hex] = b.desc.digest.split(':');
    if (!dirs.has('blobs')) {
      dirs.add('blobs');
      out.push({ name: 'blobs', type: 'directory' });
    }
    if (!dirs.has(alg)) {
      dirs.add(alg);
      out.push({ name: `blobs/${alg}`, type: 'directory' });
    }
    out.push({ name: `blobs/${alg}/${hex}`, data: b.bytes });
  }
  out.push({ name: 'index.json', data: indexJson([rootDesc, ...walk.manifests.slice(1)]) });
  if (opts.manifestJson) out.push({ name: 'manifest.json', data: Buffer.from('[]') });
  return out;
}

export function originalArchive(set: ImageSet, root: Descriptor, opts: LayoutOpts & { trailer?: boolean } = {}): Buffer {
  return tarOf(originalEntries(set, root, opts), { trailer: opts.trailer });
}

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function* chunked(buf: Uint8Array, size = 4096): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.slice(i, i + size);
}

/**
 * An in-memory registry: blobs commit only after verify() resolves true, and are checked again
 * here; a manifest is accepted only when its children exist (as distribution does). Anything
 * that a correct deserialize must never do lands in `violations`.
 */
export class MemoryTarget implements EngineTarget {
  readonly name = 'memory';
  readonly tag: string;
  blobs = new Map<string, Uint8Array>();
  manifests = new Map<string, { mediaType: string; bytes: Uint8Array }>();
  tags = new Map<string, string>();
  violations: string[] = [];
  blobPushes = 0;
  manifestPushes = 0;
  heads = 0;

  constructor(tag = 'latest') {
    this.tag = tag;
  }

  async blobExists(d: Descriptor): Promise<boolean> {
    this.heads++;
    return this.blobs.has(d.digest) || this.manifests.has(d.digest);
  }

  async pushBlob(d: Descriptor, data: AsyncIterable<Uint8Array>, verify: () => Promise<boolean>): Promise<void> {
    const chunks: Uint8Array[] = [];
    for await (const c of data) chunks.push(c);
    const bytes = Buffer.concat(chunks);
    if (!(await verify())) throw new Error(`upload of ${d.digest} aborted: verification failed`);
    this.blobPushes++;
    if (bytes.length !== d.size || digestOf(bytes, d.digest.split(':')[0]) !== d.digest) {
      this.violations.push(`committed unverified blob ${d.digest}`);
      return;
    }
    this.blobs.set(d.digest, bytes);
  }

  async manifestExists(d: Descriptor): Promise<boolean> {
    this.heads++;
    return this.manifests.has(d.digest);
  }

  async pushManifest(d: Descriptor, bytes: Uint8Array, tag?: string): Promise<void> {
    this.manifestPushes++;
    if (bytes.length !== d.size || digestOf(bytes, d.digest.split(':')[0]) !== d.digest) {
      this.violations.push(`manifest ${d.digest} pushed with wrong bytes`);
      return;
    }
    for (const c of successors(d, bytes)) {
      const ok = isManifest(c.mediaType) ? this.manifests.has(c.digest) : this.blobs.has(c.digest);
      // A subject may legitimately be absent in OCI 1.1, but our order must still put it first.
      if (!ok) this.violations.push(`manifest ${d.digest} pushed before its child ${c.digest}`);
    }
    this.manifests.set(d.digest, { mediaType: d.mediaType, bytes });
    if (tag) this.tags.set(tag, d.digest);
  }

  async close(): Promise<void> {}
}
