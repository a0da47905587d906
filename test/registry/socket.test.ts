/**
 * Large blobs come on a bare socket (src/registry/socket.ts), not through undici. A real loopback
 * server that answers a registry's blob GETs in every framing HTTP/1.1 allows, split at awkward
 * places: chunked encoding with odd chunk sizes and a trailer, a body delimited by the end of the
 * connection, a response head dribbled out a few bytes at a time. Also: bodies opened ahead and
 * read later, a consumer that stops early, a consumer that makes the producer wait, and a
 * connection cut before the head is complete.
 */
import t from 'tap';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { openRegistrySource } from '../../src/source/registry.js';
import type { BlobStream } from '../../src/source/types.js';
import { seededBytes, sha256 } from '../helpers/images.js';
import { landed } from '../helpers/landing.js';

type Framing = 'length' | 'chunked' | 'close' | 'dribble' | 'cut-head' | 'interim' | 'stray';

const blobs = new Map<string, { bytes: Buffer; framing: Framing }>();
function addBlob(framing: Framing, size: number, seed: number) {
  const bytes = Buffer.from(seededBytes(seed, size));
  const digest = sha256(bytes);
  blobs.set(digest, { bytes, framing });
  return { mediaType: 'application/octet-stream', digest, size };
}

const closed: string[] = [];
const server = net.createServer((sock) => {
  let req = '';
  let digest = '';
  sock.on('error', () => undefined);
  sock.on('close', () => closed.push(digest));
  sock.on('data', async (d) => {
    req += d.toString('latin1');
    if (!req.includes('\r\n\r\n')) return;
    const path = /^GET (\S+) HTTP\/1\.1\r\n/.exec(req)?.[1] ?? '';
    digest = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path)?.[1] ?? '';
    const blob = blobs.get(digest);
    if (!blob) {
      sock.end('HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 42\r\n\r\n{"errors":[{"code":"BLOB_UNKNOWN"}]}      ');
      return;
    }
    const { bytes, framing } = blob;
    const ok = 'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n';
    switch (framing) {
      case 'length':
        sock.end(Buffer.concat([Buffer.from(`${ok}Content-Length: ${bytes.length}\r\n\r\n`), bytes]));
        return;
      case 'close':
        // No length, no chunking: the body ends with the connection (RFC 9112 section 6.3).
        sock.end(Buffer.concat([Buffer.from(`${ok}\r\n`), bytes]));
        return;
      case 'chunked': {
        sock.write(`${ok}Transfer-Encoding: chunked\r\n\r\n`);
        let at = 0;
        for (const size of [1, 7, 65536, 300_001, 2]) {
          if (at >= bytes.length) break;
          const piece = bytes.subarray(at, at + size);
          at += piece.length;
          sock.write(`${piece.length.toString(16)};ext=1\r\n`);
          sock.write(piece);
          sock.write('\r\n');
        }
        if (at < bytes.length) sock.write(Buffer.concat([Buffer.from(`${(bytes.length - at).toString(16)}\r\n`), bytes.subarray(at), Buffer.from('\r\n')]));
        sock.end('0\r\nX-Trailer: yes\r\n\r\n');
        return;
      }
      case 'dribble': {
        const head = Buffer.from(`${ok}Content-Length: ${bytes.length}\r\n\r\n`);
        for (let i = 0; i < head.length; i += 5) {
          sock.write(head.subarray(i, i + 5));
          await sleep(1);
        }
        sock.end(bytes);
        return;
      }
      case 'interim':
        // Interim answers come before the real one and carry no body.
        sock.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n');
        sock.end(Buffer.concat([Buffer.from(`${ok}Content-Length: ${bytes.length}\r\n\r\n`), bytes]));
        return;
      case 'stray':
        // Bytes after a Content-Length body (a broken server): never part of the blob.
        sock.end(Buffer.concat([Buffer.from(`${ok}Content-Length: ${bytes.length}\r\n\r\n`), bytes, Buffer.alloc(300_000, 0x47)]));
        return;
      case 'cut-head':
        sock.end('HTTP/1.1 200 OK\r\nContent-Le');
        return;
    }
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
const host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
const quick = { retry: { attempts: 1, baseDelayMs: 5, maxDelayMs: 20, resumesWithoutProgress: 0, resumesTotal: 0 } };

async function piped(stream: BlobStream, wait = false): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let calls = 0;
  await stream.pipeTo((c) => {
    chunks.push(Buffer.from(c)); // lent: copy
    // Every third chunk, make the producer wait (the ring is full).
    if (wait && ++calls % 3 === 0) return sleep(2);
    return undefined;
  });
  return Buffer.concat(chunks);
}

async function iterated(stream: BlobStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

const src = await openRegistrySource(`${host}/s/img:v1`, quick);
t.teardown(() => src.close());

for (const framing of ['length', 'chunked', 'close', 'dribble', 'interim'] as const) {
  t.test(`${framing}: bytes identical, piped (with waits) and iterated`, async (t) => {
    const desc = addBlob(framing, 3_000_017, framing.length);
    t.equal(sha256(await piped(await src.fetchBlob(desc), true)), desc.digest);
    t.equal(sha256(await iterated(await src.fetchBlob(desc))), desc.digest);
  });
}

t.test('with a landing, a Content-Length body is received in place; other framings are not', async (t) => {
  for (const framing of ['length', 'dribble', 'stray', 'chunked', 'close'] as const) {
    const desc = addBlob(framing, 5_000_011, 200 + framing.length);
    const r = await landed(await src.fetchBlob(desc), desc.size);
    t.equal(sha256(r.bytes), desc.digest, `${framing}: bytes identical`);
    t.equal(r.misplaced, 0, `${framing}: every landed chunk where its view began`);
    t.equal(r.overreach, 0, `${framing}: no view past the body's end`);
    if (framing === 'chunked' || framing === 'close') t.equal(r.landed, 0, `${framing}: framing bytes or an open end: our own buffer`);
    else t.ok(r.landed > desc.size / 2, `${framing}: ${r.landed} of ${desc.size} bytes landed in place`);
  }
});

t.test('bodies opened ahead are read later, in any order', async (t) => {
  const descs = [addBlob('length', 2 << 20, 101), addBlob('chunked', 2 << 20, 102), addBlob('close', 2 << 20, 103)];
  const streams = await Promise.all(descs.map((d) => src.fetchBlob(d)));
  await sleep(50); // their first bytes have arrived and wait
  for (const i of [2, 0, 1]) t.equal(sha256(await piped(streams[i])), descs[i].digest);
});

t.test('a consumer that stops early closes the connection', async (t) => {
  const desc = addBlob('length', 4 << 20, 104);
  const stream = await src.fetchBlob(desc);
  for await (const c of stream) {
    t.ok(c.length > 0);
    break;
  }
  for (let i = 0; i < 100 && !closed.includes(desc.digest); i++) await sleep(10);
  t.ok(closed.includes(desc.digest), 'the server saw the connection close');
});

t.test('a consumer that throws ends the download with its own error, not a network retry', async (t) => {
  const desc = addBlob('length', 2 << 20, 105);
  const stream = await src.fetchBlob(desc);
  await t.rejects(
    stream.pipeTo(() => {
      throw Object.assign(new Error('tape full'), { code: 'ENOSPC' });
    }),
    { message: 'tape full' },
  );
});

t.test('a response cut inside its head is a network error (retried, then reported)', async (t) => {
  const desc = addBlob('cut-head', 2 << 20, 106);
  await t.rejects(src.fetchBlob(desc), { code: 'ENETWORK' });
});

t.test('a large blob that is missing: the registry error, named', async (t) => {
  await t.rejects(src.fetchBlob({ mediaType: 'application/octet-stream', digest: `sha256:${'0'.repeat(64)}`, size: 5 << 20 }), { code: 'ENOTFOUND_BLOB' });
});

t.test('a header value with a line break is refused, not sent', async (t) => {
  const { socketRequest } = await import('../../src/registry/socket.js');
  const { SocketPool } = await import('../../src/registry/socket-pool.js');
  const url = new URL(`http://${host}/v2/s/img/blobs/sha256:${'1'.repeat(64)}`);
  const pool = new SocketPool(new URL(url.origin), undefined, 2);
  t.teardown(() => pool.close());
  await t.rejects(socketRequest(pool, { url, headers: { Authorization: 'Bearer x\r\nX-Injected: 1' }, timeoutMs: 1000, what: 'fetch blob' }), {
    code: 'EREGISTRY',
    message: /refusing to send header Authorization: it contains a line break/,
  });
});
