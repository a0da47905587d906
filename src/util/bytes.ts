/**
 * Byte sizes as the original parses and prints them (go-humanize, behaviour note 5.3):
 * `1M` = 1,000,000, `1Mi` = 1,048,576, printed as `1.0 MB (1048576 B)`.
 */
const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, ki: 2 ** 10, kib: 2 ** 10,
  m: 1e6, mb: 1e6, mi: 2 ** 20, mib: 2 ** 20,
  g: 1e9, gb: 1e9, gi: 2 ** 30, gib: 2 ** 30,
  t: 1e12, tb: 1e12, ti: 2 ** 40, tib: 2 ** 40,
  p: 1e15, pb: 1e15, pi: 2 ** 50, pib: 2 ** 50,
  e: 1e18, eb: 1e18, ei: 2 ** 60, eib: 2 ** 60,
};

export class ByteSizeError extends Error {}

export function parseBytes(text: string): number {
  const m = /^([0-9][0-9.,]*)(.*)$/.exec(text);
  if (!m) throw new ByteSizeError(`invalid byte size ${JSON.stringify(text)}: expected a number with an optional unit such as 1Mi or 64KB`);
  const num = Number(m[1].replace(/,/g, ''));
  const unit = m[2].trim().toLowerCase();
  const mult = UNITS[unit];
  if (!Number.isFinite(num) || mult === undefined) {
    throw new ByteSizeError(`invalid byte size ${JSON.stringify(text)}: unknown unit ${JSON.stringify(m[2].trim())} (use B, kB, KiB, MB, MiB, GB, GiB, TB, TiB)`);
  }
  const value = Math.trunc(num * mult);
  if (!Number.isSafeInteger(value)) throw new ByteSizeError(`byte size ${JSON.stringify(text)} is too large`);
  return value;
}

/** SI humanised size, go-humanize style: `1.0 MB`, `999 B`, `6.4 GB`. */
export function humanBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const sizes = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(n) / Math.log(1000));
  const val = Math.floor((n / 1000 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? val.toFixed(1) : val.toFixed(0)} ${sizes[e]}`;
}

/** The original's display form: `1.0 MB (1048576 B)`. */
export function formatBytes(n: number): string {
  return `${humanBytes(n)} (${n} B)`;
}
