/**
 * ledger.ts: the checkpoint ledger, JSON Lines as Go's json.Encoder writes a descriptor, read
 * back strictly except for a last line torn by a crash, and continued without ever rewriting a
 * record in place.
 */
import t from 'tap';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LedgerWriter, RUN_START_TYPE, ledgerLine, readLedger, readLedgerText, recordsOnMedium, type LedgerRecord } from '../../src/archive/ledger.js';
import { digestBytes } from '../../src/oci/verify.js';

const d = (s: string, extra: Record<string, unknown> = {}) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestBytes('sha256', s), size: s.length, ...extra });

t.test("a line is the original's: field order, sorted annotations, the offset as a string, a newline", async (t) => {
  const desc = d('abc', { annotations: { zeta: '1', alpha: '<&>' }, platform: { os: 'linux', architecture: 'amd64' } });
  t.equal(
    ledgerLine(desc, 4096),
    `{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"${desc.digest}","size":3,` +
      '"annotations":{"alpha":"\\u003c\\u0026\\u003e","vnd.act3-ace.data.offset":"4096","zeta":"1"},' +
      '"platform":{"architecture":"amd64","os":"linux"}}\n',
  );
  t.equal(ledgerLine(d(''), 0), `{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"${digestBytes('sha256', '')}","size":0,"annotations":{"vnd.act3-ace.data.offset":"0"}}\n`);
});

t.test('written with LedgerWriter, read back with readLedger: descriptors, offsets, line numbers', async (t) => {
  const file = join(t.testdir({}), 'cp.jsonl');
  const w = await LedgerWriter.open(file);
  await w.record(d('a'), 1536);
  await w.record(d('b', { annotations: { keep: 'me' } }), 2560);
  await w.record(d('c'), 2560); // equal offsets: the original writes them with --compression
  t.equal(w.lastOffset, 2560);
  await w.close();
  const got = await readLedger(file);
  t.same(
    got.map((r) => [r.descriptor.digest, r.offset, r.line]),
    [
      [d('a').digest, 1536, 1],
      [d('b').digest, 2560, 2],
      [d('c').digest, 2560, 3],
    ],
  );
  t.equal(got[1].descriptor.annotations?.keep, 'me');
  const appended = await LedgerWriter.open(file, { append: true });
  await appended.record(d('d'), 3072);
  await appended.close();
  t.equal((await readLedger(file)).length, 4, 'append continues the file');
  t.equal(readFileSync(file, 'utf8').split('\n').length, 5, 'one line per record, each ending in a newline');
});

t.test('a torn last line is dropped, whole or cut; the text kept ends at the last whole line', async (t) => {
  const dir = t.testdir({});
  const whole = ledgerLine(d('a'), 1024) + ledgerLine(d('b'), 2048);
  const third = ledgerLine(d('c'), 3072);
  for (const [tail, what] of [
    [third.slice(0, 40), 'cut mid-JSON'],
    [third.slice(0, -1), 'whole JSON without its newline'],
    ['', 'no torn line'],
    ['\n', 'an empty last line'],
  ] as const) {
    const file = join(dir, `${what}.jsonl`);
    writeFileSync(file, whole + tail);
    const { records, text } = await readLedgerText(file);
    t.same(records.map((r) => r.offset), [1024, 2048], what);
    t.equal(text, tail === '\n' ? whole + '\n' : whole, `${what}: text`);
  }
});

t.test('anything else malformed is ECHECKPOINT naming the file and line', async (t) => {
  const dir = t.testdir({});
  const ok = ledgerLine(d('a'), 1024);
  const cases: [string, string, RegExp][] = [
    ['not-json', 'not json\n' + ok, /line 1 is not JSON: this is not an ace-dt checkpoint ledger/],
    ['not-desc', '{"a":1}\n' + ok, /line 1 is not an OCI descriptor/],
    ['no-offset', JSON.stringify(d('a')) + '\n' + ok, /line 1 has no valid vnd\.act3-ace\.data\.offset annotation/],
    ['bad-offset', ok.replace('"1024"', '"-1"') + ok, /line 1 has no valid vnd\.act3-ace\.data\.offset/],
    ['backwards', ok + ledgerLine(d('b'), 512) + ok, /line 2: offset 512 is below the previous record's 1024/],
  ];
  for (const [name, text, re] of cases) {
    const file = join(dir, `${name}.jsonl`);
    writeFileSync(file, text);
    await t.rejects(readLedger(file), { code: 'ECHECKPOINT', message: re }, name);
    await t.rejects(readLedger(file), { message: new RegExp(`checkpoint ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`) }, `${name}: names the file`);
  }
  await t.rejects(readLedger(join(dir, 'absent.jsonl')), { code: 'ECHECKPOINT', message: /cannot read checkpoint .*absent\.jsonl: no such file/ });
});

t.test('a run-start record restarts the offsets', async (t) => {
  const file = join(t.testdir({}), 'cp.jsonl');
  const start = { mediaType: RUN_START_TYPE, digest: digestBytes('sha256', '{}'), size: 0 };
  writeFileSync(file, ledgerLine(d('a'), 4096) + ledgerLine(start, 0) + ledgerLine(d('b'), 1024));
  t.same((await readLedger(file)).map((r) => r.offset), [4096, 0, 1024]);
});

t.test('create continues a ledger whose text is the prefix: only the torn tail is cut, the inode kept', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'cp.jsonl');
  const prefix = ledgerLine(d('a'), 1024) + ledgerLine(d('b'), 2048);
  writeFileSync(file, prefix + '{"torn');
  const ino = statSync(file).ino;
  const w = await LedgerWriter.create(file, prefix, 2048);
  t.equal(w.lastOffset, 2048);
  await w.record(d('c'), 3072);
  await w.close();
  t.equal(statSync(file).ino, ino, 'same file');
  t.equal(readFileSync(file, 'utf8'), prefix + ledgerLine(d('c'), 3072));
  // Another file's content is replaced by the prefix.
  const other = join(dir, 'other.jsonl');
  writeFileSync(other, ledgerLine(d('x'), 99999) + ledgerLine(d('y'), 99999 + 512));
  await (await LedgerWriter.create(other, prefix)).close();
  t.equal(readFileSync(other, 'utf8'), prefix);
  await t.rejects(LedgerWriter.create(join(dir, 'no/such/dir/cp.jsonl'), prefix), { code: 'ECHECKPOINT', message: /cannot write checkpoint file/ });
  await t.rejects(LedgerWriter.open(join(dir, 'no/such/dir/cp.jsonl')), { code: 'ECHECKPOINT', message: /cannot open checkpoint file/ });
});

t.test("recordsOnMedium: the original's rule, offset < OFFSET, stopping at the first that is not", async (t) => {
  const recs: LedgerRecord[] = [1024, 2048, 4096, 3000].map((offset, i) => ({ descriptor: d(String(i)), offset, line: i + 1 }));
  t.same(recordsOnMedium(recs, 4096).map((r) => r.offset), [1024, 2048], 'a record ending at OFFSET is not counted');
  t.same(recordsOnMedium(recs, 4097).map((r) => r.offset), [1024, 2048, 4096, 3000]);
  t.same(recordsOnMedium(recs, 2000).map((r) => r.offset), [1024]);
  t.same(recordsOnMedium(recs, 0), []);
});
