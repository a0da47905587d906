import { type FileHandle, open } from 'node:fs/promises';
import { UserError } from '../errors.js';

/**
 * Positioned reads over an archive that may be spread over several files: one regular file, or
 * the volumes DEST.001, DEST.002, ... of a --volume-size run (issue 14), read as the one stream
 * they are. The resume walk (kept.ts) and the archive readers (read-source.ts) go through this
 * one interface, so a header that straddles two volumes is read like any other.
 */
export interface PositionalReader {
  /** For messages: the file, or `DEST.001..DEST.007`. */
  readonly name: string;
  /** Bytes of the whole stream. */
  readonly size: number;
  /** Up to n bytes at stream offset `at` (fewer only at the end). */
  readAt(at: number, n: number): Promise<Buffer>;
  close(): Promise<void>;
}

interface Part {
  path: string;
  fh: FileHandle;
  /** Stream offset of the part's first byte. */
  start: number;
  size: number;
}

/** Open `paths` (in stream order) as one stream. Sizes are taken now: the files must not grow. */
export async function openPositional(paths: string[]): Promise<PositionalReader> {
  const parts: Part[] = [];
  let start = 0;
  try {
    for (const path of paths) {
      let fh: FileHandle;
      try {
        fh = await open(path, 'r');
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        throw new UserError('ESOURCE', `cannot open ${path}: ${err.code === 'ENOENT' ? 'no such file' : (err.code ?? err.message)}`);
      }
      const size = (await fh.stat()).size;
      parts.push({ path, fh, start, size });
      start += size;
    }
  } catch (e) {
    await Promise.all(parts.map((p) => p.fh.close().catch(() => undefined)));
    throw e;
  }
  const name = paths.length === 1 ? paths[0] : `${paths[0]}..${paths.at(-1)}`;
  return {
    name,
    size: start,
    async readAt(at: number, n: number): Promise<Buffer> {
      const want = Math.max(0, Math.min(n, start - at));
      const buf = Buffer.alloc(want);
      let got = 0;
      // The first part that holds `at` (there are few volumes: a scan is cheaper than a search).
      let i = parts.findIndex((p) => at < p.start + p.size);
      while (got < want && i >= 0 && i < parts.length) {
        const p = parts[i];
        const from = at + got - p.start;
        const k = Math.min(want - got, p.size - from);
        const { bytesRead } = await p.fh.read(buf, got, k, from);
        if (bytesRead < k) {
          throw new UserError('ESOURCE', `${p.path} shrank while it was read (${p.start + from + bytesRead} of ${start} bytes)`);
        }
        got += k;
        i++;
      }
      return buf.subarray(0, got);
    },
    async close(): Promise<void> {
      await Promise.all(parts.map((p) => p.fh.close().catch(() => undefined)));
    },
  };
}

/** Bytes [start, end) of `r` as a chunk stream, each chunk its own buffer. */
export async function* readRange(r: PositionalReader, start: number, end: number, chunk = 1 << 20): AsyncGenerator<Uint8Array> {
  for (let at = start; at < end; ) {
    const b = await r.readAt(at, Math.min(chunk, end - at));
    if (b.length === 0) return;
    at += b.length;
    yield b;
  }
}
