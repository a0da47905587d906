import { stat } from 'node:fs/promises';
import { readLedger, recordsOnMedium } from '../archive/ledger.js';
import { existingBlobs } from '../plan/plan.js';

/**
 * What explains blobs that an archive lacks on purpose (`mirror verify --existing`):
 * - a checkpoint ledger `PATH` or `PATH:OFFSET` (JSON Lines descriptors; with OFFSET only the
 *   records below it, the original's --existing-from-checkpoint rule): blobs and manifests an
 *   earlier piece wrote;
 * - an OCI layout (`oci:PATH[:TAG]`, or a directory holding one) or an EXISTING-IMAGE reference:
 *   the non-manifest blobs it references, which serialize skipped (behaviour note 3).
 * Returns digest -> a phrase naming the source.
 */
export async function loadExisting(specs: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const spec of specs) {
    const m = /^(.*):(\d+)$/.exec(spec);
    const file = m && (await isFile(m[1])) ? m[1] : spec;
    if (!spec.startsWith('oci:') && (await isFile(file))) {
      const records = await readLedger(file);
      const kept = file === spec ? records : recordsOnMedium(records, Number(m![2]));
      for (const r of kept) if (!out.has(r.descriptor.digest)) out.set(r.descriptor.digest, `checkpoint ${file} line ${r.line}`);
      continue;
    }
    let ref = spec;
    if (!spec.startsWith('oci:') && (await isDir(spec))) ref = `oci:${spec}`;
    const { openSource } = await import('../source/index.js');
    const src = await openSource(ref);
    try {
      const into = new Map<string, string>();
      await existingBlobs(src, ref, into);
      for (const [d, why] of into) if (!out.has(d)) out.set(d, why);
    } finally {
      await src.close();
    }
  }
  return out;
}

async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isFile() ?? false;
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
}
