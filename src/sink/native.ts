/**
 * Loads the native addon and types its raw surface: a local build (native/, built by `npm ci` or
 * `npm run build:native` into build/Release) first, else the prebuild that `npm pack` puts in
 * prebuilds/<platform>-<arch>/ (the release tarball, installed with no compiler).
 * Only src/sink imports this; everything else uses src/sink/index.ts.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { AceError } from '../errors.js';
import { type NativeFacts, type WriterError, errorFromNative } from './errors.js';
import type { SinkStats } from './types.js';

export interface RawTapeStatus {
  block: number;
  blockError?: string;
  fileNumber: number;
  blockInFile: number;
  blockSize: number;
  density: number;
  driveType: number;
  statusBits: number;
  bot: boolean;
  eof: boolean;
  eod: boolean;
  writeProtected: boolean;
  online: boolean;
  doorOpen: boolean;
  rewindOnClose: boolean;
}

export interface RawSpaceOutcome {
  /** Records passed; -1 when the drive could not say. */
  spaced: number;
  /** The space stopped just after a filemark (the tape file ended first). */
  filemark: boolean;
  /** errno name when MTFSR failed for another reason. */
  code?: string;
  before: number;
  after: number;
}

export interface RawWriter {
  /** Bytes copied from chunk[offset..], or -1 once the writer has finished or failed. */
  push(chunk: Uint8Array, offset: number): number;
  /** An ArrayBuffer over the ring's memory (it keeps the writer's memory alive). */
  ring(): ArrayBuffer;
  /** Contiguous free bytes at the head (ring offset: bytes accepted modulo capacity), or -1 once finished or ended. */
  writable(): number;
  /** Publish n bytes received at ring offset `offset`: n, -1 once finished, -2 when offset is not the head. */
  commit(offset: number, n: number): number;
  /** true: the space is there, push again; false: the callback gets 'space' (or 'done'). */
  requestSpace(need: number): boolean;
  end(): void;
  /** The counters, converted once in C++ (native/wrap/writer.cc statsObject). */
  stats(): SinkStats;
  /** The sticky failure as a WriterError (src/sink/errors.ts). */
  error(): WriterError | undefined;
  info(): { kind: 'file' | 'tape' | 'stdout' | 'pipe' | 'other'; tape?: RawTapeStatus; endPosition?: number };
  tapePosition(): RawTapeStatus;
  pumpFrom(options: RawPumpOptions): void;
  stopInput(): void;
  inputError(): string | undefined;
  ref(): void;
  unref(): void;
}

export interface RawZstd {
  /** mode 0 = continue, 1 = flush (block boundary), 2 = end the frame. One call at a time. */
  compress(chunk: Uint8Array, mode: 0 | 1 | 2): Promise<Buffer>;
}

/** What `new Writer()` takes: built by openSink (src/sink/index.ts), validated there. */
export interface RawWriterOptions {
  /** Owned by the writer from here on (closed on failure too); 1 with `stdout`. */
  fd: number;
  /** fd is the process's standard output: the writer duplicates it instead of owning it. */
  stdout: boolean;
  /** A regular file is written from its end (a resume after truncation). */
  seekEnd: boolean;
  blockSize: number;
  bufferSize: number;
  hwm: number;
  /** O_DIRECT for a regular file (SinkOptions.direct). */
  direct: boolean;
}

/** What `pumpFrom()` takes (util mbuffer's native input thread). */
export interface RawPumpOptions {
  /** Owned by the pump from here on, except standard input, which it duplicates. */
  fd: number;
  stdin: boolean;
  readSize: number;
  direct: boolean;
}

/**
 * The addon's surface (native/wrap/). Arguments of the wrong type throw a TypeError (a number out
 * of range a RangeError) with Node's codes (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE,
 * ERR_INVALID_THIS for a method called on another object); every other failure is built by the
 * factory given to initialize(), from a code and facts (src/sink/errors.ts).
 */
export interface Addon {
  /** Absent when the addon was built without libzstd-dev. */
  Zstd?: new (level: number, threads: number) => RawZstd;
  Writer: new (options: RawWriterOptions, onEvent: (event: 'space' | 'done') => void) => RawWriter;
  tapeStatus(path: string): RawTapeStatus;
  /** MTFSR on an open tape descriptor, on a pool thread (native/core/tape_space.h). */
  spaceRecords(fd: number, count: number): Promise<RawSpaceOutcome>;
  /** flock(fd, LOCK_EX | LOCK_NB): '' when held, else the errno name. */
  lockExclusive(fd: number): string;
  /** strerror(3): the C library's description of an errno, for the messages of src/sink/errors.ts. */
  errnoText(errno: number): string;
  initialize(makeError: (facts: NativeFacts) => Error): void;
}

let addon: Addon | undefined;

/** The addon, loaded on first use so that importing src/sink never fails by itself. */
export function native(): Addon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  // src/sink and dist/sink are both two levels below the package root.
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const candidates = [
    path.join(root, 'build', 'Release', 'ace_dt_native.node'),
    path.join(root, 'build', 'ace_dt_native.node'),
    path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'ace_dt_native.node'),
  ].filter((file) => existsSync(file));
  const problems: string[] = [];
  for (const file of candidates) {
    try {
      const loaded = require(file) as Addon;
      loaded.initialize((facts) => errorFromNative(facts, loaded.errnoText));
      addon = loaded;
      return loaded;
    } catch (e) {
      problems.push(`${file}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const why = problems.length > 0 ? problems.join('; ') : `no build/Release and no prebuilds/${process.platform}-${process.arch} under ${root}`;
  throw new AceError('ENATIVE', `the native addon is not built; run \`npm run build:native\` in a source checkout (${why})`);
}
