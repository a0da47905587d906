import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real loopback HTTP proxy in front of a registry that paces response bodies to about
 * `bytesPerSecond`, so a test can kill a serialize while it is mid-archive.
 */
export async function startThrottle(upstream: string, bytesPerSecond: number): Promise<{ host: string; stop(): Promise<void> }> {
  const [uhost, uport] = upstream.split(':');
  const server: Server = createServer((req, res) => {
    const up = request({ host: uhost, port: Number(uport), method: req.method, path: req.url, headers: { ...req.headers, host: upstream } }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.on('data', (chunk: Buffer) => {
        upRes.pause();
        if (!res.write(chunk)) res.once('drain', () => {});
        setTimeout(() => upRes.resume(), Math.ceil((chunk.length / bytesPerSecond) * 1000));
      });
      upRes.on('end', () => res.end());
      upRes.on('error', () => res.destroy());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    stop: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
