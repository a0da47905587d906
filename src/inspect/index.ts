/**
 * The service behind `mirror inspect`: what a set of archive pieces holds (images, every blob
 * with its offset, which piece holds what, what is missing), read from tar headers while blob
 * bodies are skipped: positioned reads on a file, MTFSR on a tape (src/archive/read-seek.ts).
 * Compressed archives are decompressed whole: a gzip member does not record its compressed
 * length, and the tar header of each blob sits inside its zstd frame, so there is nothing to
 * skip to without decoding. Nothing here hashes a blob body: inspect describes, verify checks.
 *
 * May import: `archive` (the readers), `deserialize/manifest.ts` (manifests parsed as deserialize
 * parses them), `sink` (the tape ioctls it hands the reader, loaded for a tape only), `oci`,
 * `util`, `errors.ts`.
 */
import { stat } from 'node:fs/promises';
import { OciError, UserError } from '../errors.js';
import { readArchives } from '../archive/reader.js';
import { openSeekableSource, type SeekableSource, type SeekStats } from '../archive/read-seek.js';
import { groupSources, type SourceSpec } from '../archive/read-source.js';
import { type TapeOps, isTapeDevice } from '../archive/read-tape.js';
import type { Descriptor } from '../oci/descriptor.js';
import { Inventory, type ArchiveItem, type BlobItem, type ImageItem, type MissingItem } from './inventory.js';

export interface InspectSource extends SeekStats {
  name: string;
  kind: SeekableSource['kind'];
  seekable: boolean;
}

export interface InspectReport {
  sources: InspectSource[];
  archives: ArchiveItem[];
  root?: Descriptor;
  images: ImageItem[];
  blobs: BlobItem[];
  missing: MissingItem[];
  totals: {
    /** Distinct blobs held whole (manifests included), and their bytes. */
    blobs: number;
    blobBytes: number;
    manifests: number;
    /** Entries of a digest seen before (another piece, another archive). */
    duplicates: number;
    cut: number;
    missing: number;
    missingBytes: number;
    ignoredEntries: number;
    /** Bytes read from the sources, passed over without reading, and read calls. */
    bytesRead: number;
    bytesSkipped: number;
    reads: number;
    durationMs: number;
  };
  /** The last piece ends cut (inside an entry): the set as given stops mid-archive. */
  endsCut: boolean;
  problems: string[];
  notes: string[];
}

export interface InspectOptions {
  /** Called when a source is opened. */
  onSource?: (name: string, kind: string) => void;
  /** Ctrl-C: stop between entries with an InterruptedError. */
  signal?: AbortSignal;
}

/**
 * The drive's ioctls when `group` is a tape, else none. sink/tape-space.ts brings the sink's
 * modules with it (the addon itself loads on the first ioctl): start-up time that inspecting a
 * file would pay for nothing, and inspect's wall time is mostly start-up (issue 14).
 */
async function tapeOpsFor(group: SourceSpec): Promise<TapeOps | undefined> {
  const path = group.paths[0];
  if (group.paths.length !== 1 || path === '-') return undefined;
  const st = await stat(path).catch(() => undefined);
  if (!st || !isTapeDevice(path, st)) return undefined;
  return (await import('../sink/tape-space.js')).tapeOps;
}

function checkSources(sources: string[]): void {
  if (sources.length === 0) throw new UserError('ESOURCE', 'no SOURCE given');
  if (sources.filter((s) => s === '-').length > 1) throw new UserError('ESOURCE', 'standard input ("-") can be given only once');
}

export async function inspectArchives(sources: string[], opts: InspectOptions = {}): Promise<InspectReport> {
  checkSources(sources);
  const started = Date.now();
  const inv = new Inventory();
  const reports: InspectSource[] = [];
  const groupNotes: string[] = [];
  // Volumes of one --volume-size archive are one source (read-source.ts groupSources).
  const groups = await groupSources(sources);
  for (const [i, group] of groups.entries()) {
    if (group.note) groupNotes.push(group.note);
    // The tape ioctls, to space over blob bodies.
    const src = await openSeekableSource(group, await tapeOpsFor(group));
    opts.onSource?.(src.name, src.kind);
    try {
      await inv.consume(readArchives(src.chunks, src.name), i, src.name, opts.signal);
    } catch (e) {
      if (e instanceof OciError && e.code === 'ETAR') {
        const what = inv.entriesIn(i) === 0 ? 'is not a tar archive' : 'has a damaged tar header';
        throw new OciError('ETAR', `${src.name} ${what}: ${e.message}`);
      }
      // The reader's refusals (links, "..", absolute paths) name the entry; say in which source.
      if (e instanceof OciError && e.code === 'EUNSAFE') throw new OciError('EUNSAFE', `${src.name}: ${e.message}`);
      throw e;
    } finally {
      await src.close();
      reports.push({ name: src.name, kind: src.kind, seekable: src.seekable, ...src.stats() });
    }
  }
  const { blobs, images, missing, root } = inv.finish();
  const notes: string[] = [...groupNotes];
  const problems = [...inv.problems];
  for (const [i, r] of reports.entries()) {
    const archives = inv.archives.filter((a) => a.source === i);
    if (archives.length === 0) problems.push(`${r.name} holds no archive${r.kind === 'tape' ? ' (the tape is at a filemark or at the end of data)' : ''}`);
    const comp = archives.find((a) => a.compression !== 'none');
    if (comp) {
      notes.push(
        `${r.name} is ${comp.compression}-compressed: it was decompressed whole (${comp.compression === 'gzip' ? 'a gzip member records no compressed length' : 'each blob\'s tar header is inside its zstd frame'}); offsets are in the decompressed stream`,
      );
    }
    if (r.spacingOff) notes.push(`${r.name}: ${r.spacingOff}`);
  }
  if (inv.archives.length > 0 && !blobs.length && !images.length) {
    problems.push('no OCI layout content (no index.json and no blobs/<alg>/<hex> entries)');
  }
  const blind = missing.filter((m) => m.kind === 'manifest').length;
  if (blind) notes.push(`the children of ${blind} missing manifest${blind === 1 ? '' : 's'} cannot be listed (their bodies are in no piece)`);
  if (missing.length) notes.push('missing = referenced but in no piece; blobs of an EXISTING-IMAGE or a checkpoint are skipped on purpose (`mirror verify --existing` tells them apart)');
  const lastSource = reports.length - 1;
  const lastArchive = [...inv.archives].reverse().find((a) => a.source === lastSource);
  const endsCut = lastArchive?.how === 'truncated';
  const whole = blobs.filter((b) => !b.cut);
  const distinct = new Map(whole.map((b) => [b.digest, b]));
  return {
    sources: reports,
    archives: inv.archives,
    root,
    images,
    blobs,
    missing,
    totals: {
      blobs: distinct.size,
      blobBytes: [...distinct.values()].reduce((a, b) => a + b.size, 0),
      manifests: images.filter((m) => m.present).length,
      duplicates: inv.duplicates,
      cut: blobs.length - whole.length,
      missing: missing.length,
      missingBytes: missing.reduce((a, m) => a + (m.size ?? 0), 0),
      ignoredEntries: inv.ignored,
      bytesRead: reports.reduce((a, r) => a + r.bytes, 0),
      bytesSkipped: reports.reduce((a, r) => a + r.skipped, 0),
      reads: reports.reduce((a, r) => a + r.records, 0),
      durationMs: Date.now() - started,
    },
    endsCut,
    problems,
    notes,
  };
}
