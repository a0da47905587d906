import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real loopback HTTP proxy in front of a registry that paces response bodies to about
 * `bytesPerSecond`, so a test can kill a serialize while it is mid-archive. `hold()` stops every
 * body where it is until `release()`: a run that must still be going while a test does something
 * else stays mid-archive however slow the machine is.
 */
export async function startThrottle(upstream: string, bytesPerSecond: number): Promise<{ host: string; hold(): void; release(): void; stop(): Promise<void> }> {
  const [uhost, uport] = upstream.split(':');
  let held = false;
  const waiting: (() => void)[] = [];
  const later = (resume: () => void, ms: number) => setTimeout(() => (held ? waiting.push(resume) : resume()), ms);
  const server: Server = createServer((req, res) => {
    const up = request({ host: uhost, port: Number(uport), method: req.method, path: req.url, headers: { ...req.headers, host: upstream } }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.on('data', (chunk: Buffer) => {
        upRes.pause();
        if (!res.write(chunk)) res.once('drain', () => {});
        later(() => upRes.resume(), Math.ceil((chunk.length / bytesPerSecond) * 1000));
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
    hold: () => void (held = true),
    release: () => {
      held = false;
      for (const resume of waiting.splice(0)) resume();
    },
    stop: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
