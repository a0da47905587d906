/**
 * The native writer on a real tape drive: tape-vm boots a guest whose st driver talks to a
 * virtual SSC drive (test/tape/rig/README.md). ONE guest runs the whole sink suite
 * (test/tape/guest/sink.mjs, plain JavaScript against dist/) on an 8M medium and reports
 * results.json; the assertions are here. Takes about two minutes.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/cli.js';
import { runInTapeVm, tapeVmAvailable } from '../helpers/tape-vm.js';

const why = tapeVmAvailable() ?? (fs.existsSync(path.join(ROOT, 'dist/sink/index.js')) ? undefined : 'dist/ is not built (npm run build)');
if (why) {
  t.test('tape sink suite', { skip: `tape sink suite: ${why}` }, async () => {});
} else {
  // The guest shares only the current directory read-write, so the run directory must be inside
  // the checkout; build/ is ignored by git (and not tap's .tap/fixtures, which other runs clean).
  fs.mkdirSync(path.join(ROOT, 'build'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(ROOT, 'build', 'tape-run-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const started = Date.now();
  const run = await runInTapeVm(`node ${JSON.stringify(path.join(ROOT, 'test/tape/guest/sink.mjs'))} ${JSON.stringify(ROOT)}`, { cwd: dir, size: '8M', timeout: 900 });
  t.comment(`tape-vm sink suite took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const file = path.join(dir, 'results.json');
  if (run.code === 125 || !fs.existsSync(file)) {
    t.fail(`tape-vm did not run the suite (exit ${run.code}): ${run.stderr.slice(-3000)}`);
  } else {
    type Step = Record<string, any> & { name: string };
    const results = JSON.parse(fs.readFileSync(file, 'utf8')) as { steps: Step[]; done?: boolean };
    t.equal(run.code, 0, `guest exit status (stderr: ${run.stderr.slice(-1500)})`);
    t.ok(results.done, 'the guest script ran to the end');
    const step = (name: string): Step => {
      const s = results.steps.find((x) => x.name === name);
      if (!s) throw new Error(`step ${name} missing from results.json`);
      return s;
    };
    for (const s of results.steps) t.notOk(s.error, `${s.name}: no exception`);

    t.test('the drive is detected, at BOT in variable-block mode', async (t) => {
      const s = step('status at start').status;
      t.match(s, { block: 0, fileNumber: 0, blockSize: 0, bot: true, online: true, rewindOnClose: false });
    });

    t.test('variable-block mode: records of exactly -b bytes, positions, one filemark, read-back', async (t) => {
      const s = step('variable-block records');
      const bs = 65536;
      t.equal(s.kind, 'tape');
      t.equal(s.statsBeforeClose.records, 10, 'ten full records before close, the short one waits');
      t.equal(s.posBeforeClose.block, s.result.startPosition + s.statsBeforeClose.records, 'MTIOCPOS before close = records written');
      t.match(s.result, { records: 11, written: 10 * bs + 1000, accepted: 10 * bs + 1000, startPosition: 0, endPosition: 12, endOfMedium: false });
      t.same(s.readSizes, [...Array(10).fill(bs), 1000, 0, 0], 'read back with a 4 MiB buffer: ten records of -b bytes, the short last one, filemark, end of data');
      t.equal(s.readEnd, 'EIO', 'then EIO past the end of data');
      t.equal(s.tellAfterClose, s.result.endPosition, '`mt tell` after close agrees with endPosition');
      t.equal(s.eodPosition, 12, 'end of data right after one filemark: not two');
      t.ok(s.identical, 'read-back identical');
    });

    t.test('a second tape file starts where the first ended', async (t) => {
      const s = step('second tape file after the first');
      t.match(s.result, { records: 3, written: 3 * 32768, startPosition: 12, endPosition: 16 });
      t.equal(s.tellAfterClose, 16);
      t.same(s.readSizes, [32768, 32768, 32768, 0]);
      t.ok(s.identical);
    });

    t.test('fixed-block mode: a block size that is not a multiple is refused, the last record is padded', async (t) => {
      const s = step('fixed-block mode');
      t.equal(s.blockSize, 512);
      t.match(s.refused, { code: 'EBLOCKSIZE', name: 'UserError', message: /fixed-block mode with 512-byte blocks.*1000 is not a multiple/ });
      t.match(s.result, { records: 4, written: 3 * 4096 + 100 });
      t.equal(s.result.endPosition - s.result.startPosition, 3 * 8 + 1 + 1, '24 blocks, one padded block, one filemark');
      t.equal(s.readBytes, 3 * 4096 + 512, 'the last record padded to the device block');
      t.ok(s.prefixIdentical);
      t.ok(s.paddingZero, 'padding is zeros');
    });

    t.test('util mbuffer writes -b records to the tape; util tape status reads the position', async (t) => {
      const s = step('util mbuffer to the tape');
      t.equal(s.out.code, 0, `mbuffer exit status (${s.out.err})`);
      t.match(s.out.err, /1\.0 MB \(1000005 B\) in 4 records/);
      t.same(s.readSizes, [262144, 262144, 262144, 1_000_005 - 3 * 262144, 0]);
      t.ok(s.identical);
      t.equal(s.tellAfter, 5);
      t.match(s.statusJson, { device: '/dev/nst0', block: 5, fileNumber: 1, blockInFile: 0, blockSize: 0, eof: true, bot: false });
      t.match(s.statusText, /file number 1, block number 0/);
      t.match(s.statusText, /position block 5/);
      t.match(s.statusText, /variable-block mode/);
    });

    t.test('standard output redirected to the tape is detected as the tape', async (t) => {
      const s = step('standard output is the tape');
      t.match(s.result, { kind: 'tape', records: 3, written: 300_000, startPosition: 0, endPosition: 4 });
      t.same(s.readSizes, [100_000, 100_000, 100_000, 0]);
      t.equal(s.tellAfter, 4, 'one filemark: the parent closing its descriptor adds none');
      t.ok(s.identical);
    });

    t.test('a drive in use by another process: UserError EBUSY naming the device', async (t) => {
      t.match(step('busy drive').refused, { code: 'EBUSY', name: 'UserError', message: /cannot open \/dev\/nst0 for writing: device busy/ });
    });

    t.test('a full medium ends the run as end of volume with the exact byte count', async (t) => {
      const s = step('end of medium');
      t.match(s.writerError, { code: 'ENOSPC', name: 'WriterError', isWriterError: true, endOfMedium: true, syscall: 'write' });
      t.ok(s.result.written > 0 && s.result.written % 65536 === 0, `whole records reached the tape (${s.result.written})`);
      t.equal(s.writerError.offset, s.result.written, 'the error carries the acknowledged byte count');
      t.equal(s.readBytes, s.result.written, 'read-back byte count = written');
      t.equal(s.readRecords, s.result.records, 'read-back record count = records');
      t.ok(s.prefixIdentical, 'what is on the tape is the start of the input');
      t.equal(s.result.endOfMedium, true);
      t.equal(s.result.endPosition, s.result.startPosition + s.result.records + 1, 'records plus one filemark');
      t.equal(s.tellAfterClose, s.result.endPosition, '`mt tell` agrees');
    });
  }
}
