/**
 * src/deserialize: archives -> registry (`mirror deserialize`) and archives checked alone
 * (`mirror verify`). Its one job: read every SOURCE in order (the pieces of one
 * interrupted-and-resumed serialize, or archives concatenated in one stream) into one Engine,
 * which verifies every blob, pushes children before parents, tags the root, and reports.
 *
 *   index.ts          these services
 *   engine.ts         routes layout events between the pieces below
 *   graph.ts          the manifest graph (pure)
 *   blob-push.ts      verify-then-push of one blob (oci/verify.ts's verifyingWriter)
 *   placement.ts      found, mounted or uploaded (issue 16); blob-locations.ts its cache file
 *   target-cache.ts   what the target holds (HEAD once per digest)
 *   stash.ts          manifests kept in the registry as blobs between calls
 *   task-pool.ts, source-hints.ts, manifest.ts, types.ts   helpers of the engine
 *   existing.ts, render.ts   what `mirror verify --existing` explains; summary text
 *
 * It may import archive (readers), source (the target's capabilities, over registry/), oci,
 * util and errors; existing.ts also reuses plan's existing-image walk; from sink only the tape
 * access that archive's readers are handed (sink/tape-space.ts, as inspect does). Never cli or
 * ui: the commands call in, not the other way.
 */
import { UserError } from '../errors.js';
import { stat } from 'node:fs/promises';
import { groupSources, openArchiveSource, type ArchiveSource, type SourceSpec, type SourceStats } from '../archive/read-source.js';
import { openSeekableSource } from '../archive/read-seek.js';
import { tapeOps } from '../sink/tape-space.js';
import { readArchives } from '../archive/reader.js';
import { BlobLocations, defaultLocationsPath } from './blob-locations.js';
import { Engine, type EngineResult, type EngineTarget } from './engine.js';

/** The services behind `mirror deserialize` and `mirror verify`: every source into one Engine, then finish. */

export interface SourceReport extends SourceStats {
  name: string;
  kind: ArchiveSource['kind'];
}

export interface ArchivesReport extends EngineResult {
  sources: SourceReport[];
  bytesRead: number;
  durationMs: number;
}

export interface ReadArchivesOptions {
  strict?: boolean;
  log?: (level: 'info' | 'warn' | 'debug', message: string) => void;
  /** Called when a source is opened (the CLI prints "reading ..."). */
  onSource?: (src: ArchiveSource) => void;
  signal?: AbortSignal;
}

export interface DeserializeOptions extends ReadArchivesOptions {
  target: EngineTarget;
  /** Tag for the root (from IMAGE; `latest` if none). */
  tag: string;
  dryRun?: boolean;
  /** `--mount-from`: repositories of the target's registry to mount blobs from. */
  mountFrom?: string[];
  /**
   * The blob-location cache file (mounts from where this tool saw a digest before): default
   * `$XDG_CACHE_HOME/ace-dt/blob-locations.json`; false: none.
   */
  locations?: string | false;
  /** Environment for the cache's location (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Blob uploads and mounts in flight at once (default 4). */
  concurrency?: number;
}

export interface VerifyOptions extends ReadArchivesOptions {
  /** digest -> what explains its absence (checkpoint ledger, OCI layout, EXISTING-IMAGE). */
  existing?: Map<string, string>;
}

function checkSources(sources: string[]): void {
  if (sources.length === 0) throw new UserError('ESOURCE', 'no SOURCE given');
  if (sources.filter((s) => s === '-').length > 1) throw new UserError('ESOURCE', 'standard input ("-") can be given only once');
}

async function run(sources: string[], engine: Engine, opts: ReadArchivesOptions, tag?: string): Promise<ArchivesReport> {
  const started = Date.now();
  const reports: SourceReport[] = [];
  // Volumes of one --volume-size archive are one source (read-source.ts groupSources).
  const groups = await groupSources(sources);
  for (let i = 0; i < groups.length; i++) {
    if (groups[i].note) opts.log?.('warn', groups[i].note!);
    const src = await openSource(groups[i]);
    opts.onSource?.(src);
    try {
      await engine.consume(readArchives(src.chunks, src.name, { strict: opts.strict }), { source: src.name, last: i === groups.length - 1 });
    } finally {
      await src.close?.();
      const { bytes, records, filemark, readSize, position } = src.stats();
      reports.push({ name: src.name, kind: src.kind, bytes, records, filemark, readSize, position });
    }
    if (src.stats().bytes === 0) {
      opts.log?.('warn', `${src.name} holds no data${src.kind === 'tape' ? ' (the tape is at a filemark or at the end of data: check the position with mt status)' : ''}`);
    }
  }
  const result = await engine.finish(tag);
  return { ...result, sources: reports, bytesRead: reports.reduce((a, r) => a + r.bytes, 0), durationMs: Date.now() - started };
}

/**
 * A regular file is read at positions, so that the bodies of blobs found or mounted in the
 * registry are passed over without being read (issue 16; read-seek.ts, as `mirror inspect`).
 * Tapes and streams are read through as before (a tape is drained to its filemark).
 */
async function openSource(spec: SourceSpec): Promise<ArchiveSource & { close?: () => Promise<void> }> {
  // A volume set is read through positioned reads like a file.
  if (spec.paths.length > 1) return openSeekableSource(spec);
  const path = spec.paths[0];
  const isFile = path !== '-' && (await stat(path).then((s) => s.isFile(), () => false));
  return isFile ? openSeekableSource(path) : openArchiveSource(path, tapeOps);
}

/** Archives -> registry: every blob verified before it is committed, children before parents. */
export async function deserializeArchives(sources: string[], opts: DeserializeOptions): Promise<ArchivesReport> {
  checkSources(sources);
  const locations = BlobLocations.load(opts.locations === false ? undefined : (opts.locations ?? defaultLocationsPath(opts.env)));
  const engine = new Engine({
    target: opts.target,
    dryRun: opts.dryRun,
    strict: opts.strict,
    log: opts.log,
    signal: opts.signal,
    mountFrom: opts.mountFrom,
    locations,
    concurrency: opts.concurrency,
  });
  try {
    return await run(sources, engine, opts, opts.tag);
  } finally {
    // What landed is true even when the run fails; a cache that cannot be written only loses hints.
    if (!locations.save()) opts.log?.('debug', `could not write the blob-location cache ${locations.path}`);
  }
}

/** Archives checked with no registry: digests, sizes, completeness. */
export async function verifyArchives(sources: string[], opts: VerifyOptions = {}): Promise<ArchivesReport> {
  checkSources(sources);
  const engine = new Engine({ strict: opts.strict, log: opts.log, existing: opts.existing, signal: opts.signal });
  return run(sources, engine, opts);
}
