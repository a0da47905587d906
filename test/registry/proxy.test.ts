/**
 * HTTP(S)_PROXY / NO_PROXY: a real loopback CONNECT proxy carries the traffic to a registry whose
 * name only the proxy can reach; NO_PROXY sends it direct (and fails to resolve the name).
 */
import t from 'tap';
import { createServer } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Test } from 'tap';
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
  t.equal(proxyFor(new URL('https://internal.example'), env), 'http://proxy:3128', 'a leading dot means subdomains only (Go)');
  t.equal(proxyFor(new URL('https://other.example:8443'), env), undefined);
  t.equal(proxyFor(new URL('https://other.example'), env), 'http://proxy:3128', 'port must match');
  t.equal(proxyFor(new URL('https://10.0.0.1'), env), undefined);
  t.equal(proxyFor(new URL('http://127.0.0.1:5000'), env), undefined, 'loopback never proxied');
  t.equal(proxyFor(new URL('https://x.example'), { ...env, NO_PROXY: '*' }), undefined);
  t.equal(proxyFor(new URL('https://x.example'), {}), undefined);
  const go = { HTTPS_PROXY: 'proxy:3128', no_proxy: '10.0.0.0/8, fd00::/8, 192.168.1.7:8443, example.org, *.wild.example, [fe80::1]:5000' };
  t.equal(proxyFor(new URL('https://10.1.2.3:5000'), go), undefined, 'CIDR, any port');
  t.equal(proxyFor(new URL('https://11.1.2.3'), go), 'http://proxy:3128', 'outside the range');
  t.equal(proxyFor(new URL('https://[fd00::5]'), go), undefined, 'IPv6 CIDR');
  t.equal(proxyFor(new URL('https://10.example.org'), go), undefined, 'a domain matches its subdomains');
  t.equal(proxyFor(new URL('https://example.org'), go), undefined, 'and itself');
  t.equal(proxyFor(new URL('https://a.10.0.0.1.nip.example'), go), 'http://proxy:3128', 'a range matches IP hosts only');
  t.equal(proxyFor(new URL('https://192.168.1.7:8443'), go), undefined, 'IP:port');
  t.equal(proxyFor(new URL('https://192.168.1.7'), go), 'http://proxy:3128', 'IP with another port');
  t.equal(proxyFor(new URL('https://x.wild.example'), go), undefined, '*.domain');
  t.equal(proxyFor(new URL('https://wild.example'), go), 'http://proxy:3128', '*.domain is subdomains only');
  t.equal(proxyFor(new URL('https://[fe80::1]:5000'), go), undefined, '[IPv6]:port');
  t.equal(proxyFor(new URL('https://localhost:5000'), go), undefined, 'localhost never proxied');
});

/** A CONNECT proxy that tunnels to `to` (host:port) whatever was asked, and records the targets. */
async function tunnellingProxy(t: Test, to: string): Promise<{ url: string; targets: string[] }> {
  const targets: string[] = [];
  const proxy = createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req, socket, head) => {
    targets.push(req.url ?? '');
    const [host, port] = to.split(':');
    const up = connect(Number(port), host, () => {
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
  return { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, targets };
}

t.test('a registry on a non-loopback address: proxied, or bypassed by a NO_PROXY CIDR range', async (t) => {
  // Loopback is never proxied, so the registry is reached through this machine's own
  // non-loopback address: a TCP forwarder there leads to it.
  const lan = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
  if (!lan) throw new Error('this test needs a non-loopback IPv4 address on the machine (none found)');
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const img = await pushTwoPlatformIndex(reg.host, 'c/img', 'v1');
  const [, regPort] = reg.host.split(':');
  const forwarder = createNetServer((socket) => {
    const up = connect(Number(regPort), '127.0.0.1');
    socket.pipe(up).pipe(socket);
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => forwarder.listen(0, lan.address, r));
  t.teardown(() => new Promise<void>((r) => forwarder.close(() => r())));
  const host = `${lan.address}:${(forwarder.address() as AddressInfo).port}`;
  const proxy = await tunnellingProxy(t, reg.host);
  const config = parseConfig(`apiVersion: config.dt.act3-ace.io/v1alpha1
kind: Configuration
registryConfig:
  registries:
    ${host}:
      endpoints: [http://${host}]
`);
  const range = lan.address.replace(/\.\d+$/, '.0/24');
  const via = async (noProxy: string) => {
    proxy.targets.length = 0;
    const src = await openRegistrySource(`${host}/c/img:v1`, { config, env: { ...process.env, HTTP_PROXY: proxy.url, NO_PROXY: noProxy }, retry: { attempts: 1 } });
    t.teardown(() => src.close());
    t.equal((await src.resolve()).digest, img.index.digest, `resolved with NO_PROXY=${noProxy}`);
    return [...proxy.targets];
  };
  t.same(await via('10.0.0.0/8'), [host], 'another range: through the proxy');
  t.same(await via(`10.0.0.0/8,${range}`), [], `${range}: direct, the proxy saw nothing`);
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
