import { InterruptedError, OciError } from '../errors.js';
import type { LayoutEvent } from '../archive/reader.js';
import { basicDescriptor, type Descriptor } from '../oci/descriptor.js';
import { MediaType, isManifest } from '../oci/mediatype.js';
import { ArchiveSet } from './archive-set.js';
import { hashVerified, readVerified, uploadBytes, uploadVerified } from './blob-push.js';
import { BlobFlaws } from './flaws.js';
import { ManifestGraph, manifestDescriptor, type ManifestNode, type Placed } from './graph.js';
import { looksLikeManifest } from './manifest.js';
import { Placer } from './placement.js';
import type { UploadSession } from '../source/types.js';
import { SourceHints } from './source-hints.js';
import { ManifestStash } from './stash.js';
import { TargetCache } from './target-cache.js';
import { TaskPool } from './task-pool.js';
import type { EngineOptions, EngineResult, EngineTarget, EventContext, Log } from './types.js';

export type { CorruptItem, EngineOptions, EngineResult, EngineTarget, EventContext, ExplainedItem, MissingItem } from './types.js';

/**
 * The archive-to-registry engine shared by `mirror deserialize` and `mirror verify`.
 *
 * It consumes the layout events of any number of archives (the pieces of an interrupted and
 * resumed serialize, in order) and routes them: manifests to the graph (graph.ts), blob bodies
 * through verification to the target (blob-push.ts) as the placer decides (placement.ts: found,
 * mounted or uploaded), and manifests the graph says are ready to the target. Rules:
 * - no byte is trusted before its digest and size are checked: blob uploads are committed only
 *   once verified, manifests are parsed only after verification;
 * - a manifest is pushed (by digest) only once every child exists in the target, so children go
 *   before parents, whatever order the archive has;
 * - blobs the target already has are not sent again (HEAD, once per digest: target-cache.ts);
 * - the root is the first manifest of the first index.json seen; it is tagged last, and only
 *   when nothing is missing.
 *
 * Without a target (verify) the same graph tells what is present, intact and missing.
 */

/** Bodies up to this size are read whole: they may be manifests, and go up while the archive reads on. */
const SMALL_MAX = 4 << 20;
/** Bytes of manifest-like blobs kept in memory until something names them. */
const KEEP_MAX = 256 << 20;
/** Bytes of small blobs held by uploads in flight (each at most SMALL_MAX). */
const TASK_BYTES_MAX = 64 << 20;

/** Where an entry is, for messages. */
interface At {
  source: string;
  offset: number;
}

/** The target and what deals with it; absent in verify. */
interface TargetSide {
  target: EngineTarget;
  cache: TargetCache;
  placer: Placer;
  stash: ManifestStash;
}

export class Engine {
  private readonly graph: ManifestGraph;
  private readonly sources = new SourceHints();
  /** Small-blob uploads in flight while the archive reads on. */
  private readonly tasks: TaskPool;
  private readonly to?: TargetSide;
  private readonly maxManifest: number;
  private readonly set: ArchiveSet;
  private readonly flaws: BlobFlaws;
  /** Blobs of manifests never seen in the archives that the placer was asked about (once each). */
  private readonly triedPlacing = new Set<string>();
  private pumping?: Promise<void>;
  private root?: Descriptor;
  private readonly blobs = { verified: 0, verifiedBytes: 0, pushed: 0, pushedBytes: 0, mounted: 0, mountedBytes: 0, existing: 0, existingBytes: 0, duplicates: 0 };
  private readonly manifests = { pushed: 0, existing: 0 };
  private readonly log: Log;

  constructor(private readonly opts: EngineOptions = {}) {
    this.log = (level, message) => opts.log?.(level, message);
    this.set = new ArchiveSet(this.log);
    this.flaws = new BlobFlaws(this.log);
    this.maxManifest = opts.maxManifestBytes ?? 4 << 20;
    this.tasks = new TaskPool(Math.max(1, opts.concurrency ?? 4), TASK_BYTES_MAX);
    this.graph = new ManifestGraph({ keepMax: KEEP_MAX, onChild: (c) => this.onChild(c) });
    const target = opts.target;
    if (target) {
      const cache = new TargetCache(target);
      const placer = new Placer({ target, cache, dryRun: opts.dryRun, mountFrom: opts.mountFrom, locations: opts.locations, log: opts.log });
      this.to = { target, cache, placer, stash: new ManifestStash(target, cache, placer, this.maxManifest) };
    }
  }

  /** Feed one source's layout events. */
  async consume(events: AsyncIterable<LayoutEvent>, ctx: EventContext): Promise<void> {
    try {
      await this.consumeEvents(events, ctx);
    } catch (e) {
      // Uploads in flight end before the error is reported (their own failures are secondary).
      await this.tasks.settle();
      throw e;
    }
  }

  private async consumeEvents(events: AsyncIterable<LayoutEvent>, ctx: EventContext): Promise<void> {
    for await (const ev of events) {
      this.tasks.check();
      if (this.opts.signal?.aborted) throw new InterruptedError((this.opts.signal.reason as NodeJS.Signals) ?? 'SIGINT');
      this.set.note(ev, ctx.source);
      if (ev.kind === 'index') await this.onIndex(ev.index.manifests, { source: ctx.source, offset: ev.offset });
      else if (ev.kind === 'blob') await this.onBlob(ev.digest, ev.size, ev.body, { source: ctx.source, offset: ev.offset });
    }
  }

  private async onIndex(manifests: Descriptor[], at: At): Promise<void> {
    if (!this.root) {
      if (manifests.length === 0) {
        throw new OciError('EINDEX', `index.json at byte ${at.offset} in ${at.source} lists no manifests, so there is no root to tag`);
      }
      this.root = basicDescriptor(manifests[0]);
      this.log('info', `root ${this.root.digest} (${this.root.mediaType})`);
    }
    for (const d of manifests) {
      this.sources.note(d);
      this.graph.announce(d);
    }
    await this.pump();
    if (this.opts.strict && this.set.archiveIndexes >= 2) {
      await this.tasks.drain();
      // The original's strict rule: a later index.json comes after all content of the manifests before it.
      await this.resolve();
      const missing = this.missing().filter((m) => m.neededBy.length > 0 || m.kind === 'blob');
      if (missing.length > 0) {
        throw new OciError('EMISSING', `expected 0 missing blobs when processing an index.json file, but found ${missing.length} (index.json at byte ${at.offset} in ${at.source})`);
      }
    }
  }

  /** A manifest's child met as its bytes are attached: learn its sources, start looking a blob up. */
  private onChild(child: Descriptor): void {
    this.sources.note(child);
    if (!isManifest(child.mediaType) && !this.graph.blob(child.digest)) this.to?.placer.ahead(basicDescriptor(child), this.hints(child.digest));
  }

  /** Source repositories the archive names for a blob or manifest, or above it. */
  private hints(digest: string): string[] {
    return this.sources.for(digest, (d) => this.graph.parentsOf(d));
  }

  private async onBlob(digest: string, size: number, body: AsyncIterable<Uint8Array>, at: At): Promise<void> {
    const node = this.graph.node(digest);
    const needBytes = node !== undefined && !node.bytes && !node.done;
    if (!needBytes && (this.graph.blob(digest) || this.tasks.has(digest) || node?.done)) {
      this.blobs.duplicates++;
      return; // already handled: the reader skips the body
    }
    if (needBytes && size > this.maxManifest) {
      throw new OciError('EMANIFEST', `manifest ${digest} in ${at.source} at byte ${at.offset} is ${size} bytes, more than the ${this.maxManifest} allowed`);
    }
    const desc: Descriptor = { mediaType: MediaType.OctetStream, digest, size };
    return size <= SMALL_MAX ? this.onSmallBlob(desc, body, at, needBytes ? node : undefined) : this.onLargeBlob(desc, body, at);
  }

  /** Read whole and verified; a manifest's bytes go to the graph, other blobs up in the background. */
  private async onSmallBlob(desc: Descriptor, body: AsyncIterable<Uint8Array>, at: At, node: ManifestNode | undefined): Promise<void> {
    const r = await readVerified(desc, body, where(desc, at));
    if (r.flaw) return this.flaws.note(desc, r.flaw, at);
    this.noteVerified(desc);
    if (node) {
      // Manifests go to the target as manifests (by digest), once their children are there.
      this.graph.attach(node, r.bytes);
      return this.pump();
    }
    if (looksLikeManifest(r.bytes) && !this.graph.keep(desc.digest, r.bytes)) {
      this.log('warn', `keeping no more manifest-like blobs in memory (${KEEP_MAX} bytes held); ${desc.digest} may be reported missing`);
    }
    const to = this.to;
    if (!to) return this.placeBlob(desc, 'verified');
    const hints = this.hints(desc.digest);
    return this.tasks.add(desc.digest, desc.size, async () => {
      const p = await to.placer.place(desc, hints);
      if (p.how !== 'upload') return this.placeBlob(desc, p.how);
      if (!this.opts.dryRun) await uploadBytes(to.target, desc, r.bytes, p.session);
      await this.placeBlob(desc, this.uploaded(desc));
    });
  }

  /** Streamed: found or mounted (the body is skipped), else uploaded as verified; hashed only without a target. */
  private async onLargeBlob(desc: Descriptor, body: AsyncIterable<Uint8Array>, at: At): Promise<void> {
    const to = this.to;
    let session: UploadSession | undefined;
    if (to) {
      // One upload at a time streams from the archive; it counts against the same bound.
      await this.tasks.below(this.tasks.concurrency);
      const p = await to.placer.place(desc, this.hints(desc.digest));
      // In the target (found or mounted): the reader skips the unread body; the registry's copy
      // was verified when it was first pushed, and a digest names its content.
      if (p.how !== 'upload') return this.placeBlob(desc, p.how);
      session = p.session;
    }
    const flaw = to && !this.opts.dryRun ? await uploadVerified(to.target, desc, body, where(desc, at), session) : await hashVerified(desc, body, where(desc, at));
    if (flaw) return this.flaws.note(desc, flaw, at);
    this.noteVerified(desc);
    return this.placeBlob(desc, to ? this.uploaded(desc) : 'verified');
  }

  /** A blob uploaded to the target (a dry run: that would have been). */
  private uploaded(desc: Descriptor): Placed {
    if (this.opts.dryRun) return 'dry-run';
    this.to?.placer.landed(desc);
    return 'pushed';
  }

  private noteVerified(desc: Descriptor): void {
    this.blobs.verified++;
    this.blobs.verifiedBytes += desc.size;
  }

  /** A blob is in place: counted, its problems forgotten, its parents looked at again. */
  private async placeBlob(desc: Descriptor, how: Placed): Promise<void> {
    this.graph.placeBlob(desc.digest, desc.size, how);
    this.flaws.clear(desc.digest);
    if (how === 'existing') {
      this.blobs.existing++;
      this.blobs.existingBytes += desc.size;
    } else if (how === 'mounted') {
      this.blobs.mounted++;
      this.blobs.mountedBytes += desc.size;
    } else if (how === 'pushed' || how === 'dry-run') {
      this.blobs.pushed++;
      this.blobs.pushedBytes += desc.size;
    }
    await this.pump();
  }

  /**
   * Push every manifest the graph says is ready; then their parents. One loop at a time
   * (uploads finishing in the background call this too): a caller while it runs joins it, and the
   * loop sees what was queued meanwhile, since nothing awaits between its last check and its end.
   */
  private pump(): Promise<void> {
    this.pumping ??= (async () => {
      await null; // so that `pumping` is set before the loop can end
      try {
        await this.pushReady();
      } finally {
        this.pumping = undefined;
      }
    })();
    return this.pumping;
  }

  private async pushReady(): Promise<void> {
    for (let node = this.graph.ready(); node; node = this.graph.ready()) {
      const desc = manifestDescriptor(node);
      const t = this.opts.target;
      if (t && !this.opts.dryRun) await t.pushManifest(desc, node.bytes!);
      this.graph.placeManifest(node, t ? 'pushed' : 'verified');
      this.manifests.pushed++;
      this.log('debug', `manifest ${desc.digest} ${t ? (this.opts.dryRun ? 'would be pushed' : 'pushed') : 'complete'}`);
    }
  }

  /** Ask the target (or --existing) about what the archives did not hold (pushed by an earlier run). */
  private async resolve(): Promise<void> {
    for (let round = 0; round < 64; round++) {
      let progress = false;
      for (const node of [...this.graph.manifests()]) {
        if (node.done) continue;
        if (node.bytes ? await this.resolveChildren(node) : await this.resolveManifest(node)) progress = true;
      }
      await this.pump();
      if (!progress) break;
    }
  }

  /** A manifest never seen in the archives: explained, kept by an earlier call, or in the target. */
  private async resolveManifest(node: ManifestNode): Promise<boolean> {
    if (this.opts.existing?.get(node.desc.digest)) {
      this.graph.placeManifest(node, 'explained');
      return true;
    }
    if (!this.to) return false;
    // Read the bytes back when the registry has them (as a manifest or kept as a blob by an
    // earlier run): distribution 2.8 answers HEAD manifests/<digest> with 200 for a mere blob,
    // so "exists" alone would let a parent go up over a manifest never PUT.
    const bytes = await this.to.stash.fetch(node.desc);
    if (bytes) {
      this.log('info', `manifest ${node.desc.digest} is not in the archives; read back from the registry and verified`);
      this.graph.attach(node, bytes);
      return true;
    }
    if (!(await this.to.cache.manifestExists(node.desc))) return false;
    this.graph.placeManifest(node, 'existing');
    this.manifests.existing++;
    return true;
  }

  /** Blobs of a verified manifest that the archives lacked: explained, found or mounted. */
  private async resolveChildren(node: ManifestNode): Promise<boolean> {
    let progress = false;
    for (const c of node.children ?? []) {
      if (isManifest(c.mediaType) || this.graph.blob(c.digest)) continue;
      if (this.opts.existing?.get(c.digest)) {
        this.graph.placeBlob(c.digest, c.size, 'existing', false);
        progress = true;
      } else if (this.to && !this.triedPlacing.has(c.digest)) {
        // Not in the archives (serialize skipped it as present on the far side): found in the
        // target, or mounted from another repository of the registry, completes the set.
        this.triedPlacing.add(c.digest);
        const p = await this.to.placer.place(c, this.hints(c.digest), false);
        if (p.how !== 'upload') {
          await this.placeBlob(c, p.how);
          progress = true;
        }
      }
    }
    this.graph.recheck(node);
    return progress;
  }

  private missing() {
    return this.graph.missing((d) => this.flaws.reason(d));
  }

  /**
   * After the last source: resolve what the archives did not hold against the target (or the
   * --existing information), tag the root when everything is there, and report.
   */
  async finish(tag?: string): Promise<EngineResult> {
    const problems: string[] = [];
    const empty = this.set.emptyProblem(this.root !== undefined);
    if (empty) problems.push(empty);
    await this.tasks.drain();
    await this.resolve();
    const missing = this.missing();
    const end = this.set.endProblem();
    if (end) problems.push(end);
    const rootNode = this.root ? this.graph.node(this.root.digest) : undefined;
    if (this.root && rootNode && !rootNode.done && missing.length === 0) problems.push(`root manifest ${this.root.digest} is not complete`);
    const corrupt = this.flaws.corruptItems((d) => this.graph.blob(d) !== undefined);
    const complete = problems.length === 0 && missing.length === 0 && corrupt.length === 0 && rootNode?.done === true;
    let tagged: string | undefined;
    if (complete && tag !== undefined && this.root && this.opts.target) {
      if (!rootNode.bytes) {
        problems.push(`root manifest ${this.root.digest} is in the registry but not in the archives; it cannot be tagged`);
      } else {
        if (!this.opts.dryRun) await this.opts.target.pushManifest(manifestDescriptor(rootNode), rootNode.bytes, tag);
        tagged = tag;
      }
    }
    if (!complete && this.to && !this.opts.dryRun) {
      // Incomplete: the verified manifests not pushed yet wait in the registry as blobs (as the original does).
      const kept = await this.to.stash.keep(this.graph.manifests());
      if (kept) this.log('info', `kept ${kept} manifest${kept === 1 ? '' : 's'} that could not be pushed yet in the registry as blobs, for the next piece`);
    }
    const existing = this.opts.existing;
    return {
      root: this.root,
      tagged,
      blobs: { ...this.blobs },
      manifests: { known: this.graph.size, pushed: this.manifests.pushed, existing: this.manifests.existing },
      missing,
      explained: existing ? this.graph.explained((d) => existing.get(d)) : [],
      corrupt,
      unreferenced: this.graph.unclaimed(),
      ignored: this.set.ignored,
      archives: this.set.archives,
      indexes: this.set.indexes,
      lastArchiveClean: this.set.lastClean,
      problems,
      complete: complete && problems.length === 0,
    };
  }
}

/** verifyingWriter's context (its messages are not shown: the engine reports a Flaw its own way). */
function where(desc: Descriptor, at: At): string {
  return `blob ${desc.digest} in ${at.source} at byte ${at.offset}`;
}
