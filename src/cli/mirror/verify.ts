import { Command, Option } from '../clipanion.js';
import { enabled } from '../../util/log.js';
import { interruptible } from '../abort.js';
import { BaseCommand } from '../common.js';
import { OciError } from '../../errors.js';

export class VerifyCommand extends BaseCommand {
  static paths = [['mirror', 'verify']];

  static usage = Command.Usage({
    category: 'mirror',
    description: 'Check archives or tapes without a registry: every blob digest and size, index.json, completeness.',
    details: `
      SOURCE is an archive file, a tape device (\`/dev/nst0\`) or \`-\` for standard input; give several, in order, for the pieces of an interrupted and resumed serialize. The volumes of a --volume-size archive (DEST.001 DEST.002 ..., in any order, or DEST alone when only the volumes exist) are read as one stream. Every blob is hashed and checked against its name and size; every manifest listed in index.json, and every child of every manifest, must be present in the archives, or be explained by --existing.

      --existing takes a checkpoint ledger (\`PATH\` or \`PATH:OFFSET\`), an OCI layout (\`oci:PATH[:TAG]\` or a directory) or an EXISTING-IMAGE reference given to serialize: blobs they hold were skipped on purpose and are listed as such.

      Exits 0 only when everything present is intact and nothing is missing; 1 otherwise (the set is incomplete or damaged).
    `,
    examples: [
      ['Check an archive file', 'ace-dt mirror verify image.tar'],
      ['Check the archive at the tape position', 'ace-dt mirror verify /dev/nst0'],
      ['Check an archive made with EXISTING-IMAGEs', 'ace-dt mirror verify sync-45.tar --existing oci:./complete-layout'],
    ],
  });

  sources = Option.Rest({ name: 'SOURCE', required: 1 });

  existing = Option.Array('--existing', [], { description: 'Checkpoint ledger (PATH[:OFFSET]), OCI layout or image that explains blobs skipped on purpose (repeatable)' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Print only problems' });
  strict = Option.Boolean('--strict', false, { description: 'Also check the entry order as deserialize --strict does' });

  async run(): Promise<number> {
    // Loaded on use, so that `--help` and other commands start fast.
    const [{ verifyArchives }, { loadExisting }, { detailLines, failureMessage, summaryLines }] = await Promise.all([
      import('../../deserialize/index.js'),
      import('../../deserialize/existing.js'),
      import('../../deserialize/render.js'),
    ]);
    const out = this.context.stdout;
    const err = this.context.stderr;
    const verbose = enabled(this.logLevel(), 'info');
    const existing = this.existing.length ? await loadExisting(this.existing) : undefined;
    // Ctrl-C stops between entries: exit 130, "interrupted by SIGINT".
    const report = await interruptible((signal) =>
      verifyArchives(this.sources, {
        strict: this.strict,
        existing,
        signal,
        log: (level, message) => {
          if (!this.quiet && (level === 'warn' || verbose)) err.write(`${level}: ${message}\n`);
        },
        onSource: (src) => {
          if (!this.quiet) out.write(`reading ${src.name}${src.kind === 'tape' ? ' (tape)' : ''}\n`);
        },
      }),
    );
    if (!this.quiet) for (const l of summaryLines(report, 'verify')) out.write(l + '\n');
    for (const l of detailLines(report)) (l.startsWith('skipped on purpose') || l.startsWith('note:') ? out : err).write(l + '\n');
    if (!report.complete) throw new OciError('EINCOMPLETE', failureMessage(report, 'verify'));
    if (!this.quiet) out.write(`OK: ${report.blobs.verified} blobs intact, nothing missing${report.explained.length ? ` (${report.explained.length} skipped on purpose)` : ''}\n`);
    return 0;
  }
}
