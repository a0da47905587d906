// Runs INSIDE tape-vm (a real st driver on /dev/nst0), as plain JavaScript against the compiled
// dist/ (node is ~30x slower in the guest, so no tap/TypeScript here). Every step records what it
// saw; test/tape/sink.test.ts asserts on results.json (written to the shared current directory).
// Usage: node sink.mjs ROOT   (ROOT = the checkout with dist/ and build/)
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = process.argv[2];
const DEV = '/dev/nst0';
const { openSink, tapeStatus, WriterError } = await import(path.join(ROOT, 'dist/sink/index.js'));
const R = { steps: [] };
const save = () => fs.writeFileSync('results.json', JSON.stringify(R, null, 1));
const mt = (...args) => {
  try {
    return execFileSync('mt', ['-f', DEV, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    return `mt ${args.join(' ')} failed: ${e.stderr || e.message}`;
  }
};
const tell = () => Number(/At block (\d+)/.exec(mt('tell'))?.[1] ?? -1);
// Random bytes, kept in memory for the read-back comparison (randomBytes is native: fast here).
const data = (n) => crypto.randomBytes(n);
async function feed(sink, buf, chunk) {
  for (let off = 0; off < buf.length; off += chunk) {
    const p = sink.write(buf.subarray(off, Math.min(buf.length, off + chunk)));
    if (p) await p;
  }
}
/** Reads records from the current position with a buffer larger than any record. */
function readRecords(maxZeros = 2) {
  const fd = fs.openSync(DEV, 'r');
  const buf = Buffer.alloc(4 << 20);
  const sizes = [];
  const chunks = [];
  let zeros = 0;
  let end = 'zeros';
  try {
    for (;;) {
      let n;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        end = e.code;
        break;
      }
      if (n === 0) {
        sizes.push(0);
        if (++zeros >= maxZeros) break;
        continue;
      }
      zeros = 0;
      sizes.push(n);
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
  } finally {
    fs.closeSync(fd);
  }
  return { sizes, end, bytes: Buffer.concat(chunks) };
}
async function step(name, fn) {
  const started = Date.now();
  const s = { name };
  R.steps.push(s);
  try {
    Object.assign(s, await fn());
  } catch (e) {
    s.error = `${e?.code ?? ''} ${e?.stack ?? e}`;
  }
  s.ms = Date.now() - started;
  save();
}

await step('status at start', () => ({ status: tapeStatus(DEV), mtStatus: mt('status') }));

await step('variable-block records', async () => {
  mt('rewind');
  mt('setblk', '0');
  const bs = 65536;
  const buf = data(10 * bs + 1000);
  const sink = await openSink(DEV, { blockSize: bs, bufferSize: 16 * bs, hwm: 50 });
  await feed(sink, buf, 100_000);
  // The ten full records go out; the short last one waits for the end of input.
  for (let i = 0; i < 3000 && sink.stats().records < 10; i++) await new Promise((r) => setTimeout(r, 20));
  const statsBeforeClose = sink.stats();
  const posBeforeClose = sink.tapePosition();
  const result = await sink.close();
  const tellAfterClose = tell();
  mt('rewind');
  const back = readRecords(3);
  const eodPosition = (mt('eod'), tell());
  return { kind: sink.kind, statsBeforeClose, posBeforeClose, result, tellAfterClose, readSizes: back.sizes, readEnd: back.end, identical: back.bytes.equals(buf), eodPosition };
});

await step('second tape file after the first', async () => {
  // At end of data (after step 2's filemark): a new tape file starts here.
  const before = tell();
  const buf = data(3 * 32768);
  const sink = await openSink(DEV, { blockSize: 32768, bufferSize: 0, hwm: 90 });
  await feed(sink, buf, 5000);
  const result = await sink.close();
  const tellAfterClose = tell();
  mt('bsf', '2');
  mt('fsf', '1');
  const back = readRecords(1);
  return { before, result, tellAfterClose, readSizes: back.sizes, identical: back.bytes.equals(buf) };
});

await step('fixed-block mode', async () => {
  mt('rewind');
  mt('setblk', '512');
  const status = tapeStatus(DEV);
  let refused;
  try {
    await openSink(DEV, { blockSize: 1000, bufferSize: 4000, hwm: 90 });
  } catch (e) {
    refused = { code: e.code, message: e.message, name: e.name };
  }
  const buf = data(3 * 4096 + 100);
  const sink = await openSink(DEV, { blockSize: 4096, bufferSize: 8192, hwm: 50 });
  await feed(sink, buf, 3000);
  const result = await sink.close();
  mt('rewind');
  const back = readRecords(1);
  mt('setblk', '0');
  return { blockSize: status.blockSize, refused, result, readBytes: back.bytes.length, prefixIdentical: back.bytes.subarray(0, buf.length).equals(buf), paddingZero: back.bytes.subarray(buf.length).every((b) => b === 0) };
});

await step('util mbuffer to the tape', async () => {
  mt('rewind');
  const buf = data(1_000_005);
  fs.writeFileSync('/tmp/mbuffer-in.bin', buf);
  // The command classes run in this process: starting the whole CLI (every command's imports)
  // takes ~30 s per process in the guest; bin/ace-dt.js itself is covered by the host tests.
  const { Cli } = await import(path.join(ROOT, 'node_modules/clipanion/lib/advanced/index.js'));
  const { MbufferCommand } = await import(path.join(ROOT, 'dist/cli/util/mbuffer.js'));
  const { TapeStatusCommand } = await import(path.join(ROOT, 'dist/cli/util/tape/status.js'));
  const cli = new Cli({ binaryName: 'ace-dt' });
  cli.register(MbufferCommand);
  cli.register(TapeStatusCommand);
  const run = async (args) => {
    let out = '';
    let err = '';
    const stdout = { write: (s) => ((out += s), true) };
    const stderr = { write: (s) => ((err += s), true) };
    const code = await cli.run(args, { stdin: process.stdin, stdout, stderr });
    return { code, out, err };
  };
  const mb = await run(['util', 'mbuffer', '-m', '1Mi', '-b', '256Ki', '-i', '/tmp/mbuffer-in.bin', '-o', DEV]);
  const tellAfter = tell();
  const st = await run(['util', 'tape', 'status', DEV, '--json']);
  const statusJson = JSON.parse(st.out);
  const statusText = (await run(['util', 'tape', 'status', DEV])).out;
  const out = mb;
  mt('rewind');
  const back = readRecords(1);
  return { out, tellAfter, statusJson, statusText, readSizes: back.sizes, identical: back.bytes.equals(buf) };
});

await step('standard output is the tape', async () => {
  // `ace-dt util mbuffer -m 6Gi > /dev/nst0` (the original's example): fd 1 is the drive.
  mt('rewind');
  const buf = data(300_000);
  fs.writeFileSync('/tmp/stdout-in.bin', buf);
  const script = `
    const { mbuffer } = await import(${JSON.stringify(path.join(ROOT, 'dist/sink/mbuffer.js'))});
    const r = await mbuffer({ input: '/tmp/stdout-in.bin', output: '-', blockSize: 100000, bufferSize: 1 << 20, hwm: 90 });
    process.stderr.write(JSON.stringify(r));`;
  const tape = fs.openSync(DEV, 'w');
  let child;
  try {
    child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', tape, 'pipe'], encoding: 'utf8' });
  } finally {
    fs.closeSync(tape);
  }
  if (child.status !== 0) return { error: `child failed: ${child.status} ${child.stderr}` };
  const result = JSON.parse(child.stderr);
  const tellAfter = tell();
  mt('rewind');
  const back = readRecords(1);
  return { result, tellAfter, readSizes: back.sizes, identical: back.bytes.equals(buf) };
});

await step('busy drive', async () => {
  // st allows one open at a time: a second opener gets EBUSY.
  const holder = fs.openSync(DEV, 'r');
  try {
    await openSink(DEV, { blockSize: 65536, bufferSize: 65536, hwm: 90 });
    return { refused: null };
  } catch (e) {
    return { refused: { code: e.code, name: e.name, message: e.message } };
  } finally {
    fs.closeSync(holder);
  }
});

await step('end of medium', async () => {
  mt('rewind');
  const bs = 65536;
  const buf = data(12 << 20); // more than the 8M medium
  const sink = await openSink(DEV, { blockSize: bs, bufferSize: 1 << 20, hwm: 50 });
  let writerError;
  try {
    await feed(sink, buf, 256 * 1024);
    await sink.close();
  } catch (e) {
    writerError = { code: e.code, name: e.name, isWriterError: e instanceof WriterError, offset: e.offset, endOfMedium: e.endOfMedium, syscall: e.syscall, message: e.message };
  }
  const result = await sink.abort();
  delete result.error;
  const tellAfterClose = tell();
  mt('rewind');
  const back = readRecords(1);
  return { writerError, result, tellAfterClose, readBytes: back.bytes.length, readRecords: back.sizes.filter((n) => n > 0).length, readEnd: back.end, prefixIdentical: back.bytes.equals(buf.subarray(0, back.bytes.length)) };
});

R.done = true;
save();
