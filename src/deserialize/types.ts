import type { Descriptor } from '../oci/descriptor.js';
import type { BlobFetcher, BlobMounter, BlobPusher, ManifestPusher } from '../source/types.js';
import type { BlobLocations } from './blob-locations.js';
import type { ExplainedItem, MissingItem } from './graph.js';

export type { ExplainedItem, MissingItem } from './graph.js';

/** The deserialize engine's options and results (engine.ts), apart so that they read in one place. */

export type Log = (level: 'info' | 'warn' | 'debug', message: string) => void;

/**
 * What the engine needs from the destination. `fetchBlob` (optional) lets a later call finish
 * manifests that an earlier, incomplete call left in the registry as blobs (the original's
 * one-call-per-piece flow, behaviour note 4.5).
 */
export type EngineTarget = BlobPusher & ManifestPusher & Partial<BlobFetcher> & Partial<BlobMounter>;

export interface EngineOptions {
  /** Absent: verify only (nothing is pushed, everything is hashed). */
  target?: EngineTarget;
  /** Verify everything and consult the target, but push nothing. */
  dryRun?: boolean;
  strict?: boolean;
  /** Digests known to exist on the far side, with what says so (verify --existing). */
  existing?: Map<string, string>;
  log?: Log;
  /** Manifests larger than this are refused (registries cap them at 4 MiB). */
  maxManifestBytes?: number;
  /** Ctrl-C: stop between entries with an InterruptedError. */
  signal?: AbortSignal;
  /** `--mount-from`: repositories of the target's registry to mount blobs from (issue 16). */
  mountFrom?: string[];
  /** Where blobs were seen before (read for mounts, written as blobs land). */
  locations?: BlobLocations;
  /** Blob uploads (and mounts) in flight at once; small blobs go up while the archive reads on. */
  concurrency?: number;
}

export interface CorruptItem {
  digest: string;
  source: string;
  offset: number;
  reason: string;
}

export interface EngineResult {
  root?: Descriptor;
  /** Set when the root was tagged (or would be, with dry-run). */
  tagged?: string;
  /** pushed: uploaded (dry run: would be); mounted: from another repository (dry run: would be). */
  blobs: { verified: number; verifiedBytes: number; pushed: number; pushedBytes: number; mounted: number; mountedBytes: number; existing: number; existingBytes: number; duplicates: number };
  manifests: { known: number; pushed: number; existing: number };
  missing: MissingItem[];
  explained: ExplainedItem[];
  corrupt: CorruptItem[];
  /** Manifest-like blobs that no index.json or manifest refers to. */
  unreferenced: string[];
  ignored: number;
  archives: number;
  indexes: number;
  /** The set ends cleanly (the last archive was not cut, or cut only where nothing is lost). */
  lastArchiveClean: boolean;
  problems: string[];
  complete: boolean;
}

export interface EventContext {
  source: string;
  /** This is the last source: a cut at its end makes the set incomplete. */
  last: boolean;
}
