/**
 * The streamed blob body (DispatchBody over undici dispatch) against a real loopback server:
 * backpressure reaches the socket when the consumer is slow, breaking off releases the
 * connection, and bytes queued before a connection error are delivered before the error.
 */
import t from 'tap';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transport } from '../../src/registry/transport.js';

async function server(handler: (res: ServerResponse) => void) {
  const srv = createServer((_req, res) => handler(res));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = new URL(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/blob`);
  return { url, stop: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }) };
}

const CHUNK = Buffer.alloc(64 << 10, 7);

t.test('a slow consumer pauses the socket (bounded memory)', async (t) => {
  let blocked = 0;
  const total = 400;
  const s = await server((res) => {
    res.writeHead(200, { 'Content-Length': String(total * CHUNK.length) });
    let i = 0;
    const pump = () => {
      while (i < total) {
        i++;
        if (!res.write(CHUNK)) {
          blocked++;
          return void res.once('drain', pump);
        }
      }
      res.end();
    };
    pump();
  });
  t.teardown(s.stop);
  const tr = new Transport(process.env, 2);
  t.teardown(() => tr.close());
  const res = await tr.request({ method: 'GET', url: s.url, highWaterMark: 256 << 10 }, 'test');
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    await new Promise((r) => setImmediate(r));
  }
  t.equal(n, total * CHUNK.length);
  t.ok(blocked > 0, `the server had to wait for the client (${blocked} times)`);
});

t.test('breaking off releases the connection; queued bytes come before an error', async (t) => {
  let closed = false;
  const s = await server((res) => {
    res.writeHead(200, { 'Content-Length': String((res.req.headers['x-mode'] === 'cut' ? 100 : 2048) * CHUNK.length) });
    res.on('close', () => (closed = !res.writableFinished));
    if (res.req.headers['x-mode'] === 'cut') {
      res.write(CHUNK);
      res.write(CHUNK, () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    // 128 MiB with backpressure: cannot all be in flight when the client breaks off.
    let i = 0;
    const pump = () => {
      while (i < 2048 && !res.destroyed) {
        i++;
        if (!res.write(CHUNK)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  t.teardown(s.stop);
  const tr = new Transport(process.env, 2);
  t.teardown(() => tr.close());
  const res = await tr.request({ method: 'GET', url: s.url, highWaterMark: 128 << 10 }, 'test');
  for await (const c of res.body) {
    t.ok((c as Buffer).length > 0);
    break;
  }
  t.ok(res.body.destroyed);
  await new Promise((r) => setTimeout(r, 100));
  t.ok(closed, 'the server saw the connection go before the end');

  const cut = await tr.request({ method: 'GET', url: s.url, headers: { 'x-mode': 'cut' }, highWaterMark: 1 << 20 }, 'fetch blob, x');
  let n = 0;
  const err = await (async () => {
    for await (const c of cut.body) n += (c as Buffer).length;
  })().catch((e) => e);
  t.equal(n, 2 * CHUNK.length, 'every byte received before the cut was delivered');
  t.match(err, { code: 'ENETWORK', message: /^fetch blob, x: / });
});
