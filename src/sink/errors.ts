import { AceError } from '../errors.js';
import type { SinkResult } from './types.js';

/**
 * The writer thread's first failure, as it reaches JavaScript: constructed by the native addon
 * (native/addon.cc, class handed over at initialisation) and thrown by the next write() or
 * close(). `code` is the errno name ('ENOSPC', 'EIO', 'EINVAL', 'EPIPE'...), `syscall` the call
 * that failed and `offset` the data bytes that write(2) acknowledged before it: what is on the
 * medium, which is what a resume needs.
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

/** A write that was still waiting for room when the sink was aborted; its bytes were dropped. */
export class SinkAbortedError extends AceError {
  constructor() {
    super('ESINKABORTED', 'the output was aborted before this data reached the buffer');
  }
}
