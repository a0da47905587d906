import type { Reporter, RunEvent } from './events.js';
import { humanBytes } from '../util/bytes.js';

export interface ReporterOptions {
  quiet?: boolean;
  noTerm?: boolean;
  debugPath?: string;
  verbosity?: string[];
  stdout: NodeJS.WriteStream | NodeJS.WritableStream;
  stderr: NodeJS.WriteStream | NodeJS.WritableStream;
}

/** Minimal plain-line reporter (the full display is built in src/ui by the UX work). */
export async function createReporter(opts: ReporterOptions): Promise<Reporter> {
  const out = opts.stdout;
  return {
    emit(e: RunEvent) {
      if (opts.quiet) return;
      switch (e.type) {
        case 'plan':
          out.write(`plan: ${e.blobs} blobs (${humanBytes(e.bytes)}) to write, ${e.skippedBlobs} skipped (${humanBytes(e.skippedBytes)}), archive ${humanBytes(e.archiveBytes)}\n`);
          break;
        case 'done':
          out.write(`${e.ok ? 'done' : 'FAILED'}: ${e.summary.blobsWritten} blobs written, ${e.summary.blobsSkipped} skipped, ${humanBytes(e.summary.bytesWritten)} in ${(e.summary.durationMs / 1000).toFixed(1)} s\n`);
          break;
        default:
      }
    },
    async close() {},
  };
}
