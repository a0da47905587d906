import { UserError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { digestBytes } from '../oci/verify.js';
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
  /** --volume-size: the archive is in DEST.001, DEST.002, ... of this many bytes (issue 14). */
  volumeSize?: number;
  /** --next-volume: the volume (tape) number of this piece within the run, from 1. */
  volume?: number;
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
    digest: digestBytes('sha256', json),
    size: 0,
    annotations: { [RUN_KEY]: json },
  };
  return ledgerLine(desc, offset);
}

export function runStartLine(start: RunStart): string {
  return pseudo(RUN_START_TYPE, start, start.archiveStart);
}

/**
 * The run-end record sits after the run's last record (offsets keep increasing in a run):
 * `lastOffset` is that record's offset, or the run's archiveStart when it recorded none.
 */
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
