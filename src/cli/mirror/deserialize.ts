import { Command, Option } from '../clipanion.js';
import { enabled } from '../../util/log.js';
import { asInterruption, interruptible } from '../abort.js';
import { BaseCommand, byteSizeOption } from '../common.js';
import { OciError, UsageError } from '../../errors.js';
import { parseReference } from '../../oci/reference.js';

const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/**
 * A `--mount-from` value: a repository path of IMAGE's registry, optionally written with that
 * registry's host. Another registry's host is a usage error: a mount never crosses registries.
 */
export function mountRepository(value: string, registry: string): string {
  const slash = value.indexOf('/');
  const first = slash > 0 ? value.slice(0, slash) : '';
  let repo = value;
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (first !== registry) throw new UsageError(`--mount-from ${value}: names a repository of ${first}, but mounts happen within IMAGE's registry ${registry}`);
    repo = value.slice(slash + 1);
  }
  if (!REPOSITORY.test(repo)) throw new UsageError(`--mount-from ${JSON.stringify(value)} is not a repository name (lowercase path components, e.g. project/base)`);
  return repo;
}

export class DeserializeCommand extends BaseCommand {
  static paths = [['mirror', 'deserialize']];

  static usage = Command.Usage({
    category: 'mirror',
    description: 'Deserialize the archives in SOURCE... and push the image to IMAGE.',
    details: `
      SOURCE is an archive written by \`ace-dt mirror serialize\` (ours or the original tool's), a tape device (\`/dev/nst0\`), \`-\` for standard input, or skopeo's oci-archive output; gzip and zstd compression are detected. Give several SOURCEs, in order, for the pieces of an interrupted and resumed serialize: a piece cut at its end is expected, as long as the set is complete. Archives concatenated in one file or stream are read one after the other. The volumes of a --volume-size archive (DEST.001 DEST.002 ..., in any order, or DEST alone when only the volumes exist) are read as one stream.

      Every blob is verified (digest and size) before the registry commits it; manifests are pushed by digest once all their children are in the registry, and the root (the first manifest of the first index.json) is tagged with IMAGE's tag (\`latest\` if none) only when nothing is missing. Blobs the repository already has are not sent again, and a blob the registry holds in another repository is mounted from there (no bytes sent): from the repository the archive names as its source (the original's \`vnd.act3-ace.manifest.source\` annotations), from each \`--mount-from\` repository, from repositories where this tool pushed or found it before on the same registry (a cache in \`$XDG_CACHE_HOME/ace-dt/\`, default \`~/.cache/ace-dt/\`), and by asking the registry to find it (OCI distribution 1.1). A mount the registry or its token service refuses falls back to an upload. Missing blobs are listed by digest and the command exits 1.

      A tape is read with a buffer as large as its records (up to 8 MiB, found automatically) and up to its filemark, so the tape is left at the start of the next tape file: name the device again to read the next archive.
    `,
    examples: [
      ['Deserialize an archive into a registry', 'ace-dt mirror deserialize image.tar reg.example.com/project/repo:sync-45'],
      ['Two pieces of a resumed serialize, on two tape files', 'ace-dt mirror deserialize /dev/nst0 /dev/nst0 reg.example.com/project/repo:sync-45'],
      ['Mount shared layers from the base image\'s repository', 'ace-dt mirror deserialize --mount-from project/base image.tar reg.example.com/project/repo:sync-45'],
      ['Check what would be pushed', 'ace-dt mirror deserialize --dry-run part1.tar part2.tar reg.example.com/project/repo:sync-45'],
    ],
  });

  sources = Option.Rest({ name: 'SOURCE', required: 1 });
  image = Option.String({ name: 'IMAGE' });

  blockSize = Option.String('--block-size', { description: 'Accepted for compatibility with the original; reads are sized automatically (tape: the record size, up to 8 MiB)' });
  debug = Option.String('--debug', { description: 'Dump all UI events to the given path (JSON Lines).' });
  dryRun = Option.Boolean('--dry-run', false, { description: 'Read and verify everything and ask the registry what it has, but push nothing and tag nothing' });
  mountFrom = Option.Array('--mount-from', [], { description: 'A repository of the target registry to mount blobs from before uploading them (repeatable)' });
  noTerm = Option.Boolean('--no-term', false, { description: 'Disable terminal support for fancy printing' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Quiet mode. Do not output any status to standard output. Errors are still output to standard error.' });
  strict = Option.Boolean('--strict', false, { description: 'Strict mode: oci-layout first, index.json second, at most two index.json per archive, no unknown files (manifest.json is allowed)' });

  async run(): Promise<number> {
    // Loaded on use, so that `--help` and other commands start fast.
    const [{ openRegistryRepo }, { deserializeArchives }, { detailLines, failureMessage, summaryLines }, { createReporter }] = await Promise.all([
      import('../../source/registry.js'),
      import('../../deserialize/index.js'),
      import('../../deserialize/render.js'),
      import('../../ui/index.js'),
    ]);
    const sources = this.sources;
    const image = this.image;
    if (image === '-' || image.startsWith('/') || image.startsWith('./')) {
      throw new UsageError(`IMAGE ${JSON.stringify(image)} must be a registry reference (host/repository[:tag]), given last`);
    }
    // Checked like serialize's (SI/IEC sizes), though reads size themselves.
    byteSizeOption('--block-size', this.blockSize, 0, { min: 1 });
    const imageRef = parseReference(image);
    const mountFrom = this.mountFrom.map((r) => mountRepository(r, imageRef.registry));
    const out = this.context.stdout;
    const err = this.context.stderr;
    const verbose = enabled(this.logLevel(), 'info');
    // Ctrl-C stops between entries (and aborts requests in flight); nothing unverified is committed.
    return interruptible(async (signal) => {
      const reporter = await createReporter({ quiet: this.quiet, noTerm: this.noTerm, debugPath: this.debug, level: this.logLevel(), stdout: out, stderr: err, signal });
      try {
        const registry = { ...(await this.registryOptions(signal)), warn: (message: string) => reporter.emit({ type: 'log', level: 'warn', message }) };
        // The repository opened once: uploads, mounts, and reading back the manifests that an
        // earlier, incomplete call kept in it as blobs.
        const { target } = await openRegistryRepo(image, registry);
        const started = Date.now();
        reporter.emit({ type: 'start', command: 'mirror deserialize', image, time: started });
        try {
          const report = await deserializeArchives(sources, {
            target,
            tag: target.tag,
            mountFrom,
            strict: this.strict,
            dryRun: this.dryRun,
            signal,
            log: (level, message) => {
              reporter.emit({ type: 'log', level, message });
              if (!this.quiet && (level === 'warn' || verbose)) err.write(`${level}: ${message}\n`);
            },
            onSource: (src) => {
              if (!this.quiet) out.write(`reading ${src.name}${src.kind === 'tape' ? ' (tape)' : ''}\n`);
            },
          });
          const mode = this.dryRun ? 'dry-run' : 'deserialize';
          if (!this.quiet) for (const l of summaryLines(report, mode)) out.write(l + '\n');
          for (const l of detailLines(report)) err.write(l + '\n');
          const b = report.blobs;
          const summary = { blobsWritten: b.pushed, blobsSkipped: b.existing, bytesWritten: b.pushedBytes, bytesSkipped: b.existingBytes, blobsMounted: b.mounted, bytesMounted: b.mountedBytes, durationMs: report.durationMs };
          reporter.emit({ type: 'done', ok: report.complete, summary });
          if (!report.complete) throw new OciError('EINCOMPLETE', failureMessage(report, 'deserialize'));
          if (!this.quiet) {
            out.write(this.dryRun ? `dry run: nothing was pushed; the root would be tagged "${report.tagged}"\n` : `tagged "${report.tagged}" = ${report.root?.digest} in ${target.name}\n`);
          }
          return 0;
        } catch (e) {
          throw asInterruption(e, signal);
        } finally {
          await target.close();
        }
      } finally {
        await reporter.close();
      }
    });
  }
}
