import { open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { UserError } from '../errors.js';
import { Annotation, type Descriptor, isDescriptor } from '../oci/descriptor.js';
import { goDescriptor, goJson } from '../oci/json.js';

/**
 * The checkpoint ledger (behaviour note 4.1): JSON Lines, one descriptor per blob written, in write
 * order, with `vnd.act3-ace.data.offset` = bytes of this archive up to the end of the blob's
 * padding. Lines are what Go's json.Encoder writes for an ocispec.Descriptor, so a ledger from
 * either tool works with the other. Extra annotations of ours (`vnd.act3-ace.dt-ts.*`) are
 * ignored by the original.
 */
/** Media types of our run records (see runs.ts); offsets restart at a run start. */
export const RUN_START_TYPE = 'application/vnd.act3-ace.dt-ts.run-start.v1+json';
export const RUN_END_TYPE = 'application/vnd.act3-ace.dt-ts.run-end.v1+json';

export interface LedgerRecord {
  descriptor: Descriptor;
  offset: number;
  line: number;
}

/** Encode one ledger line (with the trailing newline json.Encoder adds). */
export function ledgerLine(desc: Descriptor, offset: number): string {
  const annotations = { ...(desc.annotations ?? {}), [Annotation.Offset]: String(offset) };
  return goJson(goDescriptor({ ...desc, annotations })) + '\n';
}

export class LedgerWriter {
  private lastSync = Date.now();
  /** Offset of the last record written by this writer (for the run-end record). */
  lastOffset = 0;

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
  ) {}

  /** Create (truncate) or, with `append`, continue a ledger. */
  static async open(path: string, opts: { append?: boolean } = {}): Promise<LedgerWriter> {
    try {
      const fh = await open(path, opts.append ? 'a' : 'w', 0o666);
      return new LedgerWriter(fh, path);
    } catch (e) {
      throw new UserError('ECHECKPOINT', `cannot open checkpoint file ${path}: ${(e as Error).message}`);
    }
  }

  /**
   * Start a ledger whose first lines are `prefix` (earlier runs kept by a resume). Written to a
   * temporary file and renamed over `path`, so resuming with the same path for the old and the new
   * checkpoint never loses the old one: it is replaced only by a copy that holds what it said.
   */
  static async create(path: string, prefix: string): Promise<LedgerWriter> {
    const tmp = `${path}.tmp-${process.pid}`;
    try {
      const fh = await open(tmp, 'w', 0o666);
      await fh.write(prefix);
      await fh.sync();
      await fh.close();
      await rename(tmp, path);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw new UserError('ECHECKPOINT', `cannot write checkpoint file ${path}: ${(e as Error).message}`);
    }
    return LedgerWriter.open(path, { append: true });
  }

  /** One write(2) per record, like the original, so a crash tears at most the last line. */
  async record(desc: Descriptor, offset: number): Promise<void> {
    await this.fh.write(ledgerLine(desc, offset));
    this.lastOffset = offset;
    // fsync at most once a second while streaming (thousands of small blobs would otherwise
    // wait on the disk); every end of a run syncs.
    if (Date.now() - this.lastSync >= 1000) await this.sync();
  }

  async writeRaw(text: string): Promise<void> {
    await this.fh.write(text);
  }

  /** fsync: a record reported durable survives power loss. */
  async sync(): Promise<void> {
    await this.fh.sync();
    this.lastSync = Date.now();
  }

  async close(): Promise<void> {
    await this.fh.sync().catch(() => {});
    await this.fh.close();
  }
}

/**
 * Read a ledger. A torn last line (a crash mid-write) is dropped; any other malformed line, a
 * record without the offset annotation, or offsets that go backwards is a clear error naming the
 * file and line.
 */
export async function readLedger(path: string): Promise<LedgerRecord[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UserError('ECHECKPOINT', `cannot read checkpoint ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  const lines = text.split('\n');
  const torn = !text.endsWith('\n') && text.length > 0;
  const out: LedgerRecord[] = [];
  let last = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const isLast = i === lines.length - 1;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      if (isLast && torn) break; // torn by a crash: the blob is not counted as written
      throw new UserError('ECHECKPOINT', `checkpoint ${path} line ${i + 1} is not JSON: this is not an ace-dt checkpoint ledger`);
    }
    if (!isDescriptor(value)) {
      throw new UserError('ECHECKPOINT', `checkpoint ${path} line ${i + 1} is not an OCI descriptor: this is not an ace-dt checkpoint ledger`);
    }
    const raw = value.annotations?.[Annotation.Offset];
    if (raw === undefined || !/^\d+$/.test(raw)) {
      throw new UserError('ECHECKPOINT', `checkpoint ${path} line ${i + 1} has no valid ${Annotation.Offset} annotation`);
    }
    const offset = Number(raw);
    if (value.mediaType === RUN_START_TYPE) last = -1;
    if (offset <= last) {
      throw new UserError('ECHECKPOINT', `checkpoint ${path} line ${i + 1}: offset ${offset} does not increase (previous ${last}); the file is corrupt or two ledgers were mixed`);
    }
    last = offset;
    out.push({ descriptor: value, offset, line: i + 1 });
  }
  return out;
}

/**
 * `--existing-from-checkpoint`: the original's strict rule (behaviour note 4.2), records with
 * offset < OFFSET are on the medium, reading stops at the first that is not. Our own resume knows
 * its count is exact and also takes a blob that ends exactly at the cut (runs.ts onMedium).
 */
export function recordsOnMedium(records: LedgerRecord[], mediumBytes: number): LedgerRecord[] {
  if (mediumBytes <= 0) return [];
  const out: LedgerRecord[] = [];
  for (const r of records) {
    if (r.offset >= mediumBytes) break;
    out.push(r);
  }
  return out;
}
