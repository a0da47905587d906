import type { Descriptor } from '../oci/descriptor.js';
import type { SinkResult, SinkStats, VolumeResult } from '../sink/types.js';

/**
 * What a long run tells the operator. Services emit these; the UI (terminal display, plain
 * lines, --debug JSON Lines) renders them. Services never print.
 */
export type RunEvent =
  | { type: 'start'; command: string; image?: string; dest?: string; time: number }
  | { type: 'resolve'; ref: string; descriptor: Descriptor }
  | {
      type: 'plan';
      blobs: number;
      bytes: number;
      skippedBlobs: number;
      skippedBytes: number;
      archiveBytes: number;
      /** Set when the archive is compressed: archiveBytes is then the uncompressed size. */
      compression?: string;
    }
  | { type: 'skip'; descriptor: Descriptor; reason: string }
  | { type: 'blob-begin'; descriptor: Descriptor; offset: number }
  | { type: 'blob-end'; descriptor: Descriptor; offset: number }
  /** A checkpoint record written; `offset` is the archive offset it records (end of the blob's padding). */
  | { type: 'ledger'; record: Descriptor; offset?: number }
  | { type: 'writer'; stats: SinkStats }
  /** A volume finished: a file volume of --volume-size, or a tape that --next-volume changed. */
  | { type: 'volume'; volume: number; dest: string; bytes: number; records: number }
  | { type: 'log'; level: 'error' | 'warn' | 'info' | 'debug'; message: string; fields?: Record<string, unknown> }
  | { type: 'error'; code: string; message: string }
  /** A line for the operator (stdout; above the live display on a terminal; dropped with -q). */
  | { type: 'note'; message: string }
  | {
      type: 'done';
      ok: boolean;
      summary: RunSummary;
      /** What ended a failed run (code EINTERRUPTED: a signal), for the summary and --debug. */
      error?: { code: string; message: string };
      interrupted?: boolean;
    };

export interface RunSummary {
  blobsWritten: number;
  blobsSkipped: number;
  bytesWritten: number;
  bytesSkipped: number;
  /** deserialize: blobs mounted from another repository of the registry (issue 16). */
  blobsMounted?: number;
  bytesMounted?: number;
  durationMs: number;
  sink?: SinkResult;
  checkpoint?: string;
  /** The volumes written, in order (file volumes, or tapes changed with --next-volume). */
  volumes?: VolumeResult[];
  /** The command that resumes an interrupted run. */
  resumeCommand?: string;
}

export interface Reporter {
  emit(event: RunEvent): void;
  /** Live writer counters for the display (ring fill, underruns); optional. */
  setStatsSource?(source: () => SinkStats): void;
  /** Stop redrawing the live display (and clear it) while the operator answers a prompt. */
  hold?(on: boolean): void;
  close(): Promise<void>;
}

/** A reporter that drops everything (library use, tests). */
export const silentReporter: Reporter = { emit() {}, async close() {} };
