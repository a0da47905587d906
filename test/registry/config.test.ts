/**
 * The configuration loader (behaviour note 7.4): search order, first readable file wins, strict
 * decoding with errors naming the file and the key, and what the endpoints mean for a host.
 */
import t from 'tap';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSearchPath, endpointFor, loadConfig, parseConfig } from '../../src/config/index.js';

const HEAD = 'apiVersion: config.dt.act3-ace.io/v1alpha1\nkind: Configuration\n';
const tmp = await mkdtemp(join(tmpdir(), 'ace-dt-config-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

t.test('search order', async (t) => {
  t.same(configSearchPath(['a.yaml', 'b.yaml'], { ACE_DT_CONFIG: 'x' }), ['a.yaml', 'b.yaml'], '--config wins');
  t.same(configSearchPath(undefined, { ACE_DT_CONFIG: '/x.yaml:/y.yaml' }), ['/x.yaml', '/y.yaml']);
  t.same(configSearchPath(undefined, { XDG_CONFIG_HOME: '/xdg' }), ['ace-dt-config.yaml', '/xdg/ace/dt/config.yaml', '/etc/ace/dt/config.yaml']);
  t.same(configSearchPath([], { HOME: '/home/u' }), ['ace-dt-config.yaml', '/home/u/.config/ace/dt/config.yaml', '/etc/ace/dt/config.yaml']);
});

t.test('first readable file wins; none gives defaults', async (t) => {
  const a = join(tmp, 'a.yaml');
  const b = join(tmp, 'b.yaml');
  await writeFile(a, HEAD + 'concurrentHTTP: 3\n');
  await writeFile(b, HEAD + 'concurrentHTTP: 7\n');
  t.equal((await loadConfig([join(tmp, 'missing.yaml'), a, b])).concurrentHTTP, 3);
  t.equal((await loadConfig(undefined, { ACE_DT_CONFIG: `${join(tmp, 'nope')}:${b}` })).file, b);
  const xdg = join(tmp, 'xdg');
  await mkdir(join(xdg, 'ace', 'dt'), { recursive: true });
  await writeFile(join(xdg, 'ace', 'dt', 'config.yaml'), HEAD + 'chunkSize: 10Mi\n');
  t.equal((await loadConfig(undefined, { XDG_CONFIG_HOME: xdg })).chunkSize, 10 * 1048576);
  const none = await loadConfig([join(tmp, 'nothing-here.yaml')]);
  t.equal(none.file, undefined);
  t.same(none.registryConfig, { registries: {}, endpointConfig: {} });
  // A broken first file is an error, not skipped (it is readable).
  await writeFile(a, 'apiVersion: [\n');
  await t.rejects(loadConfig([a, b]), { code: 'ECONFIG', message: new RegExp(`configuration file ${a}: not valid YAML`) });
});

t.test('the documented keys', async (t) => {
  const c = parseConfig(
    HEAD +
      `cachePath: /var/cache/ace
cachePruneMax: 500Mi
concurrentHTTP: 5
chunkSize: 100Mi
registryAuthFile: /root/auth.json
registryConfig:
  registries:
    reg.example.com:
      endpoints: [http://mirror.local:5000, https://other]
      rewritePull:
        "^library/(.*)$": "mirror/$1"
      noncompliant: true
    index.docker.io:
      endpoints: [https://dockerhub-mirror.example.com]
  endpointConfig:
    http://mirror.local:5000/:
      supportsReferrers: tag
    https://secure.example.com:
      tls:
        insecureSkipVerify: true
`,
    'c.yaml',
  );
  t.equal(c.cachePruneMax, 500 * 1048576);
  t.equal(c.registryAuthFile, '/root/auth.json');
  const e = endpointFor(c, 'reg.example.com', 'reg.example.com', false);
  t.match(e, { url: 'http://mirror.local:5000', host: 'mirror.local:5000', plainHttp: true, referrers: 'tag', insecureSkipVerify: false });
  t.same(e.rewritePull, { '^library/(.*)$': 'mirror/$1' });
  t.match(endpointFor(c, 'secure.example.com', 'secure.example.com', false), { url: 'https://secure.example.com', plainHttp: false, insecureSkipVerify: true, referrers: 'auto' });
  t.match(endpointFor(c, '127.0.0.1:5000', '127.0.0.1:5000', true), { url: 'http://127.0.0.1:5000', plainHttp: true }, 'loopback: plain HTTP');
  t.match(endpointFor(c, 'docker.io', 'registry-1.docker.io', false), { url: 'https://dockerhub-mirror.example.com' }, 'Docker Hub by any name');
  t.match(endpointFor(parseConfig(HEAD), 'docker.io', 'registry-1.docker.io', false), { url: 'https://registry-1.docker.io', plainHttp: false });
  t.same(parseConfig(HEAD).registryConfig, { registries: {}, endpointConfig: {} }, 'minimal file');
});

t.test('strict: unknown keys, wrong apiVersion/kind, bad values name the file and key', async (t) => {
  const bad: [string, RegExp][] = [
    [HEAD + 'cachePth: /x\n', /f\.yaml: cachePth: unknown key/],
    ['apiVersion: v2\nkind: Configuration\n', /f\.yaml: apiVersion: expected config\.dt\.act3-ace\.io\/v1alpha1, got "v2"/],
    ['apiVersion: config.dt.act3-ace.io/v1alpha1\nkind: Other\n', /kind: expected Configuration/],
    ['kind: Configuration\n', /apiVersion: missing/],
    [HEAD + 'registryConfig:\n  registries:\n    h:\n      endpoint: [http://x]\n', /registryConfig\.registries\.h\.endpoint: unknown key/],
    [HEAD + 'registryConfig:\n  registries:\n    h:\n      endpoints: [ftp://x]\n', /registryConfig\.registries\.h\.endpoints: "ftp:\/\/x" is not an http/],
    [HEAD + 'registryConfig:\n  endpointConfig:\n    https://h:\n      supportsReferrers: maybe\n', /supportsReferrers: expected tag, api or auto, got "maybe"/],
    [HEAD + 'registryConfig:\n  endpointConfig:\n    https://h:\n      tls:\n        insecure: true\n', /tls\.insecure: unknown key/],
    [HEAD + 'registryConfig:\n  registrys: {}\n', /registryConfig\.registrys: unknown key/],
    [HEAD + 'chunkSize: lots\n', /chunkSize: expected a byte size/],
    [HEAD + 'concurrentHTTP: -1\n', /concurrentHTTP: expected a positive integer/],
    [HEAD + 'kind: Configuration\n', /not valid YAML/],
    ['- a\n- b\n', /expected a mapping/],
  ];
  for (const [text, re] of bad) t.throws(() => parseConfig(text, 'f.yaml'), { code: 'ECONFIG', message: re }, re.source);
});

t.test('environment overrides', async (t) => {
  const c = await loadConfig([join(tmp, 'none.yaml')], { ACE_DT_CONCURRENT_HTTP: '9', ACE_DT_CHUNK_SIZE: '1Mi', ACE_DT_CACHE_PATH: '/c' });
  t.match(c, { concurrentHTTP: 9, chunkSize: 1048576, cachePath: '/c' });
  await t.rejects(loadConfig([join(tmp, 'none.yaml')], { ACE_DT_CONCURRENT_HTTP: 'many' }), { code: 'ECONFIG', message: /ACE_DT_CONCURRENT_HTTP/ });
});
