/**
 * `mirror inspect` of a real tape (test/tape/guest/inspect.mjs, run inside one tape-vm guest):
 * archives written with `-b` in variable- and fixed-block mode, a cut piece and its resumed run,
 * each compared with inspect of the same archive as a file, and records spaced over (MTFSR)
 * rather than read. The guest prints TAP lines; each becomes an assertion here.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/cli.js';
import { runInTapeVm, tapeVmAvailable } from '../helpers/tape-vm.js';

const why = tapeVmAvailable() ?? (fs.existsSync(path.join(ROOT, 'dist/cli/main.js')) ? undefined : 'dist/ is not built (npm run build)');
if (why) {
  t.test('tape inspect suite', { skip: `tape inspect suite: ${why}` }, async () => {});
} else {
  const started = Date.now();
  const run = await runInTapeVm(`node ${JSON.stringify(path.join(ROOT, 'test/tape/guest/inspect.mjs'))}`, { cwd: ROOT, size: '256M', timeout: 1200 });
  t.comment(`tape-vm inspect suite took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const lines = run.stdout.split('\n');
  const results = lines.filter((l) => /^(not )?ok \d+ - /.test(l));
  t.ok(results.length >= 20, `the guest reported its checks (exit ${run.code}): ${run.stderr.slice(-2000)}`);
  for (const [i, line] of lines.entries()) {
    const m = /^(not )?ok \d+ - (.*)$/.exec(line);
    if (!m) continue;
    const detail = lines.slice(i + 1).filter((l, j, a) => l.startsWith('  #') && a.slice(0, j).every((x) => x.startsWith('  #'))).join('\n');
    t.ok(!m[1], detail ? `${m[2]}\n${detail}` : m[2]);
  }
  t.equal(run.code, 0, 'guest exit status');
}
