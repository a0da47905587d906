import { open, realpath, stat } from 'node:fs/promises';
import { UserError } from '../errors.js';
import { readLedger, type LedgerRecord } from '../archive/ledger.js';
import { type LedgerRun, type RunEnd, blobDirs, encodeRun, onMedium, splitRuns } from '../archive/runs.js';
import { BLOCK, padded } from '../archive/tar-header.js';
import { blobPath } from '../oci/digest.js';
import type { SkipSet } from '../plan/plan.js';
import { measureTape } from './tape-measure.js';

/** What a resumed run starts from. */
export interface ResumeState {
  path: string;
  /** Digests on the medium, with the reason. */
  skip: SkipSet;
  /** Earlier runs re-encoded for the new ledger (records beyond the medium dropped). */
  ledgerPrefix: string;
  /** Set when DEST is the interrupted run's regular file: continue that archive from `cut`. */
  continueFile?: { cut: number; dirs: string[] };
  /** The last run's medium measure, for messages. */
  last: RunEnd;
  runs: LedgerRun[];
  /** Root digest the ledger was written for (from our run records). */
  root?: string;
}

async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    return (await realpath(a)) === (await realpath(b));
  } catch {
    return false;
  }
}

/**
 * Does the file end, at `r.offset`, with the tar entry of the record's blob? Uncompressed: its
 * header sits right before the padded data. gzip: one member per blob, whose ISIZE trailer holds
 * the member's uncompressed length (header(s) + padded data, mod 2^32). zstd frames carry no
 * such trailer here; the run-start record's path is the check.
 */
async function tailMatches(file: string, r: LedgerRecord, compression: string | undefined): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    if (compression === 'zstd') return true;
    if (compression === 'gzip') {
      const tail = Buffer.alloc(4);
      const { bytesRead } = await fh.read(tail, 0, 4, r.offset - 4);
      if (bytesRead !== 4) return false;
      const isize = tail.readUInt32LE(0);
      const body = padded(r.descriptor.size) + BLOCK;
      // The blob's frame may also carry the blobs/ and blobs/<alg> directory headers.
      return [body, body + BLOCK, body + 2 * BLOCK].some((n) => n % 2 ** 32 === isize);
    }
    const at = r.offset - padded(r.descriptor.size) - BLOCK;
    if (at < 0) return false;
    const block = Buffer.alloc(BLOCK);
    const { bytesRead } = await fh.read(block, 0, BLOCK, at);
    if (bytesRead !== BLOCK) return false;
    const name = blobPath(r.descriptor.digest);
    return block.subarray(0, Math.min(100, name.length)).toString('latin1') === name.slice(0, 100);
  } finally {
    await fh.close();
  }
}

export interface ResumeRequest {
  checkpoint: string;
  offset?: number;
  dest: string;
  compression?: string;
}

/**
 * Read an interrupted run's ledger and decide what is on the medium. Bytes on the medium come,
 * in order of preference, from --resume-from-offset, the run-end record the run wrote when it
 * stopped (bytes acknowledged by write(2), cross-checked with MTIOCPOS on a tape), or a
 * measurement: the size of the run's file. Nothing here writes anything.
 */
export async function loadResume(req: ResumeRequest): Promise<ResumeState> {
  const records = await readLedger(req.checkpoint);
  const runs = splitRuns(records, req.checkpoint);
  if (runs.length === 0) {
    throw new UserError('ECHECKPOINT', `checkpoint ${req.checkpoint} is empty: the interrupted run wrote no blob, so there is nothing to resume; run serialize without --resume-from-checkpoint`);
  }
  const lastRun = runs[runs.length - 1];
  const start = lastRun.start;
  const lastOffset = lastRun.records.at(-1)?.offset ?? 0;

  // How many archive bytes of the last run are on its medium.
  let last: RunEnd;
  const destIsRunFile = start ? start.kind === 'file' && (await sameFile(start.dest, req.dest)) : false;
  const runFile = start?.kind === 'file' ? start.dest : !start ? req.dest : undefined;
  let fileSize: number | undefined;
  if (runFile) fileSize = await stat(runFile).then((s) => (s.isFile() ? s.size : undefined), () => undefined);
  if (req.offset !== undefined) {
    const holds = lastRun.end?.mediumBytes ?? fileSize;
    if (holds !== undefined && req.offset > holds) {
      throw new UserError('EOFFSET', `--resume-from-offset ${req.offset} is larger than the medium holds (${holds} bytes ${lastRun.end ? 'reported by the interrupted run' : `in ${runFile}`}); give a smaller, conservative value`);
    }
    last = { mediumBytes: req.offset, reason: 'given', source: 'user' };
  } else if (lastRun.end) {
    last = lastRun.end;
  } else if (fileSize !== undefined) {
    last = { mediumBytes: fileSize, reason: 'measured', source: 'file-size' };
  } else if (start?.kind === 'tape') {
    last = await measureTape(start);
  } else {
    throw new UserError('EOFFSET', `cannot measure what the interrupted run wrote${start ? ` to ${start.dest === '-' ? 'standard output' : start.dest}` : ''}; give --resume-from-offset BYTES (lower is safer)`);
  }

  // Continue the same file when it is the interrupted run's file (or, for a ledger of the
  // original tool, DEST itself) and the archive's tail proves it.
  let continueFile: ResumeState['continueFile'];
  const archiveRecords = onMedium(lastRun, last.mediumBytes);
  const canContinue = start ? destIsRunFile && (start.compression ?? '') === (req.compression ?? '') : fileSize !== undefined && !req.compression;
  if (canContinue && archiveRecords.length > 0) {
    const tail = archiveRecords[archiveRecords.length - 1];
    if (!(await tailMatches(req.dest, tail, req.compression))) {
      throw new UserError('ECHECKPOINT', `${req.dest} does not hold the archive that ${req.checkpoint} describes (no header of blob ${tail.descriptor.digest} before offset ${tail.offset}); resume to a new file or check the paths`);
    }
    // Every run that wrote this archive: the chain of continued runs ending with the last one.
    const chain: LedgerRecord[] = [];
    for (let i = runs.length - 1; i >= 0; i--) {
      const run = runs[i];
      const limit = i === runs.length - 1 ? last.mediumBytes : run.end?.mediumBytes ?? 0;
      chain.unshift(...onMedium(run, limit));
      if (!run.start || run.start.archiveStart === 0) break;
    }
    continueFile = { cut: tail.offset, dirs: blobDirs(chain) };
  } else if (start && destIsRunFile && (start.compression ?? '') !== (req.compression ?? '')) {
    throw new UserError('EUSAGE', `the interrupted run wrote ${start.compression || 'uncompressed'} data to ${req.dest}; resume with the same --compression, or to a new file`);
  }

  const skip: SkipSet = new Map();
  let ledgerPrefix = '';
  for (const [i, run] of runs.entries()) {
    const isLast = i === runs.length - 1;
    const end: RunEnd | undefined = isLast
      ? continueFile
        ? { ...last, mediumBytes: continueFile.cut }
        : last
      : run.end ?? { mediumBytes: 0, reason: 'unknown', source: 'user' };
    const kept = onMedium(run, end.mediumBytes);
    for (const r of kept) skip.set(r.descriptor.digest, `on the medium (checkpoint ${req.checkpoint})`);
    ledgerPrefix += encodeRun(run, kept, end);
  }
  return { path: req.checkpoint, skip, ledgerPrefix, continueFile, last, runs, root: start?.root };
}
