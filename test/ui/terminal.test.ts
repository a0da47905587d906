/**
 * The display in a real terminal (issue 6 "Tests"): serialize runs inside tmux at a fixed size and
 * the pane is captured while the run is in progress and after it ends. The run is paced by a
 * FIFO destination read by `mbuffer -r`; once the live frame is up the reader is stopped
 * (SIGSTOP) so the "during" captures see a run that is certainly still going, then continued.
 */
import t, { type Test } from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTwoPlatformIndex, writeOciLayout } from '../helpers/images.js';
import { BIN, ROOT, runCli } from '../helpers/cli.js';

const ESC = '\x1b';
const SGR_COLOUR = /\x1b\[[0-9;]*(3[0-7]|9[0-7]|38;[0-9;]+)m/;
const haveTools = ['tmux', 'mbuffer'].every((p) => {
  try {
    execFileSync('sh', ['-c', `command -v ${p}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => T | undefined | false, ms = 30_000, show?: () => string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${show ? `; the pane:\n${show()}` : ''}`);
    await sleep(100);
  }
}

/** The frame's lines never wrap (a wrapped line would break the in-place redraw): in a `-J` capture they fit the width. */
function frameFits(t: Test, joined: string, width: number): void {
  const frame = joined.split('\n').filter((l) => /^ +\d+\.\d% |^ ring |^ blobs? /.test(l));
  t.equal(frame.length, 4, 'four frame lines');
  for (const l of frame) t.ok([...l].length <= width, `fits ${width} columns: ${l}`);
}

/** A private tmux server (its own socket, no user config) holding one pane per test run. */
class Tmux {
  constructor(private readonly sock: string) {}
  cmd(...args: string[]): string {
    return execFileSync('tmux', ['-S', this.sock, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  }
  /** Run `command` in a new session of the given size; the pane stays after it ends. */
  start(name: string, width: number, height: number, command: string): void {
    this.cmd('new-session', '-d', '-s', name, '-x', String(width), '-y', String(height), `${command}; echo EXIT=$?; sleep 3600`);
  }
  capture(name: string, escapes = false): string {
    return this.cmd('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', name);
  }
  /** `capture-pane -J` joins lines the terminal wrapped: equal to the plain capture when nothing wrapped. */
  joined(name: string): string {
    return this.cmd('capture-pane', '-p', '-J', '-t', name);
  }
  cursorVisible(name: string): boolean {
    return this.cmd('display-message', '-p', '-t', name, '#{cursor_flag}').trim() === '1';
  }
  kill(): void {
    try {
      this.cmd('kill-server');
    } catch {
      /* already gone */
    }
  }
}

t.test('serialize in a real terminal', { skip: haveTools ? false : 'tmux and mbuffer are needed' }, async (t) => {
  // A short directory: the header and summary lines name these paths and should fit the panes.
  const dir = mkdtempSync(join(tmpdir(), 'aceui-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const layout = join(dir, 'layout');
  // ~25 MB in 3 layers: about 2 s at 12 MB/s, quick to generate.
  await writeOciLayout(layout, buildTwoPlatformIndex('v1', { layerSize: 8 << 20 }));
  const tmux = new Tmux(join(dir, 'tmux.sock'));
  t.teardown(() => tmux.kill());
  const readers: ChildProcess[] = [];
  t.teardown(() => {
    for (const r of readers) if (r.exitCode === null) r.kill('SIGKILL');
  });

  /** A FIFO destination and its paced reader. */
  const fifo = (name: string) => {
    const path = join(dir, name);
    execFileSync('mkfifo', [path]);
    const reader = spawn('mbuffer', ['-q', '-r', '12M', '-i', path, '-o', '/dev/null'], { stdio: 'ignore' });
    readers.push(reader);
    return { path, reader };
  };
  const serialize = (args: string, env = 'LANG=C.UTF-8') => `cd ${ROOT} && env -u NO_COLOR -u FORCE_COLOR ${env} ${process.execPath} ${BIN} mirror serialize ${args}`;
  const frameUp = (name: string) => () => {
    const pane = tmux.joined(name);
    return / ring /.test(pane) && /ETA/.test(pane) && / blob +[0-9a-f]{12} /.test(pane) ? pane : false;
  };
  const finished = (name: string) => () => {
    const pane = tmux.joined(name);
    return /EXIT=\d+/.test(pane) ? pane : false;
  };

  t.test('live display during the run, summary after it', async (t) => {
    const { path, reader } = fifo('a.fifo');
    const cp = join(dir, 'a.cp');
    const debug = join(dir, 'a.jsonl');
    tmux.start('a', 100, 30, serialize(`oci:${layout}:v1 ${path} -m 2Mi -b 128Ki --checkpoint ${cp} --debug ${debug}`));
    await waitFor('the live frame', frameUp('a'), 30_000, () => tmux.joined('a'));
    reader.kill('SIGSTOP');
    await sleep(600); // a few redraws at 5 Hz while the medium is stopped
    const during = tmux.joined('a');
    frameFits(t, during, 100);
    t.match(during, /^mirror serialize oci:\S+:v1 -> \S+a\.fifo$/m, 'what runs, first');
    t.match(during, /^plan: 8 blobs to write \(25 MB\), 0 skipped \(0 B\), archive 25 MB \(\d+ B\)$/m);
    t.match(during, /^ +\d+\.\d% ▕[█▉▊▋▌▍▎▏░]+▏ [\d.]+ [kM]?B of 25 MB +[\d.-]+ [kM]?B\/s +ETA \S+/m, 'progress: percent, bar, bytes of total, rate, ETA');
    t.match(during, /^ ring +\d+\.\d% of 2\.1 MB .* underruns \d+ +writes \d+$/m, 'ring fill and underruns');
    t.match(during, /^ blobs +\d\/8 written, 0 skipped \(0 B\) +elapsed \S+/m, 'blobs written and skipped');
    t.match(during, /^ blob +[0-9a-f]{12} [\d.]+ [kM]?B +\d+\.\d%/m, 'the current blob: short digest and size');
    t.equal(during.match(/ ring /g)?.length, 1, 'the frame is redrawn in place, not scrolled');
    t.notOk(tmux.cursorVisible('a'), 'cursor hidden while the frame is up');
    t.match(tmux.capture('a', true), SGR_COLOUR, 'colour on a terminal');

    // Narrower while running: tmux reflows the old frame; the next frame covers it, sized anew.
    tmux.cmd('resize-window', '-t', 'a', '-x', '60');
    await sleep(600);
    const narrow = tmux.joined('a');
    frameFits(t, narrow, 60);
    t.equal(narrow.match(/ ring /g)?.length, 1, 'no debris of the wider frame');
    tmux.cmd('resize-window', '-t', 'a', '-x', '100');

    reader.kill('SIGCONT');
    const after = await waitFor('the end of the run', finished('a'));
    t.match(after, /EXIT=0/);
    t.match(after, /^done: mirror serialize oci:\S+ -> \S+a\.fifo in \S+ s$/m);
    t.match(after, /^ {2}blobs +8 written \(25 MB\), 0 skipped \(0 B\)$/m);
    t.match(after, /^ {2}bytes +25 MB \(\d+ B\) to \S+a\.fifo, mean [\d.]+ [kM]?B\/s$/m);
    t.match(after, /^ {2}writer +\d+ writes, \d+ underruns?$/m);
    t.match(after, new RegExp(`^ {2}checkpoint +${cp}$`, 'm'));
    t.notMatch(after, / ring |ETA/, 'the frame is gone, replaced by the summary');
    t.notMatch(after, /FAILED|INTERRUPTED/);
    t.ok(tmux.cursorVisible('a'), 'cursor restored');

    // The same run's --debug file: JSON Lines a script can follow.
    const records = readFileSync(debug, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    const types = records.map((r) => r.type);
    t.equal(types[0], 'start');
    t.equal(types.filter((x) => x !== 'resolve')[1], 'plan', 'the plan next (after the resolved root, where the service reports it)');
    t.equal(types.filter((x) => x === 'blob-begin').length, 8);
    t.equal(types.filter((x) => x === 'blob-end').length, 8);
    t.ok(records.filter((r) => r.type === 'writer' && r.source === 'sample').length >= 1, 'periodic writer counters');
    t.match(records.find((r) => r.type === 'done'), { ok: true, summary: { blobsWritten: 8, checkpoint: cp } });
    for (const r of records) t.match(r.ts, /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    const ends = records.filter((r) => r.type === 'blob-end').map((r) => r.offset);
    t.same(ends, [...ends].sort((a, b) => a - b), 'blob-end offsets increase');
  });

  t.test('Ctrl-C: the summary says INTERRUPTED, the cursor comes back, exit 130', async (t) => {
    const { path, reader } = fifo('b.fifo');
    tmux.start('b', 100, 30, serialize(`oci:${layout}:v1 ${path} -m 2Mi -b 128Ki --checkpoint ${join(dir, 'b.cp')}`));
    await waitFor('the live frame', frameUp('b'), 30_000, () => tmux.joined('b'));
    reader.kill('SIGSTOP');
    tmux.cmd('send-keys', '-t', 'b', 'C-c');
    await sleep(300);
    reader.kill('SIGCONT'); // let the writer drain what it holds
    const after = await waitFor('the end of the run', finished('b'));
    t.match(after, /EXIT=130/);
    t.match(after, /^INTERRUPTED: mirror serialize stopped after \S+ s; the archive on \S+b\.fifo is NOT complete$/m);
    t.match(after, /^ {2}error +interrupted by SIGINT$/m);
    t.match(after, /^ {2}blobs +\d of 8 written/m);
    t.notMatch(after, /^done/m, 'nothing looks like success');
    t.notMatch(after, / ring /, 'the frame is gone');
    t.ok(tmux.cursorVisible('b'), 'cursor restored');
  });

  t.test('a narrow terminal with NO_COLOR: lines fit, no colour', async (t) => {
    const { path, reader } = fifo('c.fifo');
    tmux.start('c', 50, 20, serialize(`oci:${layout}:v1 ${path} -m 2Mi -b 128Ki`, 'LANG=C.UTF-8 NO_COLOR=1'));
    await waitFor('the live frame', frameUp('c'), 30_000, () => tmux.joined('c'));
    reader.kill('SIGSTOP');
    await sleep(400);
    const during = tmux.joined('c');
    frameFits(t, during, 50);
    t.match(during, /^ blob +[0-9a-f]{12} [\d.]+ [kM]?B/m, 'the current blob still shows at 50 columns');
    t.match(during, /^ +\d+\.\d% /m);
    t.notMatch(tmux.capture('c', true), SGR_COLOUR, 'no colour with NO_COLOR');
    reader.kill('SIGCONT');
    const after = await waitFor('the end of the run', finished('c'));
    t.match(after, /EXIT=0/);
    t.match(after, /^done: /m);
    t.notMatch(tmux.capture('c', true), SGR_COLOUR, 'the summary has no colour either');
  });

  t.test('-q on a terminal prints nothing; --no-term prints plain timestamped lines', async (t) => {
    tmux.start('q', 100, 20, serialize(`oci:sample/layout:v1 ${join(dir, 'q.tar')} -q`));
    const quiet = await waitFor('the end of the run', finished('q'));
    t.equal(quiet.trim(), 'EXIT=0', 'only the shell\'s exit line in the pane');
    tmux.start('p', 200, 30, serialize(`oci:sample/layout:v1 ${join(dir, 'p.tar')} --no-term`));
    const plain = (await waitFor('the end of the run', finished('p'))).trimEnd().split('\n');
    t.equal(plain.pop(), 'EXIT=0');
    for (const l of plain) t.match(l, /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \S| +\S)/, `plain line: ${l}`);
    t.notMatch(tmux.capture('p', true), SGR_COLOUR, 'no colour with --no-term');
  });
});

t.test('piped output has no escape codes; -q prints nothing on stdout', async (t) => {
  const dir = t.testdir({});
  const env = { NO_COLOR: '', FORCE_COLOR: '3', LANG: 'C.UTF-8' }; // colour would be allowed, but a pipe is no terminal
  const r = await runCli(['mirror', 'serialize', 'oci:sample/layout:v1', join(dir, 'a.tar')], { env });
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stdout + r.stderr, ESC, 'no escape codes');
  t.match(r.stdout, /^\S+Z mirror serialize oci:sample\/layout:v1 -> /);
  t.match(r.stdout, /Z wrote [0-9a-f]{12} \(\S+ \S+\) 8\/8, archive offset \d+\n/);
  t.match(r.stdout, /Z done: mirror serialize/);
  const q = await runCli(['mirror', 'serialize', 'oci:sample/layout:v1', join(dir, 'b.tar'), '-q']);
  t.equal(q.code, 0, q.stderr);
  t.equal(q.stdout, '');
  const bad = await runCli(['mirror', 'serialize', 'oci:sample/layout:nope', join(dir, 'c.tar'), '-q']);
  t.not(bad.code, 0);
  t.equal(bad.stdout, '', '-q: nothing on stdout on failure either');
  t.match(bad.stderr, /error/, 'the error is on stderr');
  t.notOk(existsSync(join(dir, 'c.tar')) && readFileSync(join(dir, 'c.tar')).length > 0, 'no archive presented');
});
