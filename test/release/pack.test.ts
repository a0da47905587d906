/**
 * The release tarball on the far side of the air gap (issue 12): `npm pack`, then
 * `npm install --offline --ignore-scripts ./ace-dt-X.tgz` into an empty prefix with an empty npm
 * cache, an unreachable registry and a PATH holding nothing but node (no compiler, no cmake), and
 * from that install: serialize of an `oci:` layout, `mirror verify`, `mirror deserialize` into a
 * real registry on loopback.
 *
 * The pack step runs the package's prepack (the prebuild copy) by hand and then packs with
 * --ignore-scripts: npm's "prepare" would rerun tsc over dist/ while the other test files, run in
 * parallel, load it. `npm test` built dist/ just before (pretest).
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.js';
import { startRegistry } from '../helpers/registry.js';

const tmp = mkdtempSync(join(tmpdir(), 'ace-dt-release-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const npmCli = join(realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}
function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? tmp, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is not built: run `npm run build:ts` (npm test does)');
const prebuild = await run(process.execPath, [join(ROOT, 'scripts', 'build-addon.mjs'), '--prebuild'], { cwd: ROOT });
// No assertion before the subtests (tap would end the root test at the first await after it).
if (prebuild.code !== 0) throw new Error(`prepack (prebuild) failed: ${prebuild.stderr.slice(-2000)}`);
const pack = await run(process.execPath, [npmCli, 'pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: ROOT });
if (pack.code !== 0) throw new Error(`npm pack failed: ${pack.stderr.slice(-2000)}`);
const packOut = JSON.parse(pack.stdout) as unknown;
if (!Array.isArray(packOut)) throw new Error(`npm pack --json gave no list: ${pack.stdout}${pack.stderr.slice(-2000)}`);
const [packed] = packOut as { filename: string; size: number; files: { path: string }[]; bundled: string[] }[];
const tgz = join(tmp, packed.filename);

t.test('the tarball carries compiled JS, the prebuild and the runtime dependencies, no sources', async (t) => {
  const files = packed.files.map((f) => f.path);
  t.ok(files.includes('bin/ace-dt.js') && files.includes('dist/cli/main.js'), 'bin and dist');
  t.ok(files.includes(`prebuilds/linux-x64/ace_dt_native.node`), 'the linux-x64 prebuild');
  t.same([...packed.bundled].sort().filter((n) => ['chalk', 'clipanion', 'undici', 'yaml'].includes(n)), ['chalk', 'clipanion', 'undici', 'yaml'], 'runtime dependencies bundled');
  t.notOk(files.some((f) => /^(native|src|test|build)\//.test(f)), 'no C++ or TypeScript sources, no tests, no build tree');
  t.comment(`${packed.filename}: ${(packed.size / 1e6).toFixed(1)} MB packed, ${files.length} files`);
});

t.test('installs offline with an empty cache and no compiler, and works from there', async (t) => {
  const prefix = join(tmp, 'prefix');
  const cache = join(tmp, 'empty-cache');
  const pathDir = join(tmp, 'path');
  mkdirSync(prefix);
  mkdirSync(cache);
  mkdirSync(pathDir);
  // The only program on PATH is node: no cc, g++, cmake, make, python, not even sh.
  symlinkSync(process.execPath, join(pathDir, 'node'));
  const userconfig = join(tmp, 'npmrc');
  writeFileSync(userconfig, '');
  const env: NodeJS.ProcessEnv = {
    PATH: pathDir,
    HOME: join(tmp, 'home'),
    npm_config_cache: cache,
    npm_config_userconfig: userconfig,
    // Any attempt to reach a registry fails at once instead of going out.
    npm_config_registry: 'http://127.0.0.1:9/',
    NO_COLOR: '1',
  };
  const install = await run(process.execPath, [npmCli, 'install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--prefix', prefix, tgz], { env, cwd: prefix });
  t.equal(install.code, 0, `npm install --offline --ignore-scripts: ${install.stdout}${install.stderr.slice(-3000)}`);
  const pkg = join(prefix, 'node_modules', 'ace-dt');
  t.ok(existsSync(join(pkg, 'prebuilds', 'linux-x64', 'ace_dt_native.node')), 'the prebuild is installed');
  t.notOk(existsSync(join(pkg, 'build')), 'nothing was built');
  const bin = join(prefix, 'node_modules', '.bin', 'ace-dt');

  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const archive = join(tmp, 'sample.tar');
  const serialize = await run(bin, ['mirror', 'serialize', `oci:${join(ROOT, 'sample', 'layout')}:v1`, archive, '--no-term'], { env });
  t.equal(serialize.code, 0, `serialize from the install: ${serialize.stderr}`);
  // The sample's root, as the archive's first index.json names it.
  const root = JSON.parse(readFileSync(join(ROOT, 'sample', 'layout', 'index.json'), 'utf8')).manifests[0].digest as string;

  const verify = await run(bin, ['mirror', 'verify', archive], { env });
  t.equal(verify.code, 0, `verify from the install: ${verify.stdout}${verify.stderr}`);

  const deserialize = await run(bin, ['mirror', 'deserialize', '--no-term', archive, `${reg.host}/release/sample:v1`], { env });
  t.equal(deserialize.code, 0, `deserialize from the install: ${deserialize.stderr}`);
  const res = await fetch(`${reg.url}/v2/release/sample/manifests/v1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.index.v1+json' } });
  t.equal(res.headers.get('docker-content-digest'), root, 'the registry holds the sample under its own digest');
});
