import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * File volumes (issue 14 item 2): `--volume-size SIZE` cuts the archive stream into DEST.001,
 * DEST.002, ... as split(1) does: every volume holds exactly SIZE bytes but the last, and the
 * volumes concatenated in numeric order are the archive. Past 999 the number simply grows
 * (DEST.1000): the names then no longer sort as text, so every reader here orders by number.
 * Shared by the writer (src/sink/volumes.ts), the resume walk and the archive readers.
 */

/** DEST.001 for n = 1; at least three digits. */
export function volumePath(dest: string, n: number): string {
  return `${dest}.${String(n).padStart(3, '0')}`;
}

/** `DEST.NNN` -> { dest, n } when the name has a volume suffix (three or more digits). */
export function parseVolumePath(path: string): { dest: string; n: number } | undefined {
  const m = /^(.+)\.(\d{3,})$/.exec(path);
  if (!m) return undefined;
  // 0001 is not a name we write (it would sort wrongly and collide with .001 numerically).
  if (m[2].length > 3 && m[2].startsWith('0')) return undefined;
  const n = Number(m[2]);
  return n >= 1 && Number.isSafeInteger(n) ? { dest: m[1], n } : undefined;
}

export interface VolumeFile {
  path: string;
  n: number;
  size: number;
}

/**
 * Every regular file DEST.NNN next to DEST, in numeric order (gaps included: callers decide
 * what a gap means). Empty when there is none.
 */
export async function listVolumes(dest: string): Promise<VolumeFile[]> {
  const dir = dirname(dest);
  const base = basename(dest);
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: VolumeFile[] = [];
  for (const name of names) {
    const v = parseVolumePath(name);
    if (!v || v.dest !== base) continue;
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (st?.isFile()) out.push({ path: dest === base ? name : join(dir, name), n: v.n, size: st.size });
  }
  return out.sort((a, b) => a.n - b.n);
}

/** The volumes DEST.001 .. DEST.k without a gap (what a stream can be read from). */
export function contiguous(volumes: VolumeFile[]): VolumeFile[] {
  const out: VolumeFile[] = [];
  for (const v of volumes) {
    if (v.n !== out.length + 1) break;
    out.push(v);
  }
  return out;
}
