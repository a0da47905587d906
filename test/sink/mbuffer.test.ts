/**
 * `ace-dt util mbuffer` as a child process (the built CLI, dist/): round trips, usage errors,
 * /dev/full, SIGINT draining the ring, and the exact write(2) sizes seen by strace.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, ROOT } from '../helpers/cli.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ace-dt-mbuffer-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

function mbuffer(args: string[], input?: Buffer): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'util', 'mbuffer', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

t.test('standard input to standard output, byte for byte', async (t) => {
  const data = crypto.randomBytes(3_000_001);
  const r = await mbuffer(['-m', '1Mi', '-b', '1000'], data);
  t.equal(r.code, 0, r.stderr);
  t.ok(r.stdout.equals(data), 'identical');
  t.match(r.stderr, /3\.0 MB \(3000001 B\) in 3001 records in [\d.]+ s, .*\/s; buffer 1\.0 MB \(1049000 B\), underruns \d+/);
});

t.test('-i and -o files, -q prints nothing', async (t) => {
  const data = crypto.randomBytes(5_000_000);
  const input = path.join(dir, 'in.bin');
  const output = path.join(dir, 'out.bin');
  fs.writeFileSync(input, data);
  const r = await mbuffer(['-m', '4Mi', '-b', '64Ki', '--hwm', '50', '-i', input, '-o', output, '-q']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '');
  t.ok(fs.readFileSync(output).equals(data));
  const empty = await mbuffer(['-m', '0', '-o', path.join(dir, 'empty.bin')]);
  t.equal(empty.code, 0, empty.stderr);
  t.equal(fs.statSync(path.join(dir, 'empty.bin')).size, 0, 'empty input: empty output');
});

t.test('bad sizes and percentages are usage errors (exit 2)', async (t) => {
  for (const args of [['-m', '1Mi', '-b', '0'], ['-m', '1Mi', '--hwm', '0'], ['-m', '1Mi', '--hwm', '101'], ['-m', 'lots'], ['-m', '1Mi', '-b', '-5'], []]) {
    const r = await mbuffer(args);
    t.equal(r.code, 2, `${args.join(' ') || '(no -m)'}: ${r.stderr.trim()}`);
  }
  const r = await mbuffer(['-m', '1Mi', '--hwm', '0']);
  t.match(r.stderr, /--hwm: "0" is not a percentage between 1 and 100/);
});

t.test('unopenable input or output: exit 1 naming the path', async (t) => {
  const r1 = await mbuffer(['-m', '1Mi', '-i', path.join(dir, 'missing')]);
  t.equal(r1.code, 1);
  t.match(r1.stderr, /cannot open .*missing for reading/);
  const r2 = await mbuffer(['-m', '1Mi', '-o', path.join(dir, 'no', 'dir', 'out')]);
  t.equal(r2.code, 1);
  t.match(r2.stderr, /cannot open .*no\/dir\/out for writing: no such file or directory/);
});

t.test('/dev/full: ENOSPC, exit 1, no hang', async (t) => {
  const r = await mbuffer(['-m', '64Ki', '-b', '4096', '-o', '/dev/full'], crypto.randomBytes(1_000_000));
  t.equal(r.code, 1);
  t.match(r.stderr, /write failed: No space left on device \(ENOSPC\) after 0 bytes/);
});

for (const [sig, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
t.test(`${sig} stops reading and drains the ring before exiting (${status})`, async (t) => {
  const output = path.join(dir, `${sig}.bin`);
  // A 10 MB ring with --hwm 100: nothing is written until the signal.
  const child = spawn(process.execPath, [BIN, 'util', 'mbuffer', '-m', '10M', '-b', '4096', '--hwm', '100', '-o', output], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const data = crypto.randomBytes(1_000_003);
  await new Promise<void>((resolve) => child.stdin.write(data, () => resolve()));
  // The pipe holds at most 64 KiB: the rest is in the ring. Give the reader a moment for that.
  await new Promise((r) => setTimeout(r, 500));
  t.equal(fs.statSync(output).size, 0, 'below the mark: nothing written yet');
  child.kill(sig);
  const code = await exited;
  t.equal(code, status, stderr);
  const out = fs.readFileSync(output);
  t.ok(out.length >= data.length - 65536, `the ring was written out (${out.length} of ${data.length} bytes sent)`);
  t.ok(out.equals(data.subarray(0, out.length)), 'what was written is the input, in order');
  t.match(stderr, new RegExp(`${out.length} B\\) in \\d+ records`));
  t.match(stderr, new RegExp(`interrupted by ${sig}; the buffer was written out`));
});
}

const strace = spawnSync('strace', ['-V']).status === 0;
t.test('every write(2) is exactly -b bytes except the last (strace)', { skip: strace ? false : 'strace is not installed' }, async (t) => {
  const output = path.join(dir, 'sizes.bin');
  const input = path.join(dir, 'sizes-in.bin');
  fs.writeFileSync(input, crypto.randomBytes(1_000_000));
  const sizesOf = (log: string) => {
    const calls = fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .map((l) => /write\(\d+, .*, (\d+)\) = (\d+)/.exec(l))
      .filter((m): m is RegExpExecArray => !!m);
    t.same(calls.filter((m) => m[1] !== m[2]).map((m) => m[0]), [], 'every write(2) completed in full');
    return calls.map((m) => Number(m[1]));
  };
  // The native input pump (util mbuffer) ...
  const log1 = path.join(dir, 'strace1.log');
  const r1 = spawnSync('strace', ['-f', '-qq', '-e', 'trace=write', '-P', output, '-o', log1, process.execPath, BIN, 'util', 'mbuffer', '-q', '-m', '64Ki', '-b', '3000', '-i', input, '-o', output]);
  t.equal(r1.status, 0, String(r1.stderr));
  const s1 = sizesOf(log1);
  t.equal(s1.length, Math.ceil(1_000_000 / 3000));
  t.same(s1.slice(0, -1).filter((n) => n !== 3000), [], 'all but the last are 3000 bytes');
  t.equal(s1.at(-1), 1_000_000 % 3000);
  // ... and JavaScript write()s of random sizes (the serialize path).
  const log2 = path.join(dir, 'strace2.log');
  const script = `
    const { openSink } = await import(${JSON.stringify(path.join(ROOT, 'dist/sink/index.js'))});
    const s = await openSink(${JSON.stringify(output)}, { blockSize: 4096, bufferSize: 50000, hwm: 30 });
    const buf = Buffer.alloc(200000, 7);
    let x = 1;
    for (let off = 0; off < buf.length; ) { x = (x * 48271) % 2147483647; const n = Math.min(1 + (x % 9000), buf.length - off); const p = s.write(buf.subarray(off, off + n)); if (p) await p; off += n; }
    await s.close();`;
  const r2 = spawnSync('strace', ['-f', '-qq', '-e', 'trace=write', '-P', output, '-o', log2, process.execPath, '--input-type=module', '-e', script]);
  t.equal(r2.status, 0, String(r2.stderr));
  const s2 = sizesOf(log2);
  t.equal(s2.length, Math.ceil(200000 / 4096));
  t.same(s2.slice(0, -1).filter((n) => n !== 4096), [], 'all but the last are 4096 bytes');
  t.equal(s2.at(-1), 200000 % 4096);
});
