import { realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import { keptPrefix } from '../archive/kept.js';
import { readLedgerText, type LedgerRecord } from '../archive/ledger.js';
import { type LedgerRun, type MediumKind, type RunEnd, runEndLine, splitRuns } from '../archive/runs.js';
import type { SkipSet } from '../plan/plan.js';
import { contiguous, listVolumes } from '../util/volumes.js';
import { measureTape } from './tape-measure.js';

/**
 * Resume (issue 15). The ledger is the history of every run on this job: each run's start (what
 * it wrote to, from which archive offset), the records of the blobs it handed to the medium, and
 * its end when it saw one. From that history and the media themselves a resume rebuilds exactly
 * what is on the media, and only that is skipped:
 * - an archive in a regular file is read back (kept.ts): a blob counts only where the file holds
 *   its tar entry at the offset and with the digest and size the ledger recorded;
 * - an archive on a tape counts up to the bytes its run's end recorded, or, for the last run
 *   when it died without a word, up to what measureTape reads back from the drive.
 * Whatever the resume cannot prove is written again. Nothing here writes anything.
 */

/** One archive on one medium: a file continued by later runs is one piece. */
interface Piece {
  kind: MediumKind;
  dest: string;
  runs: LedgerRun[];
  /** The ledger's records for this archive, in archive order (a continued run replaces what lay beyond its start). */
  expected: LedgerRecord[];
  /** Records proved on the medium. */
  kept: LedgerRecord[];
}

export interface ResumeState {
  path: string;
  /** Digests proved on a medium, with the reason. */
  skip: SkipSet;
  /** The ledger this run starts from: the valid lines of the resumed one and the run-end it measured. */
  ledgerPrefix: string;
  /** Set when DEST holds a kept prefix of the archive: continue it from `cut`. */
  continueFile?: { cut: number; dirs: string[] };
  /** The last run's medium measure, for messages. */
  last: RunEnd;
  runs: LedgerRun[];
  /** Root digest the ledger was written for (from our run records). */
  root?: string;
  /** For the operator at the default verbosity: what was kept, what was cut and why. */
  notes: string[];
  /** Problems found (damage, a missing piece): everything they touch is written again. */
  warnings: string[];
  /**
   * Earlier tape archives of the job that hold blobs: the volume this run writes is the next one
   * (ACE_DT_VOLUME and the prompt go on counting across processes, issue 14).
   */
  tapeVolumes: number;
}

export interface ResumeRequest {
  checkpoint: string;
  offset?: number;
  dest: string;
  compression?: string;
  /** Read every kept blob back and check its digest. */
  rehash?: boolean;
  /** --volume-size of this run: DEST names the volumes DEST.001, DEST.002, ... */
  volumeSize?: number;
}

async function fileSize(path: string): Promise<number | undefined> {
  return stat(path).then((s) => (s.isFile() ? s.size : undefined), () => undefined);
}

/**
 * The files that hold a file piece's archive and their total size: the file, or for a
 * --volume-size run its volumes DEST.001.. up to the first gap (read as one stream); undefined
 * when there is nothing.
 */
async function pieceFiles(piece: Piece, file: string): Promise<{ files: string[]; size: number } | undefined> {
  if (!volumeSizeOf(piece)) {
    const size = await fileSize(file);
    return size === undefined ? undefined : { files: [file], size };
  }
  const volumes = contiguous(await listVolumes(file));
  if (volumes.length === 0) return undefined;
  return { files: volumes.map((v) => v.path), size: volumes.reduce((n, v) => n + v.size, 0) };
}

function volumeSizeOf(piece: Piece): number | undefined {
  return piece.runs[0].start?.volumeSize;
}

async function canonical(path: string): Promise<string> {
  return realpath(path).catch(() => resolve(path));
}

/** Group the runs into pieces: a file run that starts past byte 0 continues its file's archive. */
async function piecesOf(runs: LedgerRun[], dest: string, destKind: MediumKind): Promise<Piece[]> {
  const pieces: Piece[] = [];
  const files = new Map<string, Piece>();
  for (const run of runs) {
    // A ledger of the original tool is one run with no start: it wrote DEST (its usual resume).
    const kind = run.start?.kind ?? destKind;
    const where = run.start ? (run.start.dest === '-' ? '-' : await canonical(run.start.dest)) : await canonical(dest);
    const from = run.start?.archiveStart ?? 0;
    const prev = kind === 'file' ? files.get(where) : undefined;
    if (prev && from > 0) {
      prev.expected = prev.expected.filter((r) => r.offset <= from).concat(run.records);
      prev.runs.push(run);
      continue;
    }
    const piece: Piece = { kind, dest: where, runs: [run], expected: [...run.records], kept: [] };
    if (kind === 'file') {
      if (prev) pieces.splice(pieces.indexOf(prev), 1); // rewritten from byte 0 by this run
      files.set(where, piece);
    }
    pieces.push(piece);
  }
  return pieces;
}

function kindOfDest(dest: string, st: Awaited<ReturnType<typeof stat>> | undefined): MediumKind {
  if (dest === '-') return 'stdout';
  if (!st || st.isFile()) return 'file';
  if (st.isCharacterDevice()) return 'tape';
  return st.isFIFO() ? 'pipe' : 'other';
}

/**
 * Read an interrupted job's ledger and decide what is on its media and where this run goes on.
 * The last run's medium bytes come from --resume-from-offset, its run-end record, or a measure
 * (the file read back, or the tape's position).
 */
export async function loadResume(req: ResumeRequest): Promise<ResumeState> {
  const { records, text } = await readLedgerText(req.checkpoint);
  const runs = splitRuns(records, req.checkpoint);
  const notes: string[] = [];
  if (runs.length === 0) {
    // Killed before its first record: nothing to keep, and the job starts over.
    notes.push(`resuming: checkpoint ${req.checkpoint} records no run yet; the job starts over`);
    const last: RunEnd = { mediumBytes: 0, reason: 'no run recorded', source: 'user' };
    return { path: req.checkpoint, skip: new Map(), ledgerPrefix: text, last, runs, notes, warnings: [], tapeVolumes: 0 };
  }
  const warnings: string[] = [];
  const destStat = req.dest === '-' ? undefined : await stat(req.dest).catch(() => undefined);
  const destKind = kindOfDest(req.dest, destStat);
  const destKey = req.dest === '-' ? '-' : await canonical(req.dest);
  const pieces = await piecesOf(runs, req.dest, destKind);
  const lastRun = runs[runs.length - 1];
  const root = [...runs].reverse().find((r) => r.start)?.start?.root;

  // The last run's end, as well as it can be known (what other runs recorded stands).
  let last: RunEnd;
  let measured = false;
  const lastPiece = pieces.find((p) => p.runs.includes(lastRun));
  if (req.offset !== undefined) {
    last = { mediumBytes: req.offset, reason: 'given', source: 'user' };
  } else if (lastRun.end) {
    last = lastRun.end;
  } else if (lastPiece?.kind === 'file') {
    last = { mediumBytes: (await pieceFiles(lastPiece, lastPiece.dest))?.size ?? 0, reason: 'measured', source: 'file-size' };
    measured = true;
  } else if (lastRun.start?.kind === 'tape') {
    last = await measureTape(lastRun.start);
    measured = true;
  } else {
    const to = lastRun.start ? (lastRun.start.dest === '-' ? 'standard output' : lastRun.start.dest) : req.dest;
    throw new UserError('EOFFSET', `cannot measure what the interrupted run wrote to ${to}; give --resume-from-offset BYTES (lower is safer)`);
  }
  if (req.offset !== undefined && lastPiece?.kind === 'file') {
    const holds = (await pieceFiles(lastPiece, lastPiece.dest))?.size;
    if (holds !== undefined && req.offset > holds) {
      throw new UserError('EOFFSET', `--resume-from-offset ${req.offset} is larger than the medium holds (${lastPiece.dest}: ${holds} bytes); give a smaller, conservative value`);
    }
  }

  // DEST: continue the archive it holds, or write a new one there. A file that holds a copy of
  // the last file piece is continued too (and then it is that piece); a non-empty file that holds
  // no archive of this job is refused rather than overwritten.
  let destPiece = destKind === 'file' ? pieces.find((p) => p.kind === 'file' && p.dest === destKey) : undefined;
  const copyOf = !destPiece && !req.volumeSize && destKind === 'file' && (destStat?.size ?? 0) > 0 ? [...pieces].reverse().find((p) => p.kind === 'file') : undefined;
  let continueFile: ResumeState['continueFile'];

  for (const piece of pieces) {
    const isLast = piece === lastPiece;
    if (piece.kind !== 'file') {
      const end = isLast ? last : piece.runs.at(-1)?.end;
      if (!end) warnings.push(`the run that wrote ${piece.dest} recorded no end, so none of its ${piece.expected.length} blobs is counted as on the medium`);
      piece.kept = piece.expected.filter((r) => r.offset <= (end?.mediumBytes ?? -1));
      continue;
    }
    const file = piece === copyOf ? req.dest : piece.dest;
    const held = await pieceFiles(piece, file);
    const size = held?.size;
    if (size === undefined) {
      if (piece.expected.length) warnings.push(`${file}, which held ${piece.expected.length} blobs of this job, is gone or not a file: they are written again`);
      continue;
    }
    const limit = isLast && last.source === 'user' ? Math.min(size, last.mediumBytes) : size;
    const walk = await keptPrefix(held!.files, piece.expected, { limit, compression: piece.runs[0].start?.compression ?? (piece.runs[0].start ? undefined : req.compression), root, rehash: req.rehash });
    if (walk.foreign && piece === copyOf) {
      throw new UserError('EDEST', `${req.dest} holds ${size} bytes that are not this job's archive (${walk.stop}); resume to the interrupted run's file ${piece.dest}, to a new path, or remove ${req.dest}`);
    }
    piece.kept = walk.kept;
    const lost = piece.expected.filter((r) => r.offset <= limit).length - walk.kept.length;
    if (walk.stop && (lost > 0 || walk.foreign)) warnings.push(`${file}: ${walk.stop}; the archive is kept up to byte ${walk.cut} and ${lost} blob${lost === 1 ? '' : 's'} the checkpoint recorded there ${lost === 1 ? 'is' : 'are'} written again`);
    if (file === req.dest || piece === destPiece) {
      destPiece = piece;
      const wrote = volumeSizeOf(piece);
      if ((wrote ?? 0) !== (req.volumeSize ?? 0)) {
        const was = wrote ? `volumes of ${wrote} bytes (${req.dest}.001, ...)` : `one file ${req.dest}`;
        throw new UserError('EUSAGE', `the interrupted run wrote ${was}; resume with ${wrote ? `--volume-size ${wrote}` : 'no --volume-size'}, or to a new DEST`);
      }
      const compression = piece.runs[0].start?.compression ?? req.compression ?? '';
      if (walk.cut > 0 && compression !== (req.compression ?? '')) {
        throw new UserError('EUSAGE', `the interrupted run wrote ${compression || 'uncompressed'} data to ${req.dest}; resume with the same --compression, or to a new file`);
      }
      if (walk.cut > 0) {
        continueFile = { cut: walk.cut, dirs: walk.dirs };
        notes.push(`resuming ${req.dest}: kept bytes 0-${walk.cut} (${walk.kept.length} blob${walk.kept.length === 1 ? '' : 's'}, every tar header checked${req.rehash ? ' and every blob re-hashed' : ''}), cut ${size - walk.cut} byte${size - walk.cut === 1 ? '' : 's'} after it`);
      } else {
        piece.kept = [];
        notes.push(`resuming: ${req.dest} holds no whole blob of this job; it is written again from byte 0`);
      }
    }
  }
  if (copyOf && destPiece === copyOf) {
    // The copy is walked, not the file it was copied from: from now on the copy is the piece.
    notes.push(`resuming into ${req.dest}, a copy of ${copyOf.dest}: the copy is continued and ${copyOf.dest} is no longer part of the job`);
    copyOf.dest = destKey;
  }
  const live = pieces;

  const skip: SkipSet = new Map();
  for (const p of live) for (const r of p.kept) skip.set(r.descriptor.digest, `on the medium (${p.dest === '-' ? 'standard output' : p.dest}, checkpoint ${req.checkpoint})`);
  if (!continueFile) {
    const kept = live.reduce((n, p) => n + p.kept.length, 0);
    notes.push(`resuming: ${kept} blob${kept === 1 ? ' is' : 's are'} on earlier pieces (${live.filter((p) => p.kept.length).map((p) => p.dest).join(', ') || 'none'}); the rest goes to ${req.dest === '-' ? 'standard output' : req.dest} as a new archive`);
  }

  // The ledger goes on from its valid lines; a last run that died without an end gets the end
  // measured now, so that a later resume knows it even once the drive has moved on.
  const lastOffset = Math.max(lastRun.start?.archiveStart ?? 0, lastRun.records.at(-1)?.offset ?? 0);
  let ledgerPrefix = text;
  if (measured) ledgerPrefix += runEndLine(last, lastOffset);
  const tapeVolumes = live.filter((p) => p.kind === 'tape' && p.kept.length > 0).length;
  return { path: req.checkpoint, skip, ledgerPrefix, continueFile, last, runs, root, notes, warnings, tapeVolumes };
}
