/**
 * runs.ts: our run-start and run-end records are valid ledger lines the original reads as
 * harmless blob records, and a ledger splits back into its runs (the original's, without them,
 * is one run).
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ledgerLine, readLedger, type LedgerRecord } from '../../src/archive/ledger.js';
import { RUN_END_TYPE, RUN_START_TYPE, runEndLine, runStartLine, splitRuns, type RunEnd, type RunStart } from '../../src/archive/runs.js';
import { isDescriptor } from '../../src/oci/descriptor.js';
import { digestBytes } from '../../src/oci/verify.js';

const start: RunStart = {
  id: 'r1',
  image: 'reg.example/app:v1',
  root: digestBytes('sha256', 'root'),
  dest: '/dev/nst0',
  kind: 'tape',
  archiveStart: 0,
  blockSize: 1 << 20,
  tapeStart: 7,
  time: '2026-01-01T00:00:00.000Z',
};
const end: RunEnd = { mediumBytes: 3584, reason: 'complete', source: 'writer', records: 4 };
const blob = (s: string) => ({ mediaType: 'application/octet-stream', digest: digestBytes('sha256', s), size: s.length });

t.test('a run record is a size-0 descriptor whose digest is that of its own annotation', async (t) => {
  const line = runStartLine({ ...start, archiveStart: 5120 });
  t.ok(line.endsWith('}\n'));
  const rec = JSON.parse(line);
  t.ok(isDescriptor(rec), 'a valid descriptor, so the original reads it as a blob record');
  t.equal(rec.mediaType, RUN_START_TYPE);
  t.equal(rec.size, 0);
  const payload = rec.annotations['vnd.act3-ace.dt-ts.run'];
  t.equal(rec.digest, digestBytes('sha256', payload));
  t.same(JSON.parse(payload), { ...start, archiveStart: 5120 });
  t.equal(rec.annotations['vnd.act3-ace.data.offset'], '5120', 'a run start sits at the offset the run begins');
  t.same(Object.keys(rec.annotations), ['vnd.act3-ace.data.offset', 'vnd.act3-ace.dt-ts.run'], 'sorted, as Go writes a map');
});

t.test("a run end sits just after the run's last record, so offsets keep increasing", async (t) => {
  const off = (line: string) => JSON.parse(line).annotations['vnd.act3-ace.data.offset'];
  t.equal(off(runEndLine(end, 3584)), '3585');
  t.equal(off(runEndLine(end, 0)), '1', 'a run that recorded nothing from 0');
  t.equal(JSON.parse(runEndLine(end, 0)).mediaType, RUN_END_TYPE);
});

t.test('written, read back and split: runs with their start, records and end', async (t) => {
  const file = join(t.testdir({}), 'cp.jsonl');
  const second: RunStart = { ...start, id: 'r2', archiveStart: 0, tapeStart: 9, volume: 2 };
  const text = [
    runStartLine(start),
    ledgerLine(blob('a'), 1536),
    ledgerLine(blob('b'), 2560),
    runEndLine(end, 2560),
    runStartLine(second),
    ledgerLine(blob('c'), 1536),
  ].join('');
  writeFileSync(file, text);
  const runs = splitRuns(await readLedger(file), file);
  t.equal(runs.length, 2);
  t.same(runs[0].start, start);
  t.same(runs[0].records.map((r) => [r.descriptor.digest, r.offset]), [
    [blob('a').digest, 1536],
    [blob('b').digest, 2560],
  ]);
  t.same(runs[0].end, end);
  t.same(runs[1].start, second);
  t.same(runs[1].records.map((r) => r.descriptor.digest), [blob('c').digest]);
  t.equal(runs[1].end, undefined, 'a run cut short has no end record');
});

t.test("the original's ledger is one run without start or end", async (t) => {
  const recs: LedgerRecord[] = [1536, 2560].map((offset, i) => ({ descriptor: blob(String(i)), offset, line: i + 1 }));
  const runs = splitRuns(recs, 'cp');
  t.equal(runs.length, 1);
  t.equal(runs[0].start, undefined);
  t.equal(runs[0].end, undefined);
  t.equal(runs[0].records.length, 2);
  t.same(splitRuns([], 'cp'), []);
});

t.test('a run record whose payload is not JSON is ECHECKPOINT naming the line', async (t) => {
  const bad: LedgerRecord = { descriptor: { mediaType: RUN_END_TYPE, digest: digestBytes('sha256', 'x'), size: 0, annotations: { 'vnd.act3-ace.dt-ts.run': '{torn' } }, offset: 1, line: 7 };
  t.throws(() => splitRuns([bad], 'cp.jsonl'), { code: 'ECHECKPOINT', message: 'checkpoint cp.jsonl line 7: unreadable run record' });
  const none: LedgerRecord = { ...bad, descriptor: { ...bad.descriptor, annotations: {} } };
  t.throws(() => splitRuns([none], 'cp.jsonl'), { code: 'ECHECKPOINT' }, 'no payload at all');
});
