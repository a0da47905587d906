/**
 * A real loopback HTTP server that misbehaves on purpose (STYLE habit 8): it proxies to a real
 * registry and breaks blob or manifest responses according to `mode` (until `heal()`: then it
 * only proxies, the fault repaired, for a resume). `connections` counts each listener's TCP
 * connections.
 *
 * Modes (blob GETs are those on /v2/<repo>/blobs/<digest>; `digest` narrows them to one blob):
 * - 'wrong-digest': serves different bytes of the right size.
 * - 'short': closes the connection after `afterBytes` bytes of the blob (absolute offset), on
 *   every request, Range ones included, so the blob can never be completed.
 * - 'drop-once': drops the first response after `afterBytes` bytes, then proxies normally (the
 *   registry honours Range with 206).
 * - 'no-range': like drop-once, but every later request gets the whole blob with 200, ignoring
 *   Range (a resume is impossible).
 * - '500-then-ok' / '429-then-ok': the first `failures` requests (any path except /v2/) get 500 or
 *   429 (with `Retry-After: 0`), then it proxies; `passFirst` lets that many through before.
 * - 'lie-size': a manifest GET returns the manifest plus `extra` bytes of trailing whitespace.
 * - 'redirect': blob GETs answer 307 to a second listener on another port (`redirectHost`), which
 *   proxies; every request's headers are recorded so a test can see what reached which host.
 * - 'no-digest': manifest answers lack Docker-Content-Digest (some registries' HEAD does).
 * - 'proxy': just proxies (and records), keeping the client's Host header so that the registry's
 *   upload Locations point back through this server and uploads are recorded too.
 * - 'mount-403': as 'proxy', but every cross-repository mount (POST .../blobs/uploads/?mount=)
 *   is refused with 403 DENIED, as a registry whose policy forbids reading the source does.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FaultMode = 'wrong-digest' | 'short' | 'drop-once' | 'no-range' | '500-then-ok' | '429-then-ok' | 'lie-size' | 'redirect' | 'no-digest' | 'proxy' | 'mount-403';

export interface FaultOptions {
  /** Registry to proxy to: `127.0.0.1:PORT` or `http://...`. */
  upstream: string;
  mode: FaultMode;
  /** Only this blob is affected (default: every blob). */
  digest?: string;
  afterBytes?: number;
  failures?: number;
  /** With '500-then-ok' / '429-then-ok': requests let through before the failures start. */
  passFirst?: number;
  extra?: number;
  /** With 'redirect': where the second listener proxies to (default: `upstream`), e.g. a registry
   * without auth holding the same blobs, as a storage backend behind signed URLs would be. */
  redirectUpstream?: string;
}

export interface RecordedRequest {
  listener: 'main' | 'redirect';
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

export interface FaultyServer {
  host: string;
  url: string;
  /** With mode 'redirect': the second listener's host. */
  redirectHost: string;
  requests: RecordedRequest[];
  /** TCP connections accepted by each listener (connection reuse shows here). */
  connections: { main: number; redirect: number };
  /** From now on just proxy (the server behaves again, as after a fault was repaired). */
  heal(): void;
  stop(): Promise<void>;
}

const BLOB = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/;
const MANIFEST = /^\/v2\/(.+)\/manifests\/([^/]+)$/;

export async function startFaultyServer(opts: FaultOptions): Promise<FaultyServer> {
  const toUrl = (h: string) => new URL(/^https?:\/\//.test(h) ? h : `http://${h}`);
  const upstream = toUrl(opts.upstream);
  const redirectUpstream = toUrl(opts.redirectUpstream ?? opts.upstream);
  const requests: RecordedRequest[] = [];
  const after = opts.afterBytes ?? 1000;
  let failuresLeft = opts.failures ?? 2;
  let passLeft = opts.passFirst ?? 0;
  const dropped = new Set<string>();
  let redirectHost = '';
  let healed = false;
  const connections = { main: 0, redirect: 0 };

  const isTarget = (path: string) => {
    const m = BLOB.exec(path);
    return m !== null && (opts.digest === undefined || opts.digest === m[2]);
  };

  function forward(req: IncomingMessage, res: ServerResponse, headers: IncomingMessage['headers'], onResponse?: (up: IncomingMessage) => void, to = upstream): void {
    const h = opts.mode === 'proxy' || opts.mode === 'mount-403' ? headers : { ...headers, host: to.host };
    const up = httpRequest(new URL(req.url!, to), { method: req.method, headers: h }, (upRes) => {
      if (onResponse) return onResponse(upRes);
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  }

  function handler(listener: 'main' | 'redirect') {
    return (req: IncomingMessage, res: ServerResponse) => {
      requests.push({ listener, method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
      if (healed && listener === 'main') return forward(req, res, req.headers);
      const path = (req.url ?? '').split('?')[0];
      const isBlobGet = req.method === 'GET' && isTarget(path);
      if (listener === 'redirect') return forward(req, res, req.headers, undefined, redirectUpstream);

      switch (opts.mode) {
        case 'mount-403':
          if (req.method === 'POST' && /[?&]mount=/.test(req.url ?? '')) {
            req.resume();
            res.writeHead(403, { 'Content-Type': 'application/json' });
            return void res.end(JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] }));
          }
          return forward(req, res, req.headers);
        case '500-then-ok':
        case '429-then-ok':
          if (path !== '/v2/' && passLeft > 0) passLeft--;
          else if (path !== '/v2/' && failuresLeft > 0) {
            failuresLeft--;
            req.resume();
            const status = opts.mode === '500-then-ok' ? 500 : 429;
            res.writeHead(status, { 'Content-Type': 'text/plain', ...(status === 429 ? { 'Retry-After': '0' } : {}) });
            return void res.end(status === 429 ? 'slow down' : 'internal error');
          }
          return forward(req, res, req.headers);
        case 'redirect':
          if (isBlobGet) {
            req.resume();
            // As Go's http.Redirect answers a GET (distribution's redirects to storage): a short
            // HTML body, with its length.
            const location = `http://${redirectHost}${req.url}`;
            const body = `<a href="${location}">Temporary Redirect</a>.\n\n`;
            res.writeHead(307, { Location: location, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
            return void res.end(body);
          }
          return forward(req, res, req.headers);
        case 'wrong-digest':
          if (isBlobGet) {
            return forward(req, res, req.headers, (up) => {
              res.writeHead(up.statusCode ?? 502, up.headers);
              up.on('data', (c: Buffer) => {
                const flipped = Buffer.from(c);
                for (let i = 0; i < flipped.length; i++) flipped[i] ^= 0x5a;
                res.write(flipped);
              });
              up.on('end', () => res.end());
            });
          }
          return forward(req, res, req.headers);
        case 'short':
        case 'drop-once':
        case 'no-range': {
          if (!isBlobGet) return forward(req, res, req.headers);
          const first = !dropped.has(path);
          const headers = { ...req.headers };
          if (opts.mode === 'no-range' && !first) delete headers.range;
          if (opts.mode !== 'short' && !first) return forward(req, res, headers);
          dropped.add(path);
          return forward(req, res, headers, (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            // Absolute offset of the first byte of this response (a 206 starts at the Range).
            const range = /^bytes (\d+)-/.exec(String(up.headers['content-range'] ?? ''));
            let pos = range ? Number(range[1]) : 0;
            if (pos >= after) {
              up.destroy();
              res.flushHeaders();
              return void setImmediate(() => res.socket?.destroy());
            }
            up.on('data', (c: Buffer) => {
              if (pos + c.length >= after) {
                res.write(c.subarray(0, after - pos));
                pos = after;
                up.destroy();
                // Let the partial bytes reach the client before the connection drops.
                setTimeout(() => res.socket?.destroy(), 20);
                return;
              }
              pos += c.length;
              res.write(c);
            });
            up.on('end', () => res.end());
          });
        }
        case 'lie-size': {
          if (req.method === 'GET' && MANIFEST.test(path)) {
            return forward(req, res, req.headers, (up) => {
              const chunks: Buffer[] = [];
              up.on('data', (c: Buffer) => chunks.push(c));
              up.on('end', () => {
                const body = Buffer.concat([...chunks, Buffer.alloc(opts.extra ?? 1 << 20, 0x20)]);
                const headers = { ...up.headers, 'content-length': String(body.length) };
                res.writeHead(up.statusCode ?? 502, headers);
                res.end(body);
              });
            });
          }
          return forward(req, res, req.headers);
        }
        case 'no-digest':
          if (MANIFEST.test(path)) {
            return forward(req, res, req.headers, (up) => {
              const headers = { ...up.headers };
              delete headers['docker-content-digest'];
              res.writeHead(up.statusCode ?? 502, headers);
              up.pipe(res);
            });
          }
          return forward(req, res, req.headers);
        default:
          return forward(req, res, req.headers);
      }
    };
  }

  const listen = (srv: Server) =>
    new Promise<string>((resolve) => srv.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(srv.address() as AddressInfo).port}`)));
  const main = createServer(handler('main'));
  const second = createServer(handler('redirect'));
  main.on('connection', () => connections.main++);
  second.on('connection', () => connections.redirect++);
  const host = await listen(main);
  redirectHost = await listen(second);
  const close = (srv: Server) =>
    new Promise<void>((resolve) => {
      srv.closeAllConnections();
      srv.close(() => resolve());
    });
  return {
    host,
    url: `http://${host}`,
    redirectHost,
    requests,
    connections,
    heal: () => {
      healed = true;
    },
    stop: async () => {
      await Promise.all([close(main), close(second)]);
    },
  };
}
