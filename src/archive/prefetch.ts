/**
 * The prefetch window (issue 11): blob downloads run ahead of the blob being written, opened in
 * archive order while the requests in flight stay under `limits.requests` and the bytes held or
 * in flight under `limits.bytes`. A registry across a WAN answers each request tens of
 * milliseconds late, so a writer that waits for each blob in turn (or opens a fixed count ahead)
 * feeds the medium at a few small blobs per round trip; with many requests in flight it is the
 * network's rate instead.
 *
 * How each blob travels depends on where it stands when its download opens:
 * - at the head (the writer waits for it): a stream, piped straight into the sink with the
 *   sink's landing, so a large blob keeps its zero-copy path;
 * - ahead, up to `aheadMax` bytes: downloaded whole into memory, charged its size until the
 *   writer has handed it to the sink;
 * - ahead and larger: only its response is opened (headers in, body paused), charged a fixed
 *   `OPEN_COST` for the receive buffers it holds, and streamed once it reaches the head.
 *
 * Nothing here verifies bytes and no error is raised out of order: a download that failed ahead
 * fails when the writer takes it, so the archive and the ledger stop at the same blob as a
 * sequential run would (the writer verifies every blob as it goes to the sink).
 */
import { setMaxListeners } from 'node:events';
import type { Descriptor } from '../oci/descriptor.js';
import type { BlobFetcher } from '../source/types.js';
import type { BlobStream } from '../stream/blob-stream.js';

export interface WindowLimits {
  /** Requests in flight at most (downloads running, or responses opened and not yet read). */
  requests: number;
  /** Bytes held in memory or in flight for blobs ahead of the head. */
  bytes: number;
}

/**
 * Defaults measured on this machine (2 cores, loopback docker-registry, scripts/bench-remote.mjs):
 * 64 requests in flight, as many as the parallel curl the bench compares with, beat 32 on 4,000
 * blobs of 64 KiB directly (6.4 s against 7.8 s) and, through a 50 ms proxy, are what it takes
 * to keep about a thousand small blobs a second coming; 48 MiB ahead holds 750 such blobs and
 * keeps peak RSS near 150 MB with the default 32 MiB ring (target: 200 MB plus -m).
 */
export const DEFAULT_WINDOW: WindowLimits = { requests: 64, bytes: 48 << 20 };

/** What an opened-but-unread response ahead holds: the socket's read buffer and kernel buffers. */
const OPEN_COST = 4 << 20;

/**
 * The buffers of blobs downloaded whole, given back once the writer is done with them and taken
 * again by the next blob of about the same size. A fresh buffer per blob cost a page fault per
 * 4 KiB touched: glibc hands freed memory back to the kernel, and the next buffer takes it again,
 * zeroed, and every buffer costs the collector (perf of 4,000 blobs of 64 KiB, issue 11). Sizes
 * are rounded up to eight classes per power of two (at most 12.5% more), so blobs that differ a
 * little share buffers. Spare buffers count against the window's byte budget (with an eighth
 * more for the rounding), so the memory of the blobs held ahead and the spares stays within a
 * quarter over the budget.
 */
class SpareBuffers {
  private readonly free = new Map<number, Buffer[]>();
  private bytes = 0;

  static capacity(n: number): number {
    if (n <= 4096) return 4096;
    const step = 2 ** (Math.floor(Math.log2(n)) - 3);
    return Math.ceil(n / step) * step;
  }

  /** A buffer of at least `n` bytes (its contents are old bytes). */
  take(n: number): Buffer {
    const cap = SpareBuffers.capacity(n);
    const buf = this.free.get(cap)?.pop();
    if (!buf) return Buffer.allocUnsafeSlow(cap);
    this.bytes -= cap;
    return buf;
  }

  /** Keep `buf` for a later blob, if the spares stay within `room` bytes. */
  give(buf: Buffer, room: number): void {
    if (this.bytes + buf.length > room) return;
    let list = this.free.get(buf.length);
    if (!list) this.free.set(buf.length, (list = []));
    list.push(buf);
    this.bytes += buf.length;
  }

  /** Drop spare buffers until they hold at most `room` bytes. */
  trim(room: number): void {
    for (const [cap, list] of this.free) {
      while (this.bytes > Math.max(room, 0) && list.pop()) this.bytes -= cap;
      if (list.length === 0) this.free.delete(cap);
    }
  }
}

interface Slot {
  readonly desc: Descriptor;
  /** Bytes charged against the budget until the writer is done with the blob. */
  cost: number;
  /** Counted in `inFlight` until the download ends (buffered) or the blob is written (streamed). */
  request: boolean;
  stream: Promise<BlobStream>;
  /** A blob downloaded whole ahead: its bytes, once they are all in. */
  bytes?: Buffer;
  /** The spare buffer that receives `bytes`, given back once the writer is done with them. */
  buffer?: Buffer;
}

export class PrefetchWindow {
  private readonly slots: (Slot | undefined)[];
  /** Next blob to open, and next blob the writer takes. */
  private next = 0;
  private head = 0;
  private inFlight = 0;
  private held = 0;
  private readonly aborter = new AbortController();
  private closed = false;
  /** Most requests in flight at once (tests check that the limit is reached and kept). */
  peakRequests = 0;
  private readonly aheadMax: number;
  private readonly spares = new SpareBuffers();

  constructor(
    private readonly blobs: readonly Descriptor[],
    private readonly fetcher: BlobFetcher,
    private readonly limits: WindowLimits,
    signal?: AbortSignal,
  ) {
    if (!(limits.requests >= 1) || !(limits.bytes >= 0)) throw new RangeError(`bad prefetch window ${JSON.stringify(limits)}`);
    this.slots = new Array(blobs.length);
    // A blob a quarter of the budget or larger is not held whole: several must fit at once.
    this.aheadMax = Math.floor(limits.bytes / 4);
    // Every download in flight listens to this signal: as many listeners as requests.
    setMaxListeners(0, this.aborter.signal);
    if (signal) {
      const onAbort = () => this.aborter.abort(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      this.aborter.signal.addEventListener('abort', () => signal.removeEventListener('abort', onAbort), { once: true });
    }
  }

  /** The stream of blob `i`, taken in order; call done(i) once its bytes reached the sink. */
  take(i: number): Promise<BlobStream> {
    if (i !== this.head) throw new RangeError(`blob ${i} taken out of order (head ${this.head})`);
    this.pump();
    // Slots open in order and the head always opens, so the head has one now.
    const slot = this.slots[i];
    if (!slot) throw new Error(`prefetch window: blob ${i} did not open`);
    return slot.stream;
  }

  /** Blob `i` is in the sink (or failed): free what it held and open more. */
  done(i: number): void {
    const s = this.slots[i];
    this.slots[i] = undefined;
    if (s) {
      this.held -= s.cost;
      if (s.request) this.inFlight--;
      // The writer copied the bytes into the sink (they were lent to it): the buffer is free.
      if (s.buffer) this.spares.give(s.buffer, this.spareRoom());
    }
    this.head = i + 1;
    this.pump();
  }

  /**
   * The blobs downloaded whole and not yet done: the head's and those ahead, unverified (the
   * writer verifies them when it writes them). A tape that fills up hands them to the next
   * volume, which then need not fetch them again.
   */
  *downloaded(): Generator<[Descriptor, Uint8Array]> {
    for (let i = this.head; i < this.next; i++) {
      const slot = this.slots[i];
      if (!slot?.bytes) continue;
      slot.buffer = undefined; // handed over: never reused
      yield [slot.desc, slot.bytes];
    }
  }

  /** Bytes the spare buffers may hold now: the budget and an eighth, less what is held. */
  private spareRoom(): number {
    return this.limits.bytes + this.limits.bytes / 8 - this.held;
  }

  /** Stop every download still running or opened (after an error, or at the end). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Every download ahead was opened with this signal: running ones stop, opened responses
    // close their connections.
    this.aborter.abort(new DOMException('prefetch window closed', 'AbortError'));
    this.slots.fill(undefined);
    this.spares.trim(0);
  }

  private pump(): void {
    while (!this.closed && this.next < this.blobs.length && this.inFlight < this.limits.requests) {
      const i = this.next;
      const desc = this.blobs[i];
      const atHead = i === this.head;
      const buffered = !atHead && desc.size <= this.aheadMax;
      const cost = atHead ? 0 : buffered ? desc.size : OPEN_COST;
      // The head always opens (the writer waits for it); a blob ahead only while it fits.
      if (!atHead && this.held + cost > this.limits.bytes) break;
      this.next++;
      this.held += cost;
      this.inFlight++;
      this.peakRequests = Math.max(this.peakRequests, this.inFlight);
      const slot: Slot = { desc, cost, request: true, stream: undefined as unknown as Promise<BlobStream> };
      this.slots[i] = slot;
      if (buffered) {
        // Its buffer now, before the spares are trimmed to the room left.
        slot.buffer = this.spares.take(desc.size + 1);
        this.spares.trim(this.spareRoom());
        slot.stream = this.download(desc, slot).finally(() => {
          // The response is read whole: its connection is free for the next request.
          if (slot.request) {
            slot.request = false;
            this.inFlight--;
            this.pump();
          }
        });
      } else {
        slot.stream = this.fetcher.fetchBlob(desc, this.aborter.signal);
      }
      slot.stream.catch(() => undefined); // raised when the writer takes it, in order
    }
  }

  /** Read a blob ahead into memory (at most size + 1 bytes: the writer reports trailing data). */
  private async download(desc: Descriptor, slot: Slot): Promise<BlobStream> {
    const stream = await this.fetcher.fetchBlob(desc, this.aborter.signal);
    const limit = desc.size + 1;
    const buf = slot.buffer!;
    let n = 0;
    await stream.pipeTo((chunk) => {
      const take = Math.min(chunk.length, limit - n);
      buf.set(take === chunk.length ? chunk : chunk.subarray(0, take), n);
      n += take;
      return undefined;
    });
    slot.bytes = buf.subarray(0, n);
    return bufferedStream(slot);
  }
}

/**
 * A blob already in memory, as a BlobStream: lent whole to pipeTo (the writer copies it into the
 * ring, and its buffer is reused once the blob is done); handed over when iterated, and then
 * not reused.
 */
function bufferedStream(slot: Slot): BlobStream {
  const bytes = slot.bytes!;
  return {
    pipeTo: async (write) => {
      if (bytes.length === 0) return;
      const wait = write(bytes);
      if (wait) await wait;
    },
    async *[Symbol.asyncIterator]() {
      slot.buffer = undefined;
      if (bytes.length) yield bytes;
    },
  };
}
