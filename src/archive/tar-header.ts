/**
 * A pure tar header codec that writes exactly what Go's archive/tar writes for the entries the
 * original serializer emits (behaviour note 1.2): USTAR whenever representable, else a PAX `x`
 * header named `<dir>/PaxHeaders.0/<file>` carrying only the fields that do not fit, followed by
 * the main header whose oversize fields are zero. Every field is set explicitly.
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

function checksum(block: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum;
}

function finish(block: Uint8Array): Uint8Array {
  putString(block, 257, 6, 'ustar'); // magic "ustar\0"
  putString(block, 263, 2, '00');
  putOctal(block, 148, 7, checksum(block));
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

/** Size rounded up to whole 512-byte blocks. */
export function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
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

/** Two zero blocks end the archive (no padding to a 10 KiB record, like Go's writer). */
export const TRAILER_SIZE = 2 * BLOCK;
