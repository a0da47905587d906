import { stat } from 'node:fs/promises';
import { AceError, InterruptedError, UserError } from '../errors.js';
import { archiveSize } from '../archive/entries.js';
import { LedgerWriter, readLedger, recordsOnMedium } from '../archive/ledger.js';
import type { Compression } from '../archive/output.js';
import { writeArchive } from '../archive/writer.js';
import type { HasherFactory } from '../oci/verify.js';
import { nodeHasher } from '../oci/verify.js';
import { type SkipSet, existingBlobs, makePlan } from '../plan/plan.js';
import { openSink } from '../sink/index.js';
import type { Sink, SinkResult } from '../sink/types.js';
import { openSource } from '../source/index.js';
import type { RegistryOptions } from '../source/registry.js';
import type { Reporter, RunSummary } from '../ui/events.js';
import { VERSION } from '../version.js';

export interface SerializeRequest {
  image: string;
  dest: string;
  existing: string[];
  blockSize: number;
  bufferSize: number;
  hwm: number;
  checkpoint?: string;
  /** `PATH:OFFSET` pairs (the original's --existing-from-checkpoint). */
  existingFromCheckpoint: { path: string; offset: number }[];
  compression?: Compression;
  manifestJson: boolean;
  recursive: boolean;
  registry: RegistryOptions;
  reporter: Reporter;
  signal: AbortSignal;
  /** Rebuilds the command line for the resume hint. */
  resumeCommand?: (checkpoint: string) => string;
}

/** Hashing on the native addon's thread when available (SPEC "Performance"). */
async function loadHasher(): Promise<HasherFactory> {
  try {
    const sink = await import('../sink/index.js');
    if (typeof sink.createHasher === 'function') return (alg) => sink.createHasher(alg as 'sha256' | 'sha512');
  } catch {
    /* addon not built: plain Node hashing */
  }
  return nodeHasher;
}

/**
 * serialize: resolve and walk IMAGE, diff against EXISTING-IMAGEs and checkpoints, know the exact
 * archive before opening DEST, then stream it through the native writer.
 */
export async function serialize(req: SerializeRequest): Promise<RunSummary> {
  const started = Date.now();
  const { reporter } = req;
  reporter.emit({ type: 'start', command: 'mirror serialize', image: req.image, dest: req.dest, time: started });

  // Read every checkpoint before any file is created: the original truncates --checkpoint first,
  // so reusing one path for both silently resumes nothing (behaviour note 4.5).
  const skip: SkipSet = new Map();
  for (const { path, offset } of req.existingFromCheckpoint) {
    const records = await readLedger(path);
    for (const r of recordsOnMedium(records, offset)) {
      if (!skip.has(r.descriptor.digest)) skip.set(r.descriptor.digest, `in checkpoint ${path} below offset ${offset}`);
    }
  }

  const source = await openSource(req.image, req.registry);
  try {
    for (const ref of req.existing) {
      const ex = await openSource(ref, req.registry);
      try {
        await existingBlobs(ex, ref, skip);
      } finally {
        await ex.close();
      }
    }
    const plan = await makePlan(source, { skip, recursive: req.recursive, refName: source.refName, sourceName: req.image });
    const layout = { version: VERSION, manifestJson: req.manifestJson, imageRef: req.image };
    const totalBytes = archiveSize(plan, layout);
    reporter.emit({
      type: 'plan',
      blobs: plan.blobs.length,
      bytes: plan.blobs.reduce((n, b) => n + b.descriptor.size, 0),
      skippedBlobs: plan.skipped.length,
      skippedBytes: plan.skipped.reduce((n, b) => n + b.descriptor.size, 0),
      archiveBytes: totalBytes,
    });
    for (const s of plan.skipped) reporter.emit({ type: 'skip', descriptor: s.descriptor, reason: s.reason });

    const ledger = req.checkpoint ? await LedgerWriter.open(req.checkpoint) : undefined;
    const sink: Sink = await openSink(req.dest, { blockSize: req.blockSize, bufferSize: req.bufferSize, hwm: req.hwm });
    reporter.setStatsSource?.(() => sink.stats());
    const summary: RunSummary = {
      blobsWritten: 0,
      blobsSkipped: plan.skipped.length,
      bytesWritten: 0,
      bytesSkipped: plan.skipped.reduce((n, b) => n + b.descriptor.size, 0),
      durationMs: 0,
      checkpoint: req.checkpoint,
    };
    let sinkResult: SinkResult | undefined;
    try {
      const result = await writeArchive(plan, source, sink, {
        ...layout,
        compression: req.compression,
        ledger,
        reporter,
        makeHasher: await loadHasher(),
        sourceName: req.image,
        signal: req.signal,
      });
      summary.blobsWritten = result.blobsWritten;
      sinkResult = await sink.close();
      summary.bytesWritten = sinkResult.written;
      if (sinkResult.written !== result.offset) {
        throw new AceError('EWRITE', `only ${sinkResult.written} of ${result.offset} archive bytes reached ${req.dest}`);
      }
    } catch (e) {
      sinkResult ??= await sink.abort().catch(() => undefined);
      summary.bytesWritten = sinkResult?.written ?? 0;
      summary.sink = sinkResult;
      summary.durationMs = Date.now() - started;
      if (req.checkpoint && req.resumeCommand) summary.resumeCommand = req.resumeCommand(req.checkpoint);
      if (req.signal.aborted) throw Object.assign(new InterruptedError((req.signal.reason as NodeJS.Signals) ?? 'SIGINT'), { summary });
      throw Object.assign(e as Error, { summary });
    } finally {
      await ledger?.close();
    }
    summary.sink = sinkResult;
    summary.durationMs = Date.now() - started;
    return summary;
  } finally {
    await source.close();
  }
}

export async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    throw new UserError('ENOENT', `cannot read ${path}: ${(e as Error).message}`);
  }
}
