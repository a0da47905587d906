import type { Descriptor } from '../oci/descriptor.js';
import { limiter } from '../util/limit.js';
import type { BlobMounter, UploadSession } from '../source/types.js';
import type { BlobLocations } from './blob-locations.js';
import type { TargetCache } from './target-cache.js';

/**
 * How a blob gets into the target repository, decided before any of its bytes are sent (issue
 * 16): it is there already (HEAD); or the registry holds it in another repository and mounts it
 * (no bytes move); or it is uploaded. The registry layer (registry/mounts.ts) speaks the HTTP;
 * this decides where to mount from and learns from the answers.
 *
 * Repositories to mount from, in order: those the archive names as the blob's source (the
 * original's `vnd.act3-ace.manifest.source` annotations, given by the engine as hints), those of
 * `--mount-from`, and those where this tool pushed or found the digest before on the same
 * registry (blob-locations.ts). Then a mount without `from` (OCI distribution 1.1: the registry
 * looks for the blob itself); its 202 is the upload session, so trying costs no extra request.
 *
 * Nothing here is an error for the run: a denied, refused or stale mount just means upload.
 *
 * `ahead()` starts the look-up (HEAD, then mounts with `from`) of a blob as soon as a manifest
 * names it, a few at a time, so that when the blob's entry comes up in the archive its fate is
 * known and the reader passes over the body at once: over a WAN, blob after blob would otherwise
 * each wait two round trips. The mount without `from` waits for the entry (`place()`), since its
 * 202 is the upload session, which must not sit open while the archive reads on.
 */

export type Placement = { how: 'existing' } | { how: 'mounted'; from?: string } | { how: 'upload'; session?: UploadSession };

export interface PlacerOptions {
  /** Mounts, where the target can do them (the HEADs go through `cache`). */
  target: Partial<BlobMounter>;
  /** The run's one record of what the target holds (shared with the engine's manifest checks). */
  cache: TargetCache;
  /** Ask, but change nothing: a mount is predicted by HEAD on the source repository. */
  dryRun?: boolean;
  /** `--mount-from` repositories (of the target's registry). */
  mountFrom?: string[];
  locations?: BlobLocations;
  log?: (level: 'info' | 'warn' | 'debug', message: string) => void;
}

/** Mount attempts with `from` per blob: each failed one costs a request and a DELETE. */
const MAX_FROM = 4;

/** Look-ups in flight at once (HEADs and mounts; each is a small request). */
const AHEAD = 8;

export class Placer {
  /** Look-ups started ahead of the blob's entry, by digest. */
  private readonly located = new Map<string, Promise<Placement>>();
  private readonly limited = limiter(AHEAD);
  /** Repositories whose mounts were denied (scope) or refused: not asked again in this run. */
  private readonly barred = new Set<string>();
  /** Set once the registry refused a mount without `from`: plain uploads from then on. */
  private noFromRefused = false;

  constructor(private readonly opts: PlacerOptions) {}

  private get mounter(): BlobMounter | undefined {
    const t = this.opts.target;
    return t.mountBlob && t.blobIn && t.registry !== undefined && t.repository !== undefined ? (t as BlobMounter) : undefined;
  }

  /** The blob is in the target now (pushed, mounted or found): remember where, for later runs. */
  landed(desc: Descriptor): void {
    this.opts.cache.landed(desc);
    const m = this.mounter;
    if (m) this.opts.locations?.record(m.registry, desc.digest, m.repository);
  }

  private candidates(desc: Descriptor, hints: Iterable<string>): Array<{ repo: string; cached: boolean }> {
    const m = this.mounter!;
    const out = new Map<string, boolean>();
    for (const r of hints) out.set(r, false);
    for (const r of this.opts.mountFrom ?? []) out.set(r, false);
    for (const r of this.opts.locations?.repositories(m.registry, desc.digest) ?? []) if (!out.has(r)) out.set(r, true);
    out.delete(m.repository);
    for (const r of this.barred) out.delete(r);
    return [...out].slice(0, MAX_FROM).map(([repo, cached]) => ({ repo, cached }));
  }

  /** Start looking `desc` up now (bounded), for `place()` to find done later. */
  ahead(desc: Descriptor, hints: Iterable<string>): void {
    if (this.located.has(desc.digest)) return;
    const p = this.limited(() => this.locate(desc, [...hints]));
    // A failure surfaces when place() awaits it; until then it is not unhandled.
    p.catch(() => undefined);
    this.located.set(desc.digest, p);
  }

  /**
   * Where `desc` stands: existing, mounted (or, dry run, would be), else to upload. `forUpload`:
   * the caller uploads next, so the mount without `from` keeps its session for that upload;
   * otherwise (a blob the archives lack) that session is cancelled.
   */
  async place(desc: Descriptor, hints: Iterable<string> = [], forUpload = true): Promise<Placement> {
    // Kept after use: a blob that several manifests name (a shared layer) is looked up once.
    let look = this.located.get(desc.digest);
    if (!look) this.located.set(desc.digest, (look = this.locate(desc, [...hints])));
    const found = await look;
    if (found.how !== 'upload' || this.opts.dryRun || this.noFromRefused || !this.mounter) return found;
    const r = await this.mounter.mountBlob(desc, undefined, forUpload);
    if (r.mounted) {
      this.landed(desc);
      this.opts.log?.('debug', `blob ${desc.digest} mounted by the registry (no source repository given)`);
      return { how: 'mounted' };
    }
    if (r.why === 'refused') this.noFromRefused = true;
    return { how: 'upload', session: r.upload };
  }

  /** In the target already, or mounted from a repository named for it; else 'upload'. */
  private async locate(desc: Descriptor, hints: string[]): Promise<Placement> {
    if (await this.opts.cache.blobExists(desc)) {
      this.landed(desc);
      return { how: 'existing' };
    }
    const m = this.mounter;
    if (!m) return { how: 'upload' };
    for (const { repo, cached } of this.candidates(desc, hints)) {
      if (this.opts.dryRun) {
        if (await m.blobIn(repo, desc)) return { how: 'mounted', from: repo };
        continue;
      }
      const r = await m.mountBlob(desc, repo);
      if (r.mounted) {
        this.landed(desc);
        this.opts.log?.('debug', `blob ${desc.digest} mounted from ${repo}`);
        return { how: 'mounted', from: repo };
      }
      if (r.why === 'absent') {
        if (cached) this.opts.locations?.forget(m.registry, desc.digest, repo);
      } else {
        this.barred.add(repo);
        this.opts.log?.('debug', `mounts from ${repo} are ${r.why} by ${m.registry}; uploading instead`);
      }
    }
    return { how: 'upload' };
  }
}
