/**
 * Standard output closed by its reader (src/cli/main.ts): `ace-dt mirror inspect T | head` ends
 * quietly with 141, the status of a tool killed by SIGPIPE, not an uncaught EPIPE with a stack
 * trace; a serialize whose text nobody reads still writes its whole archive and exits 0. The
 * reader is `true`, which exits before node has started, so the first write meets a closed pipe.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT } from '../helpers/cli.js';

const SAMPLE = `oci:${join(ROOT, 'sample/layout')}:v1`;

function piped(args: string[]): { code: number; stderr: string } {
  const quoted = args.map((a) => `'${a}'`).join(' ');
  const r = spawnSync('bash', ['-c', `node '${BIN}' ${quoted} | true; exit "\${PIPESTATUS[0]}"`], { encoding: 'utf8' });
  return { code: r.status ?? -1, stderr: r.stderr };
}

t.test('a listing ends quietly with 141; a serialize goes on and completes', async (t) => {
  const dir = t.testdir({});
  const archive = join(dir, 'sample.tar');
  const plain = spawnSync('node', [BIN, 'mirror', 'serialize', SAMPLE, join(dir, 'plain.tar'), '-q']);
  t.equal(plain.status, 0, String(plain.stderr));

  const serialize = piped(['mirror', 'serialize', SAMPLE, archive, '--no-term']);
  t.equal(serialize.code, 0, `serialize exits 0: ${serialize.stderr}`);
  t.ok(readFileSync(archive).equals(readFileSync(join(dir, 'plain.tar'))), 'and its archive is whole');

  for (const args of [['mirror', 'inspect', archive], ['mirror', 'inspect', archive, '--json'], ['--help']]) {
    const r = piped(args);
    t.equal(r.code, 141, `${args.join(' ')}: 141`);
    t.equal(r.stderr, '', `${args.join(' ')}: nothing on stderr`);
  }
});
