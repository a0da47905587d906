import { createHash } from 'node:crypto';
import { UserError } from '../errors.js';
import { Annotation, type Descriptor } from '../oci/descriptor.js';
import { parseDigest } from '../oci/digest.js';
import { type LedgerRecord, RUN_END_TYPE, RUN_START_TYPE, ledgerLine } from './ledger.js';

export { RUN_END_TYPE, RUN_START_TYPE };

/**
 * Resume bookkeeping kept in the ledger itself. Besides the original's blob records, each run
 * writes a run-start record (what it wrote to, where the medium was) and, when it ends in any way
 * it can observe, a run-end record (how many archive bytes reached the medium). They are valid
 * descriptors of size 0 whose digest is that of their own annotation, so the original tool reads
 * them as records of blobs that no image has (harmless), and ours recognises them by media type.
 */
const RUN_KEY = 'vnd.act3-ace.dt-ts.run';

export type MediumKind = 'file' | 'tape' | 'stdout' | 'pipe' | 'other';

export interface RunStart {
  id: string;
  image: string;
  /** Root digest of IMAGE: a ledger of another image is refused. */
  root: string;
  dest: string;
  kind: MediumKind;
  /** Archive offset where this run began writing (0, or the cut of a continued file). */
  archiveStart: number;
  compression?: string;
  blockSize: number;
  /** Tape: MTIOCPOS before the first write. */
  tapeStart?: number;
  time: string;
}

export interface RunEnd {
  /** Archive offset up to which the bytes are on the medium. */
  mediumBytes: number;
  reason: string;
  /** How mediumBytes is known. */
  source: 'writer' | 'file-size' | 'tape-position' | 'user';
  tapeEnd?: number;
  records?: number;
}

export interface LedgerRun {
  start?: RunStart;
  records: LedgerRecord[];
  end?: RunEnd;
}

function pseudo(mediaType: string, payload: object, offset: number): string {
  const json = JSON.stringify(payload);
  const desc: Descriptor = {
    mediaType,
    digest: 'sha256:' + createHash('sha256').update(json).digest('hex'),
    size: 0,
    annotations: { [RUN_KEY]: json },
  };
  return ledgerLine(desc, offset);
}

export function runStartLine(start: RunStart): string {
  return pseudo(RUN_START_TYPE, start, start.archiveStart);
}

/** The run-end record sits after the run's last record (offsets keep increasing in a run). */
export function runEndLine(end: RunEnd, lastOffset: number): string {
  return pseudo(RUN_END_TYPE, end, Math.max(lastOffset + 1, 1));
}

/** Split a ledger into runs. A ledger of the original tool is one run without start or end. */
export function splitRuns(records: LedgerRecord[], path: string): LedgerRun[] {
  const runs: LedgerRun[] = [];
  let current: LedgerRun | undefined;
  for (const r of records) {
    const mt = r.descriptor.mediaType;
    if (mt === RUN_START_TYPE || mt === RUN_END_TYPE) {
      let payload: unknown;
      try {
        payload = JSON.parse(r.descriptor.annotations?.[RUN_KEY] ?? '');
      } catch {
        throw new UserError('ECHECKPOINT', `checkpoint ${path} line ${r.line}: unreadable run record`);
      }
      if (mt === RUN_START_TYPE) {
        current = { start: payload as RunStart, records: [] };
        runs.push(current);
      } else if (current) {
        current.end = payload as RunEnd;
      }
      continue;
    }
    if (!current) {
      current = { records: [] };
      runs.push(current);
    }
    current.records.push(r);
  }
  return runs;
}

/** Blob records of a run that are wholly on its medium (exact count: a blob ending at the cut counts). */
export function onMedium(run: LedgerRun, mediumBytes: number): LedgerRecord[] {
  return run.records.filter((r) => r.offset <= mediumBytes);
}

/** Algorithms of the blobs in records (for the `blobs/<alg>` directories already in a cut archive). */
export function blobDirs(records: LedgerRecord[]): string[] {
  if (records.length === 0) return [];
  const algs = new Set(records.map((r) => parseDigest(r.descriptor.digest).algorithm));
  return ['blobs', ...[...algs].map((a) => `blobs/${a}`)];
}

/** Re-encode a run for a new ledger: its start, the records kept, its end. */
export function encodeRun(run: LedgerRun, kept: LedgerRecord[], end: RunEnd | undefined): string {
  let out = run.start ? runStartLine(run.start) : '';
  let last = run.start?.archiveStart ?? 0;
  for (const r of kept) {
    const { [Annotation.Offset]: _drop, ...rest } = r.descriptor.annotations ?? {};
    out += ledgerLine({ ...r.descriptor, annotations: rest }, r.offset);
    last = r.offset;
  }
  if (end) out += runEndLine(end, last);
  return out;
}
