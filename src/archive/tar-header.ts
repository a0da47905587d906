import { OciError } from '../errors.js';

/**
 * The tar codec, for writing and reading alike: the block constants, padding, the checksum,
 * header encode and decode, PAX records. Pure: no stream here (read-tar.ts parses a stream of
 * headers and bodies with it; writer.ts and entries.ts frame an archive with it).
 *
 * Encoding writes exactly what Go's archive/tar writes for the entries the original serializer
 * emits (behaviour note 1.2): USTAR whenever representable, else a PAX `x` header named
 * `<dir>/PaxHeaders.0/<file>` carrying only the fields that do not fit, followed by the main
 * header whose oversize fields are zero. Every field is set explicitly.
 *
 * Decoding is for untrusted input: POSIX ustar, GNU and old V7 headers; octal numbers padded
 * with spaces or NULs and GNU base-256 numbers (sizes of 8 GiB and more); every header's checksum
 * is verified and every numeric field must parse; a PAX body is read only up to MAX_PAX_BYTES.
 *
 * Why ours and not tar-stream's header codec (headers.js of tar-stream 3.2.2, evaluated for
 * issue 13; test/archive/tar-header.test.ts runs the same cases through both):
 * - it cannot be imported: the package's "exports" has no `./headers`, so
 *   `require('tar-stream/headers')` fails with ERR_PACKAGE_PATH_NOT_EXPORTED.
 * - numbers go through parseInt: a size field "0000000161x" decodes as 113, "00000009999" as 0,
 *   a negative base-256 size as -0, and a base-256 size beyond 2^53 comes back rounded. Ours
 *   rejects all four, since a wrong size misframes every entry after it.
 * - its checksum check takes only the unsigned sum, so headers from old tars that summed signed
 *   bytes (Go's archive/tar accepts both, as we do) would be refused.
 * - typeflags it does not know (GNU 'S', 'V', 'M', ...) come back as null, so the reader could no
 *   longer say which entry type it refused.
 * - decodePax skips malformed records (a wrong length, a missing newline, leading garbage) where
 *   ours rejects them, and keeps `path=` as an empty path where POSIX says the key is deleted.
 * - encode writes mode "000666 \0" (Go: "0000666\0"), the checksum as "NNNNNN \0" (Go:
 *   "NNNNNN\0 "), sizes of 8 GiB and more in base-256 (Go: a PAX record) and directory names
 *   with a trailing slash: not the bytes test/fixtures/sample.golden.tar pins.
 * - at run time it would bring twelve packages (streamx, b4a, fast-fifo, bare-fs, bare-url ...)
 *   into the offline bundle, for a decoder that the checks above would still have to wrap.
 * So tar-stream stays a devDependency: scripts/make-sample.mjs and a test write foreign-made
 * archives with it, and the codec's test compares our decoder with its own.
 *
 * Layout (POSIX.1-1988 ustar): name 0..100, mode 100..108, uid 108..116, gid 116..124,
 * size 124..136, mtime 136..148, chksum 148..156, typeflag 156, linkname 157..257,
 * magic 257..263, version 263..265, uname 265..297, gname 297..329, devmajor 329..337,
 * devminor 337..345, prefix 345..500.
 */
export const BLOCK = 512;

export type EntryType = 'file' | 'directory';

export interface EntryHeader {
  name: string;
  type: EntryType;
  size: number;
}

/** Largest size that fits in the 11 octal digits of a ustar size field (8 GiB - 1). */
export const MAX_USTAR_SIZE = 0o77777777777;

/** Two zero blocks end the archive (no padding to a 10 KiB record, like Go's writer). */
export const TRAILER_SIZE = 2 * BLOCK;

/** Largest PAX extended header body we accept (a path and a size need a few hundred bytes). */
export const MAX_PAX_BYTES = 1 << 20;
/** Largest GNU long name/link body. */
export const MAX_LONGNAME_BYTES = 64 << 10;

/** Size rounded up to whole 512-byte blocks. */
export function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** Zero bytes that follow `size` bytes of data to the end of their last block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/**
 * The header checksum: the sum of the block's bytes with the checksum field counted as eight
 * spaces, as unsigned bytes (what POSIX and every writer we know use) and as signed bytes (what
 * some old tars wrote; readers accept either).
 */
export function checksums(block: Uint8Array): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return { unsigned, signed };
}

// Encoding: the bytes Go's archive/tar writes.

function putString(block: Uint8Array, offset: number, length: number, value: string): void {
  // Names are ASCII here (blob paths, fixed names); non-ASCII would need PAX, which we never need.
  for (let i = 0; i < value.length && i < length; i++) block[offset + i] = value.charCodeAt(i) & 0x7f;
}

/** Go's formatOctal: zero-padded octal leaving room for a trailing NUL; 0 when it does not fit. */
function putOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  let s = value.toString(8);
  if (s.length > length - 1) s = '0';
  putString(block, offset, length, s.padStart(length - 1, '0'));
}

function finish(block: Uint8Array): Uint8Array {
  putString(block, 257, 6, 'ustar'); // magic "ustar\0"
  putString(block, 263, 2, '00');
  putOctal(block, 148, 7, checksums(block).unsigned);
  block[155] = 0x20;
  return block;
}

/** Split a long name into ustar prefix and name, exactly as Go's splitUSTARPath does. */
function splitUstarPath(name: string): [string, string] | undefined {
  let length = name.length;
  if (length <= 100) return undefined;
  if (length > 156) length = 156;
  else if (name[length - 1] === '/') length--;
  const i = name.slice(0, length).lastIndexOf('/');
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > 100 || nlen === 0 || i > 155) return undefined;
  return [name.slice(0, i), name.slice(i + 1)];
}

function mainHeader(name: string, namePrefix: string | undefined, type: EntryType, size: number): Uint8Array {
  const block = new Uint8Array(BLOCK);
  putString(block, 0, 100, name);
  putOctal(block, 100, 8, type === 'directory' ? 0o777 : 0o666);
  putOctal(block, 108, 8, 0); // uid
  putOctal(block, 116, 8, 0); // gid
  putOctal(block, 124, 12, size); // 0 when it does not fit: the PAX record carries it
  putOctal(block, 136, 12, 0); // mtime: the Unix epoch
  block[156] = type === 'directory' ? 0x35 : 0x30;
  putOctal(block, 329, 8, 0); // devmajor
  putOctal(block, 337, 8, 0); // devminor
  if (namePrefix !== undefined) putString(block, 345, 155, namePrefix);
  return block;
}

/** A PAX record: "<len> <key>=<value>\n" where len counts the whole record. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length > len) len++;
  return `${len}${body}`;
}

function paxHeaderBlocks(name: string, records: string): Uint8Array {
  const slash = name.lastIndexOf('/');
  const paxName = slash >= 0 ? `${name.slice(0, slash)}/PaxHeaders.0/${name.slice(slash + 1)}` : `PaxHeaders.0/${name}`;
  const data = Buffer.from(records, 'ascii');
  const block = new Uint8Array(BLOCK);
  putString(block, 0, 100, paxName.slice(0, 100).replace(/\/+$/, ''));
  putOctal(block, 100, 8, 0);
  putOctal(block, 108, 8, 0);
  putOctal(block, 116, 8, 0);
  putOctal(block, 124, 12, data.length);
  putOctal(block, 136, 12, 0);
  block[156] = 0x78; // 'x'
  finish(block);
  const out = new Uint8Array(BLOCK + padded(data.length));
  out.set(block, 0);
  out.set(data, BLOCK);
  return out;
}

/** The header bytes (one block, or PAX header + body + main header) that precede an entry's data. */
export function encodeHeader(h: EntryHeader): Uint8Array {
  const size = h.type === 'directory' ? 0 : h.size;
  const records: string[] = [];
  let name = h.name;
  let prefix: string | undefined;
  if (name.length > 100) {
    const split = splitUstarPath(name);
    if (split) [prefix, name] = split;
    else records.push(paxRecord('path', h.name));
  }
  if (size > MAX_USTAR_SIZE) records.push(paxRecord('size', String(size)));
  if (records.length === 0) return finish(mainHeader(name, prefix, h.type, size));
  // Go sorts the keys ("path" < "size") and truncates the main header's name to 100 bytes.
  records.sort();
  const pax = paxHeaderBlocks(h.name, records.join(''));
  const main = finish(mainHeader(h.name.slice(0, 100), undefined, h.type, size));
  const out = new Uint8Array(pax.length + BLOCK);
  out.set(pax, 0);
  out.set(main, pax.length);
  return out;
}

/** Bytes an entry occupies in the archive: header(s) + data padded to 512. */
export function entrySize(h: EntryHeader): number {
  return encodeHeaderSize(h) + padded(h.type === 'directory' ? 0 : h.size);
}

export function encodeHeaderSize(h: EntryHeader): number {
  return encodeHeader(h).length;
}

// Decoding: untrusted input.

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

/** A NUL-terminated (or field-long) string, decoded as UTF-8. */
export function cString(b: Uint8Array, start: number, len: number): string {
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
  const { unsigned, signed } = checksums(b);
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

/** A PAX `size` value: decimal digits only, within Number's exact range. */
export function parsePaxSize(v: string, offset: number): number {
  if (!/^[0-9]{1,16}$/.test(v) || Number(v) > Number.MAX_SAFE_INTEGER) {
    throw new TarFormatError(`PAX size ${JSON.stringify(v.slice(0, 40))} is not a valid size`, offset);
  }
  return Number(v);
}
