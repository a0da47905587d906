import { Command, Option } from '../clipanion.js';
import { interruptible } from '../abort.js';
import { BaseCommand, Exit } from '../common.js';
import { OciError } from '../../errors.js';

export class InspectCommand extends BaseCommand {
  static paths = [['mirror', 'inspect']];

  static usage = Command.Usage({
    category: 'mirror',
    description: 'List what archives or tapes hold (images, every blob with its offset, what is missing) without reading the blobs.',
    details: `
      SOURCE is an archive file, a tape device (\`/dev/nst0\`) or \`-\` for standard input; give several, in order, for the pieces of an interrupted and resumed serialize. The volumes of a --volume-size archive (DEST.001 DEST.002 ..., or DEST alone when only the volumes exist) are read as the one archive they are, skipping over bodies across volumes. Prints the root (the first manifest of the first index.json), every manifest with its platform and tags, every blob with its digest, size, media type (from the manifests that name it) and byte offset, which piece holds it, the totals, and what is referenced but in no piece.

      Only tar headers, index.json and manifests are read: a file is read with positioned reads that jump over blob bodies, a tape written in fixed-size records (serialize \`-b\`) is spaced forward over the whole records a blob body covers (MTFSR) and only the record in which it ends is read. Standard input and pipes are read through. A gzip- or zstd-compressed archive has to be decompressed whole (a gzip member records no length, and each blob's tar header is inside its zstd frame); its offsets are in the decompressed stream.

      Blob bodies are not hashed: \`mirror verify\` checks them. Exits 0 when every piece was read to its end (whether or not something is missing), 1 when a source is not a readable archive or the last piece ends cut.
    `,
    examples: [
      ['What does this archive hold?', 'ace-dt mirror inspect image.tar'],
      ['The pieces of a resumed serialize, as JSON', 'ace-dt mirror inspect part1.tar part2.tar --json'],
      ['The archive at the tape position', 'ace-dt mirror inspect /dev/nst0'],
    ],
  });

  sources = Option.Rest({ name: 'SOURCE', required: 1 });

  json = Option.Boolean('--json', false, { description: 'Print one JSON object: sources, archives, root, images, blobs ({digest, size, offset, ...}), missing, totals' });

  async run(): Promise<number> {
    // Loaded on use, so that `--help` and other commands start fast.
    const [{ inspectArchives }, { renderReport }] = await Promise.all([import('../../inspect/index.js'), import('../../inspect/render.js')]);
    // Ctrl-C stops between entries: exit 130, "interrupted by SIGINT".
    const report = await interruptible((signal) => inspectArchives(this.sources, { signal }));
    const out = this.context.stdout;
    if (this.json) out.write(`${JSON.stringify(report, null, 2)}\n`);
    else for (const line of renderReport(report)) out.write(`${line}\n`);
    if (report.archives.length === 0 || (report.images.length === 0 && report.blobs.length === 0)) {
      throw new OciError('ENOARCHIVE', `not an OCI layout archive: ${report.problems.join('; ')}`);
    }
    if (report.endsCut) {
      const last = report.archives[report.archives.length - 1];
      throw new OciError('ECUT', `${report.sources[report.sources.length - 1].name} ends cut at byte ${last.endOffset}${last.problem ? ` (${last.problem})` : ''}: give the pieces that follow, or resume the serialize`);
    }
    return Exit.Ok;
  }
}
