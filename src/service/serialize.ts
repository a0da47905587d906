import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { RUN_END_TYPE, RUN_START_TYPE, type RunEnd, type RunStart, runEndLine, runStartLine } from '../archive/runs.js';
import { lockRun } from './lock.js';
import { type ResumeState, loadResume } from './resume.js';
import { AceError, InterruptedError, UserError } from '../errors.js';
import { archiveSize } from '../archive/entries.js';
import { LedgerWriter, readLedger, recordsOnMedium } from '../archive/ledger.js';
import type { Compression, ZstdFactory } from '../archive/output.js';
import type { LayoutOptions } from '../archive/entries.js';
import { writeArchive } from '../archive/writer.js';
import { DEFAULT_WINDOW } from '../archive/prefetch.js';
import { type Plan, type SkipSet, existingBlobs, makePlan } from '../plan/plan.js';
import { type WriterError, createZstdCompressor, openSink, zstdAvailable } from '../sink/index.js';
import type { SinkResult, VolumeResult } from '../sink/types.js';
import { openVolumeSink } from '../sink/volumes.js';
import { openSource } from '../source/index.js';
import type { RegistryOptions } from '../source/registry.js';
import type { BlobFetcher } from '../source/types.js';
import type { Reporter, RunSummary } from '../ui/events.js';
import { volumePath } from '../util/volumes.js';
import { type BlobEnd, keepFromRing, memoryFetcher, remainingPlan, runVolumeCommand } from './next-volume.js';
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
  /** --resume-from-checkpoint and --resume-from-offset. */
  resumeFrom?: string;
  resumeOffset?: number;
  /** --resume-rehash: read every kept blob back and check its digest before continuing. */
  resumeRehash?: boolean;
  manifestJson: boolean;
  recursive: boolean;
  /** Requests in flight at most (--concurrency); default: the config's concurrentHTTP, else 64. */
  concurrency?: number;
  /** Bytes held or in flight ahead of the blob being written (--prefetch-size). */
  prefetchBytes?: number;
  registry: RegistryOptions;
  reporter: Reporter;
  signal: AbortSignal;
  /** Rebuilds the command line for the resume hint. */
  resumeCommand?: (checkpoint: string) => string;
  /** --volume-size: DEST.001, DEST.002, ... of this many bytes (src/sink/volumes.ts). */
  volumeSize?: number;
  /** --next-volume: run through the shell when a tape is full, and between file volumes. */
  nextVolumeCommand?: string;
  /** Without a command, on a terminal: ask the operator to load the next tape (ui/prompt.ts). */
  askNextVolume?: (volume: number, dest: string, signal: AbortSignal) => Promise<void>;
}

/**
 * serialize: resolve and walk IMAGE, diff against EXISTING-IMAGEs and checkpoints, know the exact
 * archive before opening DEST, then stream it through the native writer.
 */
export async function serialize(req: SerializeRequest): Promise<RunSummary> {
  // One run per destination and checkpoint, held from before the ledger is read to the end.
  const checkpoint = req.checkpoint ?? req.resumeFrom;
  const lock = await lockRun([
    ...(req.resumeFrom ? [{ path: req.resumeFrom, what: 'the checkpoint', mustExist: true }] : []),
    ...(checkpoint ? [{ path: checkpoint, what: 'the checkpoint' }] : []),
    // Volumes: the first one carries the lock (DEST itself is never written).
    { path: req.volumeSize ? volumePath(req.dest, 1) : req.dest, what: 'the destination' },
  ]);
  try {
    return await serializeLocked(req, checkpoint);
  } finally {
    await lock.release();
  }
}

async function serializeLocked(req: SerializeRequest, checkpoint: string | undefined): Promise<RunSummary> {
  const started = Date.now();
  const { reporter } = req;
  reporter.emit({ type: 'start', command: 'mirror serialize', image: req.image, dest: req.dest, time: started });

  // Read every checkpoint before any file is created: the original truncates --checkpoint first,
  // so reusing one path for both silently resumes nothing (behaviour note 4.5).
  const skip: SkipSet = new Map();
  for (const { path, offset } of req.existingFromCheckpoint) {
    const records = await readLedger(path);
    for (const r of recordsOnMedium(records, offset)) {
      if (r.descriptor.mediaType === RUN_START_TYPE || r.descriptor.mediaType === RUN_END_TYPE) continue;
      if (!skip.has(r.descriptor.digest)) skip.set(r.descriptor.digest, `in checkpoint ${path} below offset ${offset}`);
    }
  }

  const resume = req.resumeFrom
    ? await loadResume({ checkpoint: req.resumeFrom, offset: req.resumeOffset, dest: req.dest, compression: req.compression, rehash: req.resumeRehash, volumeSize: req.volumeSize })
    : undefined;
  if (resume) {
    for (const [digest, why] of resume.skip) if (!skip.has(digest)) skip.set(digest, why);
    reporter.emit({ type: 'log', level: 'info', message: `resuming: ${resume.last.mediumBytes} bytes of the last run are on its medium (${resume.last.source}: ${resume.last.reason})` });
    for (const message of resume.warnings) reporter.emit({ type: 'log', level: 'warn', message });
    for (const message of resume.notes) reporter.emit({ type: 'note', message });
  }

  // One limit for requests in flight: the plan's manifest fetches, the window's downloads and
  // the connections per origin that carry them.
  const requests = req.concurrency ?? req.registry.concurrency ?? req.registry.config?.concurrentHTTP ?? DEFAULT_WINDOW.requests;
  const window = { requests, bytes: req.prefetchBytes ?? DEFAULT_WINDOW.bytes };
  // Registry warnings (an unusable certs.d CA) reach the operator like every other log line.
  const registry = { ...req.registry, concurrency: requests, warn: (message: string) => reporter.emit({ type: 'log', level: 'warn', message }) };
  const source = await openSource(req.image, registry);
  try {
    // EXISTING-IMAGEs load at the same time as IMAGE's graph (the plan waits for them only
    // before its walk); each fills its own set, merged in command-line order, so the reason
    // given for a skip does not depend on which answered first.
    const existing = Promise.all(
      req.existing.map(async (ref) => {
        const found: SkipSet = new Map();
        const ex = await openSource(ref, registry);
        try {
          await existingBlobs(ex, ref, found, requests);
        } finally {
          await ex.close();
        }
        return found;
      }),
    ).then((sets) => {
      for (const found of sets) for (const [digest, why] of found) if (!skip.has(digest)) skip.set(digest, why);
      return skip;
    });
    existing.catch(() => undefined); // awaited below
    let plan: Plan;
    try {
      plan = await makePlan(source, { skip: existing, recursive: req.recursive, refName: source.refName, sourceName: req.image, concurrency: requests });
    } catch (e) {
      // An EXISTING-IMAGE's failure is reported first, as when they were resolved before IMAGE.
      await existing;
      throw e;
    }
    reporter.emit({ type: 'resolve', ref: req.image, descriptor: plan.root });
    if (resume) checkResumeMatchesPlan(resume, plan, req.image);
    const layout: LayoutOptions = { version: VERSION, manifestJson: req.manifestJson, imageRef: req.image };
    const totalBytes = archiveSize(plan, layout);
    reporter.emit({
      type: 'plan',
      blobs: plan.blobs.length,
      bytes: plan.blobs.reduce((n, b) => n + b.descriptor.size, 0),
      skippedBlobs: plan.skipped.length,
      skippedBytes: plan.skipped.reduce((n, b) => n + b.descriptor.size, 0),
      archiveBytes: totalBytes,
      compression: req.compression,
    });
    for (const s of plan.skipped) reporter.emit({ type: 'skip', descriptor: s.descriptor, reason: s.reason });

    const continueAt = resume?.continueFile?.cut;
    const ledger = checkpoint ? await LedgerWriter.create(checkpoint, resume?.ledgerPrefix ?? '', continueAt ?? 0) : undefined;
    const summary: RunSummary = {
      blobsWritten: 0,
      blobsSkipped: plan.skipped.length,
      bytesWritten: 0,
      bytesSkipped: plan.skipped.reduce((n, b) => n + b.descriptor.size, 0),
      durationMs: 0,
      checkpoint,
    };
    const volumes: VolumeResult[] = [];
    const onVolume = (v: VolumeResult) => {
      volumes.push(v);
      reporter.emit({ type: 'volume', ...v });
    };
    let piece: Piece = { plan, fetcher: source, continueAt, dirs: resume?.continueFile?.dirs, volume: 1 + (resume?.tapeVolumes ?? 0) };
    try {
      for (;;) {
        const next = await writePiece(req, piece, { ledger, layout, summary, onVolume, window });
        if (!next) break;
        piece = next;
      }
    } catch (e) {
      summary.durationMs = Date.now() - started;
      if (volumes.length > 0) summary.volumes = volumes;
      if (checkpoint && req.resumeCommand) summary.resumeCommand = req.resumeCommand(checkpoint);
      if (req.signal.aborted) throw Object.assign(new InterruptedError((req.signal.reason as NodeJS.Signals) ?? 'SIGINT'), { summary });
      throw Object.assign(e as Error, { summary });
    } finally {
      await ledger?.close();
    }
    summary.durationMs = Date.now() - started;
    if (volumes.length > 0) summary.volumes = volumes;
    return summary;
  } finally {
    await source.close();
  }
}

/** One archive to write: the whole plan, or after a full tape the rest of it on the next one. */
interface Piece {
  plan: Plan;
  fetcher: BlobFetcher;
  /** A resumed file: the archive continues from this offset. */
  continueAt?: number;
  dirs?: string[];
  /** The tape volume this piece goes to (--next-volume), from 1. */
  volume: number;
}

interface RunContext {
  ledger?: LedgerWriter;
  /** The prefetch window (archive/prefetch.ts). */
  window: { requests: number; bytes: number };
  layout: LayoutOptions;
  summary: RunSummary;
  onVolume: (v: VolumeResult) => void;
}

/**
 * Open DEST, write `piece`, close. Returns the next piece when the tape filled up and the next
 * volume is loaded (--next-volume, or the operator at the prompt); throws, with the sink's
 * result in the summary, when the run ends any other way before the archive is complete.
 */
async function writePiece(req: SerializeRequest, piece: Piece, ctx: RunContext): Promise<Piece | undefined> {
  const { ledger, summary, reporter } = { ...ctx, reporter: req.reporter };
  const { plan, continueAt } = piece;
  const geometry = { blockSize: req.blockSize, bufferSize: req.bufferSize, hwm: req.hwm };
  const sink = req.volumeSize
    ? await openVolumeSink(req.dest, {
        ...geometry,
        volumeSize: req.volumeSize,
        startAt: continueAt,
        onVolume: ctx.onVolume,
        beforeVolume: req.nextVolumeCommand
          ? (n, path) => {
              reporter.emit({ type: 'note', message: `volume ${n - 1} is complete; running the --next-volume command for volume ${n} (${path})` });
              return runVolumeCommand(req.nextVolumeCommand!, n, req.dest, req.signal, { ACE_DT_VOLUME_PATH: path, ACE_DT_PREVIOUS_PATH: volumePath(req.dest, n - 1) });
            }
          : undefined,
      })
    : await openSink(req.dest, { ...geometry, truncateTo: continueAt });
  const kind = sink.kind;
  const runStart: RunStart = {
    id: randomUUID(),
    image: req.image,
    root: plan.root.digest,
    dest: req.dest === '-' ? '-' : resolve(req.dest),
    kind,
    archiveStart: continueAt ?? 0,
    compression: req.compression,
    blockSize: req.blockSize,
    tapeStart: kind === 'tape' ? sink.tapePosition?.().block : undefined,
    volumeSize: req.volumeSize,
    volume: kind === 'tape' && piece.volume > 1 ? piece.volume : undefined,
    time: new Date().toISOString(),
  };
  await ledger?.writeRaw(runStartLine(runStart));
  await ledger?.sync();
  reporter.setStatsSource?.(() => sink.stats());

  /** Record in the ledger how many archive bytes reached the medium, whatever ended the run. */
  const recordEnd = async (result: SinkResult | undefined, reason: string): Promise<RunEnd> => {
    let medium = (continueAt ?? 0) + (result?.written ?? 0);
    let records: number | undefined;
    if (result?.kind === 'tape' && result.startPosition !== undefined && result.endPosition !== undefined) {
      // MTIOCPOS counts records and filemarks: the close wrote one filemark (tape-rig README).
      records = Math.max(0, result.endPosition - result.startPosition - 1);
      medium = Math.min(medium, (continueAt ?? 0) + records * req.blockSize);
    }
    const end: RunEnd = { mediumBytes: medium, reason, source: result ? 'writer' : 'user', tapeEnd: result?.endPosition, records };
    if (ledger) {
      await ledger.writeRaw(runEndLine(end, ledger.lastOffset));
      await ledger.sync();
    }
    return end;
  };
  // Where each blob of this piece ends, for the next volume (which of them the full one holds).
  const ends: BlobEnd[] = [];
  const tracking: Reporter = {
    emit(e) {
      if (e.type === 'blob-end') ends.push({ digest: e.descriptor.digest, size: e.descriptor.size, offset: e.offset });
      reporter.emit(e);
    },
    close: () => reporter.close(),
  };
  // Downloads opened ahead for this piece are dropped when the volume fills up. Not
  // AbortSignal.any: its signal is held weakly and may be collected, listeners and all, before
  // the abort, which leaves prefetched blob files open.
  const pieceAbort = new AbortController();
  const forward = () => pieceAbort.abort(req.signal.reason);
  req.signal.addEventListener('abort', forward, { once: true });
  let sinkResult: SinkResult | undefined;
  // Blobs the prefetch window had downloaded whole when the writer stopped (a full tape).
  const leftovers = new Map<string, Uint8Array>();
  try {
    const result = await writeArchive(plan, piece.fetcher, sink, {
      leftovers,
      ...ctx.layout,
      compression: req.compression,
      zstd: req.compression === 'zstd' ? nativeZstd() : undefined,
      ledger,
      reporter: tracking,
      sourceName: req.image,
      signal: req.signal.aborted ? req.signal : pieceAbort.signal,
      continueAt,
      dirsPresent: piece.dirs,
      window: ctx.window,
    });
    // The archive is whole in the ring; the drain at close can still fill the tape, and then
    // the catch below counts the blobs the medium took: counted here only once all is written.
    sinkResult = await sink.close();
    if ((continueAt ?? 0) + sinkResult.written !== result.offset) {
      throw new AceError('EWRITE', `only ${sinkResult.written} of ${result.offset - (continueAt ?? 0)} archive bytes reached ${req.dest}`);
    }
    summary.bytesWritten += sinkResult.written;
    summary.sink = sinkResult;
    summary.blobsWritten += result.blobsWritten;
    const end = await recordEnd(sinkResult, 'complete');
    if (kind === 'tape' && piece.volume > 1) ctx.onVolume({ volume: piece.volume, dest: req.dest, bytes: end.mediumBytes, records: end.records ?? sinkResult.records });
    return undefined;
  } catch (e) {
    const full = !req.signal.aborted && kind === 'tape' && (e as WriterError).endOfMedium === true && (req.nextVolumeCommand !== undefined || req.askNextVolume !== undefined);
    // Before the ring is let go: the blobs it still holds need not be fetched again.
    const mediumGuess = (continueAt ?? 0) + sink.stats().written;
    // Manifests are not fetched at all (their bytes are in the plan).
    const fetched = ends.filter((b) => !plan.manifestBytes.has(b.digest));
    const kept = full && !req.compression ? keepFromRing(sink, fetched, mediumGuess, continueAt ?? 0) : new Map<string, Uint8Array>();
    // And the ones downloaded ahead (raw bytes, so with compression too; verified when written).
    if (full) for (const [digest, bytes] of leftovers) if (!kept.has(digest)) kept.set(digest, bytes);
    pieceAbort.abort();
    sinkResult ??= await sink.abort().catch(() => undefined);
    const reason = req.signal.aborted ? `interrupted by ${String(req.signal.reason)}` : (e as AceError).code ?? 'error';
    const end = await recordEnd(sinkResult, reason).catch(() => undefined);
    // Blobs count as written once they are on a medium (a tape's run-end says how far that is).
    const onMedium = new Set(ends.filter((b) => b.offset <= (end?.mediumBytes ?? Infinity)).map((b) => b.digest));
    summary.blobsWritten += onMedium.size;
    summary.bytesWritten += sinkResult?.written ?? 0;
    summary.sink = sinkResult;
    if (!full || !end || !sinkResult) throw e;
    ctx.onVolume({ volume: piece.volume, dest: req.dest, bytes: end.mediumBytes, records: end.records ?? sinkResult.records });
    const volume = piece.volume + 1;
    reporter.emit({ type: 'note', message: `end of volume ${piece.volume}: ${end.mediumBytes} bytes in ${end.records ?? sinkResult.records} records reached ${req.dest}` });
    if (req.nextVolumeCommand !== undefined) {
      reporter.emit({ type: 'note', message: `running the --next-volume command for volume ${volume}` });
      await runVolumeCommand(req.nextVolumeCommand, volume, req.dest, req.signal);
    } else {
      await req.askNextVolume!(volume, req.dest, req.signal);
    }
    // Blobs written but not taken (and the ones never started) go to the next volume.
    const rest = remainingPlan(plan, onMedium, `on volume ${piece.volume} (${req.dest})`);
    const fromMemory = [...kept.keys()].filter((d) => !onMedium.has(d)).length;
    reporter.emit({ type: 'note', message: `volume ${volume}: ${rest.blobs.length} blob${rest.blobs.length === 1 ? ' goes' : 's go'} out as a new archive${fromMemory ? ` (${fromMemory} of them from the buffer, not fetched again)` : ''}` });
    return { plan: rest, fetcher: memoryFetcher(piece.fetcher, kept), volume };
  } finally {
    req.signal.removeEventListener('abort', forward);
  }
}

/** The addon's zstd when it was built with libzstd; else archive/output.ts runs the zstd program. */
function nativeZstd(): ZstdFactory | undefined {
  return zstdAvailable() ? (level) => createZstdCompressor(level) : undefined;
}

/** A ledger must describe this IMAGE: same root, and no blob the image does not reference. */
function checkResumeMatchesPlan(resume: ResumeState, plan: Plan, image: string): void {
  if (resume.root && resume.root !== plan.root.digest) {
    throw new UserError('ECHECKPOINT', `checkpoint ${resume.path} was written for another image (root ${resume.root}); ${image} resolves to ${plan.root.digest}`);
  }
  const known = new Set([...plan.blobs, ...plan.skipped].map((b) => b.descriptor.digest));
  for (const digest of resume.skip.keys()) {
    if (!known.has(digest)) {
      throw new UserError('ECHECKPOINT', `checkpoint ${resume.path} lists blob ${digest}, which ${image} does not reference: the checkpoint belongs to another image`);
    }
  }
}
