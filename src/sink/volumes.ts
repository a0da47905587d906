import { unlink } from 'node:fs/promises';
import { UserError } from '../errors.js';
import { listVolumes, volumePath } from '../util/volumes.js';
import { openSink } from './index.js';
import type { Sink, SinkOptions, SinkResult, SinkStats, VolumeResult } from './types.js';

/**
 * `--volume-size` (issue 14 item 2): one archive stream cut into DEST.001, DEST.002, ... of
 * exactly `volumeSize` bytes but the last, byte-split like split(1) so that a blob larger than a
 * volume simply continues in the next one and `cat` of the volumes is the archive. Each volume is
 * written through its own native ring (openSink), one after the other: a volume is drained and
 * closed before the next is opened, so `beforeVolume` (the operator's --next-volume command)
 * always sees the previous volume complete on disk. The next volume is opened only when a byte
 * for it arrives, so an archive that ends exactly at a boundary leaves no empty volume.
 */
export interface VolumeSinkOptions extends Omit<SinkOptions, 'truncateTo'> {
  volumeSize: number;
  /**
   * Archive offset this run starts at (a resume's cut, 0 for a new archive): the volume holding it
   * is cut there and every later volume is removed.
   */
  startAt?: number;
  /** Runs after volume n-1 is complete and before volume n (n >= 2) is opened. */
  beforeVolume?: (n: number, path: string) => Promise<void>;
  /** Called as each volume is finished (closed, or the last one aborted). */
  onVolume?: (v: VolumeResult) => void;
}

/** Which volume an archive offset falls in (1-based) and how far into it: the cut's place. */
export function volumeOf(offset: number, volumeSize: number): { n: number; within: number } {
  const n = Math.floor(offset / volumeSize) + 1;
  return { n, within: offset - (n - 1) * volumeSize };
}

export async function openVolumeSink(dest: string, opts: VolumeSinkOptions): Promise<Sink> {
  if (!Number.isSafeInteger(opts.volumeSize) || opts.volumeSize < opts.blockSize) {
    throw new UserError('EUSAGE', `the volume size must be at least one block (${opts.blockSize} B), got ${opts.volumeSize}`);
  }
  const start = opts.startAt ?? 0;
  const first = volumeOf(start, opts.volumeSize);
  // Volumes past the one this run starts in hold bytes of an older archive (or of the part a
  // resume cuts away): left there, `cat DEST.*` would no longer be the archive.
  for (const v of await listVolumes(dest)) {
    if (v.n > first.n) await unlink(v.path).catch((e: NodeJS.ErrnoException) => {
      throw new UserError(e.code ?? 'EIO', `cannot remove the stale volume ${v.path}: ${e.message}`);
    });
  }
  const base: SinkOptions = { blockSize: opts.blockSize, bufferSize: opts.bufferSize, hwm: opts.hwm, direct: opts.direct };
  const path = volumePath(dest, first.n);
  const sink = await openSink(path, first.within > 0 ? { ...base, truncateTo: first.within } : base);
  return new VolumeSink(dest, opts, base, sink, first.n, first.within);
}

function publicOf(v: VolumeResult & { stats?: SinkStats }): VolumeResult {
  return { volume: v.volume, dest: v.dest, bytes: v.bytes, records: v.records };
}

class VolumeSink implements Sink {
  readonly kind = 'file' as const;
  #current: Sink;
  #n: number;
  /** Bytes of the current volume: what it held at the start plus what this run accepted into it. */
  #inVolume: number;
  /** The current volume's bytes before this run (a resume continues inside a volume). */
  #heldBefore: number;
  /** Finished volumes of this run. */
  readonly #done: (VolumeResult & { stats: SinkStats })[] = [];
  /** A volume change (or writes queued behind one) in progress: later writes go after it. */
  #pending: Promise<void> | undefined;
  #failed: Error | undefined;
  #switching = false;

  constructor(
    private readonly dest: string,
    private readonly opts: VolumeSinkOptions,
    private readonly base: SinkOptions,
    first: Sink,
    n: number,
    within: number,
  ) {
    this.#current = first;
    this.#n = n;
    this.#inVolume = within;
    this.#heldBefore = within;
  }

  write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.#failed) return Promise.reject(this.#failed);
    // Defensive: a caller that does not await a returned promise still gets its bytes in order.
    if (this.#pending) return this.#chain(() => this.#put(chunk));
    const w = this.#put(chunk);
    // A volume change began: writes that come before it ends must wait for it.
    return w && this.#switching ? this.#chain(() => w) : w;
  }

  #chain(step: () => Promise<void> | undefined): Promise<void> {
    const next = (this.#pending ?? Promise.resolve()).then(step);
    const tail = next.then(
      () => {
        if (this.#pending === tail) this.#pending = undefined;
      },
      (e: Error) => {
        this.#failed ??= e;
        if (this.#pending === tail) this.#pending = undefined;
      },
    );
    this.#pending = tail;
    return next;
  }

  /** Split `chunk` at the volume boundary; a promise when the sink wants the caller to wait. */
  #put(chunk: Uint8Array): Promise<void> | undefined {
    let off = 0;
    let wait: Promise<void> | undefined;
    while (off < chunk.length) {
      const left = this.opts.volumeSize - this.#inVolume;
      if (left === 0) {
        return this.#switchThenPut(wait, chunk.subarray(off));
      }
      const n = Math.min(left, chunk.length - off);
      // A whole landing chunk keeps its identity (subarray(0, length) is the same view), so the
      // native sink still recognises it as received in place.
      const part = n === chunk.length ? chunk : chunk.subarray(off, off + n);
      const w = this.#current.write(part);
      this.#inVolume += n;
      off += n;
      if (w) wait = wait ? wait.then(() => w) : w;
    }
    return wait;
  }

  /** The volume is full: finish it (after whatever it still has to take), then go on with `rest`. */
  async #switchThenPut(before: Promise<void> | undefined, rest: Uint8Array): Promise<void> {
    this.#switching = true;
    try {
      await before;
      await this.#nextVolume();
    } finally {
      this.#switching = false;
    }
    await this.#put(rest);
  }

  async #nextVolume(): Promise<void> {
    const result = await this.#current.close();
    const done = this.#volumeResult(result, this.#n);
    this.#done.push(done);
    this.opts.onVolume?.(publicOf(done));
    const n = this.#n + 1;
    const path = volumePath(this.dest, n);
    await this.opts.beforeVolume?.(n, path);
    this.#current = await openSink(path, this.base);
    this.#n = n;
    this.#inVolume = 0;
    this.#heldBefore = 0;
  }

  #volumeResult(r: SinkStats, n: number): VolumeResult & { stats: SinkStats } {
    return { volume: n, dest: volumePath(this.dest, n), bytes: this.#heldBefore + r.written, records: r.records, stats: r };
  }

  landing(max: number): Buffer | undefined {
    const left = this.opts.volumeSize - this.#inVolume;
    if (this.#pending || this.#failed || left === 0) return undefined;
    return this.#current.landing?.(Math.min(max, left));
  }

  stats(): SinkStats {
    const now = this.#current.stats();
    const all = [...this.#done.map((d) => d.stats), now];
    const sum = (k: 'accepted' | 'written' | 'records' | 'underruns') => all.reduce((a, s) => a + s[k], 0);
    return { accepted: sum('accepted'), written: sum('written'), records: sum('records'), underruns: sum('underruns'), fill: now.fill, capacity: now.capacity };
  }

  #result(last: SinkResult, error?: Error): SinkResult {
    const final = this.#volumeResult(last, this.#n);
    this.opts.onVolume?.(publicOf(final));
    const volumes = [...this.#done, final];
    const all = volumes.map((v) => v.stats);
    const sum = (k: 'accepted' | 'written' | 'records' | 'underruns') => all.reduce((a, s) => a + s[k], 0);
    const result: SinkResult = {
      kind: 'file',
      accepted: sum('accepted'),
      written: sum('written'),
      records: sum('records'),
      underruns: sum('underruns'),
      fill: last.fill,
      capacity: last.capacity,
      volumes: volumes.map(publicOf),
    };
    const err = error ?? last.error;
    if (err) result.error = err;
    return result;
  }

  async close(): Promise<SinkResult> {
    await this.#pending;
    if (this.#failed) throw this.#failed;
    return this.#result(await this.#current.close());
  }

  async abort(): Promise<SinkResult> {
    this.#failed ??= new UserError('ESINKABORTED', 'the output was aborted');
    // A volume change in progress finishes first (or fails): then the volume in hand is the last.
    await this.#pending?.catch(() => undefined);
    const last = await this.#current.abort();
    return this.#result(last, last.error);
  }
}
