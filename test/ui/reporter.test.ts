import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Chalk } from 'chalk';
import { createReporter } from '../../src/ui/index.js';
import type { RunEvent, RunSummary } from '../../src/ui/events.js';
import { RunState } from '../../src/ui/state.js';
import { frameLines, statusLine } from '../../src/ui/frame.js';
import { bar, fit, formatDuration } from '../../src/ui/format.js';
import type { SinkStats } from '../../src/sink/types.js';

const ESC = '\x1b';
const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /;

function capture(tty?: { columns: number }) {
  const s = new PassThrough();
  let text = '';
  s.on('data', (d) => (text += d));
  if (tty) Object.assign(s, { isTTY: true, columns: tty.columns });
  return { stream: s as unknown as NodeJS.WriteStream, get text() { return text; } };
}

const blob = (n: number, size: number) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${String(n).repeat(64).slice(0, 64)}`, size });
const summary = (over: Partial<RunSummary> = {}): RunSummary => ({ blobsWritten: 2, blobsSkipped: 1, bytesWritten: 4096, bytesSkipped: 100, durationMs: 1500, checkpoint: '/tmp/cp.jsonl', ...over });

function run(): RunEvent[] {
  return [
    { type: 'start', command: 'mirror serialize', image: 'reg.example.com/a/b:v1', dest: '/tmp/out.tar', time: Date.now() },
    { type: 'plan', blobs: 2, bytes: 3000, skippedBlobs: 1, skippedBytes: 100, archiveBytes: 4096 },
    { type: 'skip', descriptor: blob(3, 100), reason: 'in reg.example.com/a/b:old' },
    { type: 'blob-begin', descriptor: blob(1, 1000), offset: 1536 },
    { type: 'blob-end', descriptor: blob(1, 1000), offset: 3072 },
    { type: 'log', level: 'info', message: 'an info line' },
    { type: 'log', level: 'warn', message: 'a warning', fields: { url: 'https://user:s3cret@reg.example.com/v2/x' } },
    { type: 'blob-begin', descriptor: blob(2, 2000), offset: 3072 },
    { type: 'blob-end', descriptor: blob(2, 2000), offset: 5120 },
  ];
}

t.test('not a terminal: timestamped plain lines, no escape codes, a line per blob, a summary', async (t) => {
  const out = capture();
  const err = capture();
  const r = await createReporter({ stdout: out.stream, stderr: err.stream, env: {} });
  for (const e of run()) r.emit(e);
  r.emit({ type: 'done', ok: true, summary: summary({ sink: { kind: 'file', accepted: 4096, written: 4096, records: 1, fill: 0, capacity: 8192, underruns: 0 } }) });
  await r.close();
  t.notMatch(out.text, ESC, 'no escape codes on stdout');
  t.notMatch(err.text, ESC, 'no escape codes on stderr');
  const lines = out.text.trimEnd().split('\n');
  for (const l of lines) t.ok(TS.test(l) || /^ +\S/.test(l), `timestamped or a summary continuation: ${l}`);
  t.match(out.text, /mirror serialize reg\.example\.com\/a\/b:v1 -> \/tmp\/out\.tar/);
  t.match(out.text, /plan: 2 blobs to write \(3\.0 kB\), 1 skipped \(100 B\), archive 4\.1 kB \(4096 B\)/);
  t.match(out.text, /skip 333333333333 \(100 B\): in reg\.example\.com\/a\/b:old/);
  t.match(out.text, /wrote 111111111111 \(1\.0 kB\) 1\/2, archive offset 3072/);
  t.match(out.text, /wrote 222222222222 \(2\.0 kB\) 2\/2/);
  t.match(out.text, /done: mirror serialize .* in 1\.5 s\n +blobs +2 written \(3\.0 kB\), 1 skipped \(100 B\)\n +bytes +4\.1 kB \(4096 B\) to \/tmp\/out\.tar, mean 2\.7 kB\/s\n +writer +1 write, 0 underruns\n +checkpoint +\/tmp\/cp\.jsonl\n$/);
  t.notMatch(out.text, /FAILED|INTERRUPTED/);
  t.match(err.text, /^\S+Z WARN  a warning url=https:\/\/\*\*\*@reg\.example\.com\/v2\/x\n$/, 'the warning at the default level, redacted; info dropped');
});

t.test('-q: nothing on stdout; logs still on stderr at the verbosity', async (t) => {
  const out = capture();
  const err = capture();
  const r = await createReporter({ quiet: true, verbosity: ['info'], stdout: out.stream, stderr: err.stream, env: {} });
  for (const e of run()) r.emit(e);
  r.emit({ type: 'done', ok: false, summary: summary(), error: { code: 'EDIGEST', message: 'digest mismatch' } });
  await r.close();
  t.equal(out.text, '');
  t.match(err.text, /INFO  an info line/);
  t.match(err.text, /WARN  a warning/);
});

t.test('verbosity from ACE_DT_VERBOSITY; a bad value is a usage error', async (t) => {
  const err = capture();
  const r = await createReporter({ stdout: capture().stream, stderr: err.stream, env: { ACE_DT_VERBOSITY: 'debug' } });
  r.emit({ type: 'log', level: 'debug', message: 'deep', fields: { n: 1 } });
  await r.close();
  t.match(err.text, /DEBUG deep n=1/);
  await t.rejects(createReporter({ verbosity: ['loud'], stdout: capture().stream, stderr: capture().stream, env: {} }), { name: 'UsageError', message: /"loud" is not a verbosity/ });
});

t.test('a failed or interrupted run never looks like success', async (t) => {
  for (const [done, head] of [
    [{ type: 'done', ok: false, summary: summary({ resumeCommand: 'ace-dt ...' }), error: { code: 'EINTERRUPTED', message: 'interrupted by SIGINT' } }, /^\S+ INTERRUPTED: mirror serialize stopped after 1\.5 s; the archive on \/tmp\/out\.tar is NOT complete\n.*error +interrupted by SIGINT/s],
    [{ type: 'done', ok: false, summary: summary(), error: { code: 'EDIGEST', message: 'blob sha256:11 has digest sha256:22' } }, /^\S+ FAILED: mirror serialize stopped after 1\.5 s; the archive on \/tmp\/out\.tar is NOT complete\n.*error +blob sha256:11 has digest sha256:22 \(EDIGEST\)/s],
    [{ type: 'done', ok: false, summary: summary() }, /^\S+ FAILED: /],
    [undefined, /^\S+ FAILED: mirror serialize reg\.example\.com\/a\/b:v1 -> \/tmp\/out\.tar did not complete\n$/],
  ] as [RunEvent | undefined, RegExp][]) {
    const out = capture();
    const r = await createReporter({ stdout: out.stream, stderr: capture().stream, env: {} });
    for (const e of run()) r.emit(e);
    if (done) r.emit(done);
    await r.close();
    const tail = out.text.slice(out.text.lastIndexOf('blob') === -1 ? 0 : out.text.search(/^\S+ (FAILED|INTERRUPTED|done)/m));
    t.match(tail, head);
    t.notMatch(tail, /^\S+ done/m, 'no "done"');
    if (done?.type === 'done' && done.summary.resumeCommand) t.match(tail, /checkpoint +\/tmp\/cp\.jsonl \(complete; the command to resume is on stderr\)/);
    if (done) t.match(tail, /blobs +2 of 2 written/);
  }
});

t.test('--debug: JSON Lines, every event with a timestamp, writer counters, no secrets', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ace-dt-ui-'));
  const path = join(dir, 'events.jsonl');
  const r = await createReporter({ quiet: true, debugPath: path, debugIntervalMs: 10, stdout: capture().stream, stderr: capture().stream, env: {} });
  const stats: SinkStats = { accepted: 10, written: 5, records: 1, fill: 5, capacity: 100, underruns: 0 };
  for (const e of run()) r.emit(e);
  r.setStatsSource!(() => ({ ...stats }));
  r.emit({ type: 'log', level: 'debug', message: 'GET https://reg.example.com/v2/a/blobs/x?X-Amz-Signature=s3cret', fields: { auth: 'Bearer tok3n.abc' } });
  r.emit({ type: 'error', code: 'EAUTH', message: 'https://bob:s3cret@reg.example.com/v2/ said 401' });
  // The periodic counters come from a timer: wait until one is in the file.
  for (let i = 0; i < 200 && !readFileSync(path, 'utf8').includes('"source":"sample"'); i++) await new Promise((res) => setTimeout(res, 10));
  r.emit({ type: 'done', ok: true, summary: summary() });
  await r.close();
  const text = readFileSync(path, 'utf8');
  t.notMatch(text, /s3cret|tok3n/, 'no secret in the debug file');
  const records = text.trimEnd().split('\n').map((l) => JSON.parse(l));
  for (const rec of records) {
    t.match(rec, { ts: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, seq: Number, type: String });
  }
  const types = records.map((x) => x.type);
  t.same(types.slice(0, 9), ['start', 'plan', 'skip', 'blob-begin', 'blob-end', 'log', 'log', 'blob-begin', 'blob-end']);
  t.ok(types.includes('writer'), 'periodic writer counters');
  t.same(records.find((x) => x.type === 'writer').stats, stats);
  t.equal(types[types.length - 1], 'writer', 'a last counter sample at the end');
  t.match(records.find((x) => x.type === 'blob-begin'), { descriptor: { digest: /^sha256:1{64}$/, size: 1000 }, offset: 1536 });
  t.ok(types.includes('done'));
  t.same(records.map((x) => x.seq), records.map((_, i) => i), 'sequence numbers');

  // An existing directory (the original's --debug DIR) gets events.jsonl inside.
  const r2 = await createReporter({ quiet: true, debugPath: dir, stdout: capture().stream, stderr: capture().stream, env: {} });
  r2.emit({ type: 'note', message: 'hello' });
  await r2.close();
  t.match(readFileSync(join(dir, 'events.jsonl'), 'utf8'), /"type":"note","message":"hello"/);
  await t.rejects(createReporter({ debugPath: join(dir, 'no/such/dir/x.jsonl'), stdout: capture().stream, stderr: capture().stream }), { code: 'ENOENT', message: /cannot open the --debug file/ });
});

t.test('DEST "-" (the archive on stdout): the display goes to stderr', async (t) => {
  const out = capture();
  const err = capture();
  const r = await createReporter({ stdout: out.stream, stderr: err.stream, env: {} });
  r.emit({ type: 'start', command: 'mirror serialize', image: 'oci:x', dest: '-', time: Date.now() });
  r.emit({ type: 'done', ok: true, summary: summary() });
  await r.close();
  t.equal(out.text, '');
  t.match(err.text, /done: mirror serialize oci:x -> -/);
});

t.test('on a terminal: drawn in place, cursor hidden while drawing and shown at the end, colour unless NO_COLOR', async (t) => {
  for (const env of [{ LANG: 'C.UTF-8', TERM: 'xterm-256color' }, { LANG: 'C.UTF-8', TERM: 'xterm-256color', NO_COLOR: '1' }]) {
    const out = capture({ columns: 70 });
    const r = await createReporter({ stdout: out.stream, stderr: capture().stream, env, refreshMs: 5 });
    let stats: SinkStats = { accepted: 0, written: 0, records: 0, fill: 0, capacity: 1 << 20, underruns: 0 };
    const events = run();
    for (const e of events.slice(0, 4)) r.emit(e);
    r.setStatsSource!(() => stats);
    stats = { ...stats, accepted: 3000, written: 2048, records: 2, fill: 952 };
    for (let i = 0; i < 100 && (out.text.match(/\x1b\[\d+A/g) ?? []).length < 3; i++) await new Promise((res) => setTimeout(res, 10));
    for (const e of events.slice(4)) r.emit(e);
    r.emit({ type: 'done', ok: true, summary: summary() });
    await r.close();
    const text = out.text;
    t.ok(text.indexOf('\x1b[?25l') >= 0 && text.indexOf('\x1b[?25l') < text.indexOf(' ring '), 'cursor hidden before the first frame');
    t.ok(text.lastIndexOf('\x1b[?25h') > text.lastIndexOf(' ring '), 'cursor shown after the last frame');
    t.ok((text.match(/\x1b\[\d+A/g) ?? []).length >= 3, 'frames redrawn in place (cursor up)');
    const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
    t.match(plain, /ring +0\.1% of 1\.0 MB/);
    t.match(plain, /underruns 0/);
    t.match(plain, /blob +111111111111 1\.0 kB/);
    t.match(plain, /done: mirror serialize/);
    const sgr = /\x1b\[[0-9;]*m/.test(text);
    t.equal(sgr, env.NO_COLOR === undefined, env.NO_COLOR ? 'no colour with NO_COLOR' : 'colour on a terminal');
  }
});

t.test('frames fit the terminal width at every size; plain status line has no escapes', async (t) => {
  const s = new RunState(0);
  s.apply(run()[0]);
  s.startedAt = 0;
  s.apply(run()[1]);
  s.statsSource = () => ({ accepted: 2000, written: 1024, records: 1, fill: 976, capacity: 4096, underruns: 3 });
  s.apply({ type: 'blob-begin', descriptor: blob(1, 1000), offset: 1536 });
  s.sample(0);
  s.statsSource = () => ({ accepted: 3000, written: 2048, records: 2, fill: 952, capacity: 4096, underruns: 3 });
  s.sample(1000);
  for (const unicode of [true, false]) {
    for (let width = 10; width <= 200; width += 7) {
      const lines = frameLines(s, 1000, { width, unicode, c: new Chalk({ level: 0 }) });
      t.equal(lines.length, 4);
      for (const l of lines) if ([...l].length > width - 1) t.fail(`width ${width}: ${JSON.stringify(l)}`);
    }
  }
  const wide = frameLines(s, 1000, { width: 120, unicode: false, c: new Chalk({ level: 0 }) });
  t.match(wide[0], /50\.0% \[#+\.+\] 2\.0 kB of 4\.1 kB  1\.0 kB\/s  ETA 2\.0 s/);
  t.match(wide[1], /ring +23\.2% of 4\.1 kB .*underruns 3 +writes 2/);
  t.match(wide[2], /blobs +0\/2 written, 1 skipped \(100 B\)/);
  t.match(wide[3], /blob +111111111111 1\.0 kB +100\.0%/);
  const status = statusLine(s, 1000);
  t.notMatch(status, ESC);
  t.match(status, /^status: 2\.0 kB of 4\.1 kB \(50\.0%\), 1\.0 kB\/s, ETA 2\.0 s, ring 23\.2% of 4\.1 kB, underruns 3, blobs 0\/2, 1 skipped, current 111111111111 \(1\.0 kB\)$/);
});

t.test('a tape change (--next-volume): bytes, rate and ETA go on from the earlier tapes, not from 0', async (t) => {
  const s = new RunState(0);
  s.apply(run()[0]);
  s.startedAt = 0;
  s.apply(run()[1]);
  const stats = (written: number) => ({ accepted: written, written, records: 1, fill: 0, capacity: 4096, underruns: 0 });
  let first = 1024;
  s.setStatsSource(() => stats(first));
  s.apply({ type: 'blob-begin', descriptor: blob(1, 1000), offset: 1536 });
  s.apply({ type: 'blob-end', descriptor: blob(1, 1000), offset: 3072 });
  t.equal(s.progress(0).done, 1024);
  t.equal(s.progress(0).total, 4096, 'one tape: the archive size measures the job');
  // The first tape took 2048 bytes when it filled; the second tape's writer starts at 0.
  first = 2048;
  s.setStatsSource(() => stats(0));
  s.sample(500);
  let p = s.progress(500);
  t.equal(p.done, 2048, 'the bytes of the full tape are kept');
  s.setStatsSource(() => stats(0));
  t.equal(s.progress(500).done, 2048, 'a writer that wrote nothing adds nothing');
  s.statsSource = () => stats(1000);
  s.sample(1500);
  p = s.progress(1500);
  t.equal(p.done, 3048, 'the second tape counts on from the first');
  t.equal(p.rate, 1000, 'the rate spans the change (1000 bytes in the second since the last sample)');
  t.equal(p.total, undefined, 'after the change the archive size is not the measure');
  t.equal(p.fraction, 1000 / 3000, 'blob bytes are');
  t.equal(p.etaMs, 2000, 'the blob bytes left at the rate');
  t.match(statusLine(s, 1500), /^status: 1\.0 kB of 3\.0 kB blob data \(33\.3%\), 3\.0 kB written \(all tapes\), 1\.0 kB\/s, ETA 2\.0 s, /);
  const line = frameLines(s, 1500, { width: 160, unicode: false, c: new Chalk({ level: 0 }) })[0];
  t.match(line, /33\.3% \[#+\.+\] 1\.0 kB of 3\.0 kB blob data, 3\.0 kB written \(all tapes\)  1\.0 kB\/s  ETA 2\.0 s/);
});

t.test('text helpers', async (t) => {
  t.equal(formatDuration(400), '0.4 s');
  t.equal(formatDuration(42_000), '42 s');
  t.equal(formatDuration(185_000), '3m05s');
  t.equal(formatDuration(7_620_000), '2h07m');
  t.same(bar(0.5, 10, false), { done: '#####', rest: '.....' });
  t.equal([...Object.values(bar(0.33, 10, true)).join('')].length, 10);
  t.equal(fit([{ text: 'abcdef' }, { text: 'ghij' }], 8), 'abcdefg…');
  t.equal(fit([{ text: 'abc' }], 3), 'abc');
});

t.test('plain mode: a status line every few seconds for long runs', async (t) => {
  const out = capture();
  const r = await createReporter({ stdout: out.stream, stderr: capture().stream, env: {}, statusIntervalMs: 20 });
  for (const e of run().slice(0, 4)) r.emit(e);
  r.setStatsSource!(() => ({ accepted: 2000, written: 1024, records: 1, fill: 976, capacity: 4096, underruns: 0 }));
  for (let i = 0; i < 300 && !out.text.includes('status:'); i++) await new Promise((res) => setTimeout(res, 10));
  r.emit({ type: 'done', ok: true, summary: summary() });
  await r.close();
  t.match(out.text, /^\S+Z status: 1\.0 kB of 4\.1 kB \(25\.0%\), .*ring 23\.8% of 4\.1 kB, underruns 0, blobs 0\/2, 1 skipped, current 111111111111 \(1\.0 kB\)$/m);
  t.notMatch(out.text, ESC);
});

t.test('a tape run: records, medium position and end of medium in the summary', async (t) => {
  const out = capture();
  const r = await createReporter({ stdout: out.stream, stderr: capture().stream, env: {} });
  r.emit({ type: 'start', command: 'mirror serialize', image: 'reg.example.com/a/b:v1', dest: '/dev/nst0', time: Date.now() });
  r.emit({
    type: 'done',
    ok: false,
    error: { code: 'ENOSPC', message: 'end of medium on /dev/nst0' },
    summary: summary({ resumeCommand: 'ace-dt ...', sink: { kind: 'tape', accepted: 3 << 20, written: 2117 << 20, records: 2117, fill: 0, capacity: 64 << 20, underruns: 1, startPosition: 5, endPosition: 2123, endOfMedium: true } }),
  });
  await r.close();
  t.match(out.text, /FAILED: mirror serialize stopped after 1\.5 s; the archive on \/dev\/nst0 is NOT complete\n +error +end of medium on \/dev\/nst0 \(ENOSPC\)\n/);
  t.match(out.text, /\n +writer +2117 writes, 1 underrun\n +tape +2117 records, position 5 -> 2123 \(MTIOCPOS, incl\. the filemark\), end of medium reached\n +checkpoint +\/tmp\/cp\.jsonl \(complete; the command to resume is on stderr\)\n$/);
});

t.test('without a plan (a streaming command): amounts and rate, no bar, until the end', async (t) => {
  const s = new RunState(0);
  s.apply({ type: 'start', command: 'mirror deserialize', image: 'reg.example.com/a/b:v1', time: 0 });
  const c = new Chalk({ level: 0 });
  t.match(frameLines(s, 500, { width: 80, unicode: true, c }), [/^ planning: reg\.example\.com\/a\/b:v1  elapsed 0\.5 s$/]);
  t.match(statusLine(s, 500), /^status: planning /);
  s.apply({ type: 'blob-begin', descriptor: blob(1, 1000), offset: 0 });
  s.apply({ type: 'blob-end', descriptor: blob(1, 1000), offset: 1536 });
  s.apply({ type: 'blob-begin', descriptor: blob(2, 2000), offset: 1536 });
  const lines = frameLines(s, 1000, { width: 80, unicode: true, c });
  t.match(lines, [/^ 1\.5 kB  - B\/s$/, /^ blobs  1 done  elapsed 1\.0 s$/, /^ blob   222222222222 2\.0 kB/]);
  t.equal(statusLine(s, 1000), 'status: 1.5 kB, - B/s, blobs 1 done, current 222222222222 (2.0 kB)');
});

t.test('a log line on the same terminal goes above the frame, which is redrawn below it', async (t) => {
  const tty = capture({ columns: 80 });
  const r = await createReporter({ stdout: tty.stream, stderr: tty.stream, env: { TERM: 'xterm', LANG: 'C.UTF-8' }, refreshMs: 1000 });
  for (const e of run().slice(0, 4)) r.emit(e);
  r.emit({ type: 'log', level: 'warn', message: 'registry slow', fields: { host: 'reg.example.com' } });
  r.emit({ type: 'done', ok: true, summary: summary() });
  await r.close();
  const text = tty.text.replace(/\x1b\[[0-9;]*m/g, '');
  const at = text.indexOf('WARN  registry slow host=reg.example.com\n');
  t.ok(at > 0, 'the log line, without a timestamp on a terminal');
  t.match(text.slice(0, at), /\x1b\[\d+A\r\x1b\[J$/, 'the frame was erased just before it');
  t.match(text.slice(at), /^WARN .*\n(\x1b\[\?2026h)?\r\x1b\[2K +\d+\.\d% /, 'and drawn again right after it');
});

t.test('no secret on stdout either: lines and summary are redacted', async (t) => {
  const out = capture();
  const r = await createReporter({ stdout: out.stream, stderr: capture().stream, env: {} });
  r.emit({ type: 'start', command: 'mirror serialize', image: 'https://bob:s3cret@reg.example.com/a/b:v1', dest: '/tmp/x.tar', time: Date.now() });
  r.emit({ type: 'note', message: 'redirected to https://cdn.example.com/blob?X-Amz-Signature=s3cret' });
  r.emit({ type: 'done', ok: false, summary: summary(), error: { code: 'EAUTH', message: 'Bearer s3cret refused' } });
  await r.close();
  t.notMatch(out.text, /s3cret/);
  t.match(out.text, /https:\/\/\*\*\*@reg\.example\.com/);
});
