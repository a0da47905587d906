/**
 * What the operator sees, folded from RunEvents and the writer's live counters. One state feeds
 * the terminal display, the plain status lines and the summary, so they always agree.
 */
import type { Descriptor } from '../oci/descriptor.js';
import type { SinkStats } from '../sink/types.js';
import type { RunEvent, RunSummary } from './events.js';

/** What the plan event says, without its tag. */
export type PlanInfo = Omit<Extract<RunEvent, { type: 'plan' }>, 'type'>;

export interface Progress {
  /** Bytes that reached the medium (the writer's counter), or the last blob-end offset without one. */
  done: number;
  total?: number;
  fraction?: number;
  /** Bytes per second over the last few seconds; undefined until two samples exist. */
  rate?: number;
  etaMs?: number;
}

/** Rate window: long enough to smooth a tape's start-stop, short enough to follow a change. */
const WINDOW_MS = 5000;

export class RunState {
  command = '';
  image?: string;
  dest?: string;
  startedAt: number;
  plan?: PlanInfo;
  blobsDone = 0;
  private readonly blobsSeen = new Set<string>();
  blobBytesDone = 0;
  skipped = 0;
  current?: { descriptor: Descriptor; offset: number; acceptedAtBegin?: number };
  /** Archive offset after the last finished blob (compressed bytes when compressing). */
  lastOffset = 0;
  stats?: SinkStats;
  statsSource?: () => SinkStats;
  error?: { code: string; message: string };
  done?: { ok: boolean; summary: RunSummary; interrupted: boolean };
  private samples: { t: number; written: number }[] = [];
  /**
   * Bytes the writers of earlier tapes wrote (--next-volume: each tape gets a writer of its own,
   * whose counters start at 0). The display counts on from them instead of starting over.
   */
  private writtenBefore = 0;

  constructor(now: number) {
    this.startedAt = now;
  }

  apply(e: RunEvent): void {
    switch (e.type) {
      case 'start':
        this.command = e.command;
        this.image = e.image;
        this.dest = e.dest;
        this.startedAt = e.time;
        break;
      case 'plan':
        this.plan = { blobs: e.blobs, bytes: e.bytes, skippedBlobs: e.skippedBlobs, skippedBytes: e.skippedBytes, archiveBytes: e.archiveBytes, compression: e.compression };
        break;
      case 'skip':
        this.skipped++;
        break;
      case 'blob-begin':
        this.current = { descriptor: e.descriptor, offset: e.offset, acceptedAtBegin: this.readStats()?.accepted };
        break;
      case 'blob-end':
        // A blob that a full tape did not take is written again on the next volume (--next-volume):
        // it is still one blob of the plan.
        if (!this.blobsSeen.has(e.descriptor.digest)) {
          this.blobsSeen.add(e.descriptor.digest);
          this.blobsDone++;
          this.blobBytesDone += e.descriptor.size;
        }
        this.lastOffset = e.offset;
        if (this.current?.descriptor.digest === e.descriptor.digest) this.current = undefined;
        break;
      case 'writer':
        this.stats = e.stats;
        break;
      case 'error':
        this.error = { code: e.code, message: e.message };
        break;
      case 'done': {
        const interrupted = e.error?.code === 'EINTERRUPTED' || this.error?.code === 'EINTERRUPTED' || e.interrupted === true;
        if (e.error) this.error = e.error;
        this.done = { ok: e.ok, summary: e.summary, interrupted };
        this.current = undefined;
        break;
      }
      default:
    }
  }

  /**
   * The writer of the next piece of the run (a new tape). Its counters start at 0: what the
   * earlier writers wrote is kept, so bytes, rate and ETA go on across the tape change.
   */
  setStatsSource(source: () => SinkStats): void {
    if (this.statsSource) {
      this.writtenBefore += this.readStats()?.written ?? 0;
      this.stats = undefined;
    }
    this.statsSource = source;
    this.readStats();
  }

  /** Bytes written so far, across tapes. */
  private written(s: SinkStats | undefined): number {
    return s ? this.writtenBefore + s.written : this.lastOffset;
  }

  /** The writer's counters now (a failing source is ignored: the display must not kill the run). */
  readStats(): SinkStats | undefined {
    if (this.statsSource) {
      try {
        this.stats = this.statsSource();
      } catch {
        /* the sink is closed or gone: keep the last sample */
      }
    }
    return this.stats;
  }

  /** Take a sample for the rate; call at the display's cadence. */
  sample(now: number): void {
    const written = this.written(this.readStats());
    this.samples.push({ t: now, written });
    while (this.samples.length > 2 && now - this.samples[1].t >= WINDOW_MS) this.samples.shift();
  }

  progress(now: number): Progress {
    const s = this.stats;
    const compressed = this.plan?.compression !== undefined && this.plan.compression !== '';
    const done = this.written(s);
    const p: Progress = { done };
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (first && last && last.t - first.t >= 400) p.rate = (last.written - first.written) / ((last.t - first.t) / 1000);
    if (this.plan) {
      if (compressed) {
        // Compressed sizes are unknown before writing: measure progress in blob bytes instead.
        p.fraction = this.plan.bytes > 0 ? this.blobBytesDone / this.plan.bytes : 1;
        const elapsed = now - this.startedAt;
        if (p.fraction > 0 && p.fraction < 1) p.etaMs = (elapsed / p.fraction) * (1 - p.fraction);
      } else if (this.writtenBefore > 0) {
        // After a tape change the rest is an archive of its own (its headers, the blob the full
        // tape cut, written again): the plan's archive size no longer measures the job, its blob
        // bytes do.
        p.fraction = this.plan.bytes > 0 ? this.blobBytesDone / this.plan.bytes : 1;
        if (p.rate !== undefined && p.rate > 0) p.etaMs = (Math.max(0, this.plan.bytes - this.blobBytesDone) / p.rate) * 1000;
      } else {
        p.total = this.plan.archiveBytes;
        p.fraction = p.total > 0 ? Math.min(1, done / p.total) : 1;
        if (p.rate !== undefined && p.rate > 0) p.etaMs = (Math.max(0, p.total - done) / p.rate) * 1000;
      }
    }
    return p;
  }

  /** How far into the current blob the bytes handed to the writer are (0..1), when known. */
  currentFraction(): number | undefined {
    const c = this.current;
    if (!c || c.acceptedAtBegin === undefined || !this.stats || c.descriptor.size <= 0) return undefined;
    return Math.max(0, Math.min(1, (this.stats.accepted - c.acceptedAtBegin) / c.descriptor.size));
  }
}
