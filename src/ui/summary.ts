/**
 * The closing summary (SPEC "User experience"; behaviour note 11.8: the original printed
 * "completed" even on failure and no summary at all). A failed or interrupted run says so on
 * its first line, in words that cannot be mistaken for success.
 */
import type { ChalkInstance } from 'chalk';
import { formatBytes, humanBytes } from '../util/bytes.js';
import { formatDuration, formatRate } from './format.js';
import type { RunState } from './state.js';

function what(state: RunState): string {
  const cmd = state.command || 'run';
  if (state.image && state.dest) return `${cmd} ${state.image} -> ${state.dest}`;
  return state.image || state.dest ? `${cmd} ${state.image ?? state.dest}` : cmd;
}

/** Summary lines (no trailing newlines). `c` paints; a level-0 chalk gives plain text. */
export function summaryLines(state: RunState, c: ChalkInstance): string[] {
  const d = state.done;
  if (!d) {
    // close() without a 'done' event: the command failed before it could summarise.
    const why = state.error ? `: ${state.error.message}` : '';
    const head = state.error?.code === 'EINTERRUPTED' ? 'INTERRUPTED' : 'FAILED';
    return [`${c.red.bold(head)}: ${what(state)} did not complete${why}`];
  }
  const s = d.summary;
  const lines: string[] = [];
  const secs = Math.max(s.durationMs, 1) / 1000;
  if (d.ok) {
    lines.push(`${c.green.bold('done')}: ${what(state)} in ${formatDuration(s.durationMs)}`);
  } else {
    const head = d.interrupted ? 'INTERRUPTED' : 'FAILED';
    const archive = isSerialize(state) ? `; the archive${state.dest ? ` on ${state.dest}` : ''} is NOT complete` : '; the run is NOT complete';
    lines.push(`${c.red.bold(head)}: ${state.command || 'run'} stopped after ${formatDuration(s.durationMs)}${archive}`);
    if (state.error) lines.push(`  ${label('error')}${state.error.code === 'EINTERRUPTED' ? state.error.message : `${state.error.message} (${state.error.code})`}`);
  }
  const planned = state.plan ? ` of ${state.plan.blobs}` : '';
  const blobBytes = state.blobBytesDone > 0 ? ` (${humanBytes(state.blobBytesDone)})` : '';
  // serialize counts the blobs that are whole on a medium, also when it fails (service/serialize.ts:
  // a blob the full tape cut, or still in the ring at a kill, is not written). Other commands' failed
  // summaries may count 0: the blobs that went through count.
  const written = d.ok || isSerialize(state) ? s.blobsWritten : Math.max(s.blobsWritten, state.blobsDone);
  // deserialize pushes to a registry: its words, not an archive's.
  const push = /deserialize$/.test(state.command);
  const [did, skippedWord] = push ? ['uploaded', 'already in the repository'] : ['written', 'skipped'];
  // Mounted blobs (issue 16) moved no bytes: counted apart from the uploaded ones.
  const mounted = s.blobsMounted ? `, ${s.blobsMounted} mounted (${humanBytes(s.bytesMounted ?? 0)})` : '';
  lines.push(`  ${label('blobs')}${written}${d.ok ? '' : planned} ${did}${blobBytes}${mounted}, ${s.blobsSkipped} ${skippedWord} (${humanBytes(s.bytesSkipped)})`);
  const onto = push ? ' pushed' : state.dest ? ` to ${state.dest}` : '';
  lines.push(`  ${label('bytes')}${formatBytes(s.bytesWritten)}${onto}, mean ${formatRate(s.bytesWritten / secs)}`);
  const k = s.sink;
  if (k) {
    const under = k.underruns > 0 ? c.yellow(plural(k.underruns, 'underrun')) : '0 underruns';
    lines.push(`  ${label('writer')}${plural(k.records, 'write')}, ${under}${k.error && !state.error ? `, ${c.red(k.error.message)}` : ''}`);
    if (k.kind === 'tape') {
      const pos = k.startPosition !== undefined && k.endPosition !== undefined ? `, position ${k.startPosition} -> ${k.endPosition} (MTIOCPOS, incl. the filemark)` : '';
      const eom = k.endOfMedium ? `, ${c.yellow('end of medium reached')}` : '';
      lines.push(`  ${label('tape')}${plural(k.records, 'record')}${pos}${eom}`);
    }
  }
  for (const v of s.volumes ?? []) lines.push(`  ${label('volume')}${v.volume}: ${formatBytes(v.bytes)} in ${plural(v.records, 'write')}, ${v.dest}`);
  if (s.checkpoint) {
    const resume = !d.ok && s.resumeCommand ? ' (complete; the command to resume is on stderr)' : '';
    lines.push(`  ${label('checkpoint')}${s.checkpoint}${resume}`);
  }
  return lines;
}

function isSerialize(state: RunState): boolean {
  return /(^|\s)serialize$/.test(state.command);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function label(name: string): string {
  return name.padEnd(11);
}
