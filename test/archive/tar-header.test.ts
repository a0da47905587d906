import t from 'tap';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync, ftruncateSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Header } from 'tar';
import { BLOCK, encodeHeader, padded, paxRecord } from '../../src/archive/tar-header.js';

const ascii = (b: Uint8Array, start: number, len: number) => Buffer.from(b.subarray(start, start + len)).toString('latin1');

t.test('a USTAR regular-file header has every field as Go archive/tar writes it', async (t) => {
  const h = encodeHeader({ name: 'blobs/sha256/' + 'a'.repeat(64), type: 'file', size: 910 });
  t.equal(h.length, BLOCK);
  t.equal(ascii(h, 0, 100).replace(/\0+$/, ''), 'blobs/sha256/' + 'a'.repeat(64));
  t.equal(ascii(h, 100, 8), '0000666\0', 'mode');
  t.equal(ascii(h, 108, 8), '0000000\0', 'uid');
  t.equal(ascii(h, 116, 8), '0000000\0', 'gid');
  t.equal(ascii(h, 124, 12), '00000001616\0', 'size in octal');
  t.equal(ascii(h, 136, 12), '00000000000\0', 'mtime = epoch');
  t.equal(ascii(h, 155, 1), ' ', 'checksum ends with a space after the NUL');
  t.equal(ascii(h, 156, 1), '0', 'typeflag');
  t.equal(ascii(h, 257, 8), 'ustar\x0000', 'magic and version');
  t.equal(ascii(h, 265, 64), '\0'.repeat(64), 'empty uname/gname');
  t.equal(ascii(h, 329, 16), '0000000\x000000000\0', 'devmajor/devminor');
  const parsed = new Header(Buffer.from(h));
  t.equal(parsed.cksumValid, true);
  t.equal(parsed.size, 910);
  t.equal(parsed.type, 'File');
  t.equal(parsed.mode, 0o666);
  t.equal(parsed.mtime?.getTime(), 0);
});

t.test('directories: mode 0777, typeflag 5, size 0, no trailing slash', async (t) => {
  const h = encodeHeader({ name: 'blobs/sha256', type: 'directory', size: 0 });
  t.equal(ascii(h, 0, 13), 'blobs/sha256\0');
  t.equal(ascii(h, 100, 8), '0000777\0');
  t.equal(ascii(h, 156, 1), '5');
  const parsed = new Header(Buffer.from(h));
  t.equal(parsed.type, 'Directory');
  t.equal(parsed.cksumValid, true);
});

t.test('PAX record length counts itself', async (t) => {
  t.equal(paxRecord('size', '8589934592'), '19 size=8589934592\n');
  t.equal(paxRecord('a', 'b'), '6 a=b\n');
  t.equal(paxRecord('k', 'x'.repeat(93)), '99 k=' + 'x'.repeat(93) + '\n');
  t.equal(paxRecord('k', 'x'.repeat(94)), '101 k=' + 'x'.repeat(94) + '\n', 'length digits grow past 100');
});

const BIG = 8 * 1024 ** 3; // 8 GiB: one more than fits in 11 octal digits

t.test('a blob of 8 GiB gets a PAX size record; the main header size is zero', async (t) => {
  const name = 'blobs/sha256/' + 'b'.repeat(64);
  const h = encodeHeader({ name, type: 'file', size: BIG });
  t.equal(h.length, 3 * BLOCK, 'PAX header, PAX body, main header');
  t.equal(ascii(h, 0, 100).replace(/\0+$/, ''), 'blobs/sha256/PaxHeaders.0/' + 'b'.repeat(64));
  t.equal(ascii(h, 156, 1), 'x');
  t.equal(ascii(h, 124, 12), '00000000023\0', 'PAX body is 19 bytes');
  t.equal(ascii(h, BLOCK, 19), '19 size=8589934592\n');
  t.equal(ascii(h, BLOCK + 19, BLOCK - 19), '\0'.repeat(BLOCK - 19));
  const main = h.subarray(2 * BLOCK);
  t.equal(ascii(main, 124, 12), '00000000000\0', 'size field zeroed as Go does');
  t.equal(ascii(main, 156, 1), '0');
  t.equal(ascii(main, 257, 8), 'ustar\x0000');
  const pax = new Header(Buffer.from(h.subarray(0, BLOCK)));
  t.equal(pax.type, 'ExtendedHeader');
  t.equal(pax.cksumValid, true);
  t.equal(new Header(Buffer.from(main)).cksumValid, true);
});

t.test('sha512 names longer than 100 bytes use a PAX path record', async (t) => {
  const name = 'blobs/sha512/' + 'c'.repeat(128);
  const h = encodeHeader({ name, type: 'file', size: 5 });
  const body = ascii(h, BLOCK, 200);
  t.match(body, /^\d+ path=blobs\/sha512\/c{128}\n/);
  t.equal(ascii(h, 2 * BLOCK, 100), name.slice(0, 100), 'main name truncated to 100 bytes like Go');
});

t.test('GNU tar and node-tar list an archive holding an 8 GiB+1 blob (sparse file)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ace-big-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'big.tar');
  const size = BIG + 1;
  const name = 'blobs/sha256/' + 'd'.repeat(64);
  const fd = openSync(file, 'w');
  const h = encodeHeader({ name, type: 'file', size });
  writeSync(fd, h, 0, h.length, 0);
  const after = h.length + padded(size);
  const tail = encodeHeader({ name: 'index.json', type: 'file', size: 2 });
  const tailBuf = Buffer.alloc(tail.length + BLOCK + 2 * BLOCK);
  tailBuf.set(tail, 0);
  tailBuf.write('{}', tail.length);
  writeSync(fd, tailBuf, 0, tailBuf.length, after);
  ftruncateSync(fd, after + tailBuf.length);
  closeSync(fd);
  const listing = execFileSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'utf8' });
  t.match(listing, new RegExp(`0/0\\s+${size} 1970-01-01 00:00 ${name}`));
  t.match(listing, /index\.json/);
});
