import { humanBytes } from '../util/bytes.js';
import type { ArchivesReport, SourceReport } from './index.js';

/** Text for the closing summaries of `mirror deserialize` and `mirror verify` (pure). */

function rate(bytes: number, ms: number): string {
  return ms > 0 ? `${humanBytes(Math.round((bytes * 1000) / ms))}/s` : 'n/a';
}

export function sourceLine(s: SourceReport): string {
  let line = `${s.name}: ${humanBytes(s.bytes)} read`;
  if (s.kind === 'tape') {
    line += ` in ${s.records} records (read size ${humanBytes(s.readSize ?? 0)})`;
    line += s.filemark ? ', stopped after the filemark: the tape is at the start of the next file' : ', stopped at the end of data';
    if (s.position) line += ` (now file ${s.position.fileNumber}, block ${s.position.blockInFile}; MTIOCPOS ${s.position.block})`;
  }
  return line;
}

export function summaryLines(r: ArchivesReport, mode: 'deserialize' | 'verify' | 'dry-run'): string[] {
  const out: string[] = [];
  const secs = (r.durationMs / 1000).toFixed(1);
  out.push(`read ${r.sources.length} source${r.sources.length === 1 ? '' : 's'}, ${r.archives} archive${r.archives === 1 ? '' : 's'}, ${humanBytes(r.bytesRead)} in ${secs} s (${rate(r.bytesRead, r.durationMs)})`);
  for (const s of r.sources) out.push(`  ${sourceLine(s)}`);
  const b = r.blobs;
  let blobs = `blobs: ${b.verified} verified (${humanBytes(b.verifiedBytes)})`;
  if (mode === 'deserialize') blobs += `, ${b.pushed} uploaded (${humanBytes(b.pushedBytes)}), ${b.mounted} mounted (${humanBytes(b.mountedBytes)}), ${b.existing} skipped, already in the repository (${humanBytes(b.existingBytes)})`;
  if (mode === 'dry-run') blobs += `, ${b.pushed} would be uploaded (${humanBytes(b.pushedBytes)}), ${b.mounted} would be mounted (${humanBytes(b.mountedBytes)}), ${b.existing} skipped, already in the repository (${humanBytes(b.existingBytes)})`;
  if (b.duplicates) blobs += `, ${b.duplicates} duplicate entr${b.duplicates === 1 ? 'y' : 'ies'} skipped`;
  out.push(blobs);
  const m = r.manifests;
  const verb = mode === 'deserialize' ? 'pushed' : mode === 'dry-run' ? 'would be pushed' : 'complete';
  out.push(`manifests: ${m.known} known, ${m.pushed} ${verb}${m.existing ? `, ${m.existing} already in the registry` : ''}`);
  if (r.ignored) out.push(`ignored entries: ${r.ignored} (not part of an OCI layout)`);
  out.push(`missing: ${r.missing.length}${r.explained.length ? `, skipped on purpose: ${r.explained.length}` : ''}${r.corrupt.length ? `, corrupt: ${r.corrupt.length}` : ''}`);
  if (r.root) out.push(`Digest: ${r.root.digest}`);
  return out;
}

export function detailLines(r: ArchivesReport): string[] {
  const out: string[] = [];
  for (const m of r.missing) {
    out.push(
      `missing ${m.kind} ${m.digest}${m.size !== undefined ? ` (${m.size} B)` : ''}` +
        (m.neededBy.length ? `, needed by ${m.neededBy.join(', ')}` : ', listed in index.json') +
        (m.reason ? `: ${m.reason}` : ''),
    );
  }
  for (const e of r.explained) out.push(`skipped on purpose: ${e.kind} ${e.digest}${e.size !== undefined ? ` (${e.size} B)` : ''}, explained by ${e.explainedBy}`);
  for (const c of r.corrupt) out.push(`corrupt blob ${c.digest} in ${c.source} at byte ${c.offset}: ${c.reason}`);
  for (const u of r.unreferenced) out.push(`note: manifest-like blob ${u} is not listed in any index.json or manifest`);
  for (const p of r.problems) out.push(`problem: ${p}`);
  return out;
}

/** One line saying why the run failed. */
export function failureMessage(r: ArchivesReport, mode: 'deserialize' | 'verify'): string {
  const parts: string[] = [];
  if (r.missing.length) {
    const shown = r.missing.slice(0, 3).map((m) => m.digest).join(', ');
    const blobs = r.missing.filter((m) => m.kind === 'blob').length;
    const manifests = r.missing.length - blobs;
    const what = [blobs ? `${blobs} blob${blobs === 1 ? '' : 's'}` : '', manifests ? `${manifests} manifest${manifests === 1 ? '' : 's'}` : ''].filter(Boolean).join(' and ');
    parts.push(`${r.missing.length} missing (${what}: ${shown}${r.missing.length > 3 ? ', ...' : ''})`);
  }
  if (r.corrupt.length) parts.push(`${r.corrupt.length} corrupt blob${r.corrupt.length === 1 ? '' : 's'}`);
  parts.push(...r.problems);
  const what = mode === 'deserialize' ? 'the set is incomplete, the root was not tagged' : 'the set is incomplete or damaged';
  return `${what}: ${parts.join('; ')}. Give all pieces of an interrupted serialize in one call, in order.`;
}
