import type { ByteReader } from './read-bytes.js';
import { BLOCK, MAX_LONGNAME_BYTES, MAX_PAX_BYTES, TarFormatError, cString, isZeroBlock, padding, parseHeader, parsePax, parsePaxSize } from './tar-header.js';

/**
 * The streaming entry parser for one tar archive of untrusted input (readTarArchive): headers
 * are decoded by the codec (tar-header.ts); here they are framed. Formats: POSIX ustar, PAX
 * extended headers (`x` local, `g` global: `size`, `path`, `linkpath`), GNU long names (`L`,
 * `K`), old V7 headers. Nothing here trusts a size beyond what the stream really delivers, and
 * PAX and long-name bodies are bounded before they are read.
 */

export interface TarEntry {
  /** Name after PAX `path` / GNU long-name overrides, exactly as recorded. */
  name: string;
  type: string;
  size: number;
  linkname: string;
  /** Offset of the entry's first header (a PAX or GNU meta header counts). */
  headerOffset: number;
  dataOffset: number;
  /** The body; read it at most once, before asking for the next entry (unread bytes are skipped). */
  body: AsyncIterable<Uint8Array>;
}

export type TarEvent =
  | { kind: 'entry'; entry: TarEntry }
  /**
   * The archive ended: `trailer` = two zero blocks; `eof` = the source ended at a header
   * boundary (accepted, as the original does); `truncated` = the source ended inside a header or
   * an entry (a partial piece).
   */
  | { kind: 'end'; how: 'trailer' | 'eof' | 'truncated'; offset: number };

async function readMeta(br: ByteReader, size: number, max: number, what: string, at: number): Promise<Uint8Array | undefined> {
  if (size > max) throw new TarFormatError(`${what} of ${size} bytes is larger than the ${max} allowed`, at);
  const body = await br.read(size);
  if (body.length < size) return undefined;
  // Copy: the body may be a view into a chunk the source reuses later.
  const copy = body.slice();
  if ((await br.skip(padding(size))) < padding(size)) return undefined;
  return copy;
}

/**
 * Parse one tar archive from `br`, starting at a header. Stops after the end-of-archive marker
 * (two zero blocks), or where the source ends. Throws TarFormatError on a malformed header.
 */
export async function* readTarArchive(br: ByteReader, global: Map<string, string> = new Map()): AsyncGenerator<TarEvent> {
  let local = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  let entryStart = -1;
  for (;;) {
    const at = br.offset;
    const block = await br.read(BLOCK);
    if (block.length === 0 && entryStart < 0) {
      yield { kind: 'end', how: 'eof', offset: at };
      return;
    }
    if (block.length < BLOCK) {
      yield { kind: 'end', how: 'truncated', offset: at };
      return;
    }
    if (isZeroBlock(block)) {
      if (entryStart >= 0) throw new TarFormatError('zero block after an extended header', at);
      // The original accepts one zero block then EOF; a zero block followed by data is an error.
      const second = await br.read(BLOCK);
      if (second.length === 0) {
        yield { kind: 'end', how: 'eof', offset: br.offset };
        return;
      }
      if (second.length < BLOCK) {
        yield { kind: 'end', how: 'truncated', offset: br.offset - second.length };
        return;
      }
      if (!isZeroBlock(second)) throw new TarFormatError('a single zero block inside the archive', at);
      yield { kind: 'end', how: 'trailer', offset: br.offset };
      return;
    }
    const h = parseHeader(block, at);
    if (entryStart < 0) entryStart = at;
    if (h.type === 'x' || h.type === 'g') {
      const body = await readMeta(br, h.size, MAX_PAX_BYTES, 'PAX header', at);
      if (!body) {
        yield { kind: 'end', how: 'truncated', offset: entryStart };
        return;
      }
      const recs = parsePax(body, at);
      // Only the keys we use are kept, so hostile headers cannot grow memory beyond a few strings.
      for (const k of [...recs.keys()]) if (k !== 'path' && k !== 'size' && k !== 'linkpath') recs.delete(k);
      if (h.type === 'g') {
        for (const [k, v] of recs) global.set(k, v);
        // A global header is an entry of its own: the next header starts a new entry.
        entryStart = -1;
      } else {
        for (const [k, v] of recs) local.set(k, v);
      }
      continue;
    }
    if (h.type === 'L' || h.type === 'K') {
      const body = await readMeta(br, h.size, MAX_LONGNAME_BYTES, 'GNU long name', at);
      if (!body) {
        yield { kind: 'end', how: 'truncated', offset: entryStart };
        return;
      }
      const nul = body.indexOf(0);
      const text = cString(body, 0, body.length);
      if (h.type === 'L') longName = text;
      else longLink = text;
      continue;
    }
    let name = h.name;
    let size = h.size;
    let linkname = h.linkname;
    if (longName !== undefined) name = longName;
    if (longLink !== undefined) linkname = longLink;
    for (const attrs of [global, local]) {
      const p = attrs.get('path');
      if (p !== undefined) name = p;
      const l = attrs.get('linkpath');
      if (l !== undefined) linkname = l;
      const s = attrs.get('size');
      if (s !== undefined) size = parsePaxSize(s, at);
    }
    let type = h.type;
    // V7 and some writers mark directories only by a trailing slash.
    if (type === '0' && h.format === 'v7' && name.endsWith('/')) type = '5';
    const dataOffset = br.offset;
    let left = size;
    const body = (async function* () {
      for await (const chunk of br.take(left)) {
        left -= chunk.length;
        yield chunk;
      }
    })();
    const entry: TarEntry = { name, type, size, linkname, headerOffset: entryStart, dataOffset, body };
    yield { kind: 'entry', entry };
    // Whatever the consumer left unread is skipped, then the padding.
    left -= await br.skip(left);
    const p = padding(size);
    if (left > 0 || (await br.skip(p)) < p) {
      yield { kind: 'end', how: 'truncated', offset: br.offset };
      return;
    }
    local = new Map();
    longName = undefined;
    longLink = undefined;
    entryStart = -1;
  }
}
