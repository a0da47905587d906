#!/usr/bin/env node
// The addon's one build, run by npm as this package's "install" script (package.json).
//
// An explicit install script (and "gypfile": false) is what keeps npm from adding its implicit
// `node-gyp rebuild` for a package with a binding.gyp: that step downloads Node's headers and
// built the addon a second time (issue 12). cmake-js compiles against the node-api-headers
// package, so nothing comes from the network.
//
//   node scripts/build-addon.mjs              build build/Release/ace_dt_native.node (source tree),
//                                             or accept the packed prebuild (installed tarball)
//   node scripts/build-addon.mjs --prebuild   build, then copy it to prebuilds/<platform>-<arch>/
//                                             for `npm pack` (run as "prepack")
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = `${process.platform}-${process.arch}`;
const prebuilt = path.join(root, 'prebuilds', target, 'ace_dt_native.node');
const built = path.join(root, 'build', 'Release', 'ace_dt_native.node');
const fail = (message) => {
  console.error(`ace-dt: ${message}`);
  process.exit(1);
};

// The packed tarball carries no C++ sources: it runs on its prebuild or not at all.
if (!existsSync(path.join(root, 'CMakeLists.txt'))) {
  if (existsSync(prebuilt)) process.exit(0);
  fail(`this package has no prebuilt addon for ${target} (it carries ${path.join('prebuilds', '*')}); build from a source checkout with \`npm ci\``);
}

const have = (cmd) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
const missing = ['cmake', 'g++', 'make'].filter((cmd) => !have(cmd));
if (missing.length > 0) {
  fail(`building the native addon needs ${missing.join(', ')}, not found; on Debian run \`bash scripts/install-deps.sh\` as root, then \`npm ci\` again`);
}

const cmakeJs = path.join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
const cmake = (command) => {
  const run = spawnSync(process.execPath, [cmakeJs, command, '--out', 'build'], { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) fail(`the native addon did not build (cmake-js exit ${run.status ?? run.signal}); the output above says why`);
};
// The zstd compressor is optional in the build (CMakeLists.txt).
const hasZstd = () => execFileSync(process.execPath, ['-p', `!!require(${JSON.stringify(built)}).Zstd`], { encoding: 'utf8' }).trim() === 'true';

cmake('compile');
let zstd = hasZstd();
// libzstd-dev installed after the first build (scripts/test.sh installs it): an incremental
// compile keeps the configure step's "not found", so configure again.
if (!zstd && existsSync('/usr/include/zstd.h')) {
  cmake('rebuild');
  zstd = hasZstd();
}
// Said here, rather than letting `--compression zstd` be the first to tell.
if (!zstd) {
  console.error(
    'ace-dt: WARNING: built WITHOUT the zstd compressor (libzstd-dev is not installed): `--compression zstd` will be refused.\n' +
      'ace-dt: install it (`bash scripts/install-deps.sh` as root) and run `npm run build:native`.',
  );
}

if (process.argv.includes('--prebuild')) {
  // A release must work the same on every machine it lands on: no half-featured prebuild.
  if (!zstd) fail('refusing to pack a prebuild without zstd');
  mkdirSync(path.dirname(prebuilt), { recursive: true });
  copyFileSync(built, prebuilt);
  // Checks that what is packed loads (a Node-API addon: any Node >= 20 on this platform).
  createRequire(import.meta.url)(prebuilt);
  console.error(`ace-dt: prebuild ${path.relative(root, prebuilt)}`);
}
