/**
 * Large blob GETs on the bare socket reuse keep-alive connections (src/registry/socket-pool.ts,
 * issue 11), and over https new connections resume the last TLS session. A real registry behind
 * real loopback proxies that count connections and resumed handshakes.
 */
import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { openRegistrySource } from '../../src/source/registry.js';
import { parseConfig } from '../../src/config/index.js';
import { makeSelfSignedCert, startRegistry } from '../helpers/registry.js';
import { pushImage, sha256 } from '../helpers/images.js';
import { startLatencyProxy } from '../helpers/latency-proxy.js';
import { startFaultyServer } from '../helpers/faulty-server.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobStream } from '../../src/stream/blob-stream.js';

const reg = await startRegistry();
t.teardown(() => reg.stop());
const img = await pushImage(reg.host, 'pool/img', 'v1', Array.from({ length: 12 }, (_, i) => ({ size: (3 << 19) + i, seed: 900 + i })));
const layers = img.blobs.slice(1);

async function digestOf(stream: BlobStream): Promise<string> {
  const chunks: Buffer[] = [];
  await stream.pipeTo((c) => void chunks.push(Buffer.from(c)));
  return sha256(Buffer.concat(chunks));
}

t.test('one after another, a dozen large blobs share one connection', async (t) => {
  const proxy = await startLatencyProxy(reg.host, 0);
  t.teardown(() => proxy.stop());
  const src = await openRegistrySource(`${proxy.host}/pool/img:v1`);
  t.teardown(() => src.close());
  for (const l of layers) t.equal(await digestOf(await src.fetchBlob(l)), l.digest);
  t.equal(proxy.stats.connections, 1, `${proxy.stats.requests} requests on ${proxy.stats.connections} connection`);
  // Four at a time: four connections, kept for the next four.
  for (let i = 0; i < layers.length; i += 4) {
    const batch = layers.slice(i, i + 4);
    const got = await Promise.all(batch.map(async (l) => digestOf(await src.fetchBlob(l))));
    t.same(got, batch.map((l) => l.digest));
  }
  t.ok(proxy.stats.connections <= 4, `${proxy.stats.connections} connections for ${proxy.stats.requests} requests`);
});

t.test('https: new connections resume the TLS session', async (t) => {
  const dir = t.testdir({});
  const { cert, key } = makeSelfSignedCert(dir);
  let handshakes = 0;
  let resumed = 0;
  // A TLS front for the plain-HTTP registry (as a load balancer terminating TLS would be).
  const front = tls.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (s) => {
    handshakes++;
    if (s.isSessionReused()) resumed++;
    const up = net.connect(Number(reg.host.split(':')[1]), '127.0.0.1');
    s.pipe(up).pipe(s);
    s.on('error', () => up.destroy());
    up.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => front.close(() => r())));
  const host = `127.0.0.1:${(front.address() as net.AddressInfo).port}`;
  const config = parseConfig(`apiVersion: config.dt.act3-ace.io/v1alpha1
kind: Configuration
registryConfig:
  registries:
    ${host}:
      endpoints: [https://${host}]
  endpointConfig:
    https://${host}:
      tls:
        insecureSkipVerify: true
`);
  const src = await openRegistrySource(`${host}/pool/img:v1`, { config });
  t.teardown(() => src.close());
  t.equal(await digestOf(await src.fetchBlob(layers[0])), layers[0].digest);
  const before = handshakes;
  const batch = layers.slice(1, 5);
  const got = await Promise.all(batch.map(async (l) => digestOf(await src.fetchBlob(l))));
  t.same(got, batch.map((l) => l.digest));
  const fresh = handshakes - before;
  t.ok(fresh >= 3, `${fresh} new connections for four blobs at once (one was reused)`);
  t.ok(resumed >= fresh, `${resumed} of ${handshakes} handshakes resumed a session`);
});

t.test('large blobs redirected to another host (its own socket pool) never carry the Authorization', async (t) => {
  const auth = { user: 'pool', password: 'pool-secret' };
  const authed = await startRegistry({ htpasswd: auth });
  t.teardown(() => authed.stop());
  const big = Array.from({ length: 4 }, (_, i) => ({ size: (2 << 20) + i, seed: 950 + i }));
  const pushed = await pushImage(authed.host, 'r/img', 'v1', big, { auth });
  await pushImage(reg.host, 'r/img', 'v1', big); // the storage behind the redirect
  const f = await startFaultyServer({ upstream: authed.host, mode: 'redirect', redirectUpstream: reg.host });
  t.teardown(() => f.stop());
  const dir = t.testdir({});
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [f.host]: { auth: Buffer.from(`${auth.user}:${auth.password}`).toString('base64') } } }));
  const src = await openRegistrySource(`${f.host}/r/img:v1`, { env: { ...process.env, DOCKER_CONFIG: dir } });
  t.teardown(() => src.close());
  t.equal((await src.resolve()).digest, pushed.index.digest); // learns that the registry wants Basic
  for (const l of pushed.blobs.slice(1)) t.equal(await digestOf(await src.fetchBlob(l)), l.digest);
  const redirected = f.requests.filter((r) => r.listener === 'redirect');
  t.equal(redirected.length, 4, 'every large blob came from the other host');
  t.ok(redirected.every((r) => r.headers.authorization === undefined), 'which never got the Authorization');
  t.ok(f.requests.some((r) => r.listener === 'main' && r.headers.authorization?.startsWith('Basic ')), 'the registry did');
});
