import { DigestMismatchError, OciError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { verifyingWriter } from '../oci/verify.js';
import type { BlobPusher, UploadSession } from '../source/types.js';

/**
 * Verify-then-push of one blob's bytes. Every byte passes through oci/verify.ts's
 * `verifyingWriter` (size, trailing data, digest; the chunk that completes a blob is passed on
 * only once the digest is confirmed), here as everywhere else; where the hashing runs, and why,
 * is said there. A blob that fails is not an error of the run: its flaw comes back for the
 * engine to report (a cut piece is normal, and a later piece may hold an intact copy); other
 * errors (the reader's, the registry's) are thrown.
 */

/** What is wrong with a blob's bytes, by verifyingWriter's code. */
export interface Flaw {
  code: 'ESHORT' | 'ESIZE' | 'EDIGEST';
  /** Bytes that arrived; more than the size for ESIZE. */
  got: number;
  /** EDIGEST: what the bytes hash to. */
  actual?: string;
}

/** One blob's bytes through verifyingWriter, counting them and keeping its failure as a Flaw. */
class Checked {
  got = 0;
  flaw?: Flaw;
  private readonly writer: ReturnType<typeof verifyingWriter>;

  /** `keep` receives each verified chunk with its offset (a chunk may be a view the source reuses). */
  constructor(
    private readonly desc: Descriptor,
    context: string,
    keep?: (chunk: Uint8Array, at: number) => void,
  ) {
    this.writer = verifyingWriter(desc, context, (chunk) => {
      keep?.(chunk, this.got);
      this.got += chunk.length;
      return undefined;
    });
  }

  /** False once the bytes are known bad; the chunk that showed it is not passed on. */
  write(chunk: Uint8Array): boolean {
    return this.run(() => this.writer.write(chunk));
  }

  /** The bytes ended: false when they are short (or were bad before). */
  end(): boolean {
    return this.run(() => this.writer.end());
  }

  private run(step: () => unknown): boolean {
    if (this.flaw) return false;
    try {
      step();
      return true;
    } catch (e) {
      this.flaw = flawOf(e, this.desc, this.got);
      return false;
    }
  }
}

function flawOf(e: unknown, desc: Descriptor, got: number): Flaw {
  if (!(e instanceof OciError)) throw e;
  switch (e.code) {
    case 'ESHORT':
      return { code: 'ESHORT', got };
    case 'ESIZE':
      return { code: 'ESIZE', got: desc.size + 1 };
    case 'EDIGEST':
      // The report names what the content hashes to (the blob is not hashed a second time).
      return { code: 'EDIGEST', got: desc.size, actual: e instanceof DigestMismatchError ? e.actual : undefined };
    default:
      throw e;
  }
}

/** Feed `c` to the end of `body`, or until the bytes are known bad (the reader skips the rest). */
async function feed(body: AsyncIterable<Uint8Array>, c: Checked): Promise<void> {
  for await (const chunk of body) if (!c.write(chunk)) return;
  c.end();
}

/** A body read whole into memory (small blobs, manifests read back), verified. */
export async function readVerified(desc: Descriptor, body: AsyncIterable<Uint8Array>, context: string): Promise<{ bytes: Uint8Array; flaw?: undefined } | { flaw: Flaw }> {
  const bytes = new Uint8Array(desc.size);
  const c = new Checked(desc, context, (chunk, at) => bytes.set(chunk, at));
  await feed(body, c);
  return c.flaw ? { flaw: c.flaw } : { bytes };
}

/** A body verified and dropped (no target, or a dry run). */
export async function hashVerified(desc: Descriptor, body: AsyncIterable<Uint8Array>, context: string): Promise<Flaw | undefined> {
  const c = new Checked(desc, context);
  await feed(body, c);
  return c.flaw;
}

/**
 * A body streamed to the target as it is read and committed only when verified: the final PUT
 * waits for `verify()`, which says yes only when the upload took every byte and they were intact
 * (registry/uploads.ts). Bad bytes end the stream early; the upload is then cancelled.
 */
export async function uploadVerified(target: BlobPusher, desc: Descriptor, body: AsyncIterable<Uint8Array>, context: string, session?: UploadSession): Promise<Flaw | undefined> {
  const c = new Checked(desc, context);
  const it = body[Symbol.asyncIterator]();
  let taken = false;
  let asked = false;
  const data = (async function* () {
    for (;;) {
      const r = await it.next();
      if (r.done) {
        taken = c.end();
        return;
      }
      if (!c.write(r.value)) return;
      yield r.value;
    }
  })();
  const verify = async (): Promise<boolean> => {
    asked = true;
    return taken;
  };
  try {
    await target.pushBlob(desc, data, verify, session);
  } catch (e) {
    if (c.flaw) return c.flaw;
    throw e;
  }
  if (!asked) throw new OciError('EINTERNAL', `upload of ${desc.digest} finished without verifying it`);
  return undefined;
}

/** Bytes verified already (small blobs read whole, manifests kept as blobs) to the target. */
export function uploadBytes(target: BlobPusher, desc: Descriptor, bytes: Uint8Array, session?: UploadSession): Promise<void> {
  return target.pushBlob(desc, once(bytes), async () => true, session);
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}
