import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real loopback HTTP proxy in front of a registry that paces response bodies to about
 * `bytesPerSecond`, so a test can kill a serialize while it is mid-archive. `hold()` stops every
 * body where it is until `release()`: a run that must still be going while a test does something
 * else stays mid-archive however slow the machine is. `hold(part)` stops only the bodies of
 * requests whose path contains `part` (a digest): one blob waits while the others flow.
 */
export async function startThrottle(upstream: string, bytesPerSecond: number): Promise<{ host: string; hold(part?: string): void; release(): void; stop(): Promise<void> }> {
  const [uhost, uport] = upstream.split(':');
  let held: string | undefined;
  const waiting: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '';
    const later = (resume: () => void, ms: number) => setTimeout(() => (held !== undefined && path.includes(held) ? waiting.push(resume) : resume()), ms);
    const up = request({ host: uhost, port: Number(uport), method: req.method, path: req.url, headers: { ...req.headers, host: upstream } }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.on('data', (chunk: Buffer) => {
        upRes.pause();
        const next = () => later(() => upRes.resume(), Math.ceil((chunk.length / bytesPerSecond) * 1000));
        if (res.write(chunk)) next();
        else res.once('drain', next);
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
    hold: (part = '') => void (held = part),
    release: () => {
      held = undefined;
      for (const resume of waiting.splice(0)) resume();
    },
    stop: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
