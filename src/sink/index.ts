/**
 * src/sink: the TypeScript face of the native addon (SPEC "The native writer"). Its one job is
 * moving bytes to a medium: openSink() opens a regular file, a tape drive, standard output ('-'),
 * a FIFO or any other character device and returns a Sink whose bytes go through the addon's
 * lock-free ring and writer thread; beside it the addon's zstd compressor and tape queries. It
 * imports only ../errors.js, ../oci and ../util; only this folder loads the addon (native.ts),
 * and everything above imports this file, types.ts, mbuffer.ts, volumes.ts or tape-space.ts.
 */
import fs from 'node:fs';
import { promisify } from 'node:util';
import { AceError, UserError } from '../errors.js';
import { openFailure, tapeStatusFailure, writerOpenFailure } from './errors.js';
import { native, type RawTapeStatus, type RawWriter } from './native.js';
import { NativeSink, tapePositionOf } from './native-sink.js';
import type { Sink, SinkOptions, TapePosition } from './types.js';

export { WriterError, SinkAbortedError } from './errors.js';
export type { SinkInternals } from './native-sink.js';
export type { Sink, SinkOptions, SinkResult, SinkStats, TapePosition } from './types.js';

const openFd = promisify(fs.open) as (path: string, flags: number, mode?: number) => Promise<number>;
const closeFd = promisify(fs.close);
const ftruncate = promisify(fs.ftruncate);
const fstat = promisify(fs.fstat);

/**
 * The one check of the writer's options (the addon checks only their types). The CLI parses the
 * flags before anything runs (src/cli/common.ts: exit 2, messages naming the flag); this is the
 * contract for every caller of openSink.
 */
function checkSinkOptions(opts: SinkOptions): void {
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
  checkSinkOptions(opts);
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
    const { blockSize, bufferSize, hwm } = opts;
    raw = new addon.Writer({ fd, stdout: isStdout, seekEnd, blockSize, bufferSize, hwm, direct: opts.direct ?? false }, (event) => sink?.onEvent(event));
  } catch (e) {
    throw writerOpenFailure(dest, isStdout, e);
  }
  sink = new NativeSink(raw, opts);
  return sink;
}

/** flock(fd, LOCK_EX | LOCK_NB) on an open file: '' when held, else the errno name (service/lock.ts). */
export function lockExclusive(fd: number): string {
  return native().lockExclusive(fd);
}

/** MTIOCGET + MTIOCPOS of a tape drive, opened read-only and non-blocking as mt(1) does. */
export function tapeStatus(device: string): TapePosition & { rewindOnClose: boolean; density: number; statusBits: number; blockError?: string; doorOpen: boolean } {
  let s: RawTapeStatus;
  try {
    s = native().tapeStatus(device);
  } catch (e) {
    throw tapeStatusFailure(device, e);
  }
  return { ...tapePositionOf(s), rewindOnClose: s.rewindOnClose, density: s.density, statusBits: s.statusBits, blockError: s.blockError, doorOpen: s.doorOpen };
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
