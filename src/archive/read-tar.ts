import { OciError } from '../errors.js';
import type { ByteReader } from './read-bytes.js';

/**
 * Tar reading for untrusted input: a pure header codec (parseHeader, parsePax) and a streaming
 * entry parser for one archive (readTarArchive). Formats: POSIX ustar, PAX extended headers
 * (`x` local, `g` global: `size`, `path`, `linkpath`), GNU long names (`L`, `K`) and GNU base-256
 * numbers, old V7 headers. Every header's checksum is verified and every numeric field must parse;
 * nothing here trusts a size beyond what the stream really delivers.
 */

export const BLOCK = 512;
/** Largest PAX extended header body we accept (a path and a size need a few hundred bytes). */
export const MAX_PAX_BYTES = 1 << 20;
/** Largest GNU long name/link body. */
export const MAX_LONGNAME_BYTES = 64 << 10;

export class TarFormatError extends OciError {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super('ETAR', `invalid tar data at byte ${offset}: ${message}`);
  }
}

export interface RawHeader {
  name: string;
  /** Typeflag as a character; NUL is reported as '0'. */
  type: string;
  size: number;
  mode: number;
  linkname: string;
  /** 'ustar' (POSIX), 'gnu' or 'v7'. */
  format: 'ustar' | 'gnu' | 'v7';
}

const utf8 = new TextDecoder('utf-8');

function cString(b: Uint8Array, start: number, len: number): string {
  const field = b.subarray(start, start + len);
  const nul = field.indexOf(0);
  return utf8.decode(nul >= 0 ? field.subarray(0, nul) : field);
}

/**
 * A numeric field: octal digits padded with spaces or NULs (as Go's archive/tar reads them), or
 * GNU base-256 when the first byte has its high bit set (GNU tar's form for sizes >= 8 GiB).
 */
export function parseNumeric(b: Uint8Array, start: number, len: number, what: string, offset: number): number {
  const field = b.subarray(start, start + len);
  if (field[0] & 0x80) {
    if (field[0] === 0xff) throw new TarFormatError(`negative ${what} field`, offset);
    let v = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) {
      v = v * 256 + field[i];
      if (v > Number.MAX_SAFE_INTEGER) throw new TarFormatError(`${what} field too large`, offset);
    }
    return v;
  }
  let i = 0;
  let j = field.length;
  while (i < j && (field[i] === 0x20 || field[i] === 0)) i++;
  while (j > i && (field[j - 1] === 0x20 || field[j - 1] === 0)) j--;
  let v = 0;
  for (let k = i; k < j; k++) {
    const c = field[k];
    if (c < 0x30 || c > 0x37) throw new TarFormatError(`${what} field is not an octal number`, offset);
    v = v * 8 + (c - 0x30);
  }
  return v;
}

export function isZeroBlock(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Decode one 512-byte header block (not all zero); throws on a bad checksum or field. */
export function parseHeader(b: Uint8Array, offset: number): RawHeader {
  if (b.length !== BLOCK) throw new TarFormatError('short header', offset);
  // The checksum treats its own field as eight spaces; some old tars summed signed bytes.
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  const stored = parseNumeric(b, 148, 8, 'checksum', offset);
  if (stored !== unsigned && stored !== signed) throw new TarFormatError('header checksum mismatch', offset);

  const magic = cString(b, 257, 6);
  const version = String.fromCharCode(b[263], b[264]);
  let format: RawHeader['format'] = 'v7';
  if (magic === 'ustar' && version === '00') format = 'ustar';
  else if (magic === 'ustar' && version === ' \0') format = 'gnu';
  else if (b[257] === 0x75 && magic.startsWith('ustar')) format = 'gnu';

  let name = cString(b, 0, 100);
  // The 155-byte prefix exists only in POSIX ustar; GNU keeps atime/ctime there.
  if (format === 'ustar') {
    const prefix = cString(b, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  const tf = b[156];
  const type = tf === 0 ? '0' : String.fromCharCode(tf);
  return {
    name,
    type,
    size: parseNumeric(b, 124, 12, 'size', offset),
    mode: parseNumeric(b, 100, 8, 'mode', offset),
    linkname: cString(b, 157, 100),
    format,
  };
}

/** PAX extended header records: `<len> <key>=<value>\n`, len counting the whole record. */
export function parsePax(body: Uint8Array, offset: number): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < body.length) {
    // Trailing NUL padding is tolerated (some writers pad the body).
    if (body[i] === 0) {
      if (isZeroBlock(body.subarray(i))) break;
      throw new TarFormatError('PAX header has a NUL inside a record', offset);
    }
    let j = i;
    let len = 0;
    while (j < body.length && body[j] >= 0x30 && body[j] <= 0x39 && j - i < 10) {
      len = len * 10 + (body[j] - 0x30);
      j++;
    }
    if (j === i || body[j] !== 0x20 || len <= j - i + 1 || i + len > body.length || body[i + len - 1] !== 0x0a) {
      throw new TarFormatError('malformed PAX record', offset);
    }
    const rec = utf8.decode(body.subarray(j + 1, i + len - 1));
    const eq = rec.indexOf('=');
    if (eq <= 0) throw new TarFormatError('malformed PAX record', offset);
    const key = rec.slice(0, eq);
    const value = rec.slice(eq + 1);
    if (value === '') out.delete(key);
    else out.set(key, value);
    i += len;
  }
  return out;
}

function paxSize(v: string, offset: number): number {
  if (!/^[0-9]{1,16}$/.test(v) || Number(v) > Number.MAX_SAFE_INTEGER) {
    throw new TarFormatError(`PAX size ${JSON.stringify(v.slice(0, 40))} is not a valid size`, offset);
  }
  return Number(v);
}

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

function pad(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

async function readMeta(br: ByteReader, size: number, max: number, what: string, at: number): Promise<Uint8Array | undefined> {
  if (size > max) throw new TarFormatError(`${what} of ${size} bytes is larger than the ${max} allowed`, at);
  const body = await br.read(size);
  if (body.length < size) return undefined;
  // Copy: the body may be a view into a chunk the source reuses later.
  const copy = body.slice();
  if ((await br.skip(pad(size))) < pad(size)) return undefined;
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
      const text = utf8.decode(nul >= 0 ? body.subarray(0, nul) : body);
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
      if (s !== undefined) size = paxSize(s, at);
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
    const p = pad(size);
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
