/**
 * Secrets never reach the operator's screen, logs or the --debug file: serialize from a registry
 * with basic auth and from one behind a token service, at the highest verbosity, with --debug, and
 * grep everything it wrote for the password, the base64 credentials and every token issued.
 */
import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { startRegistry, startTokenAuthProxy } from '../helpers/registry.js';
import { pushTwoPlatformIndex } from '../helpers/images.js';

const USER = 'operator';
const PASSWORD = 's3cret-Tape-Pass';

function dockerConfig(dir: string, host: string): NodeJS.ProcessEnv {
  mkdirSync(dir, { recursive: true });
  const auth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [host]: { auth } } }));
  return { DOCKER_CONFIG: dir, REGISTRY_AUTH_FILE: '', ACE_DT_REGISTRY_AUTH_FILE: '' };
}

function secretsIn(text: string, secrets: string[]): string[] {
  return secrets.filter((s) => s && text.includes(s));
}

t.test('basic auth: serialize works from config.json and leaks nothing', async (t) => {
  const reg = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
  t.teardown(() => reg.stop());
  await pushTwoPlatformIndex(reg.host, 'sec/img', 'v1', { seed: 5, auth: { user: USER, password: PASSWORD } });
  const dir = t.testdir({});
  const env = dockerConfig(join(dir, 'docker'), reg.host);
  const debug = join(dir, 'debug.jsonl');
  const r = await runCli(['mirror', 'serialize', `${reg.host}/sec/img:v1`, join(dir, 'out.tar'), '--no-term', '-v=debug', '--debug', debug], { env });
  t.equal(r.code, 0, r.stderr);
  const lines = readFileSync(debug, 'utf8').trim().split('\n');
  for (const l of lines) JSON.parse(l); // JSON Lines
  t.ok(lines.length > 5, 'the debug file has the run events');
  t.ok(lines.some((l) => l.includes(reg.host)), 'it names the registry (so a leak would show)');
  const all = [r.stdout, r.stderr, readFileSync(debug, 'utf8')].join('\n');
  t.same(secretsIn(all, [PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')]), [], 'no password, no base64 credentials');

  const wrong = dockerConfig(join(dir, 'wrong'), reg.host);
  writeFileSync(join(dir, 'wrong/config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${USER}:nope-${PASSWORD}`).toString('base64') } } }));
  const bad = await runCli(['mirror', 'serialize', `${reg.host}/sec/img:v1`, join(dir, 'bad.tar'), '-q'], { env: wrong });
  t.equal(bad.code, 1);
  t.match(bad.stderr, /authentication failed|unauthorized|credentials/i, 'wrong credentials: a clear error');
  t.same(secretsIn(bad.stderr, [PASSWORD]), []);
});

t.test('token service: bearer tokens never appear in the output or the debug file', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  await pushTwoPlatformIndex(reg.host, 'sec/tok', 'v1', { seed: 6 });
  const proxy = await startTokenAuthProxy({ upstream: reg.host, user: USER, password: PASSWORD });
  t.teardown(() => proxy.stop());
  const dir = t.testdir({});
  const env = dockerConfig(join(dir, 'docker'), proxy.host);
  const debug = join(dir, 'debug.jsonl');
  const r = await runCli(['mirror', 'serialize', `${proxy.host}/sec/tok:v1`, join(dir, 'out.tar'), '--no-term', '-v=debug', '--debug', debug], { env });
  t.equal(r.code, 0, r.stderr);
  t.ok(proxy.issued.length > 0, 'the token flow was used');
  const all = [r.stdout, r.stderr, readFileSync(debug, 'utf8')].join('\n');
  t.same(secretsIn(all, [PASSWORD, ...proxy.issued.map((x) => x.token)]), [], 'no password, no token');
});
