/**
 * HTTP transport on undici: one keep-alive Pool per origin with that origin's TLS material, and a
 * mapping of low-level failures to stable error codes (retry decisions look at codes only).
 *
 * TLS is verified by default, against Node's roots, the system store and NODE_EXTRA_CA_CERTS
 * (trust.ts). Extra CAs per host come from the certs.d folders docker, podman and containerd use
 * (`ca.crt`, `*.crt`, `ca.pem`, added to those); a client certificate from
 * `client.cert`+`client.key` or `cert.pem`+`key.pem`. `ACE_DT_CERTS_DIRS` (colon-separated)
 * replaces the list of certs.d roots, for tests and unusual installs.
 */
import { readdir, readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import type { Dispatcher } from 'undici';
import type * as Undici from 'undici';
import type { HttpRequest, ResponseBody, ResponseData } from './http.js';
import { onAbort } from './abort.js';
import { proxyFor } from './proxy-env.js';
import { classifyError } from './retry.js';
import { socketRequest, type SocketRequest } from './socket.js';
import { pemCertificates, trustedRoots } from './trust.js';
import { SocketPool } from './socket-pool.js';

export type { HttpRequest, ResponseBody, ResponseData } from './http.js';
export { classifyError, isRetryable } from './retry.js';
export { proxyFor } from './proxy-env.js';

// Only the Pool this transport drives through dispatch(), not undici's index: the index also
// loads fetch, WebSocket, caches, mocks and the request() API, about 0.1 s of CPU at every start
// (measured with node -e), a fixed cost of every run. undici has no "exports" map, so the path is
// its own layout (pinned by package-lock.json). A proxy needs the index (ProxyAgent uses the
// request API the index installs): it is loaded then. test/registry/* cover both.
//
// undici parses HTTP with llhttp compiled to WebAssembly, and V8 recompiles its hot functions with
// TurboFan on a background thread: about 0.2 s of CPU in every run, a third of a one-blob
// serialize (perf, issue 11). Blob bodies no longer pass through undici (socket.ts), so the
// baseline compiler's code is enough for the few manifests and answers it still parses. The flag
// must be set before the module is compiled (at the first connection); it concerns WebAssembly
// code only.
setFlagsFromString('--liftoff-only');
const requireUndici = createRequire(import.meta.url);
const Pool = requireUndici('undici/lib/dispatcher/pool.js') as typeof Undici.Pool;
const proxyAgent = () => (requireUndici('undici') as typeof Undici).ProxyAgent;

/** A body that stalls this long is dropped (and resumed by the client with a Range request). */
const BODY_TIMEOUT_MS = 300_000;

export interface TlsMaterial {
  /** The host's own CAs (certs.d), trusted in addition to trustedRoots(). */
  ca?: string[];
  cert?: string;
  key?: string;
}

export function certsDirs(env: NodeJS.ProcessEnv): string[] {
  if (env.ACE_DT_CERTS_DIRS) return env.ACE_DT_CERTS_DIRS.split(':').filter(Boolean);
  return ['/etc/containerd/certs.d', '/etc/docker/certs.d', join(env.HOME || homedir(), '.docker', 'certs.d')];
}

/**
 * Gather CA files and a client key pair for `host` (host[:port]) from every certs.d root. What
 * would otherwise be ignored without a word is reported through `warn` (issue 15): a CA file that
 * cannot be read or holds no certificate, and a folder named without the port of a host that has
 * one (docker and podman look only under host:port, so its CA is not used).
 */
export async function loadTlsMaterial(host: string, env: NodeJS.ProcessEnv, warn: (message: string) => void = () => {}): Promise<TlsMaterial> {
  const out: TlsMaterial = {};
  const cas: string[] = [];
  const hostname = host.replace(/:\d+$/, '');
  for (const root of certsDirs(env)) {
    if (hostname !== host) {
      const portless = join(root, hostname);
      if ((await readdir(portless).catch(() => undefined)) !== undefined) {
        warn(`${portless} is not used for ${host}: certs.d folders are named host:port when the registry has a port; rename it to ${join(root, host)}`);
      }
    }
    // containerd also accepts the host with `_` for `:`; docker uses host:port as is.
    for (const name of new Set([host, host.replace(/:/g, '_')])) {
      const dir = join(root, name);
      let files: string[];
      try {
        files = (await readdir(dir)).sort();
      } catch {
        continue;
      }
      for (const f of files) {
        if (!(f.endsWith('.crt') || f === 'ca.pem')) continue;
        const file = join(dir, f);
        let text: string;
        try {
          text = await readFile(file, 'utf8');
        } catch (e) {
          warn(`CA file ${file} for ${host} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); it is not trusted`);
          continue;
        }
        const certs = pemCertificates(text);
        if (certs.length === 0) warn(`CA file ${file} for ${host} holds no PEM certificate; it is not trusted`);
        cas.push(...certs);
      }
      const pairs: [string, string][] = [
        ['client.cert', 'client.key'],
        ['cert.pem', 'key.pem'],
      ];
      for (const [c, k] of pairs) {
        if (!out.cert && files.includes(c) && files.includes(k)) {
          out.cert = await readFile(join(dir, c), 'utf8');
          out.key = await readFile(join(dir, k), 'utf8');
        }
      }
    }
  }
  if (cas.length > 0) out.ca = cas;
  return out;
}

export interface OriginOptions {
  insecureSkipVerify?: boolean;
  tls?: TlsMaterial;
}

/** Where a misplaced or unreadable certs.d file is reported, unless the caller says otherwise. */
const stderrWarning = (message: string) => process.stderr.write(`warning: ${message}\n`);

/**
 * A response body fed straight from undici's dispatch handler: chunks go into a queue that the
 * consumer drains with `for await`, and the socket is paused while more than `highWaterMark`
 * bytes wait. No Readable in between: measured about 12% less CPU per received GB than
 * `request()` with the same high-water mark (test/helpers/bench-registry-fetch.ts). Queued
 * chunks are delivered before a connection error is raised, so the byte count at the error is
 * exact (the Range resume depends on it).
 */
export class DispatchBody implements ResponseBody {
  controller?: Dispatcher.DispatchController;
  private queue: Buffer[] = [];
  private head = 0;
  private queued = 0;
  private ended = false;
  private error?: Error;
  private wake?: () => void;
  private done = false;

  constructor(private readonly highWaterMark: number) {}

  get destroyed(): boolean {
    return this.done;
  }

  private signal(): void {
    const w = this.wake;
    if (w) {
      this.wake = undefined;
      w();
    }
  }

  push(chunk: Buffer): void {
    if (this.done) return;
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (this.queued >= this.highWaterMark) this.controller?.pause();
    this.signal();
  }

  end(): void {
    this.ended = true;
    this.signal();
  }

  fail(error: Error): void {
    this.error ??= error;
    this.signal();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        if (this.head < this.queue.length) {
          const c = this.queue[this.head];
          this.queue[this.head++] = undefined as unknown as Buffer;
          if (this.head > 1024 && this.head * 2 > this.queue.length) {
            this.queue = this.queue.slice(this.head);
            this.head = 0;
          }
          this.queued -= c.length;
          if (this.controller?.paused && this.queued <= this.highWaterMark / 2) this.controller.resume();
          yield c;
          continue;
        }
        if (this.error) throw this.error;
        if (this.ended || this.done) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      // Stopped early (break, error in the consumer): release the connection.
      if (!this.ended) this.destroy();
    }
  }

  destroy(error?: Error): void {
    if (this.done) return;
    this.done = true;
    this.queue = [];
    this.head = 0;
    this.queued = 0;
    if (!this.ended && this.controller && !this.controller.aborted) this.controller.abort(error ?? new Error('response body discarded'));
    this.signal();
  }

  async dump(opts: { limit: number } = { limit: 1 << 20 }): Promise<void> {
    let n = 0;
    for await (const c of this) {
      n += c.length;
      if (n > opts.limit) break;
    }
    this.destroy();
  }
}

/** How a connection to an origin is made: through a proxy, or directly with these TLS options. */
interface ConnectPlan {
  proxy?: string;
  tls?: SocketRequest['tls'];
}

/** A pool per origin, created on first use with that origin's TLS options. */
export class Transport {
  private pools = new Map<string, Dispatcher>();
  private origins = new Map<string, OriginOptions>();
  private pending = new Map<string, Promise<Dispatcher>>();
  private plans = new Map<string, Promise<ConnectPlan>>();
  private socketPools = new Map<string, SocketPool>();
  /** Bodies on bare sockets (opened ahead maybe, never read): closed by close(). */
  private lent = new Set<ResponseBody>();

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly connections: number,
    private readonly warn: (message: string) => void = stderrWarning,
  ) {}

  /** Options for an origin (`https://host:port`), to be set before its first request. */
  configure(origin: string, opts: OriginOptions): void {
    this.origins.set(origin, opts);
  }

  /** The origin's proxy and TLS options (certs.d is read once per origin). */
  private plan(origin: string): Promise<ConnectPlan> {
    let p = this.plans.get(origin);
    if (!p) {
      p = (async () => {
        const o = this.origins.get(origin) ?? {};
        const u = new URL(origin);
        const proxy = proxyFor(u, this.env);
        if (u.protocol !== 'https:') return { proxy };
        const tls = o.tls ?? (await loadTlsMaterial(u.host, this.env, this.warn));
        // One context per origin: a `ca` list given to each tls.connect would parse the few
        // hundred system roots again for every connection.
        const secureContext = createSecureContext({ ca: [...(await trustedRoots(this.env)), ...(tls.ca ?? [])], cert: tls.cert, key: tls.key });
        return { proxy, tls: { rejectUnauthorized: !o.insecureSkipVerify, secureContext } };
      })();
      this.plans.set(origin, p);
    }
    return p;
  }

  private pool(origin: string): Promise<Dispatcher> {
    const existing = this.pools.get(origin);
    if (existing) return Promise.resolve(existing);
    let p = this.pending.get(origin);
    if (!p) {
      p = (async () => {
        const { proxy, tls: tlsOpts } = await this.plan(origin);
        const common = {
          connections: this.connections,
          keepAliveTimeout: 30_000,
          // Blob bodies can be slow to start on big registries; a stall is still bounded.
          headersTimeout: 120_000,
          bodyTimeout: BODY_TIMEOUT_MS,
        };
        const pool: Dispatcher = proxy
          ? new (proxyAgent())({ uri: proxy, requestTls: tlsOpts, ...common })
          : new Pool(origin, { ...common, connect: tlsOpts });
        this.pools.set(origin, pool);
        return pool;
      })();
      this.pending.set(origin, p);
    }
    return p;
  }

  /**
   * The bare-socket connections to an origin (a redirect target has its own), made with that
   * origin's TLS options; as many stay idle as the undici pool may hold connections.
   */
  private socketPool(url: URL, tls: SocketRequest['tls']): SocketPool {
    let p = this.socketPools.get(url.origin);
    if (!p) {
      p = new SocketPool(new URL(url.origin), tls, this.connections);
      this.socketPools.set(url.origin, p);
    }
    return p;
  }

  /** Bare-socket connections opened so far, all origins (tests check that they are reused). */
  get socketsOpened(): number {
    let n = 0;
    for (const p of this.socketPools.values()) n += p.opened;
    return n;
  }

  /**
   * One HTTP exchange; low-level failures come back as classified AceErrors. The body arrives
   * through a DispatchBody (no undici Readable in between), or for a blob GET (`lend`)
   * through a bare socket (socket.ts).
   */
  async request(req: HttpRequest, what: string): Promise<ResponseData> {
    if (req.lend && req.method === 'GET' && req.body === undefined) {
      const plan = await this.plan(req.url.origin);
      if (!plan.proxy) {
        try {
          const res = await socketRequest(this.socketPool(req.url, plan.tls), { url: req.url, headers: req.headers ?? {}, signal: req.signal, tls: plan.tls, timeoutMs: BODY_TIMEOUT_MS, what });
          for (const b of this.lent) if (b.destroyed) this.lent.delete(b);
          this.lent.add(res.body);
          return res;
        } catch (e) {
          throw classifyError(e, what);
        }
      }
    }
    const pool = await this.pool(req.url.origin);
    const body = new DispatchBody(req.highWaterMark ?? 1 << 20);
    const signal = req.signal;
    return new Promise<ResponseData>((resolve, reject) => {
      let started = false;
      let unlisten: (() => void) | undefined;
      const cleanup = () => unlisten?.();
      const failed = (e: unknown) => {
        cleanup();
        const err = classifyError(e, what);
        if (started) body.fail(err as Error);
        else reject(err);
      };
      try {
        pool.dispatch(
          {
            origin: req.url.origin,
            method: req.method as Dispatcher.HttpMethod,
            path: req.url.pathname + req.url.search,
            headers: req.headers,
            body: req.body,
          },
          {
            onRequestStart(controller) {
              body.controller = controller;
              if (signal) {
                const abort = () => controller.abort(signal.reason ?? new DOMException('aborted', 'AbortError'));
                if (signal.aborted) abort();
                else unlisten = onAbort(signal, abort);
              }
            },
            onResponseStart(_controller, statusCode, headers) {
              started = true;
              resolve({ statusCode, headers, body });
            },
            onResponseData(_controller, chunk) {
              body.push(chunk);
            },
            onResponseEnd() {
              cleanup();
              body.end();
            },
            onResponseError(_controller, error) {
              failed(error);
            },
          },
        );
      } catch (e) {
        failed(e);
      }
    });
  }

  async close(): Promise<void> {
    for (const b of this.lent) b.destroy();
    this.lent.clear();
    for (const p of this.socketPools.values()) p.close();
    this.socketPools.clear();
    const pools = [...this.pools.values()];
    this.pools.clear();
    this.pending.clear();
    await Promise.all(pools.map((p) => p.close().catch(() => p.destroy())));
  }
}
