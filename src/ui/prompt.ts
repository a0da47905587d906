import { createInterface } from 'node:readline';
import { InterruptedError, UserError } from '../errors.js';

/**
 * The operator at a terminal is the changer (issue 14 item 1): "Load volume N into DEST and press
 * Enter (q to stop)". The line is read in the terminal's cooked mode (readline without its own
 * terminal handling), so Ctrl-C stays the kernel's SIGINT to the whole run: it ends as any
 * interrupted run does, with exit 130 and the resume command.
 */
export function volumePrompt(input: NodeJS.ReadableStream, out: NodeJS.WritableStream): (volume: number, dest: string, signal: AbortSignal) => Promise<void> {
  return (volume, dest, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(new InterruptedError((signal.reason as NodeJS.Signals) ?? 'SIGINT'));
      const rl = createInterface({ input, terminal: false });
      const done = (err?: Error) => {
        signal.removeEventListener('abort', onAbort);
        rl.removeAllListeners();
        rl.close();
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => done(new InterruptedError((signal.reason as NodeJS.Signals) ?? 'SIGINT'));
      signal.addEventListener('abort', onAbort, { once: true });
      rl.once('line', (line) => {
        if (line.trim().toLowerCase() === 'q') done(new UserError('ENEXTVOLUME', `stopped at the prompt for volume ${volume}`));
        else done();
      });
      rl.once('close', () => done(new UserError('ENEXTVOLUME', `no answer at the prompt for volume ${volume} (end of input)`)));
      out.write(`Load volume ${volume} into ${dest} and press Enter (q to stop): `);
    });
}
