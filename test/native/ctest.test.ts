/**
 * The napi-free C++ core's own tests (native/test: two-thread ring fuzz, writer thread against
 * real descriptors), built with plain CMake and run with ctest: once optimised (build-test/) and
 * once under ThreadSanitizer (build-tsan/, smaller fuzz volume: TSan is ~10x slower).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../helpers/cli.js';

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 600_000 });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

const builds = [
  { dir: 'build-test', flags: ['-DCMAKE_BUILD_TYPE=Release'], env: {} },
  { dir: 'build-tsan', flags: ['-DCMAKE_BUILD_TYPE=RelWithDebInfo', '-DACE_DT_TSAN=ON'], env: { ACE_DT_FUZZ_SCALE: '20', TSAN_OPTIONS: 'halt_on_error=1' } },
];

for (const b of builds) {
  t.test(`${b.dir}: cmake build and ctest`, async (t) => {
    const dir = path.join(ROOT, b.dir);
    const configure = run('cmake', ['-S', ROOT, '-B', dir, ...b.flags]);
    t.equal(configure.code, 0, `cmake configure\n${configure.out.slice(-2000)}`);
    const build = run('cmake', ['--build', dir, '-j2']);
    t.equal(build.code, 0, `cmake build\n${build.out.slice(-3000)}`);
    // A test that hangs fails after 180 s with its output instead of eating the suite's time.
    // (The writer hang once seen here under load is fixed: writer.cc requestSpace, and
    // writer_test's requestBelowMark pins it. No retries: a hang is a failure.)
    const test = run('ctest', ['--test-dir', dir, '--output-on-failure', '--timeout', '180'], b.env);
    t.equal(test.code, 0, `ctest\n${test.out.slice(-4000)}`);
    t.match(test.out, /100% tests passed/);
    t.notMatch(test.out, /ThreadSanitizer/, 'no ThreadSanitizer report');
  });
}
