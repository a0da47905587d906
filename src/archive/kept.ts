import { AceError } from '../errors.js';
import { blobPath, parseDigest } from '../oci/digest.js';
import { verifyingWriter } from '../oci/verify.js';
import type { LedgerRecord } from './ledger.js';
import { type PositionalReader, openPositional, readRange } from './positional.js';
import { parseIndexJson, readArchives } from './reader.js';
import { BLOCK, MAX_PAX_BYTES, type RawHeader, isZeroBlock, padded, parseHeader, parsePax, parsePaxSize } from './tar-header.js';

/**
 * What the kept prefix of an interrupted archive really holds (issue 15). A resume continues a
 * file only as far as the file proves the ledger: every tar entry of the prefix is read back (one
 * read of its header, bodies skipped) and each blob entry must sit exactly where the ledger
 * recorded it, with the recorded digest and size. The first entry that does not is where the
 * prefix ends; what the ledger says beyond it is written again. `rehash` also reads every kept
 * blob and checks its digest (the whole prefix is read: see the README for the cost).
 */
export interface KeptPrefix {
  /** Ledger records proved on the file, in archive order. */
  kept: LedgerRecord[];
  /** Archive offset just after the last kept blob; 0 when nothing is kept. */
  cut: number;
  /** The `blobs`, `blobs/<alg>` directory entries before the cut. */
  dirs: string[];
  /** Why the walk stopped before the end of the data, when it was not simply the end. */
  stop?: string;
  /** The file does not start as an archive of ours at all (not tar, or not an OCI layout first). */
  foreign: boolean;
}

export interface KeptOptions {
  /** Bytes of the file that count (its size, or less when the operator says so). */
  limit: number;
  compression?: string;
  /** The root digest index.json must name, when the ledger knows it. */
  root?: string;
  rehash?: boolean;
}

// The file, or a volume set read as one stream (positional.ts): the walk is the same.
type Medium = PositionalReader;
const readAt = (fh: Medium, at: number, n: number): Promise<Buffer> => fh.readAt(at, n);

interface Header {
  h: RawHeader;
  name: string;
  size: number;
  /** Offset of the entry's data. */
  data: number;
}

/** One entry's header at `at` (a PAX header first when there is one); undefined at a zero block or the limit. */
async function headerAt(fh: Medium, at: number, limit: number): Promise<Header | undefined> {
  if (at + BLOCK > limit) return undefined;
  const block = await readAt(fh, at, BLOCK);
  if (block.length < BLOCK || isZeroBlock(block)) return undefined;
  let h = parseHeader(block, at);
  let name = h.name;
  let size = h.size;
  let data = at + BLOCK;
  if (h.type === 'x') {
    if (h.size > MAX_PAX_BYTES) throw new AceError('ETAR', `PAX header of ${h.size} bytes at byte ${at}`);
    const pax = parsePax(await readAt(fh, data, h.size), at);
    const next = data + padded(h.size);
    if (next + BLOCK > limit) return undefined;
    h = parseHeader(await readAt(fh, next, BLOCK), next);
    name = pax.get('path') ?? h.name;
    const paxSize = pax.get('size');
    size = paxSize === undefined ? h.size : parsePaxSize(paxSize, at);
    data = next + BLOCK;
  }
  return { h, name, size, data };
}

const FRAME_MAGIC: Record<string, number[]> = { gzip: [0x1f, 0x8b, 0x08], zstd: [0x28, 0xb5, 0x2f, 0xfd] };

/**
 * Compressed archives hold one gzip member or zstd frame per blob (output.ts), so the ledger's
 * offsets are frame boundaries: each kept record must end where a frame ends (the gzip ISIZE
 * trailer agrees with the entry's length) and the next frame must begin there. Headers inside
 * frames are checked by `rehash`, which decompresses.
 */
async function walkFrames(fh: Medium, expected: LedgerRecord[], opts: KeptOptions): Promise<KeptPrefix> {
  const magic = FRAME_MAGIC[opts.compression!];
  const startsFrame = async (at: number) => {
    const b = await readAt(fh, at, magic.length);
    return b.length === magic.length && magic.every((m, i) => b[i] === m);
  };
  if (!(await startsFrame(0))) return { kept: [], cut: 0, dirs: [], foreign: true, stop: `the file does not start with a ${opts.compression} frame` };
  const kept: LedgerRecord[] = [];
  for (const r of expected) {
    if (r.offset > opts.limit) break;
    let ok = r.offset === opts.limit || (await startsFrame(r.offset));
    if (ok && opts.compression === 'gzip') {
      const isize = (await readAt(fh, r.offset - 4, 4)).readUInt32LE(0);
      const body = padded(r.descriptor.size) + BLOCK;
      // The blob's member may also carry the blobs/ and blobs/<alg> directory headers.
      ok = [body, body + BLOCK, body + 2 * BLOCK].some((n) => n % 2 ** 32 === isize);
    }
    if (!ok) return { kept, cut: kept.at(-1)?.offset ?? 0, dirs: blobDirs(kept), foreign: false, stop: `no ${opts.compression} frame of blob ${r.descriptor.digest} ends at byte ${r.offset}` };
    kept.push(r);
  }
  return { kept, cut: kept.at(-1)?.offset ?? 0, dirs: blobDirs(kept), foreign: false };
}

/** Algorithms of the blobs in records (the `blobs/<alg>` directories already in a cut archive). */
export function blobDirs(records: LedgerRecord[]): string[] {
  if (records.length === 0) return [];
  const algs = new Set(records.map((r) => parseDigest(r.descriptor.digest).algorithm));
  return ['blobs', ...[...algs].map((a) => `blobs/${a}`)];
}

async function walkTar(fh: Medium, expected: LedgerRecord[], opts: KeptOptions): Promise<KeptPrefix> {
  const byEnd = new Map(expected.map((r) => [r.offset, r]));
  const kept: LedgerRecord[] = [];
  const dirs: string[] = [];
  let cut = 0;
  let cutDirs: string[] = [];
  let at = 0;
  let n = 0;
  const result = (stop?: string, foreign = false): KeptPrefix => ({ kept, cut, dirs: cutDirs, stop, foreign });
  for (;; n++) {
    let e: Header | undefined;
    try {
      e = await headerAt(fh, at, opts.limit);
    } catch (err) {
      return result(`${(err as Error).message}`, n < 2);
    }
    if (!e) return result(n < 2 && at < opts.limit ? `no tar header at byte ${at}` : undefined, n < 2 && at < opts.limit);
    const end = e.data + padded(e.size);
    if (end > opts.limit) return result();
    if (n === 0 && e.name !== 'oci-layout') return result(`the first entry is ${JSON.stringify(e.name)}, not oci-layout`, true);
    if (n === 1) {
      if (e.name !== 'index.json' || e.size > 16 << 20) return result(`the second entry is ${JSON.stringify(e.name)}, not index.json`, true);
      if (opts.root) {
        let root: string | undefined;
        try {
          root = parseIndexJson(await readAt(fh, e.data, e.size), 'index.json').manifests[0]?.digest;
        } catch {
          root = undefined;
        }
        if (root !== opts.root) return result(`its index.json names ${root ?? 'no image'}, the checkpoint's image is ${opts.root}`, true);
      }
    }
    if (n >= 2) {
      if (e.h.type === '5') {
        dirs.push(e.name.replace(/\/$/, ''));
      } else if (e.name.startsWith('blobs/')) {
        const r = byEnd.get(end);
        if (!r || blobPath(r.descriptor.digest) !== e.name || r.descriptor.size !== e.size) {
          return result(`the entry ${JSON.stringify(e.name)} at byte ${at} is not what the checkpoint recorded there`);
        }
        kept.push(r);
        cut = end;
        cutDirs = [...dirs];
      } else {
        return result(); // the closing index.json: every blob is before it
      }
    }
    at = end;
  }
}

/** Read every kept blob back and check its digest; cut back to the last one that matches. */
async function rehash(medium: Medium, prefix: KeptPrefix): Promise<KeptPrefix> {
  if (prefix.cut === 0) return prefix;
  const file = medium.name;
  const stream = readRange(medium, 0, prefix.cut);
  let i = 0;
  let stop: string | undefined;
  try {
    for await (const ev of readArchives(stream, file)) {
      if (ev.kind !== 'blob') continue;
      const r = prefix.kept[i];
      if (!r || r.descriptor.digest !== ev.digest) {
        stop = `blob ${ev.digest} at byte ${ev.offset} is not the one the checkpoint recorded`;
        break;
      }
      try {
        const v = verifyingWriter(r.descriptor, `blob at byte ${ev.offset}`, () => undefined);
        for await (const c of ev.body) v.write(c);
        v.end();
      } catch (e) {
        stop = (e as Error).message;
        break;
      }
      i++;
    }
  } catch (e) {
    stop = (e as Error).message;
  } finally {
    await stream.return(undefined);
  }
  if (i === prefix.kept.length && !stop) return prefix;
  const kept = prefix.kept.slice(0, i);
  const cut = kept.at(-1)?.offset ?? 0;
  return { kept, cut, dirs: blobDirs(kept), stop: stop ?? `blob ${prefix.kept[i].descriptor.digest} is not in the file`, foreign: false };
}

/**
 * Walk `file` (or, for a --volume-size archive, its volumes in order, read as one stream) against
 * `expected` (the ledger's records for the archive in it, in archive order,
 * each record's offset the end of its blob's padding). Reads one header per entry.
 */
export async function keptPrefix(file: string | string[], expected: LedgerRecord[], opts: KeptOptions): Promise<KeptPrefix> {
  const fh = await openPositional(typeof file === 'string' ? [file] : file);
  try {
    const walked = opts.compression ? await walkFrames(fh, expected, opts) : await walkTar(fh, expected, opts);
    return opts.rehash ? await rehash(fh, walked) : walked;
  } finally {
    await fh.close();
  }
}
