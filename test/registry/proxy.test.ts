/**
 * HTTP(S)_PROXY / NO_PROXY: a real loopback CONNECT proxy carries the traffic to a registry whose
 * name only the proxy can reach; NO_PROXY sends it direct (and fails to resolve the name).
 */
import t from 'tap';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { openRegistrySource } from '../../src/source/registry.js';
import { parseConfig } from '../../src/config/index.js';
import { proxyFor } from '../../src/registry/transport.js';
import { startRegistry } from '../helpers/registry.js';
import { pushTwoPlatformIndex, sha256 } from '../helpers/images.js';

t.test('proxyFor follows Go ProxyFromEnvironment', async (t) => {
  const env = { HTTPS_PROXY: 'proxy:3128', http_proxy: 'http://p2:8080', NO_PROXY: '.internal.example, other.example:8443, 10.0.0.1' };
  t.equal(proxyFor(new URL('https://reg.example.com'), env), 'http://proxy:3128');
  t.equal(proxyFor(new URL('http://reg.example.com'), env), 'http://p2:8080');
  t.equal(proxyFor(new URL('https://a.internal.example'), env), undefined);
  t.equal(proxyFor(new URL('https://internal.example'), env), undefined);
  t.equal(proxyFor(new URL('https://other.example:8443'), env), undefined);
  t.equal(proxyFor(new URL('https://other.example'), env), 'http://proxy:3128', 'port must match');
  t.equal(proxyFor(new URL('https://10.0.0.1'), env), undefined);
  t.equal(proxyFor(new URL('http://127.0.0.1:5000'), env), undefined, 'loopback never proxied');
  t.equal(proxyFor(new URL('https://x.example'), { ...env, NO_PROXY: '*' }), undefined);
  t.equal(proxyFor(new URL('https://x.example'), {}), undefined);
});

t.test('through a CONNECT proxy', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const img = await pushTwoPlatformIndex(reg.host, 'p/img', 'v1');
  const targets: string[] = [];
  const proxy = createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req, socket, head) => {
    targets.push(req.url ?? '');
    const [, port] = reg.host.split(':');
    const up = connect(Number(port), '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { proxy.closeAllConnections(); proxy.close(() => r()); }));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const config = parseConfig(`apiVersion: config.dt.act3-ace.io/v1alpha1
kind: Configuration
registryConfig:
  registries:
    registry.test:5000:
      endpoints: [http://registry.test:5000]
`);
  const src = await openRegistrySource('registry.test:5000/p/img:v1', { config, env: { ...process.env, HTTP_PROXY: proxyUrl, NO_PROXY: '' } });
  t.teardown(() => src.close());
  t.equal((await src.resolve()).digest, img.index.digest);
  const chunks: Buffer[] = [];
  for await (const c of await src.fetchBlob(img.blobs[0])) chunks.push(Buffer.from(c));
  t.equal(sha256(Buffer.concat(chunks)), img.blobs[0].digest);
  t.ok(targets.length >= 1 && targets.every((x) => x === 'registry.test:5000'), 'tunnelled to the named host');

  const direct = await openRegistrySource('registry.test:5000/p/img:v1', { config, env: { ...process.env, HTTP_PROXY: proxyUrl, NO_PROXY: 'registry.test' }, retry: { attempts: 1 } });
  t.teardown(() => direct.close());
  await t.rejects(direct.resolve(), { message: /resolve, registry\.test:5000\/p\/img:v1: host not found/ });
});
