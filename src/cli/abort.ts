import { InterruptedError } from '../errors.js';

/**
 * Ctrl-C, SIGTERM and SIGHUP for every command that runs long (serialize, deserialize, verify,
 * inspect, mbuffer): the one place that listens to the process's signals.
 *
 * - The first SIGINT or SIGTERM aborts the run's AbortSignal (its reason is the signal's name).
 *   The command stops at its next step, finishes what must be finished (serialize drains the ring
 *   and syncs the ledger; mbuffer writes out its buffer; nothing unverified is committed) and
 *   ends with an InterruptedError, which reportError (common.ts) prints as "interrupted by
 *   SIGINT" with exit 130, or 143 for SIGTERM (signalExitCode).
 * - A second one is not caught unless the command says what to do (`again`): the process dies by
 *   it, Node's default, so a run that cannot stop soon (a read stalled on a pipe) still ends.
 * - SIGHUP (the terminal went away) is no request to stop cleanly: the display hears of it
 *   through the abort (ui/index.ts), then the process dies by it as it would without a handler.
 */

export type InterruptSignal = 'SIGINT' | 'SIGTERM';

export interface InterruptOptions {
  /** Called at the first SIGINT or SIGTERM, before the abort (mbuffer says what happens now). */
  first?: (sig: InterruptSignal) => void;
  /** Called at every further one instead of dying by it (mbuffer: say so and exit at once). */
  again?: (sig: InterruptSignal) => void;
}

/** Run `body` with an AbortSignal that the first SIGINT or SIGTERM aborts. */
export async function interruptible<T>(body: (signal: AbortSignal) => Promise<T>, opts: InterruptOptions = {}): Promise<T> {
  const controller = new AbortController();
  const onInterrupt = (sig: InterruptSignal) => {
    if (controller.signal.aborted) {
      opts.again?.(sig);
      return;
    }
    opts.first?.(sig);
    // Without `again`, the next one of this signal finds no listener and ends the process.
    if (!opts.again) process.off(sig, onInterrupt);
    controller.abort(sig);
  };
  const onHangup = () => {
    stop();
    if (!controller.signal.aborted) controller.abort('SIGHUP');
    if (process.listenerCount('SIGHUP') === 0) process.kill(process.pid, 'SIGHUP');
  };
  const stop = () => {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    process.off('SIGHUP', onHangup);
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  process.on('SIGHUP', onHangup);
  try {
    return await body(controller.signal);
  } finally {
    stop();
  }
}

/**
 * The error to report for `e`, which ended a run: once the run was aborted, the interruption
 * (requests and uploads cut by the abort fail with errors of their own, which are its
 * consequence). For commands whose every error after Ctrl-C is that; mbuffer's drain, say, can
 * fail on its own and must say so.
 */
export function asInterruption(e: unknown, signal: AbortSignal): unknown {
  return signal.aborted && !(e instanceof InterruptedError) ? new InterruptedError(signal.reason as NodeJS.Signals) : e;
}
