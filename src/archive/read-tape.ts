import type fs from 'node:fs';
import { UserError } from '../errors.js';

/**
 * How a tape file is read, in one place for the sequential reader (read-source.ts) and the one
 * that spaces over blob bodies (read-seek.ts).
 *
 * Linux st driver (behaviour note section 10): in variable-block mode each read() returns one
 * record and needs a buffer at least the record's size, else ENOMEM *and the record is skipped*;
 * a read larger than the drive's maximum block size fails with EINVAL without moving the tape. So
 * we read with 8 MiB (the LTO maximum) and halve on EINVAL, never leaving the choice to the user.
 * A read of 0 is the filemark: we stop there, so the tape is left at the start of the next tape
 * file and a second SOURCE naming the same device reads the next archive.
 */

/** Where a tape is: MTIOCGET's file number and block in that file, MTIOCPOS's logical block. */
export interface TapeWhere {
  fileNumber: number;
  blockInFile: number;
  block: number;
}

/** What an MTFSR did. */
export interface SpaceOutcome {
  /** Records passed; -1 when the drive could not say. */
  spaced: number;
  /** The space stopped just after a filemark (the tape file ended first). */
  filemark: boolean;
  /** errno name when MTFSR failed for another reason. */
  code?: string;
}

/**
 * The drive's ioctls, which only the native addon can issue: src/sink provides them
 * (sink/tape-space.ts `tapeOps`) and the command's service hands them to the readers, so that
 * reading an archive never loads the addon by itself. Without them a tape is still read through;
 * it is not spaced over, and its position is not reported.
 */
export interface TapeOps {
  /** MTIOCGET + MTIOCPOS; `blockSize` 0 is variable-block mode. */
  status(device: string): TapeWhere & { blockSize: number };
  /** MTFSR over `count` records, on the descriptor the reader opened. */
  spaceRecords(fd: number, count: number): Promise<SpaceOutcome>;
}

/** What a tape read counts (read-source.ts SourceStats has these fields). */
export interface TapeReadStats {
  bytes: number;
  /** Records read. */
  records: number;
  /** The read stopped at a filemark (0-byte read). */
  filemark?: boolean;
  /** The read size finally used (bytes). */
  readSize?: number;
}

/** Linux SCSI tape character devices have major number 9 (Documentation/admin-guide/devices.txt). */
const ST_MAJOR = 9;
export const TAPE_MAX_READ = 8 << 20;
export const TAPE_MIN_READ = 64 << 10;

function major(rdev: number): number {
  // glibc's gnu_dev_major for 64-bit dev_t.
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}

export function isTapeDevice(path: string, st?: fs.Stats): boolean {
  if (st && st.isCharacterDevice()) return major(st.rdev) === ST_MAJOR || /^\/dev\/n?st\d+[lma]?$/.test(path);
  return false;
}

/**
 * The records of the tape file at the tape's position, one per call (a copy: records are usually
 * far smaller than the 8 MiB scratch buffer), counted in `stats`; undefined at the filemark or,
 * after some records, at the end of data (a write that was cut). `size` is the first read size;
 * `shrink` halves it on EINVAL (variable-block mode; in fixed-block mode a read returns whole
 * blocks and EINVAL means something else).
 */
export function tapeRecordReader(path: string, fh: fs.promises.FileHandle, stats: TapeReadStats, opts: { size?: number; shrink?: boolean } = {}): () => Promise<Buffer | undefined> {
  let size = opts.size ?? TAPE_MAX_READ;
  const shrink = opts.shrink ?? true;
  stats.readSize = size;
  const scratch = Buffer.allocUnsafeSlow(Math.max(size, TAPE_MAX_READ));
  return async () => {
    for (;;) {
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(scratch, 0, size, null));
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === 'EINVAL' && shrink && size > TAPE_MIN_READ) {
          // Larger than the drive's maximum block: the tape did not move; try smaller.
          size >>= 1;
          stats.readSize = size;
          continue;
        }
        if (err.code === 'EIO' && stats.records === 0) {
          throw new UserError('ESOURCE', `reading tape ${path}: I/O error at the first record (end of data? rewind or position the tape with mt)`);
        }
        if (err.code === 'ENOMEM') {
          throw new UserError('ESOURCE', `reading tape ${path}: a record is larger than the ${size}-byte read buffer (the st driver skipped it); the archive cannot be read completely`);
        }
        // End of data without a filemark (a write that was cut): the end of this piece.
        if (err.code === 'EIO') return undefined;
        throw new UserError('ESOURCE', `reading tape ${path} after ${stats.bytes} bytes: ${err.code ?? err.message}`);
      }
      if (n === 0) {
        stats.filemark = true;
        return undefined;
      }
      stats.bytes += n;
      stats.records++;
      return Buffer.from(scratch.subarray(0, n));
    }
  };
}

/** Where the tape is now, when the drive's ioctls were given and answer (else unknown). */
export function tapePosition(tape: TapeOps | undefined, device: string): TapeWhere | undefined {
  try {
    const s = tape?.status(device);
    return s ? { fileNumber: s.fileNumber, blockInFile: s.blockInFile, block: s.block } : undefined;
  } catch {
    return undefined;
  }
}
