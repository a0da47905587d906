import { verifyingWriter } from '../oci/verify.js';
import type { Plan } from '../plan/plan.js';
import { pipeIterable } from '../stream/blob-stream.js';
import type { BlobFetcher } from '../source/types.js';
import { type Reporter, silentReporter } from '../ui/events.js';
import { type ArchiveEntry, type LayoutOptions, blobEntries, prefixEntries, suffixEntries } from './entries.js';
import type { LedgerWriter } from './ledger.js';
import { ArchiveOutput, type ByteSink, type Compression, type ZstdFactory } from './output.js';
import { DEFAULT_WINDOW, PrefetchWindow, type WindowLimits } from './prefetch.js';
import { BLOCK, TRAILER_SIZE, encodeHeader, padding } from './tar-header.js';

export interface WriteOptions extends LayoutOptions {
  compression?: Compression;
  /** The addon's zstd (src/sink), for `compression: 'zstd'`; else the zstd program runs. */
  zstd?: ZstdFactory;
  ledger?: LedgerWriter;
  reporter?: Reporter;
  /** Continue an archive cut at this offset (prefix and `dirsPresent` already there). */
  continueAt?: number;
  /** The prefetch window: requests in flight and bytes held ahead of the blob being written. */
  window?: Partial<WindowLimits>;
  /**
   * When the writer stops before the end (a full tape): blobs it had downloaded whole ahead and
   * not written go here, by digest, for the next volume.
   */
  leftovers?: Map<string, Uint8Array>;
  /** Name of the source, for messages. */
  sourceName: string;
  signal?: AbortSignal;
}

export interface WriteResult {
  /** Archive bytes handed to the sink (compressed bytes when compressing). */
  offset: number;
  blobsWritten: number;
  blobBytes: number;
}

const ZEROS = new Uint8Array(BLOCK * 2);

function* entryBytes(entry: ArchiveEntry & { kind: 'data' | 'dir' }): Generator<Uint8Array> {
  yield encodeHeader(entry.header);
  if (entry.kind === 'data') {
    yield entry.data;
    const pad = padding(entry.data.length);
    if (pad) yield ZEROS.subarray(0, pad);
  }
}

/**
 * Stream a Plan into an OCI-layout tar (behaviour note 1): every blob verified while it flows
 * (verifyingWriter passes a blob's last chunk on only once its digest is confirmed), one ledger record
 * per blob after its bytes reached the sink, in archive order. Downloads run ahead in a window
 * bounded by requests in flight and by bytes held (prefetch.ts), so the medium does not wait on
 * request latency and memory stays bounded.
 */
export async function writeArchive(plan: Plan, fetcher: BlobFetcher, sink: ByteSink, opts: WriteOptions): Promise<WriteResult> {
  const out = new ArchiveOutput(sink, opts.compression, opts.continueAt ?? 0, opts.zstd);
  const reporter = opts.reporter ?? silentReporter;
  const result: WriteResult = { offset: 0, blobsWritten: 0, blobBytes: 0 };

  if (opts.continueAt === undefined) {
    const prefix = [...prefixEntries(plan, opts)] as (ArchiveEntry & { kind: 'data' })[];
    await out.chunks(prefix.flatMap((e) => [...entryBytes(e)]));
  }

  const entries = [...blobEntries(plan, opts)];
  const downloads = entries.flatMap((e) => (e.kind === 'blob' && !e.manifest ? [e.descriptor] : []));
  const window = new PrefetchWindow(downloads, fetcher, { ...DEFAULT_WINDOW, ...opts.window }, opts.signal);
  try {
    let dirs: Uint8Array[] = [];
    let download = 0;
    for (const entry of entries) {
      opts.signal?.throwIfAborted();
      if (entry.kind === 'dir') {
        // Directory headers travel in the frame of the blob that needs them.
        dirs.push(encodeHeader(entry.header));
        continue;
      }
      if (entry.kind !== 'blob') continue;
      const desc = entry.descriptor;
      const begin = out.offset;
      reporter.emit({ type: 'blob-begin', descriptor: desc, offset: begin });
      const head = [...dirs, encodeHeader(entry.header)];
      dirs = [];
      const pad = padding(desc.size);
      if (entry.manifest) {
        // Verified during planning.
        await out.chunks([...head, entry.manifest, ...(pad ? [ZEROS.subarray(0, pad)] : [])]);
      } else {
        const i = download++;
        const stream = await window.take(i);
        await out.frame(async (write, landing) => {
          await pipeIterable(head, write);
          const verify = verifyingWriter(desc, opts.sourceName, write);
          await stream.pipeTo(verify.write, landing);
          verify.end();
          if (pad) await write(ZEROS.subarray(0, pad));
        });
        window.done(i);
      }
      result.blobsWritten++;
      result.blobBytes += desc.size;
      if (opts.ledger) {
        await opts.ledger.record(desc, out.offset);
        reporter.emit({ type: 'ledger', record: desc, offset: out.offset });
      }
      reporter.emit({ type: 'blob-end', descriptor: desc, offset: out.offset });
    }
  } finally {
    if (opts.leftovers) for (const [desc, bytes] of window.downloaded()) opts.leftovers.set(desc.digest, bytes);
    window.close();
  }

  const suffix = [...suffixEntries(plan, opts)] as (ArchiveEntry & { kind: 'data' })[];
  await out.chunks([...suffix.flatMap((e) => [...entryBytes(e)]), ZEROS.subarray(0, TRAILER_SIZE)]);
  result.offset = out.offset;
  return result;
}
