/**
 * Options as the original takes them (issue 12, interchange): `deserialize --block-size` with SI
 * and IEC sizes, `-v` with a comma list; malformed values are usage errors (exit 2).
 */
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { startRegistry } from '../helpers/registry.js';

const tmp = await mkdtemp(join(tmpdir(), 'ace-dt-deser-opts-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));
const reg = await startRegistry();
t.teardown(() => reg.stop());
const archive = join(tmp, 'sample.tar');
t.equal((await runCli(['mirror', 'serialize', 'oci:sample/layout:v1', archive, '-q'])).code, 0, 'the sample archive');

t.test('--block-size takes SI and IEC sizes; -v a comma list', async (t) => {
  for (const [i, size] of ['1Mi', '64KB', '10240'].entries()) {
    const r = await runCli(['mirror', 'deserialize', '--block-size', size, '-v=info,debug', '--no-term', archive, `${reg.host}/opts/s${i}:v1`]);
    t.equal(r.code, 0, `--block-size ${size}: ${r.stderr}`);
  }
  const r = await runCli(['mirror', 'deserialize', '-v=info,debug', '--no-term', archive, `${reg.host}/opts/debug:v1`]);
  t.match(r.stderr, /debug/i, '-v=info,debug prints debug lines');
});

t.test('malformed values are usage errors', async (t) => {
  for (const [args, message] of [
    [['--block-size', '1Q'], /--block-size: .*1Q/],
    [['--block-size', '0'], /--block-size: "0" is too small/],
    [['-v=info,loud'], /"loud" is not a verbosity/],
  ] as const) {
    const r = await runCli(['mirror', 'deserialize', ...args, archive, `${reg.host}/opts/bad:v1`]);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, message);
  }
});
