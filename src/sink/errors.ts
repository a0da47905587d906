import { constants } from 'node:os';
import { AceError, UserError } from '../errors.js';
import type { SinkResult } from './types.js';

/**
 * A failure as the native addon reports it (native/wrap/common.h, `Failure`): a stable code (an
 * errno name, or one of the wrap's own codes) and the facts that word it, never a sentence. Every
 * message about the addon's failures is written in this file.
 */
export interface NativeFacts {
  code: string;
  /** 'writer': the writer thread's sticky failure (a WriterError). */
  kind?: 'writer';
  errno?: number;
  syscall?: string;
  /** The path the syscall was given (tapeStatus). */
  path?: string;
  /** ECALLORDER: the call that came out of order; with an errno, the call that failed. */
  op?: string;
  /** ENATIVE: what the C++ core threw (an OpenSSL or libzstd failure). */
  reason?: string;
  offset?: number;
  endOfMedium?: boolean;
  /** ERINGSIZE: the buffer size asked for. */
  size?: number;
  /** EBLOCKSIZE: the block size asked for and the fixed block size of the drive. */
  blockSize?: number;
  tapeBlockSize?: number;
}

/**
 * The writer thread's first failure, as it reaches JavaScript: constructed through the factory
 * that src/sink/native.ts hands the addon, and thrown by the next write() or close(). `code` is
 * the errno name ('ENOSPC', 'EIO', 'EINVAL', 'EPIPE'...), `syscall` the call that failed and
 * `offset` the data bytes that write(2) acknowledged before it: what is on the medium, which is
 * what a resume needs.
 */
export class WriterError extends AceError {
  readonly syscall: string;
  readonly offset: number;
  /** ENOSPC on a tape: the early-warning end of medium, the run ends as "end of volume". */
  readonly endOfMedium: boolean;
  /** Counters and positions at the time the sink finished (set by close()/abort()). */
  result?: SinkResult;

  constructor(code: string, syscall: string, offset: number, message: string, endOfMedium = false) {
    super(
      code,
      endOfMedium
        ? `end of medium (early warning) after ${offset} bytes on the tape`
        : `${syscall} failed: ${message} (${code}) after ${offset} bytes`,
    );
    this.syscall = syscall;
    this.offset = offset;
    this.endOfMedium = endOfMedium;
  }
}

/**
 * Any other failure of the addon. Not an AceError: the functions below turn the ones a user can
 * cause (an unopenable destination, a drive in the wrong mode, a ring too large) into UserErrors;
 * the rest are faults and keep their stack.
 */
export class NativeError extends Error {
  readonly code: string;
  readonly errno?: number;
  readonly syscall?: string;
  readonly facts: NativeFacts;

  /** `errnoText`: the C library's words for facts.errno (strerror(3)). */
  constructor(facts: NativeFacts, errnoText: string) {
    super(nativeMessage(facts, errnoText));
    this.name = 'NativeError';
    this.code = facts.code;
    this.errno = facts.errno;
    this.syscall = facts.syscall;
    this.facts = facts;
  }
}

/** A write that was still waiting for room when the sink was aborted; its bytes were dropped. */
export class SinkAbortedError extends AceError {
  constructor() {
    super('ESINKABORTED', 'the output was aborted before this data reached the buffer');
  }
}

/** The error object for the addon's facts: what the addon's initialize() is given. */
export function errorFromNative(facts: NativeFacts, errnoText: (errno: number) => string): Error {
  const text = facts.errno === undefined ? '' : errnoText(facts.errno);
  if (facts.kind === 'writer') return new WriterError(facts.code, facts.syscall ?? '', facts.offset ?? 0, text, facts.endOfMedium ?? false);
  return new NativeError(facts, text);
}

const CALL_ORDER: Record<string, string> = {
  update: 'update() after digest()',
  digest: 'digest() called twice',
  compress: 'zstd: compress() called before the previous call finished',
};

function nativeMessage(f: NativeFacts, errnoText: string): string {
  switch (f.code) {
    case 'EBLOCKSIZE':
      return `the tape drive is in fixed-block mode with ${f.tapeBlockSize}-byte blocks and the block size ${f.blockSize} is not a multiple of it (use a multiple, or \`mt setblk 0\` for variable-block mode)`;
    case 'ERINGSIZE':
      return f.errno === constants.errno.EOVERFLOW ? `a ring buffer of ${f.size} bytes is too large` : `cannot allocate a ring buffer of ${f.size} bytes`;
    case 'ENOTTAPE':
      return 'not a tape';
    case 'ESINKCLOSED':
      return 'the tape is closed';
    case 'ECALLORDER':
      return CALL_ORDER[f.op ?? ''] ?? `${f.op}() called out of order`;
    case 'ENATIVE':
      return f.reason ?? 'the native addon failed';
  }
  // An errno: where it happened, then the C library's words for it.
  const where = f.op === 'pumpFrom' ? 'cannot start the input thread' : f.path === undefined ? f.syscall : f.syscall === 'open' ? f.path : `${f.path}: ${f.syscall}`;
  return `${where}: ${errnoText}`;
}

/** What an open(2) errno means for a destination, in words. */
export function openFailure(dest: string, e: { code?: string; message: string }): UserError {
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

/** The error for a destination the native writer could not take over (openSink). */
export function writerOpenFailure(dest: string, isStdout: boolean, e: unknown): Error {
  if (!(e instanceof NativeError)) return new AceError('ENATIVE', `${dest}: ${(e as Error).message}`);
  if (e.code === 'EBLOCKSIZE') return new UserError('EBLOCKSIZE', `${dest}: ${e.message}`);
  if (e.code === 'ERINGSIZE') return new UserError('ERINGSIZE', `${e.message}: choose a smaller --buffer-size`);
  return openFailure(isStdout ? 'standard output' : dest, e);
}

/** The error for a device whose status could not be read (tapeStatus). */
export function tapeStatusFailure(device: string, e: unknown): unknown {
  if (!(e instanceof NativeError)) return e;
  if (e.code === 'ENOTTY' || e.code === 'EINVAL') return new UserError('ENOTTAPE', `${device} is not a tape drive (MTIOCGET: ${e.code})`);
  return new UserError(e.code, `cannot open ${device}: ${e.message}`);
}
