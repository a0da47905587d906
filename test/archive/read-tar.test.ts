/**
 * readTarArchive: the streaming entry parser over the codec. Archives are built with the codec's
 * encoder (what serialize writes) and with forged headers (what an untrusted archive may hold),
 * fed in chunks of every awkward size, and read back entry by entry.
 */
import t from 'tap';
import { ByteReader } from '../../src/archive/read-bytes.js';
import { readTarArchive, type TarEvent } from '../../src/archive/read-tar.js';
import { BLOCK, MAX_LONGNAME_BYTES, MAX_PAX_BYTES, encodeHeader, padded, paxRecord } from '../../src/archive/tar-header.js';

async function* chunks(buf: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  // Each chunk its own buffer, as ByteReader asks of a source.
  for (let i = 0; i < buf.length; i += size) yield buf.slice(i, i + size);
}

interface Read {
  name: string;
  type: string;
  size: number;
  linkname: string;
  headerOffset: number;
  dataOffset: number;
  body?: string;
}

/** Every event; bodies read whole unless `skipBodies` (the parser must skip what is unread). */
async function read(buf: Uint8Array, opts: { chunk?: number; skipBodies?: boolean } = {}): Promise<(Read | Extract<TarEvent, { kind: 'end' }>)[]> {
  const out: (Read | Extract<TarEvent, { kind: 'end' }>)[] = [];
  for await (const ev of readTarArchive(new ByteReader(chunks(buf, opts.chunk ?? 4096)))) {
    if (ev.kind === 'end') {
      out.push(ev);
      continue;
    }
    const { body, ...e } = ev.entry;
    const r: Read = { ...e };
    if (!opts.skipBodies) {
      const parts: Uint8Array[] = [];
      for await (const c of body) parts.push(Buffer.from(c));
      r.body = Buffer.concat(parts).toString('latin1');
    }
    out.push(r);
  }
  return out;
}

function entry(name: string, data: string, type: 'file' | 'directory' = 'file'): Buffer {
  const h = encodeHeader({ name, type, size: data.length });
  const out = Buffer.alloc(h.length + (type === 'directory' ? 0 : padded(data.length)));
  out.set(h, 0);
  out.write(data, h.length, 'latin1');
  return out;
}

/** A header block built field by field, checksum computed (a foreign or hostile writer). */
function forged(o: { name: string; typeflag: string; size: number; linkname?: string }): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(o.name, 0, 100, 'latin1');
  b.write('0000644\0', 100, 'latin1');
  b.write(o.size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  b.write(o.typeflag, 156, 'latin1');
  if (o.linkname) b.write(o.linkname, 157, 100, 'latin1');
  b.write('ustar\x0000', 257, 'latin1');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i];
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

function meta(name: string, typeflag: string, body: string): Buffer {
  const data = Buffer.from(body, 'latin1');
  return Buffer.concat([forged({ name, typeflag, size: data.length }), data, Buffer.alloc(padded(data.length) - data.length)]);
}

const TRAILER = Buffer.alloc(2 * BLOCK);
const longName = 'blobs/sha512/' + 'c'.repeat(128);
const archive = Buffer.concat([
  entry('oci-layout', '{"imageLayoutVersion":"1.0.0"}'),
  entry('blobs', '', 'directory'),
  entry(longName, 'x'.repeat(513)), // PAX path record from the encoder
  entry('index.json', '{}'),
  TRAILER,
]);

t.test('what the encoder writes reads back: names, types, sizes, offsets, bodies; in any chunking', async (t) => {
  const expected = [
    { name: 'oci-layout', type: '0', size: 30, linkname: '', headerOffset: 0, dataOffset: 512, body: '{"imageLayoutVersion":"1.0.0"}' },
    { name: 'blobs', type: '5', size: 0, linkname: '', headerOffset: 1024, dataOffset: 1536, body: '' },
    { name: longName, type: '0', size: 513, linkname: '', headerOffset: 1536, dataOffset: 1536 + 3 * BLOCK, body: 'x'.repeat(513) },
    { name: 'index.json', type: '0', size: 2, linkname: '', headerOffset: 1536 + 5 * BLOCK, dataOffset: 1536 + 6 * BLOCK, body: '{}' },
    { kind: 'end', how: 'trailer', offset: archive.length },
  ];
  for (const chunk of [1, 7, 511, 512, 513, 4096, archive.length]) {
    t.same(await read(archive, { chunk }), expected, `chunks of ${chunk}`);
  }
  const skipped = await read(archive, { chunk: 100, skipBodies: true });
  t.same(skipped.map((e) => ('name' in e ? e.name : e.how)), ['oci-layout', 'blobs', longName, 'index.json', 'trailer'], 'unread bodies are skipped');
});

t.test('where the source ends: at a header boundary (eof), inside an entry (truncated)', async (t) => {
  const noTrailer = archive.subarray(0, archive.length - TRAILER.length);
  t.same((await read(noTrailer)).at(-1), { kind: 'end', how: 'eof', offset: noTrailer.length });
  t.same((await read(archive.subarray(0, archive.length - BLOCK))).at(-1), { kind: 'end', how: 'eof', offset: archive.length - BLOCK }, 'one zero block, then the end');
  t.same((await read(archive.subarray(0, 530))).at(-1), { kind: 'end', how: 'truncated', offset: 530 }, 'cut in the first body');
  t.same((await read(archive.subarray(0, 700))).at(-1), { kind: 'end', how: 'truncated', offset: 700 }, 'cut in its padding');
  t.same((await read(archive.subarray(0, 1536 + BLOCK + 10))).at(-1), { kind: 'end', how: 'truncated', offset: 1536 }, 'cut inside a PAX body: the entry starts at its PAX header');
  t.same((await read(archive.subarray(0, 1024 + 100))).at(-1), { kind: 'end', how: 'truncated', offset: 1024 }, 'cut inside a header');
  t.same(await read(new Uint8Array(0)), [{ kind: 'end', how: 'eof', offset: 0 }]);
});

t.test('malformed input is a TarFormatError that names the byte', async (t) => {
  const bad = Buffer.from(archive);
  bad[1024 + 10] ^= 1; // the directory header
  await t.rejects(read(bad), { code: 'ETAR', offset: 1024, message: /byte 1024: header checksum mismatch/ });
  const lone = Buffer.concat([entry('oci-layout', 'a'), Buffer.alloc(BLOCK), entry('index.json', '{}'), TRAILER]);
  await t.rejects(read(lone), { code: 'ETAR', message: /byte 1024: a single zero block inside the archive/ });
  const zeroAfterPax = Buffer.concat([meta('PaxHeaders.0/x', 'x', paxRecord('path', 'x')), TRAILER]);
  await t.rejects(read(zeroAfterPax), /zero block after an extended header/);
  const badSize = Buffer.concat([meta('PaxHeaders.0/x', 'x', paxRecord('size', '12abc')), entry('x', 'a'), TRAILER]);
  await t.rejects(read(badSize), { code: 'ETAR', message: /byte 1024: PAX size "12abc" is not a valid size/ });
  const badRecord = Buffer.concat([meta('PaxHeaders.0/x', 'x', '99 path=x\n'), entry('x', 'a'), TRAILER]);
  await t.rejects(read(badRecord), /byte 0: malformed PAX record/);
});

t.test('an oversized PAX or long-name header is refused before its body is read', async (t) => {
  const header = forged({ name: 'PaxHeaders.0/x', typeflag: 'x', size: MAX_PAX_BYTES + 1 });
  let delivered = 0;
  async function* source() {
    delivered += BLOCK;
    yield header;
    for (;;) {
      delivered += 1 << 16;
      yield Buffer.alloc(1 << 16, 0x41); // would be read if the bound came after the read
    }
  }
  const events = readTarArchive(new ByteReader(source()));
  await t.rejects(events.next(), { code: 'ETAR', message: `invalid tar data at byte 0: PAX header of ${MAX_PAX_BYTES + 1} bytes is larger than the ${MAX_PAX_BYTES} allowed` });
  t.ok(delivered <= BLOCK + (1 << 16), `at most one chunk past the header was pulled (${delivered} bytes)`);
  const gnu = Buffer.concat([forged({ name: '././@LongLink', typeflag: 'L', size: MAX_LONGNAME_BYTES + 1 }), TRAILER]);
  await t.rejects(read(gnu), /GNU long name of 65537 bytes is larger than the 65536 allowed/);
  const atLimit = Buffer.concat([meta('PaxHeaders.0/x', 'x', paxRecord('comment', 'y'.repeat(MAX_PAX_BYTES - 20)).padEnd(MAX_PAX_BYTES, '\0')), entry('x', 'a'), TRAILER]);
  t.equal(((await read(atLimit))[0] as Read).name, 'x', 'a body of exactly MAX_PAX_BYTES passes');
});

t.test('a PAX header overrides the next entry only; a global one every entry after it', async (t) => {
  const buf = Buffer.concat([
    meta('PaxHeaders.0/a', 'x', paxRecord('path', 'renamed') + paxRecord('size', '3') + paxRecord('mtime', '1.5')),
    forged({ name: 'a', typeflag: '0', size: 0 }),
    Buffer.from('abc'.padEnd(BLOCK, '\0'), 'latin1'),
    forged({ name: 'b', typeflag: '0', size: 0 }),
    meta('pax_global_header', 'g', paxRecord('linkpath', 'global-link')),
    forged({ name: 'c', typeflag: '2', size: 0, linkname: 'own-link' }),
    forged({ name: 'd', typeflag: '1', size: 0 }),
    TRAILER,
  ]);
  const evs = (await read(buf, { chunk: 300 })) as Read[];
  t.same(
    evs.slice(0, 4).map((e) => [e.name, e.type, e.size, e.linkname, e.headerOffset, e.body]),
    [
      ['renamed', '0', 3, '', 0, 'abc'],
      ['b', '0', 0, '', 2048, ''],
      ['c', '2', 0, 'global-link', 3584, ''],
      ['d', '1', 0, 'global-link', 4096, ''],
    ],
  );
});

t.test('GNU long names and long link targets (L, K) name the next entry', async (t) => {
  const long = 'd/'.repeat(70) + 'file';
  const buf = Buffer.concat([
    meta('././@LongLink', 'L', long + '\0'),
    meta('././@LongLink', 'K', 'long-target\0'),
    forged({ name: long.slice(0, 100), typeflag: '2', size: 0, linkname: 'short' }),
    forged({ name: 'plain', typeflag: '0', size: 0, linkname: 'x' }),
    TRAILER,
  ]);
  const evs = (await read(buf)) as Read[];
  t.same(
    evs.slice(0, 2).map((e) => [e.name, e.type, e.linkname, e.headerOffset, e.dataOffset]),
    [
      [long, '2', 'long-target', 0, 2560],
      ['plain', '0', 'x', 2560, 3072],
    ],
  );
});
