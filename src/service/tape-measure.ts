import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { UserError } from '../errors.js';
import type { RunEnd, RunStart } from '../archive/runs.js';
import { tapeStatus } from '../sink/index.js';

const exec = promisify(execFile);


async function mt(device: string, ...args: string[]): Promise<void> {
  try {
    await exec('mt', ['-f', device, ...args], { timeout: 600_000 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new UserError('ENOMT', 'measuring a tape needs mt(1) (Debian package mt-st); or give --resume-from-offset');
    throw new UserError('ETAPE', `mt -f ${device} ${args.join(' ')} failed: ${(err.stderr ?? err.message).trim()}`);
  }
}

/**
 * Read the record at the current position (one read(2) of a variable-block tape = one record).
 * The buffer is the run's record size: large enough for every record it wrote, and never above
 * the drive's maximum block (a larger read is EINVAL on st).
 */
async function readRecord(device: string, size: number): Promise<Buffer> {
  const fh = await open(device, 'r');
  try {
    const buf = Buffer.allocUnsafe(size);
    const { bytesRead } = await fh.read(buf, 0, size, null);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * What a run that died without a word (kill -9, power loss) left on the tape still in the drive.
 * The st driver wrote a filemark when the process's descriptor closed, so the drive sits after
 * it: records = MTIOCPOS now - the start position the run recorded - 1 filemark (MTIOCPOS counts
 * records and filemarks, tape-rig README). The tape is proved to be the interrupted one by reading
 * the run's first record back (it must open with this image's archive prefix) and its last
 * record (whose length gives the exact byte count); a fresh or foreign tape is refused. The drive
 * is left where it was: after the filemark, where the rest goes as a new archive.
 */
export async function measureTape(start: RunStart): Promise<RunEnd> {
  const device = start.dest;
  const refuse = (why: string) =>
    new UserError('ETAPE', `cannot measure what the interrupted run wrote to ${device}: ${why}. Load the interrupted tape positioned after its last archive (mt -f ${device} eod), or give --resume-from-offset BYTES`);
  if (start.tapeStart === undefined) throw refuse('the run did not record its start position');
  const status = tapeStatus(device);
  const pos = status.block;
  if (pos === start.tapeStart) {
    // Killed before its first write: st writes no filemark then, and the drive is still at the
    // end of data where the run began. Proved by reading there: end of data gives no record.
    // A rewound tape at the same block would give one (its first record), and is refused.
    const here = await readRecord(device, start.blockSize).catch(() => Buffer.alloc(0));
    await mt(device, 'seek', String(pos));
    if (here.length === 0 && tapeStatus(device).block === pos) {
      return { mediumBytes: start.archiveStart, reason: 'nothing written (killed before its first record)', source: 'tape-position', tapeEnd: pos, records: 0 };
    }
  }
  if (pos <= start.tapeStart + 1) throw refuse(`the drive is at block ${pos}, not after the run that started at block ${start.tapeStart} (a different or rewound tape?)`);
  const records = pos - start.tapeStart - 1;
  await mt(device, 'seek', String(start.tapeStart));
  const first = await readRecord(device, start.blockSize);
  const prefixOk = start.compression
    ? first.length > 4 && (first[0] === 0x1f || first[0] === 0x28)
    : first.subarray(0, 10).toString('latin1') === 'oci-layout' && first.includes(Buffer.from(start.root));
  if (!prefixOk) {
    await mt(device, 'seek', String(pos));
    throw refuse(`the record at block ${start.tapeStart} is not the start of this run's archive (root ${start.root})`);
  }
  let lastLength = first.length;
  if (records > 1) {
    await mt(device, 'seek', String(pos - 2));
    lastLength = (await readRecord(device, start.blockSize)).length;
  }
  await mt(device, 'seek', String(pos));
  if (tapeStatus(device).block !== pos) throw refuse('the drive did not return to the end of the run');
  // Variable-block mode: one record per write(2) of --block-size, the last one possibly short.
  // Fixed-block mode: MTIOCPOS counts device blocks of status.blockSize bytes.
  const mediumBytes = start.archiveStart + (status.blockSize > 0 ? records * status.blockSize : (records - 1) * start.blockSize + lastLength);
  return { mediumBytes, reason: 'measured after an unclean end', source: 'tape-position', tapeEnd: pos, records };
}
