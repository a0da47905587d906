/**
 * The live display's lines and the plain status line, computed from a RunState. Pure: the
 * terminal code only decides when to draw and where.
 */
import type { ChalkInstance } from 'chalk';
import { humanBytes } from '../util/bytes.js';
import { type Seg, bar, fit, formatDuration, formatPercent, formatRate, plainText, shortDigest } from './format.js';
import type { Progress, RunState } from './state.js';

export interface FrameOptions {
  width: number;
  unicode: boolean;
  c: ChalkInstance;
}

/** The lines of one frame, each already cut to the width (never wraps). */
export function frameLines(state: RunState, now: number, o: FrameOptions): string[] {
  const { c, width } = o;
  const elapsed = formatDuration(now - state.startedAt);
  const p = state.progress(now);
  const plan = state.plan;
  const lines: Seg[][] = [];
  if (!plan && !state.current && state.blobsDone === 0 && !state.stats) {
    lines.push([{ text: ' planning: ' }, { text: state.image ?? '', paint: c.bold }, { text: `  elapsed ${elapsed}`, paint: c.dim }]);
    return lines.map((l) => fit(l, width - 1));
  }
  if (!plan) {
    // A command that streams without knowing its total (deserialize): amounts and rate, no bar.
    lines.push([{ text: ` ${humanBytes(p.done)}`, paint: c.bold }, { text: `  ${formatRate(p.rate)}`, paint: c.cyan }]);
  } else {
    lines.push(progressLine(state, p, o));
  }

  // Line 2: the ring (SPEC "The native writer": the operator watches the medium keep streaming).
  const s = state.stats;
  if (s) {
    const fill = s.capacity > 0 ? s.fill / s.capacity : 0;
    const ring: Seg[] = [{ text: ` ring   ${formatPercent(fill).padStart(6)} of ${humanBytes(s.capacity)}` }];
    if (width >= 60) {
      const b = bar(fill, 10, o.unicode);
      ring.push({ text: ' ' }, { text: b.done, paint: c.blue }, { text: b.rest, paint: c.dim });
    }
    ring.push({ text: `  underruns ${s.underruns}`, paint: s.underruns > 0 ? c.yellow : undefined }, { text: `  writes ${s.records}`, paint: c.dim });
    lines.push(ring);
  }

  // Line 3: blobs.
  if (plan) {
    const skipped = Math.max(plan.skippedBlobs, state.skipped);
    lines.push([
      { text: ` blobs  ${state.blobsDone}/${plan.blobs} written` },
      { text: `, ${skipped} skipped (${humanBytes(plan.skippedBytes)})`, paint: skipped > 0 ? c.dim : undefined },
      { text: `  elapsed ${elapsed}`, paint: c.dim },
    ]);
  } else {
    lines.push([{ text: ` blobs  ${state.blobsDone} done` }, { text: `  elapsed ${elapsed}`, paint: c.dim }]);
  }

  // Line 4: what is being written now.
  const cur = state.current;
  if (cur) {
    const f = state.currentFraction();
    lines.push([
      { text: ' blob   ' },
      { text: shortDigest(cur.descriptor.digest), paint: c.magenta },
      { text: ` ${humanBytes(cur.descriptor.size)}` },
      { text: f !== undefined ? `  ${formatPercent(f)}` : '' },
      { text: `  ${cur.descriptor.mediaType}`, paint: c.dim },
    ]);
  } else {
    lines.push([{ text: plan && state.blobsDone >= plan.blobs ? ' blob   - (writing the index and draining the ring)' : ' blob   -', paint: c.dim }]);
  }
  return lines.map((l) => fit(l, width - 1));
}

/** Line 1 with a plan: the numbers first, the bar takes whatever width is left (at most 40 cells). */
function progressLine(state: RunState, p: Progress, o: FrameOptions): Seg[] {
  const { c, width } = o;
  const plan = state.plan!;
  const pct = p.fraction !== undefined ? formatPercent(p.fraction) : '';
  const amount =
    p.total === undefined
      ? `${humanBytes(state.blobBytesDone)} of ${humanBytes(plan.bytes)} blob data, ${humanBytes(p.done)} written${writtenNote(plan)}`
      : `${humanBytes(p.done)} of ${humanBytes(p.total)}`;
  const eta = p.etaMs !== undefined && p.fraction !== undefined && p.fraction < 1 ? `ETA ${formatDuration(p.etaMs)}` : p.fraction === 1 ? 'finishing' : 'ETA -';
  const tail: Seg[] = [
    { text: ` ${amount}` },
    { text: `  ${formatRate(p.rate)}`, paint: c.cyan },
    { text: `  ${eta}` },
  ];
  const head: Seg[] = [{ text: ` ${pct.padStart(6)} `, paint: c.bold }];
  const room = width - 1 - plainText(head).length - plainText(tail).length - 2;
  const barWidth = Math.min(40, room);
  const progressLine: Seg[] = [...head];
  if (barWidth >= 8) {
    const b = bar(p.fraction ?? 0, barWidth, o.unicode);
    progressLine.push({ text: o.unicode ? '▕' : '[' }, { text: b.done, paint: c.green }, { text: b.rest, paint: c.dim }, { text: o.unicode ? '▏' : ']' });
  }
  progressLine.push(...tail);
  return progressLine;
}

/**
 * Progress counts blob bytes when the archive's size does not measure the job: compressed, or
 * after a tape change (RunState.progress); the bytes written are then told apart.
 */
function writtenNote(plan: NonNullable<RunState['plan']>): string {
  return plan.compression ? ` (${plan.compression})` : ' (all tapes)';
}

/** One plain status line (no colour, no escape codes) for logs and pipes. */
export function statusLine(state: RunState, now: number): string {
  const p = state.progress(now);
  const plan = state.plan;
  const parts: string[] = [];
  if (!plan) {
    if (!state.current && state.blobsDone === 0 && !state.stats) return `status: planning ${state.image ?? ''}, elapsed ${formatDuration(now - state.startedAt)}`;
    const cur = state.current ? `, current ${shortDigest(state.current.descriptor.digest)} (${humanBytes(state.current.descriptor.size)})` : '';
    return `status: ${humanBytes(p.done)}, ${formatRate(p.rate)}, blobs ${state.blobsDone} done${cur}`;
  }
  if (p.total === undefined) parts.push(`${humanBytes(state.blobBytesDone)} of ${humanBytes(plan.bytes)} blob data (${formatPercent(p.fraction ?? 0)}), ${humanBytes(p.done)} written${writtenNote(plan)}`);
  else parts.push(`${humanBytes(p.done)} of ${humanBytes(p.total)} (${formatPercent(p.fraction ?? 0)})`);
  parts.push(formatRate(p.rate));
  if (p.etaMs !== undefined && (p.fraction ?? 0) < 1) parts.push(`ETA ${formatDuration(p.etaMs)}`);
  const s = state.stats;
  if (s) parts.push(`ring ${formatPercent(s.capacity > 0 ? s.fill / s.capacity : 0)} of ${humanBytes(s.capacity)}, underruns ${s.underruns}`);
  parts.push(`blobs ${state.blobsDone}/${plan.blobs}, ${Math.max(plan.skippedBlobs, state.skipped)} skipped`);
  if (state.current) parts.push(`current ${shortDigest(state.current.descriptor.digest)} (${humanBytes(state.current.descriptor.size)})`);
  return `status: ${parts.join(', ')}`;
}
