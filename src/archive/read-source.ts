import fs from 'node:fs';
import { UserError } from '../errors.js';
import { contiguous, listVolumes, parseVolumePath, volumePath } from '../util/volumes.js';
import { openPositional, readRange } from './positional.js';
import { TAPE_MAX_READ, type TapeOps, type TapeWhere, isTapeDevice, tapePosition, tapeRecordReader } from './read-tape.js';

/**
 * Where archive bytes come from: a regular file, a tape device, standard input or a pipe. Tapes
 * are read record by record (read-tape.ts); the drive's position after the read is reported when
 * the caller hands in the drive's ioctls (TapeOps, from src/sink).
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
  position?: TapeWhere;
}

export interface ArchiveSource {
  name: string;
  kind: 'file' | 'tape' | 'stdin' | 'pipe' | 'other';
  chunks: AsyncIterable<Uint8Array>;
  stats(): SourceStats;
}

const FILE_CHUNK = 1 << 20;

function openError(path: string, e: NodeJS.ErrnoException): UserError {
  const why =
    e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EBUSY' ? 'device busy (in use by another process)' : e.code === 'EISDIR' ? 'is a directory' : (e.code ?? e.message);
  return new UserError('ESOURCE', `cannot open source ${path}: ${why}`);
}

/** Open a SOURCE for reading, or say in words why it cannot be. */
export async function openForReading(path: string): Promise<fs.promises.FileHandle> {
  try {
    return await fs.promises.open(path, 'r');
  } catch (e) {
    throw openError(path, e as NodeJS.ErrnoException);
  }
}

/** One SOURCE as read: a path, or the volumes of a --volume-size archive read as one stream. */
export interface SourceSpec {
  name: string;
  paths: string[];
  /** Something the operator should know (a volume after the last one given exists). */
  note?: string;
}

async function isFileOrDevice(path: string): Promise<boolean> {
  return fs.promises.stat(path).then(() => true, () => false);
}

/**
 * The SOURCE arguments as the archives they name, in one place for every reader (issue 14):
 * DEST.001 DEST.002 ... given in a row are the volumes of one archive and read as one stream (in
 * numeric order, which a shell glob does not give past .999); DEST alone, when no such file exists
 * but DEST.001 does, names all its volumes. A volume set must start at 001 and have no gap: a
 * stream read from the middle of an archive would be refused as "not tar" at best.
 */
export async function groupSources(args: string[]): Promise<SourceSpec[]> {
  const out: SourceSpec[] = [];
  for (let i = 0; i < args.length; ) {
    const arg = args[i];
    const v = arg === '-' ? undefined : parseVolumePath(arg);
    if (v && (await isFileOrDevice(volumePath(v.dest, 1)))) {
      const group = [{ path: arg, n: v.n }];
      for (i++; i < args.length; i++) {
        const w = parseVolumePath(args[i]);
        if (!w || w.dest !== v.dest) break;
        group.push({ path: args[i], n: w.n });
      }
      group.sort((a, b) => a.n - b.n);
      group.forEach((g, k) => {
        if (g.n !== k + 1) throw new UserError('ESOURCE', `${g.path}: the volumes of ${v.dest} must be given from ${volumePath(v.dest, 1)} without a gap (${volumePath(v.dest, k + 1)} is missing)`);
      });
      const after = volumePath(v.dest, group.length + 1);
      const note = (await isFileOrDevice(after)) ? `${after} exists but was not given: the archive is read from ${group.length} volume${group.length === 1 ? '' : 's'} only` : undefined;
      out.push({ name: group.length === 1 ? arg : `${v.dest}.${group[0].path.slice(v.dest.length + 1)}..${group.at(-1)!.path.slice(v.dest.length + 1)}`, paths: group.map((g) => g.path), note });
      continue;
    }
    i++;
    if (arg !== '-' && !(await isFileOrDevice(arg))) {
      const all = await listVolumes(arg);
      const vols = contiguous(all);
      if (vols.length > 0) {
        if (vols.length < all.length) throw new UserError('ESOURCE', `${arg}: its volumes have a gap (${volumePath(arg, vols.length + 1)} is missing)`);
        out.push({ name: vols.length === 1 ? vols[0].path : `${arg}.001..${vols.at(-1)!.path.slice(arg.length + 1)} (${vols.length} volumes)`, paths: vols.map((x) => x.path) });
        continue;
      }
    }
    out.push({ name: arg, paths: [arg] });
  }
  return out;
}

/** Several volumes of one archive: one sequential stream over them (positional.ts). */
async function volumeSetSource(spec: SourceSpec): Promise<ArchiveSource> {
  const reader = await openPositional(spec.paths);
  const stats: SourceStats = { bytes: 0, records: 0 };
  const chunks = (async function* () {
    try {
      for await (const c of readRange(reader, 0, reader.size, FILE_CHUNK)) {
        stats.bytes += c.length;
        stats.records++;
        yield c;
      }
    } finally {
      await reader.close();
    }
  })();
  return { name: spec.name, kind: 'file', chunks, stats: () => stats };
}

/** Open SOURCE to be read through. `tape`: the drive's ioctls, to report where a tape was left. */
export async function openArchiveSource(source: string | SourceSpec, tape?: TapeOps): Promise<ArchiveSource> {
  if (typeof source !== 'string') return source.paths.length === 1 ? openArchiveSource(source.paths[0], tape) : volumeSetSource(source);
  const path = source;
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
  const fh = await openForReading(path);
  const st = await fh.stat();
  if (st.isDirectory()) {
    await fh.close();
    throw new UserError('ESOURCE', `cannot read source ${path}: it is a directory (give the archive file)`);
  }
  if (isTapeDevice(path, st)) return tapeSource(path, fh, tape);
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

function tapeSource(path: string, fh: fs.promises.FileHandle, tape: TapeOps | undefined): ArchiveSource {
  const stats: SourceStats = { bytes: 0, records: 0, filemark: false, readSize: TAPE_MAX_READ };
  const next = tapeRecordReader(path, fh, stats);
  const chunks = (async function* () {
    try {
      for (let record = await next(); record; record = await next()) yield record;
    } finally {
      await fh.close();
      stats.position = tapePosition(tape, path);
    }
  })();
  return { name: path, kind: 'tape', chunks, stats: () => stats };
}
