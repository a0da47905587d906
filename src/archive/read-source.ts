import fs from 'node:fs';
import { UserError } from '../errors.js';

/**
 * Where archive bytes come from: a regular file, a tape device, standard input or a pipe.
 *
 * Tape (Linux st driver, behaviour note section 10): in variable-block mode each read() returns
 * one record and needs a buffer at least the record's size, else ENOMEM *and the record is
 * skipped*; a read larger than the drive's maximum block size fails with EINVAL without moving
 * the tape. So we read with 8 MiB (the LTO maximum) and halve on EINVAL, never leaving the choice
 * to the user. A read of 0 is the filemark: we stop there, so the tape is left at the start of the
 * next tape file and a second SOURCE naming the same device reads the next archive.
 */

export interface SourceStats {
  bytes: number;
  /** read() calls that returned data (tape: records). */
  records: number;
  /** Tape: the read stopped at a filemark (0-byte read) or at end of data. */
  filemark?: boolean;
  /** Tape: the read size finally used (bytes). */
  readSize?: number;
  /** Tape: position after the read (native addon's MTIOCGET/MTIOCPOS), when available. */
  position?: { fileNumber: number; blockInFile: number; block: number };
}

export interface ArchiveSource {
  name: string;
  kind: 'file' | 'tape' | 'stdin' | 'pipe' | 'other';
  chunks: AsyncIterable<Uint8Array>;
  stats(): SourceStats;
}

/** Linux SCSI tape character devices have major number 9 (Documentation/admin-guide/devices.txt). */
const ST_MAJOR = 9;
const TAPE_MAX_READ = 8 << 20;
const TAPE_MIN_READ = 64 << 10;
const FILE_CHUNK = 1 << 20;

function major(rdev: number): number {
  // glibc's gnu_dev_major for 64-bit dev_t.
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}

export function isTapeDevice(path: string, st?: fs.Stats): boolean {
  if (st && st.isCharacterDevice()) return major(st.rdev) === ST_MAJOR || /^\/dev\/n?st\d+[lma]?$/.test(path);
  return false;
}

function openError(path: string, e: NodeJS.ErrnoException): UserError {
  const why =
    e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EBUSY' ? 'device busy (in use by another process)' : e.code === 'EISDIR' ? 'is a directory' : (e.code ?? e.message);
  return new UserError('ESOURCE', `cannot open source ${path}: ${why}`);
}

export async function openArchiveSource(path: string): Promise<ArchiveSource> {
  if (path === '-') {
    const stats: SourceStats = { bytes: 0, records: 0 };
    const stdin = process.stdin;
    const chunks = (async function* () {
      for await (const c of stdin) {
        stats.bytes += (c as Buffer).length;
        stats.records++;
        yield c as Uint8Array;
      }
    })();
    return { name: 'standard input', kind: 'stdin', chunks, stats: () => stats };
  }
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(path, 'r');
  } catch (e) {
    throw openError(path, e as NodeJS.ErrnoException);
  }
  const st = await fh.stat();
  if (st.isDirectory()) {
    await fh.close();
    throw new UserError('ESOURCE', `cannot read source ${path}: it is a directory (give the archive file)`);
  }
  if (isTapeDevice(path, st)) return tapeSource(path, fh);
  const stats: SourceStats = { bytes: 0, records: 0 };
  const chunks = (async function* () {
    try {
      for (;;) {
        // A fresh buffer per read: consumers may still hold the previous chunk (an upload).
        const buf = Buffer.allocUnsafeSlow(FILE_CHUNK);
        const { bytesRead } = await fh.read(buf, 0, FILE_CHUNK, null);
        if (bytesRead === 0) break;
        stats.bytes += bytesRead;
        stats.records++;
        yield bytesRead === FILE_CHUNK ? buf : buf.subarray(0, bytesRead);
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new UserError('ESOURCE', `reading ${path} at byte ${stats.bytes}: ${err.code ?? err.message}`);
    } finally {
      await fh.close();
    }
  })();
  const kind = st.isFile() ? 'file' : st.isFIFO() ? 'pipe' : 'other';
  return { name: path, kind, chunks, stats: () => stats };
}

function tapeSource(path: string, fh: fs.promises.FileHandle): ArchiveSource {
  const stats: SourceStats = { bytes: 0, records: 0, filemark: false, readSize: TAPE_MAX_READ };
  const chunks = (async function* () {
    let size = TAPE_MAX_READ;
    const scratch = Buffer.allocUnsafeSlow(TAPE_MAX_READ);
    try {
      for (;;) {
        let n: number;
        try {
          ({ bytesRead: n } = await fh.read(scratch, 0, size, null));
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          if (err.code === 'EINVAL' && size > TAPE_MIN_READ) {
            // Larger than the drive's maximum block: the tape did not move; try smaller.
            size >>= 1;
            stats.readSize = size;
            continue;
          }
          if (err.code === 'EIO' && stats.records === 0 && stats.filemark === false) {
            throw new UserError('ESOURCE', `reading tape ${path}: I/O error at the first record (end of data? rewind or position the tape with mt)`);
          }
          if (err.code === 'ENOMEM') {
            throw new UserError('ESOURCE', `reading tape ${path}: a record is larger than the ${size}-byte read buffer (the st driver skipped it); the archive cannot be read completely`);
          }
          if (err.code === 'EIO' && stats.records > 0) {
            // End of data without a filemark (a write that was cut): treat as the end of this piece.
            break;
          }
          throw new UserError('ESOURCE', `reading tape ${path} after ${stats.bytes} bytes: ${err.code ?? err.message}`);
        }
        if (n === 0) {
          stats.filemark = true;
          break;
        }
        stats.bytes += n;
        stats.records++;
        // Copy out of the scratch buffer: records are usually far smaller than 8 MiB.
        yield Buffer.from(scratch.subarray(0, n));
      }
    } finally {
      await fh.close();
      stats.position = await tapePosition(path);
    }
  })();
  return { name: path, kind: 'tape', chunks, stats: () => stats };
}

/** Where the tape is now, from the native addon when it is built (else unknown). */
async function tapePosition(path: string): Promise<SourceStats['position']> {
  try {
    const spec = '../sink/index.js';
    const sink = (await import(spec)) as { tapeStatus?: (d: string) => { fileNumber: number; blockInFile: number; block: number } };
    const s = sink.tapeStatus?.(path);
    return s ? { fileNumber: s.fileNumber, blockInFile: s.blockInFile, block: s.block } : undefined;
  } catch {
    return undefined;
  }
}
