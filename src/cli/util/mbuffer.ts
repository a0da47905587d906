import { Command, Option } from '../clipanion.js';
import { interruptible } from '../abort.js';
import { BaseCommand, Exit, byteSizeOption, hwmOption, signalExitCode } from '../common.js';
import { formatBytes, humanBytes } from '../../util/bytes.js';

const DEFAULT_BLOCK = 1 << 20;

export class MbufferCommand extends BaseCommand {
  static paths = [['util', 'mbuffer']];

  static usage = Command.Usage({
    category: 'util',
    description: 'Copy standard input (or -i) to standard output (or -o) through a large memory buffer, in fixed-size blocks, to keep a tape drive streaming.',
    details: `
      Nothing is written until the buffer is filled to --hwm percent (or the input ends); then blocks are written until the buffer is empty. Every write is exactly --block-size bytes except the last. A tape drive that is fed this way does not stop and reposition ("shoe-shine") while the input pauses.

      The buffer holds ceil(--buffer-size / --block-size) blocks, at least one. At the end the throughput, the records written and the underruns (how often the buffer ran empty while writing) are printed on standard error, unless -q is given.

      On SIGINT or SIGTERM the input is no longer read, what is in the buffer is written, and the command exits with status 130 (143 for SIGTERM). A second signal exits at once, abandoning the buffer.
    `,
    examples: [
      ['Write an archive to tape through a 6 GiB buffer', 'ace-dt util mbuffer -m 6Gi < archive.tar > /dev/nst0'],
      ['The same with files named', 'ace-dt util mbuffer -m 1Gi -b 256Ki -i archive.tar -o /dev/nst0'],
      ['Start writing only when the buffer is full', 'ace-dt util mbuffer -m 512Mi --hwm 100 -i big.tar -o copy.tar'],
    ],
  });

  input = Option.String('-i,--input', { description: 'Read from this file or device instead of standard input' });
  output = Option.String('-o,--output', { description: 'Write to this file or device (a tape: /dev/nst0) instead of standard output' });
  bufferSize = Option.String('-m,--buffer-size', { required: true, description: 'Size of the memory buffer. Si suffixes are supported (1Mi = 1048576, 1M = 1000000).' });
  blockSize = Option.String('-b,--block-size', { description: `Block size used for writes. Si suffixes are supported. (default ${formatBytes(DEFAULT_BLOCK)})` });
  hwm = Option.String('--hwm', { description: 'Percentage of buffer to fill before writing (default 90)' });
  direct = Option.Boolean('--direct', true, { description: 'Bypass the page cache (O_DIRECT) for regular input and output files, as mbuffer does, when the block size is a multiple of 4 KiB (--no-direct to turn off)' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Do not print the summary. Errors are still printed.' });

  async run(): Promise<number> {
    const blockSize = byteSizeOption('--block-size', this.blockSize, DEFAULT_BLOCK, { min: 1 });
    const bufferSize = byteSizeOption('--buffer-size', this.bufferSize, 0);
    const hwm = hwmOption(this.hwm);
    const stderr = this.context.stderr;
    // Loaded here, not at the top: `--help` registers every command, and the sink is not needed to print it.
    const { mbuffer } = await import('../../sink/mbuffer.js');
    return interruptible(
      async (signal) => {
        const r = await mbuffer({ input: this.input ?? '-', output: this.output ?? '-', blockSize, bufferSize, hwm, direct: this.direct, signal });
        if (!this.quiet) {
          const rate = r.seconds > 0 ? r.written / r.seconds : 0;
          stderr.write(
            `ace-dt: ${formatBytes(r.written)} in ${r.records} records in ${r.seconds.toFixed(2)} s, ${humanBytes(Math.round(rate))}/s; buffer ${formatBytes(r.capacity)}, underruns ${r.underruns}` +
              (r.kind === 'tape' && r.endPosition !== undefined ? `; tape at block ${r.endPosition}` : '') +
              '\n',
          );
        }
        if (r.interrupted) {
          stderr.write(`ace-dt: interrupted by ${String(signal.reason)}; the buffer was written out (${r.written} bytes)\n`);
          return signalExitCode(signal.reason as NodeJS.Signals);
        }
        return Exit.Ok;
      },
      {
        first: (sig) => stderr.write(`ace-dt: ${sig}: writing out the buffer (${sig} again to abandon it)\n`),
        // A second signal: the drain is taking too long (a stalled drive or reader); give up.
        again: (sig) => {
          stderr.write(`ace-dt: ${sig} again: exiting without writing the rest of the buffer\n`);
          process.exit(signalExitCode(sig));
        },
      },
    );
  }
}
