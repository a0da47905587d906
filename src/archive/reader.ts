import { OciError } from '../errors.js';
import { isDescriptor, type Descriptor } from '../oci/descriptor.js';
import { parseDigest } from '../oci/digest.js';
import { ByteReader } from './read-bytes.js';
import { readTarArchive, type TarEntry } from './read-tar.js';
import { BLOCK, isZeroBlock, TarFormatError } from './tar-header.js';

/**
 * Reads OCI-layout tar archives (ours, the original ace-dt's, skopeo's oci-archive) from one
 * source and reports what they hold, entry by entry, without trusting anything:
 *
 * - several archives in one stream are read one after the other (after an end-of-archive
 *   marker, reading continues while non-zero data follows);
 * - gzip or zstd is detected by magic at the start of each archive;
 * - only `oci-layout`, `index.json`, `manifest.json`, the `blobs` and `blobs/<alg>` directories
 *   and `blobs/<alg>/<hex>` mean anything; other regular files and directories are ignored
 *   (an error with `strict`), and entries that could escape a directory or point elsewhere
 *   (absolute paths, `..`, hard and symbolic links, devices, FIFOs) are rejected outright;
 * - blob bodies are handed out as streams, unverified: the consumer hashes them.
 *
 * `strict` follows the original (behaviour note 6.2): `oci-layout` first, `index.json` second,
 * blobs after, at most two `index.json` per archive, unknown files rejected; unlike the original
 * it lets `manifest.json` (written by `--manifest-json`) pass.
 */

export interface ReadOptions {
  strict?: boolean;
  /** Largest index.json accepted (it lists every manifest; a few MB for big image sets). */
  maxIndexBytes?: number;
}

export interface ImageIndexJson {
  schemaVersion?: number;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export type LayoutEvent =
  | { kind: 'archive-start'; archive: number; offset: number; compression: Compression }
  | { kind: 'oci-layout'; offset: number }
  | { kind: 'index'; index: ImageIndexJson; bytes: Uint8Array; offset: number }
  /** Read `body` (at most `size` bytes arrive; fewer when the archive is cut) or leave it. */
  | { kind: 'blob'; digest: string; size: number; offset: number; dataOffset: number; body: AsyncIterable<Uint8Array> }
  | { kind: 'manifest-json'; offset: number }
  | { kind: 'ignored'; name: string; reason: string; offset: number }
  /**
   * `trailer`/`eof`: the archive ended cleanly; `truncated`: the source ended inside it (a cut
   * piece); `problem` says why a compressed stream stopped.
   */
  | { kind: 'archive-end'; archive: number; how: 'trailer' | 'eof' | 'truncated'; offset: number; problem?: string };

/** gzip and zstd by magic (behaviour note 1.3: gzip 1F 8B, zstd 28 B5 2F FD). */
export type Compression = 'gzip' | 'zstd' | 'none';

export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

export const MAX_INDEX_BYTES = 16 << 20;
const MAX_LAYOUT_BYTES = 4096;

export class UnsafeEntryError extends OciError {
  constructor(message: string, readonly offset: number) {
    super('EUNSAFE', message);
  }
}

type Classified =
  | { kind: 'oci-layout' | 'index' | 'manifest-json' | 'dir' }
  | { kind: 'blob'; digest: string }
  | { kind: 'unknown'; reason: string };

function printable(name: string): string {
  return JSON.stringify(name.length > 200 ? name.slice(0, 200) + '...' : name);
}

/** What a tar entry is, after the safety checks (throws UnsafeEntryError). */
export function classifyEntry(e: Pick<TarEntry, 'name' | 'type' | 'linkname' | 'headerOffset'>, strict: boolean): Classified {
  const at = e.headerOffset;
  const where = `at byte ${at}`;
  if (e.type === '1' || e.type === '2') {
    throw new UnsafeEntryError(`archive entry ${printable(e.name)} ${where} is a ${e.type === '1' ? 'hard' : 'symbolic'} link (to ${printable(e.linkname)}); links are not allowed in an OCI layout archive`, at);
  }
  if (e.type === '3' || e.type === '4' || e.type === '6') {
    const what = e.type === '6' ? 'FIFO' : 'device file';
    throw new UnsafeEntryError(`archive entry ${printable(e.name)} ${where} is a ${what}; not allowed in an OCI layout archive`, at);
  }
  const name = e.name;
  if (name === '' || name.includes('\0')) throw new UnsafeEntryError(`archive entry ${where} has an empty or invalid name`, at);
  if (name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(name)) throw new UnsafeEntryError(`archive entry ${printable(name)} ${where} has an absolute path`, at);
  const parts = name.split(/[\\/]/);
  if (parts.includes('..')) throw new UnsafeEntryError(`archive entry ${printable(name)} ${where} leaves the layout ("..")`, at);
  const clean = parts.filter((p) => p !== '' && p !== '.').join('/');
  const isDir = e.type === '5';
  const isFile = e.type === '0' || e.type === '7';
  const exact = clean === name || (isDir && clean + '/' === name);
  const unknown = (reason: string): Classified => ({ kind: 'unknown', reason });
  if (strict && !exact) return unknown('name is not in canonical form');
  if (isDir) {
    if (clean === 'blobs' || /^blobs\/[a-z0-9]+$/.test(clean)) return { kind: 'dir' };
    return unknown('directory outside the layout');
  }
  if (!isFile) return unknown(`unsupported entry type ${JSON.stringify(e.type)}`);
  if (clean === 'oci-layout') return { kind: 'oci-layout' };
  if (clean === 'index.json') return { kind: 'index' };
  if (clean === 'manifest.json') return { kind: 'manifest-json' };
  const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(clean);
  if (m) {
    const digest = `${m[1]}:${m[2]}`;
    try {
      parseDigest(digest);
    } catch {
      return unknown('blob name is not a digest this tool can verify');
    }
    return { kind: 'blob', digest };
  }
  return unknown('file outside the layout');
}

async function readAll(body: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array | undefined> {
  const out = new Uint8Array(size);
  let got = 0;
  for await (const c of body) {
    out.set(c, got);
    got += c.length;
  }
  return got === size ? out : undefined;
}

/** Parse and check an index.json's shape (untrusted JSON). */
export function parseIndexJson(bytes: Uint8Array, what: string): ImageIndexJson {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new OciError('EINDEX', `${what} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new OciError('EINDEX', `${what} is not a JSON object`);
  const o = v as Record<string, unknown>;
  if (o.schemaVersion !== undefined && o.schemaVersion !== 2) throw new OciError('EINDEX', `${what} has schemaVersion ${JSON.stringify(o.schemaVersion)}, expected 2`);
  if (!Array.isArray(o.manifests)) throw new OciError('EINDEX', `${what} has no "manifests" list`);
  for (const [i, d] of o.manifests.entries()) {
    if (!isDescriptor(d)) throw new OciError('EINDEX', `${what}: manifests[${i}] is not a valid descriptor`);
    try {
      parseDigest(d.digest);
    } catch {
      throw new OciError('EINDEX', `${what}: manifests[${i}] has an invalid or unsupported digest ${JSON.stringify(d.digest)}`);
    }
  }
  return o as unknown as ImageIndexJson;
}

/** All archives in one source, in order. `name` is used in messages. */
export async function* readArchives(chunks: AsyncIterable<Uint8Array>, name: string, opts: ReadOptions = {}): AsyncGenerator<LayoutEvent> {
  const br = new ByteReader(chunks);
  try {
    yield* readStream(br, name, opts, { archives: 0 }, 'none', undefined);
  } finally {
    await br.close();
  }
}

async function* readStream(
  br: ByteReader,
  name: string,
  opts: ReadOptions,
  counter: { archives: number },
  outer: Compression,
  problem: (() => string | undefined) | undefined,
): AsyncGenerator<LayoutEvent> {
  for (;;) {
    // Zero blocks between archives: GNU tar pads to a 10 KiB record, dd to its block size.
    for (;;) {
      const head = await br.peek(BLOCK);
      if (head.length === 0 || !isZeroBlock(head)) break;
      await br.skip(head.length);
    }
    const head = await br.peek(4);
    if (head.length === 0) return;
    const comp = detectCompression(head);
    if (comp !== 'none') {
      if (outer !== 'none') throw new TarFormatError(`${comp} data inside a ${outer} stream (nested compression is not supported)`, br.offset);
      // Loaded for a compressed archive only: node:zlib and node:child_process are start-up time
      // that `mirror inspect` of a plain archive would pay for nothing (issue 14).
      const { decompress } = await import('./read-decompress.js');
      const d = decompress(comp, br.rest());
      const inner = new ByteReader(d.chunks);
      const before = counter.archives;
      const at = br.offset;
      try {
        yield* readStream(inner, name, opts, counter, comp, d.problem);
      } finally {
        await inner.close();
      }
      if (counter.archives === before && d.problem()) {
        // Nothing decodable before the cut: still say that an archive was there, and why it stops.
        const archive = ++counter.archives;
        yield { kind: 'archive-start', archive, offset: at, compression: comp };
        yield { kind: 'archive-end', archive, how: 'truncated', offset: 0, problem: d.problem() };
      }
      return;
    }
    const archive = ++counter.archives;
    yield { kind: 'archive-start', archive, offset: br.offset, compression: outer };
    let how: 'trailer' | 'eof' | 'truncated' = 'eof';
    let endOffset = br.offset;
    const strict = opts.strict === true;
    let step = 0; // strict order: 0 expects oci-layout, 1 index.json, 2 the rest
    let indexes = 0;
    for await (const ev of readTarArchive(br)) {
      if (ev.kind === 'end') {
        how = ev.how;
        endOffset = ev.offset;
        break;
      }
      const e = ev.entry;
      const c = classifyEntry(e, strict);
      const at = e.headerOffset;
      if (strict) {
        const expected = step === 0 ? 'oci-layout' : step === 1 ? 'index' : undefined;
        if (c.kind === 'unknown') {
          throw new OciError('ESTRICT', `strict mode: unexpected archive entry ${printable(e.name)} at byte ${at} in ${name} (${c.reason})`);
        }
        if (expected && c.kind !== expected && c.kind !== 'dir') {
          throw new OciError('ESTRICT', `strict mode: expected ${expected === 'index' ? 'index.json' : 'oci-layout'} as entry ${step + 1} of archive ${archive} in ${name}, found ${printable(e.name)} at byte ${at}`);
        }
        if (c.kind === 'index' && ++indexes > 2) {
          throw new OciError('ESTRICT', `expected 2 index.json files in Strict mode but received ${indexes} (archive ${archive} in ${name}, byte ${at})`);
        }
        if (c.kind === expected) step++;
      }
      switch (c.kind) {
        case 'dir':
          break;
        case 'unknown':
          yield { kind: 'ignored', name: e.name, reason: c.reason, offset: at };
          break;
        case 'manifest-json':
          yield { kind: 'manifest-json', offset: at };
          break;
        case 'oci-layout': {
          if (e.size > MAX_LAYOUT_BYTES) throw new OciError('ELAYOUT', `oci-layout at byte ${at} in ${name} is ${e.size} bytes, too large`);
          const bytes = await readAll(e.body, e.size);
          if (!bytes) break; // cut: the archive-end event says so
          let ok = false;
          try {
            ok = (JSON.parse(new TextDecoder().decode(bytes)) as { imageLayoutVersion?: unknown }).imageLayoutVersion === '1.0.0';
          } catch {
            ok = false;
          }
          if (!ok) throw new OciError('ELAYOUT', `oci-layout at byte ${at} in ${name} is not {"imageLayoutVersion":"1.0.0"}`);
          yield { kind: 'oci-layout', offset: at };
          break;
        }
        case 'index': {
          const max = opts.maxIndexBytes ?? MAX_INDEX_BYTES;
          if (e.size > max) throw new OciError('EINDEX', `index.json at byte ${at} in ${name} is ${e.size} bytes, more than the ${max} allowed`);
          const bytes = await readAll(e.body, e.size);
          if (!bytes) break;
          const index = parseIndexJson(bytes, `index.json at byte ${at} in ${name}`);
          yield { kind: 'index', index, bytes, offset: at };
          break;
        }
        case 'blob':
          yield { kind: 'blob', digest: c.digest, size: e.size, offset: at, dataOffset: e.dataOffset, body: e.body };
          break;
      }
    }
    yield { kind: 'archive-end', archive, how, offset: endOffset, problem: how === 'trailer' ? undefined : problem?.() };
    if (how !== 'trailer') return;
  }
}
