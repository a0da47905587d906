import { humanBytes } from '../util/bytes.js';
import type { Platform } from '../oci/descriptor.js';
import type { InspectReport } from './index.js';

/** Text for `mirror inspect` (pure): the sources, the images, a blob table, what is missing. */

/** `sha256:` and 12 hex digits, as docker prints them; --json has the whole digest. */
function short(digest: string): string {
  const i = digest.indexOf(':');
  return i > 0 ? digest.slice(0, i + 13) : digest;
}

function platform(p?: Platform): string {
  if (!p) return '-';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/') + (p['os.version'] ? ` ${p['os.version']}` : '');
}

/** Media types without the common prefixes, so that the table stays narrow. */
function shortType(mt?: string): string {
  if (!mt) return '?';
  return mt.replace(/^application\/vnd\.oci\.image\./, 'oci.').replace(/^application\/vnd\.docker\.(distribution\.manifest\.|container\.image\.|image\.rootfs\.)?/, 'docker.');
}

function table(header: string[], rows: string[][], right: Set<number>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

function sourceLine(r: InspectReport, i: number): string {
  const s = r.sources[i];
  const archives = r.archives.filter((a) => a.source === i);
  const ends = archives.map((a) => (a.how === 'trailer' ? 'complete' : a.how === 'truncated' ? `cut at byte ${a.endOffset}` : `ends at byte ${a.endOffset} without a trailer`));
  let line = `piece ${i + 1}: ${s.name} (${s.kind}${archives.some((a) => a.compression !== 'none') ? `, ${archives.find((a) => a.compression !== 'none')!.compression}` : ''}): ${archives.length} archive${archives.length === 1 ? '' : 's'}${ends.length ? ` (${ends.join(', ')})` : ''}`;
  line += `; ${s.records} read${s.records === 1 ? '' : 's'}, ${humanBytes(s.bytes)} read, ${humanBytes(s.skipped)} skipped`;
  if (s.kind === 'tape') {
    line += `, ${s.spacedRecords ?? 0} records spaced over${s.recordSize ? ` (${s.recordSize}-byte records)` : ''}`;
    line += s.filemark ? ', stopped after the filemark' : ', stopped at the end of data';
    if (s.position) line += ` (now file ${s.position.fileNumber}, block ${s.position.blockInFile})`;
  }
  return line;
}

export function renderReport(r: InspectReport): string[] {
  const out: string[] = [];
  for (let i = 0; i < r.sources.length; i++) out.push(sourceLine(r, i));
  out.push('');
  if (r.root) out.push(`root: ${r.root.digest} (${shortType(r.root.mediaType)}, ${r.root.size} B)`);
  if (r.images.length) {
    out.push('', 'IMAGES');
    const rows = r.images.map((m) => [
      (m.root ? '' : '  ') + short(m.digest),
      shortType(m.mediaType),
      platform(m.platform),
      m.tags.length ? m.tags.join(',') : '-',
      m.contentBytes !== undefined ? humanBytes(m.contentBytes) : '-',
      m.present ? (m.children !== undefined ? `present, ${m.children} children` : 'present') : 'MISSING',
    ]);
    out.push(...table(['MANIFEST', 'TYPE', 'PLATFORM', 'TAGS', 'CONTENT', 'STATE'], rows, new Set([4])));
  }
  if (r.blobs.length) {
    out.push('', 'BLOBS');
    const multi = r.sources.length > 1;
    const rows = r.blobs.map((b) => [
      ...(multi ? [String(b.source + 1)] : []),
      String(b.offset),
      String(b.size),
      short(b.digest),
      shortType(b.mediaType) + (b.cut ? ' (CUT: the piece ends inside it)' : ''),
    ]);
    const head = [...(multi ? ['PIECE'] : []), 'OFFSET', 'SIZE', 'DIGEST', 'MEDIA TYPE'];
    out.push(...table(head, rows, new Set(multi ? [1, 2] : [0, 1])));
  }
  if (r.missing.length) {
    out.push('', 'MISSING (referenced, in no piece)');
    const rows = r.missing.map((m) => [short(m.digest), m.size !== undefined ? String(m.size) : '?', shortType(m.mediaType), m.neededBy.length ? m.neededBy.map(short).join(',') : 'index.json']);
    out.push(...table(['DIGEST', 'SIZE', 'MEDIA TYPE', 'NEEDED BY'], rows, new Set([1])));
  }
  const t = r.totals;
  out.push('');
  out.push(
    `totals: ${t.blobs} blobs (${humanBytes(t.blobBytes)}), ${t.manifests} manifests present, ${t.missing} missing${t.missing ? ` (${humanBytes(t.missingBytes)})` : ''}` +
      (t.duplicates ? `, ${t.duplicates} duplicate entries` : '') +
      (t.cut ? `, ${t.cut} cut` : '') +
      (t.ignoredEntries ? `, ${t.ignoredEntries} entries outside the layout` : ''),
  );
  out.push(`read ${humanBytes(t.bytesRead)} in ${t.reads} reads, skipped ${humanBytes(t.bytesSkipped)}, ${(t.durationMs / 1000).toFixed(2)} s`);
  for (const n of r.notes) out.push(`note: ${n}`);
  for (const p of r.problems) out.push(`problem: ${p}`);
  return out;
}
