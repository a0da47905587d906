import type { Descriptor } from '../oci/descriptor.js';
import type { Flaw } from './blob-push.js';
import type { CorruptItem, Log } from './types.js';

/**
 * Blobs whose bytes failed verification, until an intact copy is in place: a cut one (the end of
 * a piece; a later piece usually holds it) is a reason for `missing`, a corrupt one is also
 * reported as corrupt. Neither stops the run.
 */
export class BlobFlaws {
  private readonly reasons = new Map<string, string>();
  private readonly corrupt = new Map<string, CorruptItem>();

  constructor(private readonly log: Log) {}

  note({ digest, size }: Descriptor, flaw: Flaw, at: { source: string; offset: number }): void {
    if (flaw.code === 'ESHORT') {
      this.reasons.set(digest, `cut at the end of a piece (${flaw.got} of ${size} bytes in ${at.source})`);
      this.log('info', `${at.source}: blob ${digest} at byte ${at.offset} is cut (${flaw.got} of ${size} bytes); not pushed`);
      return;
    }
    const reason = flaw.code === 'EDIGEST' ? `digest mismatch${flaw.actual ? ` (content hashes to ${flaw.actual})` : ''}` : `more data than its size`;
    this.reasons.set(digest, `${reason} in ${at.source} at byte ${at.offset}`);
    this.corrupt.set(digest, { digest, source: at.source, offset: at.offset, reason });
    this.log('warn', `${at.source}: blob ${digest} at byte ${at.offset} is corrupt: ${reason}; not pushed`);
  }

  /** An intact copy is in place. */
  clear(digest: string): void {
    this.reasons.delete(digest);
    this.corrupt.delete(digest);
  }

  reason(digest: string): string | undefined {
    return this.reasons.get(digest);
  }

  /** Corrupt blobs with no intact copy in place. */
  corruptItems(inPlace: (digest: string) => boolean): CorruptItem[] {
    return [...this.corrupt.values()].filter((c) => !inPlace(c.digest));
  }
}
