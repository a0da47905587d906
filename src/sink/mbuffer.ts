/**
 * `ace-dt util mbuffer`: input to output through the native ring, the bytes never passing
 * through JavaScript (a native thread reads the input straight into the ring; the writer thread
 * drains it in --block-size records). Behaviour note 5.4, with -i/-o and a closing report.
 */
import fs from 'node:fs';
import { promisify } from 'node:util';
import { UserError } from '../errors.js';
import { openSink, type SinkInternals } from './index.js';
import type { SinkResult } from './types.js';

const openFd = promisify(fs.open) as (path: string, flags: number) => Promise<number>;

export interface MbufferOptions {
  /** Path or '-' (standard input). */
  input: string;
  /** Path, tape device or '-' (standard output). */
  output: string;
  blockSize: number;
  bufferSize: number;
  hwm: number;
  /** O_DIRECT for regular input and output files (mbuffer's default); see SinkOptions.direct. */
  direct?: boolean;
  /** Aborting stops reading; what is in the ring is still written (SIGINT/SIGTERM). */
  signal?: AbortSignal;
}

export interface MbufferResult extends SinkResult {
  seconds: number;
  /** Input stopped by the signal before its end. */
  interrupted: boolean;
}

export async function mbuffer(opts: MbufferOptions): Promise<MbufferResult> {
  const started = process.hrtime.bigint();
  let inFd = 0;
  if (opts.input !== '-') {
    try {
      inFd = await openFd(opts.input, fs.constants.O_RDONLY);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new UserError(err.code ?? 'EOPEN', `cannot open ${opts.input} for reading: ${err.message}`);
    }
  }
  let sink;
  try {
    sink = await openSink(opts.output, { blockSize: opts.blockSize, bufferSize: opts.bufferSize, hwm: opts.hwm, direct: opts.direct ?? false });
  } catch (e) {
    if (inFd !== 0) fs.closeSync(inFd);
    throw e;
  }
  const internals = sink as unknown as SinkInternals;
  let interrupted = false;
  const onAbort = () => {
    interrupted = true;
    internals.stopInput();
  };
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    // Reads of up to one block, at least 1 MiB: few syscalls, and the writer sees data early.
    internals.pumpFrom({ fd: inFd, stdin: inFd === 0, readSize: Math.max(opts.blockSize, 1 << 20), direct: opts.direct ?? false });
    const inputError = await internals.whenInputDone();
    const result = await sink.abort(); // input has ended: this drains everything and closes
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (inputError) {
      throw new UserError(inputError, `reading ${opts.input === '-' ? 'standard input' : opts.input} failed (${inputError}) after ${result.accepted} bytes; ${result.written} bytes were written`);
    }
    if (result.error) throw result.error;
    return { ...result, seconds, interrupted };
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
