/**
 * Blob downloads on a bare TCP or TLS socket: one HTTP/1.1 GET per exchange on a keep-alive
 * connection of socket-pool.ts, read with `onread` into the connection's 1 MiB buffer, and body
 * bytes lent straight to the consumer.
 *
 * Why not undici for these: undici copies every received byte into its llhttp WebAssembly memory,
 * hands the body over in fresh 64 KiB buffers (garbage for the collector) and costs a promise per
 * chunk; on two cores that halved serialize's throughput (issue 2's notes: 2.3 s of JavaScript
 * thread per GB against about 1 s here). Everything else (auth, redirects, retries, the Range
 * resume) stays in client.ts's `send()`: this is only a transport for one exchange, chosen for
 * blob GETs without a proxy. A connection goes back to its pool only when the body ended
 * exactly at its Content-Length and the server did not say `Connection: close`; a chunked or
 * close-delimited body, an error or an abandoned body (unless small: dump()) closes it.
 */
import { AceError } from '../errors.js';
import { pushBlobStream, type ChunkWriter, type Landing } from '../stream/blob-stream.js';
import { onAbort } from './abort.js';
import type { ResponseBody, ResponseData } from './http.js';
import type { Connection, ConnectionUser, SocketPool, TlsOptions } from './socket-pool.js';

const READ_SIZE = 1 << 20;
const MAX_HEAD = 64 << 10;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
/** Bodies up to this size are read to the end when discarded, keeping their connection. */
const DUMP_MAX = 64 << 10;

export interface SocketRequest {
  url: URL;
  headers: Record<string, string>;
  signal?: AbortSignal;
  /** For https: verification and client certificate (the pool's connections are made with them). */
  tls?: TlsOptions;
  /** Idle time after which the connection is dropped (a stalled body is resumed by the caller). */
  timeoutMs: number;
  /** `op, digest, ref` for messages. */
  what: string;
}

type Framing = { kind: 'length'; left: number } | { kind: 'chunked'; left: number; state: 'size' | 'data' | 'crlf' | 'done'; line: string } | { kind: 'close' };

function networkError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function isAbort(e: Error): boolean {
  return e.name === 'AbortError' || (e as NodeJS.ErrnoException).code === 'ABORT_ERR' || (e instanceof AceError && e.code === 'EABORTED');
}

function protocolError(what: string, message: string): Error {
  return new AceError('EREGISTRY', `${what}: ${message}`);
}

/**
 * GET `req.url` on a pooled connection; resolves once the response head has arrived. A reused
 * connection that fails before any answer was probably closed by the server while idle (the
 * race every keep-alive client has): the request goes once more on a new connection.
 */
export async function socketRequest(pool: SocketPool, req: SocketRequest): Promise<ResponseData> {
  const conn = pool.acquire();
  try {
    return await exchange(conn, req);
  } catch (e) {
    if (conn.served === 0 || (e as { stale?: boolean }).stale !== true || req.signal?.aborted) throw e;
    return exchange(pool.acquire(true), req);
  }
}

function exchange(conn: Connection, req: SocketRequest): Promise<ResponseData> {
  return new Promise<ResponseData>((resolve, reject) => {
    const body = new SocketBody(conn, req, resolve, reject);
    body.start();
  });
}

class SocketBody implements ResponseBody, ConnectionUser {
  private head: Buffer[] = [];
  private headBytes = 0;
  private framing: Framing | undefined;
  /** Where processing stopped while a write was pending or no consumer was attached yet. */
  private rest: { buf: Buffer; pos: number; end: number } | undefined;
  private write: ChunkWriter | undefined;
  /** The consumer's memory to receive body bytes into (the native ring), when it offers any. */
  private landing: Landing | undefined;
  private finished = false;
  /** HTTP/1.1 without `Connection: close`, and nothing read past the body: reusable. */
  private keepAlive = false;
  private stray = false;
  private unlisten: (() => void) | undefined;
  private failure: Error | undefined;
  private settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private done = false;
  private responded = false;
  private received = 0;
  /** We stopped reading (a write pending, or no consumer yet); resume() starts again. */
  private paused = false;

  constructor(
    private readonly conn: Connection,
    private readonly req: SocketRequest,
    private readonly resolveResponse: (r: ResponseData) => void,
    private readonly rejectResponse: (e: unknown) => void,
  ) {}

  start(): void {
    const { url, signal } = this.req;
    // Header values can come from elsewhere (a token service's answer): no line breaks, or they
    // would start headers of their own (undici refuses them the same way).
    for (const [k, v] of Object.entries(this.req.headers)) {
      if (/[\r\n]/.test(k + v)) {
        this.conn.detach(true);
        throw protocolError(this.req.what, `refusing to send header ${k}: it contains a line break`);
      }
    }
    this.conn.attach(this, this.req.timeoutMs);
    if (signal) {
      const abort = () => this.fail(Object.assign(new Error('aborted'), { name: 'AbortError', code: 'ABORT_ERR' }));
      if (signal.aborted) return abort();
      this.unlisten = onAbort(signal, abort);
    }
    const path = url.pathname + url.search;
    const lines = [`GET ${path} HTTP/1.1`, `Host: ${url.host}`, 'Accept-Encoding: identity'];
    for (const [k, v] of Object.entries(this.req.headers)) lines.push(`${k}: ${v}`);
    this.conn.socket.write(lines.join('\r\n') + '\r\n\r\n');
  }

  onTimeout(): void {
    this.fail(networkError('ETIMEDOUT', `no data for ${this.req.timeoutMs / 1000} s`));
  }

  onError(e: Error): void {
    this.fail(e);
  }

  get destroyed(): boolean {
    return this.done;
  }

  // ---- receiving ----

  /**
   * Where the next read lands: straight in the consumer's ring while a Content-Length body is
   * being piped (then the chunk handed on is published there without a copy), else our buffer.
   * A view is at most the body's remaining length, so nothing past the body (the server's
   * stray bytes) ever lands in the ring, and none is handed out while bytes wait in `rest`
   * (they are written first, which would move the ring's head under the view). A complete or
   * failed body has left its connection (detached or destroyed): no read uses a view after it.
   */
  readBuffer(own: Buffer): Buffer {
    const f = this.framing;
    if (this.landing && !this.done && !this.rest && f?.kind === 'length' && f.left > 0) {
      const view = this.landing(Math.min(f.left, READ_SIZE));
      if (view) return view;
    }
    return own;
  }

  onRead(buf: Buffer, n: number): boolean {
    if (this.done) return false;
    return this.process(buf, 0, n);
  }

  /** Returns whether the socket should keep reading (false: paused until a write settles). */
  private process(buf: Buffer, pos: number, end: number): boolean {
    while (pos < end && !this.done) {
      if (!this.framing) {
        pos = this.readHead(buf, pos, end);
        continue;
      }
      if (this.bodyComplete()) {
        // Anything after the body (trailers, or bytes a server sent unasked) is not ours, and
        // leaves the connection's framing unknown: it is not reused.
        this.stray = true;
        break;
      }
      if (!this.write) {
        // No consumer yet: hold the bytes. It usually comes in this read's microtasks (the window
        // reads a small blob whole); reading stops only if not (a stop and start cost two
        // epoll_ctl calls and a stream pause and resume per blob).
        this.rest = { buf, pos, end };
        queueMicrotask(this.deferHold);
        return true;
      }
      const f = this.framing;
      let take: number;
      if (f.kind === 'chunked') {
        if (f.state !== 'data') {
          pos = this.readChunkFraming(f, buf, pos, end);
          continue;
        }
        take = Math.min(f.left, end - pos);
        f.left -= take;
        if (f.left === 0) f.state = 'crlf';
      } else if (f.kind === 'length') {
        take = Math.min(f.left, end - pos);
        f.left -= take;
      } else {
        take = end - pos;
      }
      const chunk = buf.subarray(pos, pos + take);
      pos += take;
      this.received += take;
      let wait: Promise<void> | undefined;
      try {
        wait = this.write(chunk);
      } catch (e) {
        this.fail(e as Error);
        return false;
      }
      if (this.bodyComplete()) return this.complete(wait);
      if (wait) {
        this.rest = { buf, pos, end };
        this.pause();
        wait.then(this.resumeNow, (e: Error) => this.fail(e));
        return false;
      }
    }
    if (this.framing && !this.done && this.bodyComplete()) return this.complete(undefined);
    return true;
  }

  // Node drains ticks and microtasks after each read callback: a tick queued from a microtask runs
  // after the chain a response head starts, and before the next read (into the buffer of `rest`).
  private readonly deferHold = () => process.nextTick(this.holdUnclaimed);
  private readonly holdUnclaimed = () => void (this.rest && !this.write && !this.done && this.pause());
  private readonly resumeNow = () => this.resume();

  private bodyComplete(): boolean {
    const f = this.framing!;
    return (f.kind === 'length' && f.left === 0) || (f.kind === 'chunked' && f.state === 'done');
  }

  /** Stop reading; no idle timeout while we, not the server, are the ones who wait. */
  private pause(): void {
    this.paused = true;
    this.conn.socket.pause();
    this.conn.socket.setTimeout(0);
  }

  private resume(): void {
    if (this.done) return;
    const r = this.rest;
    this.rest = undefined;
    if (r && !this.process(r.buf, r.pos, r.end)) return;
    if (!this.paused || this.done) return;
    this.paused = false;
    this.conn.socket.setTimeout(this.req.timeoutMs);
    this.conn.socket.resume();
  }

  private readHead(buf: Buffer, pos: number, end: number): number {
    // The usual case: the whole head is in this read, often with the body after it (a small
    // blob's entire response). It is parsed where it lies: copying the read, body included, cost
    // an allocation and two copies per small blob.
    if (this.headBytes === 0) {
      const at = buf.subarray(pos, end).indexOf(HEAD_END);
      if (at >= 0 && at <= MAX_HEAD) {
        this.parseHead(buf.toString('latin1', pos, pos + at));
        return pos + at + 4;
      }
    }
    // A head spread over reads: only its bytes are kept (at most MAX_HEAD and the terminator).
    const take = Math.min(end, pos + MAX_HEAD + 4 - this.headBytes);
    const before = this.headBytes;
    const all = Buffer.concat([...this.head, buf.subarray(pos, take)]);
    const at = all.indexOf(HEAD_END, Math.max(0, before - 3));
    if (at < 0 || at > MAX_HEAD) {
      if (all.length > MAX_HEAD) this.fail(protocolError(this.req.what, `response head larger than ${MAX_HEAD} bytes`));
      this.head = [all];
      this.headBytes = all.length;
      return end;
    }
    this.head = [];
    this.headBytes = 0;
    this.parseHead(all.toString('latin1', 0, at));
    return pos + (at + 4 - before);
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!status) {
      this.fail(protocolError(this.req.what, `not an HTTP response: ${JSON.stringify(lines[0].slice(0, 80))}`));
      return;
    }
    // An interim answer (100 Continue, 103 Early Hints): the real one follows (RFC 9110 15.2).
    if (status[1].startsWith('1')) return;
    const headers: Record<string, string | string[]> = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const k = line.slice(0, i).trim().toLowerCase();
      const v = line.slice(i + 1).trim();
      const prev = headers[k];
      headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    this.keepAlive = lines[0].startsWith('HTTP/1.1') && !/\bclose\b/i.test(String(headers.connection ?? ''));
    const te = String(headers['transfer-encoding'] ?? '').toLowerCase();
    const cl = headers['content-length'];
    if (te.includes('chunked')) this.framing = { kind: 'chunked', left: 0, state: 'size', line: '' };
    else if (typeof cl === 'string' && /^\d+$/.test(cl)) this.framing = { kind: 'length', left: Number(cl) };
    else this.framing = { kind: 'close' };
    this.responded = true;
    this.resolveResponse({ statusCode: Number(status[1]), headers, body: this });
  }

  /** Chunk-size lines and the CRLF after each chunk's data (RFC 9112 section 7.1). */
  private readChunkFraming(f: Framing & { kind: 'chunked' }, buf: Buffer, pos: number, end: number): number {
    while (pos < end) {
      const c = buf[pos++];
      if (c !== 0x0a) {
        if (f.line.length > 1024) {
          this.fail(protocolError(this.req.what, 'malformed chunked encoding'));
          return end;
        }
        f.line += String.fromCharCode(c);
        continue;
      }
      const line = f.line.replace(/\r$/, '');
      f.line = '';
      if (f.state === 'crlf') {
        f.state = 'size';
        continue;
      }
      const size = parseInt(line.split(';')[0], 16);
      if (!Number.isFinite(size) || size < 0) {
        this.fail(protocolError(this.req.what, 'malformed chunked encoding'));
        return end;
      }
      // Trailers after the last chunk are not read: a chunked body's connection is not reused.
      if (size === 0) f.state = 'done';
      else {
        f.left = size;
        f.state = 'data';
      }
      return pos;
    }
    return pos;
  }

  onEnd(): void {
    if (this.done) return;
    // Reads stop while bytes wait in `rest`, so the end of the connection comes after them.
    if (this.framing?.kind === 'close' && !this.rest) {
      this.complete(undefined);
      return;
    }
    if (!this.framing || !this.bodyComplete()) {
      this.fail(networkError('ECONNRESET', `connection closed after ${this.received} bytes of the body`));
    }
  }

  /** The body is complete; returns whether the socket reads on (back in the pool, idle). */
  private complete(wait: Promise<void> | undefined): boolean {
    this.finished = true;
    this.done = true;
    this.rest = undefined;
    this.unlisten?.();
    // Only a body delimited by its Content-Length leaves the connection at a known place.
    const reusable = this.framing?.kind === 'length' && this.keepAlive && !this.stray;
    const s = this.settle;
    this.settle = undefined;
    if (!wait) {
      // The pool's idle connection reads on (a close or stray bytes are noticed at once).
      this.conn.detach(reusable);
      s?.resolve();
      return true;
    }
    // The last chunk is still lent from our buffer: no read until the consumer is done. false
    // stops reading without telling the stream (onStreamRead): pause it, for the pool's resume().
    this.conn.socket.pause();
    wait.then(
      () => {
        this.conn.detach(reusable);
        s?.resolve();
      },
      (e: Error) => {
        this.conn.detach(false);
        s?.reject(e);
      },
    );
    return false;
  }

  private fail(e: Error): void {
    if (this.done && (this.finished || this.failure)) return;
    this.failure ??= e;
    this.close();
    if (!this.responded) {
      this.responded = true;
      // Nothing came back on a connection that served before: likely closed while idle.
      this.rejectResponse(this.conn.served > 0 && !isAbort(e) ? Object.assign(e, { stale: true }) : e);
      return;
    }
    const s = this.settle;
    this.settle = undefined;
    s?.reject(e);
  }

  private close(): void {
    this.done = true;
    this.rest = undefined;
    this.unlisten?.();
    this.conn.destroy();
  }

  // ---- consuming ----

  /**
   * Lend every body byte to `write`, in order; resolves after the last one was accepted. With a
   * `landing`, reads go straight into the memory it offers whenever it offers some.
   */
  pipeTo(write: ChunkWriter, landing?: Landing): Promise<void> {
    if (this.write) return Promise.reject(new AceError('EINTERNAL', 'a response body can be read only once'));
    this.write = write;
    this.landing = landing;
    return new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      if (this.finished) return resolve();
      if (this.framing && this.bodyComplete()) {
        this.complete(undefined);
        return resolve();
      }
      this.settle = { resolve, reject };
      this.resume();
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    const it = pushBlobStream((w) => this.pipeTo(w))[Symbol.asyncIterator]();
    return it as AsyncIterator<Buffer>;
  }

  destroy(): void {
    if (this.done) return;
    this.fail(new AceError('EABORTED', 'response body discarded'));
  }

  /**
   * Read and drop a small Content-Length body (a redirect's, an error's) so that the connection
   * goes back to the pool: a registry that redirects every blob to its storage would otherwise
   * cost a new connection (and TLS handshake) per blob. Anything else closes the connection.
   */
  async dump(opts: { limit: number } = { limit: DUMP_MAX }): Promise<void> {
    const f = this.framing;
    if (!this.write && !this.done && f?.kind === 'length' && f.left <= Math.min(opts.limit, DUMP_MAX)) {
      await this.pipeTo(() => undefined).catch(() => undefined); // a failure closed the connection
      return;
    }
    this.destroy();
  }
}
