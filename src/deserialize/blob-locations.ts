import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Where this tool has pushed or found blobs: registry -> digest -> repositories, each with the
 * time it was last seen there. Deserialize asks it which repositories to mount a blob from (issue
 * 16), as skopeo's blob-info cache does for its copies.
 *
 * It is only ever a hint: an entry can be stale (the repository deleted, the blob garbage
 * collected), and a mount from there simply does not happen (the registry answers 202). So a
 * missing, unreadable or corrupt file is read as empty and never an error, and a failed save only
 * loses hints. The file lives in the XDG cache directory, `$XDG_CACHE_HOME/ace-dt/` (default
 * `~/.cache/ace-dt/`), is written whole to a temporary file and renamed over the old one (readers
 * never see half a file), merged with what another run saved meanwhile, and bounded: at most
 * MAX_REPOS_PER_BLOB repositories per blob and MAX_ENTRIES pairs in all, the oldest dropped.
 *
 * Its file operations are synchronous on purpose: a file of at most a few MB, read once at the
 * start and written once at the end, when nothing else runs; each asynchronous call would cost a
 * hop through libuv's thread pool, which on a loaded machine added 150 ms to a run of 0.6 s.
 */

export const MAX_REPOS_PER_BLOB = 4;
export const MAX_ENTRIES = 20_000;
const VERSION = 1;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** registry -> digest -> repository -> seconds since the epoch. */
type Table = Map<string, Map<string, Map<string, number>>>;

/** The cache file: `$XDG_CACHE_HOME/ace-dt/blob-locations.json`, else under `~/.cache`. */
export function defaultLocationsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(env.HOME || homedir(), '.cache');
  return join(base, 'ace-dt', 'blob-locations.json');
}

/** Parse the file's text; anything malformed is dropped (a hint lost, never an error). */
function parse(text: string): Table {
  const out: Table = new Map();
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return out;
  }
  if (typeof doc !== 'object' || doc === null) return out;
  const { version, registries: regs } = doc as { version?: unknown; registries?: unknown };
  if (version !== VERSION || typeof regs !== 'object' || regs === null) return out;
  for (const [registry, digests] of Object.entries(regs)) {
    if (typeof digests !== 'object' || digests === null) continue;
    const byDigest = new Map<string, Map<string, number>>();
    for (const [digest, repos] of Object.entries(digests)) {
      if (!DIGEST.test(digest) || typeof repos !== 'object' || repos === null) continue;
      const m = new Map<string, number>();
      for (const [repo, t] of Object.entries(repos)) if (typeof t === 'number' && Number.isFinite(t) && repo !== '') m.set(repo, t);
      if (m.size) byDigest.set(digest, m);
    }
    if (byDigest.size) out.set(registry, byDigest);
  }
  return out;
}

export class BlobLocations {
  private readonly table: Table;
  /** Pairs seen or forgotten in this run, merged into the file's current content on save. */
  private readonly changes: Array<{ registry: string; digest: string; repository: string; at?: number }> = [];

  private constructor(
    readonly path: string | undefined,
    table: Table,
  ) {
    this.table = table;
  }

  /** Read the cache (a missing or corrupt file gives an empty one). `path` undefined: memory only. */
  static load(path: string | undefined): BlobLocations {
    return new BlobLocations(path, path ? parse(readText(path)) : new Map());
  }

  /** Repositories of `registry` known to hold `digest`, most recently seen first. */
  repositories(registry: string, digest: string): string[] {
    const m = this.table.get(registry)?.get(digest);
    return m ? [...m.entries()].sort((a, b) => b[1] - a[1]).map(([r]) => r) : [];
  }

  /** The blob is in `repository` now (pushed, mounted or found there). */
  record(registry: string, digest: string, repository: string, at = Math.floor(Date.now() / 1000)): void {
    apply(this.table, { registry, digest, repository, at });
    this.changes.push({ registry, digest, repository, at });
  }

  /** The blob was not in `repository` after all: a stale hint. */
  forget(registry: string, digest: string, repository: string): void {
    apply(this.table, { registry, digest, repository });
    this.changes.push({ registry, digest, repository });
  }

  /**
   * Write this run's changes over the file's current content (another run may have saved since
   * we read it), bounded, atomically. Returns false when it could not be written (no error).
   */
  save(): boolean {
    if (!this.path || this.changes.length === 0) return true;
    const tmp = `${this.path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      const current = parse(readText(this.path));
      for (const c of this.changes) apply(current, c);
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      writeFileSync(tmp, serialize(bound(current)), { mode: 0o600 });
      renameSync(tmp, this.path);
      this.changes.length = 0;
      return true;
    } catch {
      try {
        unlinkSync(tmp);
      } catch {
        /* never written */
      }
      return false;
    }
  }
}

/** The file's text; '' when it is missing or unreadable. */
function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function apply(t: Table, c: { registry: string; digest: string; repository: string; at?: number }): void {
  let byDigest = t.get(c.registry);
  if (c.at === undefined) {
    const m = byDigest?.get(c.digest);
    m?.delete(c.repository);
    if (m && m.size === 0) byDigest!.delete(c.digest);
    return;
  }
  if (!byDigest) t.set(c.registry, (byDigest = new Map()));
  let m = byDigest.get(c.digest);
  if (!m) byDigest.set(c.digest, (m = new Map()));
  m.set(c.repository, Math.max(c.at, m.get(c.repository) ?? 0));
  if (m.size > MAX_REPOS_PER_BLOB) {
    const oldest = [...m.entries()].sort((a, b) => a[1] - b[1])[0][0];
    m.delete(oldest);
  }
}

/** Keep the MAX_ENTRIES most recent pairs. */
function bound(t: Table): Table {
  const all: Array<[string, string, string, number]> = [];
  for (const [reg, ds] of t) for (const [d, rs] of ds) for (const [r, at] of rs) all.push([reg, d, r, at]);
  if (all.length <= MAX_ENTRIES) return t;
  all.sort((a, b) => b[3] - a[3]);
  const out: Table = new Map();
  for (const [registry, digest, repository, at] of all.slice(0, MAX_ENTRIES)) apply(out, { registry, digest, repository, at });
  return out;
}

function serialize(t: Table): string {
  const registries: Record<string, Record<string, Record<string, number>>> = {};
  for (const [reg, ds] of t) {
    const o: Record<string, Record<string, number>> = (registries[reg] = {});
    for (const [d, rs] of ds) o[d] = Object.fromEntries(rs);
  }
  return JSON.stringify({ version: VERSION, registries }) + '\n';
}
