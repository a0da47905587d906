import { spawn } from 'node:child_process';
import { InterruptedError, UserError } from '../errors.js';
import { parseDigest } from '../oci/digest.js';
import { digestBytes } from '../oci/verify.js';
import type { Plan } from '../plan/plan.js';
import type { BlobFetcher, BlobStream } from '../source/types.js';
import { pushBlobStream } from '../stream/blob-stream.js';
import { padded } from '../archive/tar-header.js';
import type { Sink } from '../sink/types.js';

/**
 * The next volume in the same run (issue 14 item 1): when a tape is full, the volume is finished
 * (the filemark, the ledger's run-end) and, once the next medium is loaded (the operator's
 * --next-volume command, or the operator at the prompt), the rest goes to it as a new archive,
 * exactly what a resume would write, but without resolving the plan again and without fetching
 * again the blobs that the ring still holds or the prefetch window had downloaded whole. Also the
 * command between file volumes.
 */

/** Run the operator's command through the shell; exit 0 means the next volume is ready. */
export async function runVolumeCommand(cmd: string, volume: number, dest: string, signal: AbortSignal, env: Record<string, string> = {}): Promise<void> {
  signal.throwIfAborted();
  // stdin stays the operator's (a changer script may ask); its output goes to our stderr, where
  // it cannot be mixed into an archive written to standard output.
  const child = spawn('/bin/sh', ['-c', cmd], {
    stdio: ['inherit', 2, 2],
    env: { ...process.env, ACE_DT_VOLUME: String(volume), ACE_DT_DEST: dest, ...env },
  });
  const onAbort = () => child.kill('SIGTERM');
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const status = await new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, sig) => resolve({ code, sig }));
    });
    if (signal.aborted) throw new InterruptedError((signal.reason as NodeJS.Signals) ?? 'SIGINT');
    if (status.code !== 0) {
      const how = status.sig ? `was killed by ${status.sig}` : `exited with status ${status.code}`;
      throw new UserError('ENEXTVOLUME', `the --next-volume command ${JSON.stringify(cmd)} ${how} before volume ${volume}`);
    }
  } catch (e) {
    if (e instanceof UserError || e instanceof InterruptedError) throw e;
    throw new UserError('ENEXTVOLUME', `cannot run the --next-volume command ${JSON.stringify(cmd)}: ${(e as Error).message}`);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Where a written blob's data lies in the stream: it ends `padded(size)` before its record's offset. */
export interface BlobEnd {
  digest: string;
  size: number;
  /** Archive offset after the blob's padding (the ledger's offset). */
  offset: number;
}

/**
 * Blobs the full volume did not take whose bytes the ring still holds, copied out and checked
 * against their digests (bytes of a landing that was never committed may have overwritten the
 * oldest ones; those are fetched again instead). `accepted` bytes went into the sink in all,
 * `mediumBytes` reached the medium; a blob counts as on the medium when its offset is within it.
 */
export function keepFromRing(sink: Sink, ends: BlobEnd[], mediumBytes: number, archiveStart: number): Map<string, Uint8Array> {
  const kept = new Map<string, Uint8Array>();
  if (!sink.recent) return kept;
  for (const b of ends) {
    if (b.offset <= mediumBytes) continue;
    const dataStart = b.offset - padded(b.size) - archiveStart;
    const bytes = sink.recent(dataStart, dataStart + b.size);
    if (!bytes) continue;
    const { algorithm } = parseDigest(b.digest);
    if (digestBytes(algorithm, bytes) === b.digest) kept.set(b.digest, bytes);
  }
  return kept;
}

/** The source's blobs, but the ones kept in memory come from there (once each). */
export function memoryFetcher(source: BlobFetcher, kept: Map<string, Uint8Array>): BlobFetcher {
  return {
    async fetchBlob(desc, signal): Promise<BlobStream> {
      const bytes = kept.get(desc.digest);
      if (!bytes) return source.fetchBlob(desc, signal);
      kept.delete(desc.digest);
      return pushBlobStream(async (write) => {
        const wait = write(bytes);
        if (wait) await wait;
      });
    },
  };
}

/** The plan of the next piece: the same archive without the blobs the full volumes hold. */
export function remainingPlan(plan: Plan, onMedium: Set<string>, reason: string): Plan {
  const moved = plan.blobs.filter((b) => onMedium.has(b.descriptor.digest));
  return {
    ...plan,
    blobs: plan.blobs.filter((b) => !onMedium.has(b.descriptor.digest)),
    skipped: [...plan.skipped, ...moved.map((b) => ({ descriptor: b.descriptor, reason }))],
  };
}
