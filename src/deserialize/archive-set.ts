import type { LayoutEvent } from '../archive/reader.js';
import type { Log } from './types.js';

/**
 * What the archives of a run look like as a set, from the reader's events: how many archives
 * and index.json files, entries ignored, and whether the last piece ends where nothing is lost.
 * A cut piece is normal (the resumed run wrote the rest); only the set's end is judged.
 */
export class ArchiveSet {
  archives = 0;
  indexes = 0;
  ignored = 0;
  /** index.json files of the current archive (strict mode checks completeness at the second). */
  archiveIndexes = 0;
  /** The last archive ended with its trailer, or at the end of the data after a closing index.json. */
  lastClean = false;
  private indexAfterLastBlob = false;
  private sawAnything = false;

  constructor(private readonly log: Log) {}

  note(ev: LayoutEvent, source: string): void {
    switch (ev.kind) {
      case 'archive-start':
        this.archives++;
        this.archiveIndexes = 0;
        this.lastClean = false;
        this.indexAfterLastBlob = false;
        this.log('debug', `${source}: archive ${ev.archive} at byte ${ev.offset}${ev.compression !== 'none' ? ` (${ev.compression})` : ''}`);
        break;
      case 'oci-layout':
      case 'manifest-json':
        this.sawAnything = true;
        break;
      case 'ignored':
        this.ignored++;
        this.log('info', `${source}: ignoring ${JSON.stringify(ev.name)} at byte ${ev.offset} (${ev.reason})`);
        break;
      case 'index':
        this.sawAnything = true;
        this.indexes++;
        this.archiveIndexes++;
        this.indexAfterLastBlob = true;
        break;
      case 'blob':
        this.sawAnything = true;
        this.indexAfterLastBlob = false;
        break;
      case 'archive-end': {
        const clean = ev.how === 'trailer' || (ev.how === 'eof' && this.indexAfterLastBlob);
        this.lastClean = clean;
        if (ev.how === 'truncated') {
          this.log('info', `${source}: archive ${ev.archive} is cut at byte ${ev.offset}${ev.problem ? ` (${ev.problem})` : ''}; a partial piece`);
        } else if (ev.how === 'eof' && !clean) {
          this.log('info', `${source}: archive ${ev.archive} ends at byte ${ev.offset} without an end-of-archive marker or a closing index.json`);
        }
        break;
      }
    }
  }

  /** Nothing to deserialize at all, or no index.json naming a root. */
  emptyProblem(hasRoot: boolean): string | undefined {
    if (!this.sawAnything) return 'no OCI layout archive found in the sources';
    if (!hasRoot) return 'missing "index.json" file: no root manifest is known';
    return undefined;
  }

  /** The set ends where manifests the last piece would list may be unknown. */
  endProblem(): string | undefined {
    if (this.archives > 0 && !this.lastClean) {
      return 'the last piece is cut or ends without its closing index.json, so manifests it would list may be unknown (give the remaining pieces)';
    }
    return undefined;
  }
}
