import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, runCli } from '../helpers/cli.js';
import { buildNestedIndex, writeOciLayout } from '../helpers/images.js';

/**
 * Ctrl-C in `mirror verify` (src/cli/abort.ts): the run stops between entries and exits 130
 * (143 for SIGTERM) with "interrupted by SIGINT", like every command that runs long. The source
 * is a FIFO that never ends: the same archive written into it again and again (concatenated
 * archives), slowly, so the run cannot finish before the signal and is reading when it comes.
 */
const dir = mkdtempSync(join(tmpdir(), 'ace-dt-verify-int-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const archive = join(dir, 'image.tar');
const CHUNK = 64 << 10;

t.before(async () => {
  const layout = join(dir, 'layout');
  await writeOciLayout(layout, buildNestedIndex('v1', { layerSize: 200_000 }));
  const s = await runCli(['mirror', 'serialize', `oci:${layout}:v1`, archive, '-q']);
  if (s.code !== 0) throw new Error(`serialize: ${s.stderr}`);
});

for (const [sig, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  t.test(`verify of a FIFO that never ends: ${sig} exits ${status}, "interrupted by ${sig}"`, async (t) => {
    const bytes = readFileSync(archive);
    const fifo = join(dir, `${sig}.fifo`);
    execFileSync('mkfifo', [fifo]);
    const child = spawn(process.execPath, [BIN, 'mirror', 'verify', fifo], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    let running = true;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('close', (code, signal) => {
        running = false;
        resolve({ code, signal });
      }),
    );
    const feeding = (async () => {
      const w = createWriteStream(fifo);
      w.on('error', () => undefined); // EPIPE once verify has gone
      for (let at = 0; running; at = at + CHUNK >= bytes.length ? 0 : at + CHUNK) {
        w.write(bytes.subarray(at, at + CHUNK));
        await sleep(20);
      }
      w.destroy();
    })();

    for (let waited = 0; !out.includes(`reading ${fifo}`) && running && waited < 30_000; waited += 20) await sleep(20);
    t.ok(running, `verify is still reading when the signal comes: ${err}`);
    await sleep(300);
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const r = await exited;
    clearTimeout(timer);
    await feeding;
    t.same(r, { code: status, signal: null }, `exit ${status}, not killed by the signal: ${err}`);
    t.match(err, new RegExp(`^ace-dt: interrupted by ${sig}$`, 'm'));
    t.notMatch(out, /^OK:/m, 'nothing says the set is intact');
  });
}
