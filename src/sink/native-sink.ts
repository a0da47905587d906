/**
 * NativeSink: the Sink over one native Writer (native/wrap/writer.cc). JavaScript's side of the
 * ring: chunks are pushed (copied once) or committed in place from a landing view, queued while
 * the ring is full and pushed again on the writer's 'space' event; close() drains and reports.
 */
import { AceError } from '../errors.js';
import { SinkAbortedError, type WriterError } from './errors.js';
import type { RawPumpOptions, RawTapeStatus, RawWriter } from './native.js';
import type { Sink, SinkOptions, SinkResult, SinkStats, TapePosition } from './types.js';

/** What util mbuffer (src/sink/mbuffer.ts) needs beyond the Sink interface. */
export interface SinkInternals {
  /** A native thread reads fd into the ring until its end; write() must not be used then. */
  pumpFrom(options: RawPumpOptions): void;
  stopInput(): void;
  /** Resolves when the writer has finished; with the input's errno name if reading failed. */
  whenInputDone(): Promise<string | undefined>;
}

interface Pending {
  chunk: Uint8Array;
  off: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export function tapePositionOf(s: RawTapeStatus): TapePosition {
  return {
    block: s.block,
    fileNumber: s.fileNumber,
    blockInFile: s.blockInFile,
    blockSize: s.blockSize,
    bot: s.bot,
    eof: s.eof,
    eod: s.eod,
    writeProtected: s.writeProtected,
    online: s.online,
  };
}

/** The least free space worth a landing (a smaller read costs more per byte than one copy). */
const LANDING_MIN = 64 << 10;

export class NativeSink implements Sink {
  readonly kind: SinkResult['kind'];
  readonly #raw: RawWriter;
  readonly #startPosition: number | undefined;
  /** Free space to wait for before refilling: a quarter ring (at least a block) per wake-up. */
  readonly #target: number;
  #queue: Pending[] = [];
  /** Bytes accepted into the ring from JavaScript (pushed or committed): the head's position. */
  #head = 0;
  readonly #capacity: number;
  /** The ring's memory, once a landing has been asked for. */
  #ring: ArrayBuffer | undefined;
  #ended = false;
  #done = false;
  #refd = false;
  #error: WriterError | undefined;
  #doneWaiters: (() => void)[] = [];
  #emptyWaiters: (() => void)[] = [];
  #result: Promise<SinkResult> | undefined;

  constructor(raw: RawWriter, opts: SinkOptions) {
    this.#raw = raw;
    const info = raw.info();
    this.kind = info.kind;
    this.#startPosition = info.tape?.block;
    const capacity = raw.stats().capacity;
    this.#capacity = capacity;
    this.#target = Math.min(capacity, Math.max(opts.blockSize, Math.floor(capacity / 4)));
    if (this.kind === 'tape') this.tapePosition = () => tapePositionOf(this.#raw.tapePosition());
  }

  tapePosition?: () => TapePosition;

  write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended || this.#result) return Promise.reject(new AceError('ESINKCLOSED', 'write after the output was closed'));
    if (this.#ring !== undefined && chunk.buffer === this.#ring) return this.#commit(chunk);
    if (this.#queue.length === 0) {
      const n = this.#raw.push(chunk, 0);
      if (n > 0) this.#head += n;
      if (n === chunk.byteLength) return undefined;
      if (n < 0) return Promise.reject(this.#failure());
      return new Promise((resolve, reject) => {
        this.#queue.push({ chunk, off: n, resolve, reject });
        this.#pump();
      });
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ chunk, off: 0, resolve, reject });
    });
  }

  landing(max: number): Buffer | undefined {
    if (this.#queue.length > 0 || this.#ended || this.#result || this.#error) return undefined;
    const free = this.#raw.writable();
    // A sliver before the ring's end is not worth a read of its own: the producer's buffer
    // (and push(), which wraps) takes the bytes instead.
    if (free < Math.min(max, LANDING_MIN)) return undefined;
    this.#ring ??= this.#raw.ring();
    return Buffer.from(this.#ring, this.#head % this.#capacity, Math.min(free, max));
  }

  /** Publish bytes that were received into a landing view: they are in the ring already. */
  #commit(chunk: Uint8Array): Promise<void> | undefined {
    // Checked before and by the addon: anything written since the view was handed out would
    // have moved the head, and the view's bytes would then belong to the wrong place.
    const n = this.#queue.length > 0 ? -2 : this.#raw.commit(chunk.byteOffset, chunk.byteLength);
    if (n === -1) return Promise.reject(this.#failure());
    if (n !== chunk.byteLength) {
      throw new AceError('EINTERNAL', `bytes received into the ring at offset ${chunk.byteOffset} are not at its head (${this.#head % this.#capacity})`);
    }
    this.#head += n;
    return undefined;
  }

  /** Called by the addon's thread-safe function on the JavaScript thread. */
  onEvent(event: 'space' | 'done'): void {
    if (event === 'space') {
      this.#pump();
      return;
    }
    this.#done = true;
    this.#error = this.#raw.error();
    this.#rejectQueue(this.#failure());
    for (const w of this.#doneWaiters.splice(0)) w();
  }

  #failure(): Error {
    return this.#error ?? (this.#error = this.#raw.error()) ?? new AceError('ESINKCLOSED', 'the output is closed');
  }

  #rejectQueue(e: Error): void {
    const q = this.#queue;
    this.#queue = [];
    for (const p of q) p.reject(e);
    for (const w of this.#emptyWaiters.splice(0)) w();
  }

  /** Copy queued chunks into the ring; when it is full, ask to be called back with room. */
  #pump(): void {
    for (;;) {
      while (this.#queue.length > 0) {
        const head = this.#queue[0];
        const n = this.#raw.push(head.chunk, head.off);
        if (n < 0) {
          this.#rejectQueue(this.#failure());
          this.#setRef(this.#wantsRef());
          return;
        }
        head.off += n;
        this.#head += n;
        if (head.off < head.chunk.byteLength) break;
        this.#queue.shift();
        head.resolve();
      }
      if (this.#queue.length === 0) {
        for (const w of this.#emptyWaiters.splice(0)) w();
        this.#setRef(this.#wantsRef());
        return;
      }
      const head = this.#queue[0];
      const need = Math.min(head.chunk.byteLength - head.off, this.#target);
      if (!this.#raw.requestSpace(need)) {
        this.#setRef(true);
        return;
      }
    }
  }

  #wantsRef(): boolean {
    // #ended covers closing and pumping: the process must stay up until the writer is done.
    return !this.#done && (this.#queue.length > 0 || this.#ended);
  }

  #setRef(on: boolean): void {
    // After 'done' the thread-safe function is being released (which also drops its hold on
    // the event loop): it must not be touched again.
    if (this.#done || on === this.#refd) return;
    this.#refd = on;
    if (on) this.#raw.ref();
    else this.#raw.unref();
  }

  #whenEmpty(): Promise<void> {
    if (this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#emptyWaiters.push(resolve));
  }

  #whenDone(): Promise<void> {
    if (this.#done) return Promise.resolve();
    return new Promise((resolve) => this.#doneWaiters.push(resolve));
  }

  #finalResult(): SinkResult {
    const info = this.#raw.info();
    const result: SinkResult = { kind: this.kind, ...this.#raw.stats() };
    if (this.kind === 'tape') {
      result.startPosition = this.#startPosition;
      result.endPosition = info.endPosition;
      result.endOfMedium = this.#error?.endOfMedium ?? false;
    }
    if (this.#error) result.error = this.#error;
    return result;
  }

  #finish(): Promise<SinkResult> {
    if (!this.#result) {
      this.#result = (async () => {
        await this.#whenEmpty();
        this.#ended = true;
        this.#raw.end();
        this.#setRef(true);
        await this.#whenDone();
        const result = this.#finalResult();
        if (this.#error) this.#error.result = result;
        return result;
      })();
    }
    return this.#result;
  }

  async close(): Promise<SinkResult> {
    const result = await this.#finish();
    if (result.error) throw result.error;
    return result;
  }

  async abort(): Promise<SinkResult> {
    // Drop what has not reached the ring yet; what is in the ring is drained by the writer.
    this.#ended = true;
    this.#rejectQueue(new SinkAbortedError());
    return this.#finish();
  }

  pumpFrom(options: RawPumpOptions): void {
    this.#ended = true; // no write() from JavaScript: the pump is the ring's only producer
    this.#raw.pumpFrom(options);
    this.#setRef(true);
  }

  stopInput(): void {
    this.#raw.stopInput();
  }

  async whenInputDone(): Promise<string | undefined> {
    await this.#whenDone();
    return this.#raw.inputError();
  }

  recent(from: number, to: number): Buffer | undefined {
    if (from < 0 || to < from || to > this.#head || from < this.#head - this.#capacity) return undefined;
    this.#ring ??= this.#raw.ring();
    const out = Buffer.allocUnsafe(to - from);
    // The stream byte at position p lives at p % capacity; a range may wrap around the end.
    const start = from % this.#capacity;
    const first = Math.min(to - from, this.#capacity - start);
    out.set(new Uint8Array(this.#ring, start, first), 0);
    if (first < out.length) out.set(new Uint8Array(this.#ring, 0, out.length - first), first);
    return out;
  }

  stats(): SinkStats {
    return this.#raw.stats();
  }
}
