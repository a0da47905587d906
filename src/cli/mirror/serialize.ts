import { type Stats, statSync } from 'node:fs';
import { Command, Option } from '../clipanion.js';
import { interruptible } from '../abort.js';
import { BaseCommand, byteSizeOption, hwmOption } from '../common.js';
import { type AceError, UsageError, redact } from '../../errors.js';
import { formatBytes } from '../../util/bytes.js';
import type { Compression } from '../../archive/output.js';

const DEFAULT_BLOCK = 1 << 20;

/** `--existing-from-checkpoint a:1,b:2` (repeatable): split on the last ':' so paths may hold ':'. */
export function parseCheckpointOffsets(values: string[]): { path: string; offset: number }[] {
  return values.flatMap((v) => v.split(',')).filter((s) => s.trim() !== '').map((item) => {
    const s = item.trim();
    const i = s.lastIndexOf(':');
    const offset = s.slice(i + 1);
    if (i <= 0 || !/^\d+$/.test(offset)) {
      throw new UsageError(`--existing-from-checkpoint: ${JSON.stringify(s)} is not PATH:OFFSET (OFFSET in bytes, e.g. checkpoint.txt:12345)`);
    }
    return { path: s.slice(0, i), offset: Number(offset) };
  });
}

function positiveInteger(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1024) throw new UsageError(`${flag}: ${JSON.stringify(value)} is not a whole number between 1 and 1024`);
  return Number(value);
}

/** Quote a word for a POSIX shell only when it needs it. */
function shellWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/**
 * The exact command that resumes this run: the same arguments, with --checkpoint and
 * --resume-from-checkpoint naming the ledger and no stale --resume-from-offset (the next run
 * measures the medium itself).
 */
export function resumeCommandLine(argv: string[], checkpoint: string): string {
  const drop = new Set(['--checkpoint', '--resume-from-checkpoint', '--resume-from-offset']);
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    if (drop.has(eq > 0 ? a.slice(0, eq) : a)) {
      if (eq < 0) i++;
      continue;
    }
    kept.push(a);
  }
  return ['ace-dt', ...kept, '--checkpoint', checkpoint, '--resume-from-checkpoint', checkpoint].map(shellWord).join(' ');
}

export class SerializeCommand extends BaseCommand {
  static paths = [['mirror', 'serialize']];

  static usage = Command.Usage({
    category: 'mirror',
    description: 'Serialize image data from IMAGE to DEST assuming that all blobs in the EXISTING-IMAGE(s) do not need to be sent.',
    details: `
      IMAGE is a reference to an OCI image index to use as the source (a registry reference, or \`oci:PATH[:TAG]\` for an OCI image layout on disk). All the images in the image index will be sent to DEST.

      DEST is a tar file, a tape device (\`/dev/nst0\`), or \`-\` for standard output. If it is a tape better performance can be had by setting --buffer-size=1Gi or larger. The tar file can also be written to the tape after serialization is completed (see "ace-dt util mbuffer").

      EXISTING-IMAGE(s) are images that we use to extract blob references from to determine if we need to serialize the blob.

      Checkpointing is enabled with --checkpoint. If serialize stops for any reason (full tape, drive error, registry failure, Ctrl-C), it prints the command that resumes: --resume-from-checkpoint with the checkpoint file of the previous run. The tool measures what reached the medium itself (the file's size, or the tape position); --resume-from-offset overrides that with a conservative byte count (a lower value is more conservative). Before continuing a file, every tar header of the kept part is checked against the checkpoint and the file is cut back at the first that does not match; --resume-rehash also re-hashes every kept blob. One run at a time may use a destination or checkpoint file: a second is refused.

      --volume-size SIZE writes the archive as DEST.001, DEST.002, ... (more digits past 999: DEST.1000) of exactly SIZE bytes each but the last, cut at the byte like split(1), so a blob larger than a volume continues in the next one; the volumes concatenated in numeric order are the archive, byte for byte the one a run without --volume-size writes. SIZE must be at least --block-size; it need not be a multiple of it (the last write into each volume is short), so limits such as FAT32's 4294967295 bytes work. DEST must then be a file path (not a tape, not -). Checkpoint offsets stay archive offsets, and a resume continues in the volume that holds the cut. mirror verify and mirror deserialize take the volumes in one call (DEST.001 DEST.002 ..., or DEST alone when only the volumes exist).

      --next-volume CMD continues onto the next tape in the same run: when the tape is full (end of medium), the volume is finished (filemark, the ledger records what it holds), CMD runs through the shell with ACE_DT_VOLUME (the next volume's number) and ACE_DT_DEST in its environment (a changer script, e.g. \`mtx -f /dev/sg1 next\`), and on exit 0 the rest goes to the new tape as a new archive, without resolving the image again and without downloading again the blobs the buffer still holds. A CMD that fails stops the run with the resume command. Without --next-volume, on a terminal, serialize asks "Load volume N into DEST and press Enter (q to stop)". With --volume-size, CMD runs between file volumes (also with ACE_DT_VOLUME_PATH, the next volume's file, and ACE_DT_PREVIOUS_PATH, the finished one), to burn or swap a medium. mirror deserialize takes the tapes' archives in one call, in order.
    `,
    examples: [
      ['Serialize to tape, skipping what the far side already has', 'ace-dt mirror serialize reg.example.com/project/repo:sync-45 /dev/nst0 reg.example.com/project/repo:complete'],
      ['Serialize the bundled sample layout to a file', 'ace-dt mirror serialize oci:sample/layout:v1 out.tar'],
      ['Resume an interrupted run', 'ace-dt mirror serialize reg.example.com/project/repo:sync-45 out.tar --checkpoint cp.jsonl --resume-from-checkpoint cp.jsonl'],
      ['Write 4.7 GB volumes for DVDs (out.tar.001, out.tar.002, ...)', 'ace-dt mirror serialize reg.example.com/project/repo:sync-45 out.tar --volume-size 4.7GB --checkpoint cp.jsonl'],
      ['Change tapes with a changer script when one is full', "ace-dt mirror serialize reg.example.com/project/repo:sync-45 /dev/nst0 --next-volume 'mtx -f /dev/sg1 next' --checkpoint cp.jsonl"],
    ],
  });

  image = Option.String({ name: 'IMAGE' });
  dest = Option.String({ name: 'DEST' });
  existing = Option.Rest({ name: 'EXISTING-IMAGE' });

  blockSize = Option.String('-b,--block-size', { description: `Block size used for writes. Si suffixes are supported. (default ${formatBytes(DEFAULT_BLOCK)})` });
  bufferSize = Option.String('-m,--buffer-size', { description: `Size of the memory buffer. Si suffixes are supported. (default ${formatBytes(0)}, which here means 32 MiB: the original's one-block buffer starves a tape drive between blobs)` });
  checkpoint = Option.String('--checkpoint', { description: 'Save checkpoint file to file. Can be provided to --resume-from-checkpoint to continue an incomplete serialize operation from where it left off.' });
  debug = Option.String('--debug', { description: 'Write every event (start, plan, blob begin/end with archive offsets, checkpoint records, writer counters each second, errors, the summary) to PATH as JSON Lines, one timestamped object a line, flushed as written so a script can follow it; secrets are redacted. An existing directory gets PATH/events.jsonl.' });
  existingFromCheckpoint = Option.Array('--existing-from-checkpoint', [], { description: 'List of checkpoint files and their offsets. e.g, checkpoint.txt:12345, checkpoint2.txt:23456' });
  hwm = Option.String('--hwm', { description: 'Percentage of buffer to fill before writing (default 90)' });
  noTerm = Option.Boolean('--no-term', false, { description: 'Plain timestamped lines (a line per blob and a status line every 5 s) instead of the live display, even on a terminal' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Quiet mode. Do not output any status to standard output (no display, no summary). Errors and logs are still output to standard error.' });
  recursive = Option.Boolean('-r,--recursive', false, { description: 'recursively copy the referrers' });
  compression = Option.String('--compression', { description: 'Compress the archive: gzip or zstd (each blob is its own gzip member / zstd frame, so checkpoints stay exact)' });
  manifestJson = Option.Boolean('--manifest-json', false, { description: 'Write a manifest.json (docker load) at the end of the archive' });
  resumeFromCheckpoint = Option.String('--resume-from-checkpoint', { description: 'Checkpoint file of an interrupted run to resume' });
  resumeFromOffset = Option.String('--resume-from-offset', { description: 'Bytes of the interrupted run that reached the medium (default: measured)' });
  volumeSize = Option.String('--volume-size', { description: 'Write DEST.001, DEST.002, ... of exactly SIZE bytes each but the last (at least --block-size); cat of the volumes in numeric order is the archive' });
  nextVolume = Option.String('--next-volume', { description: 'When a tape is full, run CMD (shell; ACE_DT_VOLUME, ACE_DT_DEST in its environment) and continue on the next tape in the same run; with --volume-size, run it between volumes. Without it, a terminal prompts for the next tape' });
  resumeRehash = Option.Boolean('--resume-rehash', false, { description: 'Before continuing a file, read every kept blob back and check its digest (every tar header is checked in any case)' });
  concurrency = Option.String('--concurrency', { description: 'Requests in flight to the registry at most, for the plan and for blob downloads ahead of the one being written (default 64, or concurrentHTTP / ACE_DT_CONCURRENT_HTTP)' });
  prefetchSize = Option.String('--prefetch-size', { description: 'Bytes of blobs held in memory or in flight ahead of the one being written; the archive order is kept (default 48 MiB)' });

  /** --volume-size and --next-volume: what they need of DEST (usage errors, exit 2). */
  private volumeOptions(blockSize: number): number | undefined {
    const volumeSize = this.volumeSize === undefined ? undefined : byteSizeOption('--volume-size', this.volumeSize, 0);
    let st: Stats | undefined;
    try {
      st = this.dest === '-' ? undefined : statSync(this.dest);
    } catch {
      st = undefined;
    }
    if (volumeSize !== undefined) {
      if (volumeSize < blockSize) throw new UsageError(`--volume-size: ${formatBytes(volumeSize)} is smaller than one block (--block-size ${formatBytes(blockSize)}); give at least the block size`);
      if (this.dest === '-') throw new UsageError('--volume-size writes files DEST.001, DEST.002, ...: DEST cannot be - (standard output)');
      if (st && !st.isFile()) throw new UsageError(`--volume-size writes files ${this.dest}.001, ${this.dest}.002, ...: DEST must be a file path, and ${this.dest} is ${st.isCharacterDevice() ? 'a device (a tape? use --next-volume to change tapes)' : st.isDirectory() ? 'a directory' : 'not a regular file'}`);
    }
    if (this.nextVolume !== undefined) {
      if (this.nextVolume.trim() === '') throw new UsageError('--next-volume: the command is empty');
      if (volumeSize === undefined && !st?.isCharacterDevice()) throw new UsageError(`--next-volume changes tapes (DEST a tape device) or runs between file volumes (with --volume-size); ${this.dest === '-' ? 'standard output' : this.dest} is neither`);
    }
    return volumeSize;
  }

  async run(): Promise<number> {
    const blockSize = byteSizeOption('--block-size', this.blockSize, DEFAULT_BLOCK, { min: 1 });
    const requested = byteSizeOption('--buffer-size', this.bufferSize, 0);
    // The original's -m 0 is a one-block buffer, which stalls the medium between blobs
    // (behaviour note 11.7); 0 here means "choose": 32 MiB, well within the 200 MB memory budget.
    const bufferSize = requested === 0 ? Math.max(32 << 20, blockSize) : requested;
    const hwm = hwmOption(this.hwm);
    if (this.compression !== undefined && this.compression !== 'gzip' && this.compression !== 'zstd') {
      throw new UsageError(`--compression: ${JSON.stringify(this.compression)} is not one of gzip, zstd`);
    }
    const volumeSize = this.volumeOptions(blockSize);
    const existingFromCheckpoint = parseCheckpointOffsets(this.existingFromCheckpoint);
    return interruptible(async (signal) => {
      // The service and the display are loaded on use, so that `--help` and other commands start fast.
      const [{ serialize }, { createReporter }] = await Promise.all([import('../../service/serialize.js'), import('../../ui/index.js')]);
      const reporter = await createReporter({
        quiet: this.quiet,
        noTerm: this.noTerm,
        debugPath: this.debug,
        level: this.logLevel(),
        stdout: this.context.stdout,
        stderr: this.context.stderr,
        signal,
      });
      try {
        const summary = await serialize({
          image: this.image,
          dest: this.dest,
          existing: this.existing,
          blockSize,
          bufferSize,
          hwm,
          checkpoint: this.checkpoint,
          existingFromCheckpoint,
          compression: this.compression as Compression | undefined,
          resumeFrom: this.resumeFromCheckpoint,
          resumeOffset: this.resumeFromOffset === undefined ? undefined : byteSizeOption('--resume-from-offset', this.resumeFromOffset, 0),
          resumeRehash: this.resumeRehash,
          resumeCommand: (cp) => resumeCommandLine(process.argv.slice(2), cp),
          volumeSize,
          nextVolumeCommand: this.nextVolume,
          // Only a person at a terminal can load a tape; a script without --next-volume stops as before.
          askNextVolume: this.nextVolume === undefined && process.stdin.isTTY ? askOnTerminal(reporter, this.context.stderr) : undefined,
          manifestJson: this.manifestJson,
          recursive: this.recursive,
          concurrency: this.concurrency === undefined ? undefined : positiveInteger('--concurrency', this.concurrency),
          prefetchBytes: this.prefetchSize === undefined ? undefined : byteSizeOption('--prefetch-size', this.prefetchSize, 0),
          registry: await this.registryOptions(signal),
          reporter,
          signal,
        });
        reporter.emit({ type: 'done', ok: true, summary });
        return 0;
      } catch (e) {
        const summary = (e as { summary?: import('../../ui/events.js').RunSummary }).summary;
        // What ended the run, for the summary (FAILED / INTERRUPTED with the reason) and --debug.
        const error = { code: (e as AceError).code ?? 'EINTERNAL', message: redact((e as Error)?.message ?? String(e)) };
        reporter.emit({ type: 'error', ...error });
        if (summary) reporter.emit({ type: 'done', ok: false, summary, error });
        if (summary?.resumeCommand) {
          const sink = summary.sink;
          const where = sink ? `${sink.written} bytes${sink.kind === 'tape' ? ` in ${sink.records} records` : ''} reached ${this.dest}` : 'nothing reached the medium';
          const next = sink?.endOfMedium
            ? `End of volume: ${where}. Load the next tape (or position after this archive) and resume with:`
            : `The run stopped early: ${where}. The checkpoint ${summary.checkpoint} is complete; resume with:`;
          this.context.stderr.write(`ace-dt: ${next}\n  ${summary.resumeCommand}\n`);
        }
        throw e;
      } finally {
        await reporter.close();
      }
    });
  }
}

/** The prompt for the next tape, with the live display held so that it is not drawn over. */
function askOnTerminal(reporter: import('../../ui/events.js').Reporter, stderr: NodeJS.WritableStream) {
  return async (volume: number, dest: string, signal: AbortSignal): Promise<void> => {
    const { volumePrompt } = await import('../../ui/prompt.js');
    reporter.hold?.(true);
    try {
      await volumePrompt(process.stdin, stderr)(volume, dest, signal);
    } finally {
      reporter.hold?.(false);
    }
  };
}
