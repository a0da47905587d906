import fs from 'node:fs';
import { UserError } from '../errors.js';
import type { SeekableChunks } from './read-bytes.js';
import { openPositional, type PositionalReader } from './positional.js';
import { openArchiveSource, openForReading, type ArchiveSource, type SourceSpec, type SourceStats } from './read-source.js';
import { TAPE_MAX_READ, TAPE_MIN_READ, type TapeOps, isTapeDevice, tapePosition, tapeRecordReader } from './read-tape.js';

/**
 * Archive sources that can jump over bytes instead of reading them, for `mirror inspect`:
 *
 * - a regular file is read with positioned reads (pread) at a cursor that `skipAhead` moves, so a
 *   blob body costs no I/O at all. Reads start small (a header and what follows it) and double
 *   while the consumer keeps reading sequentially (an index.json, a compressed stream);
 * - a tape is read one record at a time (read-tape.ts) and `skipAhead` spaces over whole records
 *   with MTFSR (the drive's ioctls come from the caller: TapeOps), reading only the record in
 *   which the skip ends. Spacing needs to know how many bytes a record holds: the fixed block
 *   size (MTIOCGET), or in variable-block mode the size of the records read so far, which
 *   serialize `-b` writes all equal but the last. As soon as the records turn out not to be
 *   equal, spacing stops and records are read instead.
 * - standard input and pipes cannot skip: they come from read-source.ts and are read through, as
 *   a tape is when no TapeOps are given.
 */

export interface SeekStats extends SourceStats {
  /** read()/pread() calls that returned data (tape: records read). */
  records: number;
  /** Bytes passed over without being read. */
  skipped: number;
  /** skipAhead calls that moved the cursor (tape: MTFSR calls). */
  seeks: number;
  /** Tape: records spaced over with MTFSR. */
  spacedRecords?: number;
  /** Tape: the record size spacing assumed (bytes), once known. */
  recordSize?: number;
  /** Tape: why spacing was switched off, if it was. */
  spacingOff?: string;
}

export interface SeekableSource extends Omit<ArchiveSource, 'stats'> {
  /** Present when this source can skip without reading. */
  seekable: boolean;
  stats(): SeekStats;
  close(): Promise<void>;
}

/** First read of a source: the layout's head (oci-layout, index.json, manifests, configs) in one read. */
const FIRST_READ = 64 << 10;
/**
 * First read after a jump: a header (with a PAX header, 1.5 KiB) and a little more; it doubles
 * while the consumer reads on. Smaller than FIRST_READ because after a jump the next entry is
 * most often another layer, whose body is jumped over too: each byte read past its header is a
 * page copied (and on a cold cache, read from the disk) for nothing (issue 14).
 */
const MIN_READ = 4 << 10;
const MAX_READ = 1 << 20;

/** Open SOURCE to be read with skips. `tape`: the drive's ioctls, without which a tape is read through. */
export async function openSeekableSource(source: string | SourceSpec, tape?: TapeOps): Promise<SeekableSource> {
  // The volumes of a --volume-size archive: one stream, skipped over like a file (issue 14).
  if (typeof source !== 'string' && source.paths.length > 1) {
    const reader = await openPositional(source.paths);
    return positionalSource({ ...reader, name: source.name, readAt: (at, n) => reader.readAt(at, n), close: () => reader.close() });
  }
  const path = typeof source === 'string' ? source : source.paths[0];
  let st: fs.Stats | undefined;
  if (path !== '-') {
    try {
      st = await fs.promises.stat(path);
    } catch {
      st = undefined; // openArchiveSource gives the clear message
    }
  }
  if (st?.isFile()) return fileSource(path, st.size);
  if (st && tape && isTapeDevice(path, st)) return tapeSource(path, tape);
  const src = await openArchiveSource(path, tape);
  return {
    ...src,
    seekable: false,
    stats: () => ({ ...src.stats(), skipped: 0, seeks: 0 }),
    close: async () => {
      await (src.chunks as AsyncGenerator<Uint8Array>).return?.(undefined);
    },
  };
}

async function fileSource(path: string, size: number): Promise<SeekableSource> {
  const fh = await openForReading(path);
  return positionalSource({
    name: path,
    size,
    async readAt(at, n) {
      // A fresh buffer per read: the reader may still hold sub-arrays of the previous one.
      const buf = Buffer.allocUnsafeSlow(n);
      const { bytesRead } = await fh.read(buf, 0, n, at);
      return bytesRead === n ? buf : buf.subarray(0, bytesRead);
    },
    close: () => fh.close(),
  });
}

/** Reads at a cursor that skipAhead moves, over one file or the volumes of one (positional.ts). */
function positionalSource(r: PositionalReader): SeekableSource {
  const path = r.name;
  const size = r.size;
  const stats: SeekStats = { bytes: 0, records: 0, skipped: 0, seeks: 0 };
  let pos = 0;
  let readSize = FIRST_READ;
  let closed = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      await r.close();
    }
  };
  const chunks: SeekableChunks = {
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          let buf: Buffer;
          try {
            buf = await r.readAt(pos, readSize);
          } catch (e) {
            if (e instanceof UserError) throw e;
            const err = e as NodeJS.ErrnoException;
            throw new UserError('ESOURCE', `reading ${path} at byte ${pos}: ${err.code ?? err.message}`);
          }
          const n = buf.length;
          if (n === 0) return;
          pos += n;
          stats.bytes += n;
          stats.records++;
          readSize = Math.min(readSize * 2, MAX_READ);
          yield buf;
        }
      } finally {
        await close();
      }
    },
    async skipAhead(n: number): Promise<number> {
      // Never past the end: the tar parser must see a cut body as a cut (truncated piece).
      const k = Math.max(0, Math.min(n, size - pos));
      pos += k;
      stats.skipped += k;
      if (k > 0) stats.seeks++;
      readSize = MIN_READ;
      return k;
    },
  };
  return { name: path, kind: 'file', chunks, seekable: true, stats: () => stats, close };
}

async function tapeSource(path: string, tape: TapeOps): Promise<SeekableSource> {
  let fixed = 0;
  try {
    fixed = tape.status(path).blockSize;
  } catch (e) {
    throw new UserError('ESOURCE', `cannot query tape ${path}: ${(e as Error).message}`);
  }
  const fh = await openForReading(path);
  const stats: SeekStats = { bytes: 0, records: 0, skipped: 0, seeks: 0, spacedRecords: 0, filemark: false };
  if (fixed > 0) stats.recordSize = fixed;
  // Fixed-block mode: a read returns as many blocks as asked for, so ask for about 64 KiB (whole
  // blocks), not 8 MiB: a header read must not pull in the body that spacing would pass over.
  const next = tapeRecordReader(path, fh, stats, { size: fixed > 0 ? fixed * Math.max(1, Math.floor(TAPE_MIN_READ / fixed)) : TAPE_MAX_READ, shrink: fixed === 0 });
  let ended = false;
  // Variable-block mode: a record shorter than the others is the last one; any record after it
  // (or a longer one) means the records are not all equal, and spacing by count would lose bytes.
  let sawShort = false;
  let pending: Uint8Array | undefined;
  let closed = false;

  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close();
    stats.position = tapePosition(tape, path);
  };

  /** One record (fixed mode: up to the read size in blocks); undefined at a filemark or end of data. */
  const readRecord = async (): Promise<Buffer | undefined> => {
    const record = await next();
    if (!record) {
      ended = true;
      return undefined;
    }
    const n = record.length;
    if (fixed === 0) {
      if (stats.recordSize === undefined) stats.recordSize = n;
      else if (sawShort || n > stats.recordSize) stats.spacingOff ??= `records of unequal size (${stats.recordSize} then ${n} bytes): read instead of spaced`;
      else if (n < stats.recordSize) sawShort = true;
    }
    return record;
  };

  const chunks: SeekableChunks = {
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          if (pending) {
            const p = pending;
            pending = undefined;
            yield p;
            continue;
          }
          if (ended) return;
          const r = await readRecord();
          if (!r) return;
          yield r;
        }
      } finally {
        await close();
      }
    },
    async skipAhead(n: number): Promise<number> {
      let done = 0;
      if (pending) {
        const k = Math.min(n, pending.length);
        pending = k < pending.length ? pending.subarray(k) : undefined;
        done += k;
      }
      const record = stats.recordSize ?? 0;
      const canSpace = record > 0 && !sawShort && stats.spacingOff === undefined;
      const whole = canSpace ? Math.floor((n - done) / record) : 0;
      if (whole > 0 && !ended) {
        const out = await tape.spaceRecords(fh.fd, whole);
        stats.seeks++;
        if (out.code) throw new UserError('ESOURCE', `spacing tape ${path} forward over ${whole} records (MTFSR): ${out.code}`);
        const passed = out.filemark ? Math.max(0, out.spaced) : whole;
        stats.spacedRecords = (stats.spacedRecords ?? 0) + passed;
        stats.skipped += passed * record;
        done += passed * record;
        if (out.filemark) {
          // The tape file ended inside the skip: a cut piece. The tape is past the filemark,
          // where a read would have left it.
          stats.filemark = true;
          ended = true;
          return done;
        }
      }
      // The rest of the skip ends inside the next record: read it, keep what follows the skip.
      while (done < n && !ended) {
        const r = await readRecord();
        if (!r) break;
        const k = Math.min(r.length, n - done);
        done += k;
        if (k < r.length) pending = r.subarray(k);
      }
      return done;
    },
  };
  return { name: path, kind: 'tape', chunks, seekable: true, stats: () => stats, close };
}
