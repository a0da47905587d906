import type { Descriptor } from '../oci/descriptor.js';
import type { BlobPusher, ManifestPusher } from '../source/types.js';

/**
 * What the target repository holds, asked once per digest for the run (HEAD), and told what
 * this run put there. Blobs and manifests are separate questions: distribution 2.8 answers HEAD
 * manifests/<digest> with 200 for a mere blob, so one answer must not stand for the other.
 * Concurrent askers share one request; a failed request is forgotten, so the next asker retries.
 */
export class TargetCache {
  private readonly answers = new Map<string, Promise<boolean>>();

  constructor(private readonly target: Pick<BlobPusher, 'blobExists'> & Pick<ManifestPusher, 'manifestExists'>) {}

  blobExists(desc: Descriptor): Promise<boolean> {
    return this.ask(`blob ${desc.digest}`, () => this.target.blobExists(desc));
  }

  manifestExists(desc: Descriptor): Promise<boolean> {
    return this.ask(`manifest ${desc.digest}`, () => this.target.manifestExists(desc));
  }

  /** The blob is in the target now (pushed, mounted or found). */
  landed(desc: Descriptor): void {
    this.answers.set(`blob ${desc.digest}`, Promise.resolve(true));
  }

  private ask(key: string, head: () => Promise<boolean>): Promise<boolean> {
    let v = this.answers.get(key);
    if (!v) {
      v = head();
      this.answers.set(key, v);
      v.catch(() => {
        if (this.answers.get(key) === v) this.answers.delete(key);
      });
    }
    return v;
  }
}
