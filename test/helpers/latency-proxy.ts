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

export interface LatencyProxy {
  /** `127.0.0.1:PORT` */
  host: string;
  stats: LatencyProxyStats;
  /** Cut every client connection now and refuse new ones (a registry gone mid-run). */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real loopback HTTP proxy in front of a registry that holds every request `delayMs` before
 * forwarding it, as a registry across a WAN answers each request a round trip late (issue 11).
 * `opts.onRequest` sees each request's number first (a test kills the proxy there: a registry
 * gone mid-run); `opts.port` brings a killed one back on the same address.
 * Bodies then stream at loopback speed. Keep-alive on both sides, so the client's connection
 * reuse shows in `stats.connections`.
 */
export async function startLatencyProxy(upstream: string, delayMs: number, opts: { port?: number; onRequest?: (n: number) => void } = {}): Promise<LatencyProxy> {
  const [uhost, uport] = upstream.replace(/^https?:\/\//, '').split(':');
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const stats: LatencyProxyStats = { inFlight: 0, peakInFlight: 0, requests: 0, connections: 0, openConnections: 0, peakOpenConnections: 0 };
  const sockets = new Set<Socket>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    stats.requests++;
    opts.onRequest?.(stats.requests);
    if (req.socket.destroyed) return;
    stats.inFlight++;
    stats.peakInFlight = Math.max(stats.peakInFlight, stats.inFlight);
    let counted = true;
    const finish = () => {
      if (counted) {
        counted = false;
        stats.inFlight--;
      }
    };
    res.once('finish', finish);
    res.once('close', finish);
    setTimeout(() => {
      if (res.destroyed) return;
      const up = request({ host: uhost, port: Number(uport), agent, method: req.method, path: req.url, headers: { ...req.headers, host: upstream } }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        upRes.on('error', () => res.destroy());
      });
      up.on('error', () => res.destroy());
      res.once('close', () => up.destroy());
      req.pipe(up);
    }, delayMs);
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
      for (const s of sockets) s.destroy();
      server.close(() => r());
      agent.destroy();
    });
  return { host: `127.0.0.1:${port}`, stats, kill: close, stop: close };
}
