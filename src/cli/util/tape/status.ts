import { Command, Option } from '../../clipanion.js';
import { BaseCommand, Exit } from '../../common.js';

export class TapeStatusCommand extends BaseCommand {
  static paths = [['util', 'tape', 'status']];

  static usage = Command.Usage({
    category: 'util',
    description: 'Show the position and state of a tape drive (MTIOCGET and MTIOCPOS).',
    details: `
      Prints the file number and the block within that file (MTIOCGET), the drive's logical block position (MTIOCPOS, what \`mt tell\` prints: records and filemarks both count), the block size mode (0 = variable) and the status bits: BOT (beginning of tape), EOF (just after a filemark), EOD (end of data), write protection, online.

      The device is opened read-only and non-blocking, as mt(1) does, so the tape does not move. Use the no-rewind node (/dev/nst0).
    `,
    examples: [
      ['Where is the tape?', 'ace-dt util tape status /dev/nst0'],
      ['The same as JSON', 'ace-dt util tape status /dev/nst0 --json'],
    ],
  });

  device = Option.String({ name: 'DEVICE' });
  json = Option.Boolean('--json', false, { description: 'Print the status as one JSON object' });

  async run(): Promise<number> {
    // Loaded here, not at the top: `--help` registers every command, and the sink is not needed to print it.
    const { tapeStatus } = await import('../../../sink/index.js');
    const s = tapeStatus(this.device);
    if (this.json) {
      this.context.stdout.write(`${JSON.stringify({ device: this.device, ...s })}\n`);
      return Exit.Ok;
    }
    const bits = [s.bot && 'BOT', s.eof && 'EOF', s.eod && 'EOD', s.writeProtected && 'WR_PROT', s.online && 'ONLINE', s.doorOpen && 'DR_OPEN'].filter(Boolean);
    const lines = [
      `${this.device}:`,
      `  file number ${s.fileNumber}, block number ${s.blockInFile < 0 ? 'unknown' : s.blockInFile} (MTIOCGET)`,
      `  position ${s.block < 0 ? `unknown (MTIOCPOS: ${s.blockError ?? 'failed'})` : `block ${s.block}`} (MTIOCPOS, as \`mt tell\`)`,
      `  block size ${s.blockSize === 0 ? '0: variable-block mode' : `${s.blockSize} bytes: fixed-block mode`}`,
      `  status ${bits.length ? bits.join(' ') : 'none'} (0x${s.statusBits.toString(16)})`,
    ];
    if (s.rewindOnClose) lines.push('  note: this is a rewinding node; use the no-rewind one (/dev/nstN) to keep the position');
    this.context.stdout.write(`${lines.join('\n')}\n`);
    return Exit.Ok;
  }
}
