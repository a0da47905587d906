import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What a latency proxy saw, for tests that check concurrency and connection reuse. */
export interface LatencyProxyStats {
  /** Requests received and not yet answered in full. */
  inFlight: number;
  peakInFlight: number;
  requests: number;
  /** TCP connections accepted from clients in all, and open at once at most. */
  connections: number;
  openConnections: number;
  peakOpenConnections: number;
}

/** One request as the proxy saw it: when it arrived and when its answer was sent in full (ms). */
export interface ProxiedRequest {
  method: string;
  url: string;
  arrived: number;
  /** Undefined while in flight (or when the client went away first). */
  finished?: number;
  /** With `lockstepMs`: the round that released it (1, 2, ...). */
  round?: number;
}

export interface LatencyProxy {
  /** `127.0.0.1:PORT` */
  host: string;
  stats: LatencyProxyStats;
  /** Every request, in order of arrival (tests derive round trips and concurrency from it). */
  log: ProxiedRequest[];
  /** Cut every client connection now and refuse new ones (a registry gone mid-run). */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** Most requests of `log` in flight at once (arrived and not yet answered). */
export function peakInFlight(log: readonly ProxiedRequest[]): number {
  const edges = log.flatMap((r) => [{ at: r.arrived, d: 1 }, { at: r.finished ?? Infinity, d: -1 }]).sort((a, b) => a.at - b.at || a.d - b.d);
  let n = 0;
  let most = 0;
  for (const e of edges) most = Math.max(most, (n += e.d));
  return most;
}

/**
 * A real loopback HTTP proxy in front of a registry that holds every request `delayMs` before
 * forwarding it, as a registry across a WAN answers each request a round trip late (issue 11).
 * `opts.onRequest` sees each request's number first (a test kills the proxy there: a registry
 * gone mid-run); `opts.port` brings a killed one back on the same address.
 * Bodies then stream at loopback speed. Keep-alive on both sides, so the client's connection
 * reuse shows in `stats.connections`.
 *
 * `opts.lockstepMs` makes round trips countable without timing anything: requests are held and
 * released in rounds, the next round once every request of the last one was answered and none
 * arrived for that long. A client needs as many rounds as it has requests one after another
 * (each request's `round` says which), however fast or loaded the machine is.
 */
export async function startLatencyProxy(upstream: string, delayMs: number, opts: { port?: number; onRequest?: (n: number) => void; lockstepMs?: number } = {}): Promise<LatencyProxy> {
  const [uhost, uport] = upstream.replace(/^https?:\/\//, '').split(':');
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const stats: LatencyProxyStats = { inFlight: 0, peakInFlight: 0, requests: 0, connections: 0, openConnections: 0, peakOpenConnections: 0 };
  const sockets = new Set<Socket>();
  const log: ProxiedRequest[] = [];
  // Lock-step rounds: requests waiting for the next round, released ones not yet answered.
  const held: (() => void)[] = [];
  let released = 0;
  let round = 0;
  let quiet: NodeJS.Timeout | undefined;
  const nextRound = () => {
    clearTimeout(quiet);
    if (held.length === 0 || released > 0) return;
    quiet = setTimeout(() => {
      round++;
      const batch = held.splice(0);
      released += batch.length;
      for (const go of batch) go();
    }, opts.lockstepMs);
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    stats.requests++;
    opts.onRequest?.(stats.requests);
    if (req.socket.destroyed) return;
    stats.inFlight++;
    stats.peakInFlight = Math.max(stats.peakInFlight, stats.inFlight);
    const entry: ProxiedRequest = { method: req.method ?? '', url: req.url ?? '', arrived: performance.now() };
    log.push(entry);
    let counted = true;
    const finish = () => {
      if (counted) {
        counted = false;
        stats.inFlight--;
      }
    };
    res.once('finish', () => (entry.finished = performance.now()));
    res.once('finish', finish);
    res.once('close', finish);
    const forward = () => {
      if (res.destroyed) return;
      const up = request({ host: uhost, port: Number(uport), agent, method: req.method, path: req.url, headers: { ...req.headers, host: upstream } }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        upRes.on('error', () => res.destroy());
      });
      up.on('error', () => res.destroy());
      res.once('close', () => up.destroy());
      req.pipe(up);
    };
    if (opts.lockstepMs === undefined) return void setTimeout(forward, delayMs);
    held.push(() => {
      entry.round = round;
      res.once('close', () => {
        released--;
        nextRound();
      });
      setTimeout(forward, delayMs);
    });
    nextRound();
  };
  const server: Server = createServer({ keepAliveTimeout: 30_000 }, handle);
  server.on('connection', (socket: Socket) => {
    stats.connections++;
    stats.openConnections++;
    stats.peakOpenConnections = Math.max(stats.peakOpenConnections, stats.openConnections);
    sockets.add(socket);
    socket.once('close', () => {
      stats.openConnections--;
      sockets.delete(socket);
    });
  });
  await new Promise<void>((r) => server.listen(opts.port ?? 0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((r) => {
      clearTimeout(quiet);
      for (const s of sockets) s.destroy();
      server.close(() => r());
      agent.destroy();
    });
  return { host: `127.0.0.1:${port}`, stats, log, kill: close, stop: close };
}
