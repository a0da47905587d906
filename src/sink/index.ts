/**
 * The TypeScript face of the native writer (SPEC "The native writer"): openSink() opens a
 * regular file, a tape drive, standard output ('-'), a FIFO or any other character device and
 * returns a Sink whose bytes go through the addon's lock-free ring and writer thread.
 */
import fs from 'node:fs';
import { promisify } from 'node:util';
import { AceError, UserError } from '../errors.js';
import { SinkAbortedError, WriterError } from './errors.js';
import { native, type RawTapeStatus, type RawWriter } from './native.js';
import type { Hasher, Sink, SinkOptions, SinkResult, SinkStats, TapePosition } from './types.js';

export { WriterError, SinkAbortedError } from './errors.js';
export type { Hasher, Sink, SinkOptions, SinkResult, SinkStats, TapePosition } from './types.js';

const openFd = promisify(fs.open) as (path: string, flags: number, mode?: number) => Promise<number>;
const closeFd = promisify(fs.close);
const ftruncate = promisify(fs.ftruncate);
const fstat = promisify(fs.fstat);

/** What an open(2) errno means for a destination, in words. */
function openFailure(dest: string, e: NodeJS.ErrnoException): UserError {
  const why: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    ENOENT: 'no such file or directory',
    ENOTDIR: 'a component of the path is not a directory',
    EISDIR: 'is a directory',
    EBUSY: 'device busy (is another process using the tape drive?)',
    EROFS: 'read-only (write-protected tape or read-only file system)',
    ENOMEDIUM: 'no tape in the drive',
    ENXIO: 'no such device (or a FIFO without a reader)',
    ENOSPC: 'no space left on device',
  };
  const code = e.code ?? 'EOPEN';
  return new UserError(code, `cannot open ${dest} for writing: ${why[code] ?? e.message} (${code})`, { cause: e });
}

function validate(opts: SinkOptions): void {
  if (!Number.isSafeInteger(opts.blockSize) || opts.blockSize < 1) throw new UserError('EUSAGE', `block size must be a positive integer number of bytes, got ${opts.blockSize}`);
  if (!Number.isSafeInteger(opts.bufferSize) || opts.bufferSize < 0) throw new UserError('EUSAGE', `buffer size must be a non-negative integer number of bytes, got ${opts.bufferSize}`);
  if (!Number.isInteger(opts.hwm) || opts.hwm < 1 || opts.hwm > 100) throw new UserError('EUSAGE', `the high-water mark must be a percentage between 1 and 100, got ${opts.hwm}`);
  if (opts.truncateTo !== undefined && (!Number.isSafeInteger(opts.truncateTo) || opts.truncateTo < 0)) throw new UserError('EUSAGE', `truncateTo must be a non-negative integer, got ${opts.truncateTo}`);
}

/**
 * Opens `dest` for writing through the native ring. A regular file is created or truncated
 * (mode 0666 & ~umask), or with `truncateTo` opened, cut to that length and written from there
 * (resume). `-` is standard output. Tapes are detected with MTIOCGET; use the no-rewind node.
 * Fails with a UserError naming the path when the destination cannot be opened.
 */
export async function openSink(dest: string, opts: SinkOptions): Promise<Sink> {
  validate(opts);
  const addon = native();
  const isStdout = dest === '-';
  let fd = 1;
  let seekEnd = false;
  if (!isStdout) {
    const st = await fs.promises.stat(dest).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw openFailure(dest, e);
    });
    if (st?.isDirectory()) throw openFailure(dest, Object.assign(new Error('is a directory'), { code: 'EISDIR' }));
    const { O_WRONLY, O_CREAT, O_TRUNC } = fs.constants;
    let flags = O_WRONLY;
    if (opts.truncateTo !== undefined) {
      if (!st) throw new UserError('ENOENT', `cannot resume into ${dest}: it does not exist`);
    } else if (!st || st.isFile()) {
      flags |= O_CREAT | O_TRUNC;
    }
    try {
      // On the libuv pool: opening a FIFO blocks until a reader comes, a tape may take a while.
      fd = await openFd(dest, flags, 0o666);
    } catch (e) {
      throw openFailure(dest, e as NodeJS.ErrnoException);
    }
    if (opts.truncateTo !== undefined) {
      try {
        const now = await fstat(fd);
        if (now.isFile()) {
          if (now.size < opts.truncateTo) {
            throw new UserError('ESHORT', `cannot resume into ${dest} at byte ${opts.truncateTo}: the file has only ${now.size} bytes`);
          }
          await ftruncate(fd, opts.truncateTo);
          seekEnd = true;
        }
      } catch (e) {
        await closeFd(fd).catch(() => undefined);
        if (e instanceof UserError) throw e;
        throw new UserError((e as NodeJS.ErrnoException).code ?? 'EIO', `cannot truncate ${dest} to ${opts.truncateTo} bytes: ${(e as Error).message}`);
      }
    }
  }
  let sink: NativeSink | undefined;
  let raw: RawWriter;
  try {
    // The writer takes the descriptor over (and closes it if it throws).
    raw = new addon.Writer(fd, isStdout, seekEnd, opts.blockSize, opts.bufferSize, opts.hwm, opts.direct ?? false, (event) => sink?.onEvent(event));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EBLOCKSIZE') throw new UserError('EBLOCKSIZE', `${dest}: ${err.message}`);
    if (err.code === 'ERINGSIZE') throw new UserError('ERINGSIZE', `${err.message}: choose a smaller --buffer-size`);
    if (err.code) throw openFailure(isStdout ? 'standard output' : dest, err);
    throw new AceError('ENATIVE', `${dest}: ${err.message}`);
  }
  sink = new NativeSink(raw, opts);
  return sink;
}

/** What util mbuffer (src/sink/mbuffer.ts) needs beyond the Sink interface. */
export interface SinkInternals {
  /** A native thread reads fd into the ring until its end; write() must not be used then. */
  pumpFrom(fd: number, isStdin: boolean, readSize: number, direct: boolean): void;
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

function tapePositionOf(s: RawTapeStatus): TapePosition {
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

class NativeSink implements Sink {
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
    const s = this.#raw.stats();
    const info = this.#raw.info();
    const result: SinkResult = {
      kind: this.kind,
      accepted: s.accepted,
      written: s.written,
      records: s.records,
      fill: s.fill,
      capacity: s.capacity,
      underruns: s.underruns,
    };
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

  pumpFrom(fd: number, isStdin: boolean, readSize: number, direct: boolean): void {
    this.#ended = true; // no write() from JavaScript: the pump is the ring's only producer
    this.#raw.pumpFrom(fd, isStdin, readSize, direct);
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
    const s = this.#raw.stats();
    return { accepted: s.accepted, written: s.written, records: s.records, fill: s.fill, capacity: s.capacity, underruns: s.underruns };
  }
}

/** MTIOCGET + MTIOCPOS of a tape drive, opened read-only and non-blocking as mt(1) does. */
/** flock(fd, LOCK_EX | LOCK_NB) on an open file: '' when held, else the errno name (service/lock.ts). */
export function lockExclusive(fd: number): string {
  return native().lockExclusive(fd);
}

export function tapeStatus(device: string): TapePosition & { rewindOnClose: boolean; density: number; statusBits: number; blockError?: string; doorOpen: boolean } {
  let s: RawTapeStatus;
  try {
    s = native().tapeStatus(device);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOTTY' || err.code === 'EINVAL') throw new UserError('ENOTTAPE', `${device} is not a tape drive (MTIOCGET: ${err.code})`);
    if (err.code) throw new UserError(err.code, `cannot open ${device}: ${err.message}`);
    throw e;
  }
  return { ...tapePositionOf(s), rewindOnClose: s.rewindOnClose, density: s.density, statusBits: s.statusBits, blockError: s.blockError, doorOpen: s.doorOpen };
}

/** Ring geometry as the original computes it (behaviour note 5.1): blocks and the mark in blocks. */
export function ringGeometry(blockSize: number, bufferSize: number, hwm: number): { blocks: number; hwmBlocks: number } {
  return native().geometry(blockSize, bufferSize, hwm);
}

/**
 * A digest computed on a native thread with OpenSSL (SHA extensions where the CPU has them), so
 * the JavaScript thread does not hash. Chunks are hashed in place: do not modify a chunk after
 * update(). update() returns a promise once more than maxPending bytes (default 64 MiB) are
 * queued: await it to bound memory. digest() resolves `sha256:<hex>`.
 */
export function createHasher(algorithm: 'sha256' | 'sha512', opts: { maxPending?: number } = {}): Hasher {
  const h = new (native().Hasher)(algorithm, opts.maxPending ?? 64 << 20);
  return {
    update: (chunk) => h.update(chunk),
    digest: () => h.digest(),
  };
}

/** Streaming zstd (libzstd in the addon; Node 20 has none). Work runs on the libuv pool. */
export interface ZstdCompressor {
  /** Compress a chunk; resolves the compressed bytes produced so far (often empty). */
  write(chunk: Uint8Array): Promise<Buffer>;
  /** Block boundary: everything written so far can be decoded from the output so far. */
  flush(): Promise<Buffer>;
  /** End the frame (optionally after a last chunk): the output so far is complete zstd frames. */
  endFrame(chunk?: Uint8Array): Promise<Buffer>;
}

/** Whether the addon was built with libzstd (CMake found Debian's libzstd-dev). */
export function zstdAvailable(): boolean {
  return typeof native().Zstd === 'function';
}

/**
 * A zstd compressor at `level` (1..19; libzstd's default is 3). Calls may be issued without
 * awaiting each other: they run in call order. Each endFrame() closes an independent frame, so a
 * blob per frame keeps checkpoint offsets exact; a new frame starts with the next write().
 */
export function createZstdCompressor(level = 3, opts: { threads?: number } = {}): ZstdCompressor {
  const Zstd = native().Zstd;
  if (!Zstd) throw new AceError('ENOZSTD', 'this build of the native addon has no zstd (install libzstd-dev and run `npm run build:native`)');
  const z = new Zstd(level, opts.threads ?? 0);
  const empty = new Uint8Array(0);
  let tail: Promise<unknown> = Promise.resolve();
  const call = (chunk: Uint8Array, mode: 0 | 1 | 2): Promise<Buffer> => {
    const next = tail.then(() => z.compress(chunk, mode));
    tail = next.catch(() => undefined);
    return next;
  };
  return {
    write: (chunk) => call(chunk, 0),
    flush: () => call(empty, 1),
    endFrame: (chunk) => call(chunk ?? empty, 2),
  };
}
