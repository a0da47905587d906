/** Pure text helpers shared by the terminal display, the plain lines and the summary. */
import { humanBytes } from '../util/bytes.js';

/** The 12 hex digits operators know from docker/podman (`sha256:` dropped), or the whole value. */
export function shortDigest(digest: string): string {
  const i = digest.indexOf(':');
  return i > 0 ? digest.slice(i + 1, i + 13) : digest.slice(0, 12);
}

/** `0.4 s`, `12 s`, `3m05s`, `2h07m`: short enough for a status line, exact enough for a log. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  return `${m}m${String(sec).padStart(2, '0')}s`;
}

/** `412 MB/s`; unknown (no sample yet) prints as `-`. */
export function formatRate(bytesPerSecond: number | undefined): string {
  if (bytesPerSecond === undefined || !Number.isFinite(bytesPerSecond)) return '- B/s';
  return `${humanBytes(Math.max(0, Math.round(bytesPerSecond)))}/s`;
}

export function formatPercent(fraction: number): string {
  const p = Math.max(0, Math.min(1, fraction)) * 100;
  return `${p >= 99.95 && fraction < 1 ? '99.9' : p.toFixed(1)}%`;
}

/** Whether the terminal's locale can show block characters (else the bar is ASCII). */
export function unicodeLocale(env: NodeJS.ProcessEnv): boolean {
  const v = env.LC_ALL || env.LC_CTYPE || env.LANG || '';
  return /utf-?8/i.test(v);
}

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A bar of exactly `width` cells: eighth blocks when the locale allows, else `#` and `.`. */
export function bar(fraction: number, width: number, unicode: boolean): { done: string; rest: string } {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  if (width <= 0) return { done: '', rest: '' };
  if (!unicode) {
    const n = Math.round(f * width);
    return { done: '#'.repeat(n), rest: '.'.repeat(width - n) };
  }
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const part = full < width ? EIGHTHS[eighths % 8] : '';
  const done = '█'.repeat(full) + part;
  return { done, rest: '░'.repeat(width - full - (part ? 1 : 0)) };
}

/** A piece of a line and how to paint it; the visible width is the text's length. */
export interface Seg {
  text: string;
  paint?: (s: string) => string;
}

/**
 * Join segments, cut to `width` visible cells so the terminal never wraps a line (a wrapped
 * line would break the cursor-up count of the redraw). Cut on the plain text, paint after.
 */
export function fit(segs: Seg[], width: number): string {
  let left = Math.max(0, width);
  let out = '';
  for (const s of segs) {
    if (left <= 0) break;
    const text = [...s.text];
    let piece = text.length > left ? text.slice(0, Math.max(0, left - 1)).join('') + '…' : s.text;
    if (left === 1 && text.length > 1) piece = '…';
    left -= Math.min(text.length, left);
    out += s.paint ? s.paint(piece) : piece;
  }
  return out;
}

export function plainText(segs: Seg[]): string {
  return segs.map((s) => s.text).join('');
}
