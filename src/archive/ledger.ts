import { open, readFile, type FileHandle } from 'node:fs/promises';
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
   * Start a ledger whose first lines are `prefix` (the valid lines of the ledger a resume continues,
   * plus the run-end it measured). Never a rewrite in place: when `path` already begins with
   * `prefix` (resuming into the same ledger) only what follows it, a line torn by a crash, is cut;
   * otherwise `path` is another file and is replaced. So no crash at any byte loses a record of
   * the ledger being resumed, and the file keeps its inode (the run's lock is on it, lock.ts).
   * `lastOffset` is the archive offset the run starts at, so that its run-end record (written
   * after its last record, or after its start when it wrote none) keeps the offsets increasing.
   */
  static async create(path: string, prefix: string, lastOffset = 0): Promise<LedgerWriter> {
    let fh: FileHandle | undefined;
    try {
      fh = await open(path, 'a+', 0o666);
      const have = await fh.readFile();
      const keep = Buffer.from(prefix);
      if (have.length >= keep.length && have.subarray(0, keep.length).equals(keep)) {
        if (have.length > keep.length) await fh.truncate(keep.length);
      } else {
        await fh.truncate(0);
        await fh.write(keep);
      }
      await fh.sync();
    } catch (e) {
      await fh?.close().catch(() => {});
      throw new UserError('ECHECKPOINT', `cannot write checkpoint file ${path}: ${(e as Error).message}`);
    }
    const w = new LedgerWriter(fh, path);
    w.lastOffset = lastOffset;
    return w;
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
 * file and line. Equal consecutive offsets are accepted: the original writes them with
 * --compression, where its count stands still while the compressor buffers.
 */
export async function readLedger(path: string): Promise<LedgerRecord[]> {
  return (await readLedgerText(path)).records;
}

/** readLedger, and the ledger's text up to the end of its last whole line (a torn tail dropped). */
export async function readLedgerText(path: string): Promise<{ records: LedgerRecord[]; text: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UserError('ECHECKPOINT', `cannot read checkpoint ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  const lines = text.split('\n');
  const out: LedgerRecord[] = [];
  let last = -1;
  let valid = 0;
  let pos = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const lineEnd = pos + line.length + (i < lines.length - 1 ? 1 : 0);
    const isLast = i === lines.length - 1;
    pos = lineEnd;
    if (line.trim() === '') {
      if (!isLast) valid = lineEnd;
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      if (isLast) break; // torn by a crash: the blob is not counted as written
      throw new UserError('ECHECKPOINT', `checkpoint ${path} line ${i + 1} is not JSON: this is not an ace-dt checkpoint ledger`);
    }
    if (isLast) break; // whole JSON but no newline yet: the write(2) of the line was cut short
    if (!isDescriptor(value)) {
      throw new UserError('ECHECKPOINT', `checkpoint ${path} line ${i + 1} is not an OCI descriptor: this is not an ace-dt checkpoint ledger`);
    }
    const raw = value.annotations?.[Annotation.Offset];
    if (raw === undefined || !/^\d+$/.test(raw)) {
      throw new UserError('ECHECKPOINT', `checkpoint ${path} line ${i + 1} has no valid ${Annotation.Offset} annotation`);
    }
    const offset = Number(raw);
    if (value.mediaType === RUN_START_TYPE) last = -1;
    if (offset < last) {
      throw new UserError('ECHECKPOINT', `checkpoint ${path} line ${i + 1}: offset ${offset} is below the previous record's ${last}; the file is corrupt or two ledgers were mixed`);
    }
    last = offset;
    out.push({ descriptor: value, offset, line: i + 1 });
    valid = lineEnd;
  }
  return { records: out, text: text.slice(0, valid) };
}

/**
 * `--existing-from-checkpoint`: the original's strict rule (behaviour note 4.2), records with
 * offset < OFFSET are on the medium, reading stops at the first that is not. Our own resume knows
 * reads the archive back instead (archive/kept.ts).
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
