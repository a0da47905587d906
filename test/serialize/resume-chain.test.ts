import t from 'tap';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, runCli } from '../helpers/cli.js';
import { startFaultyServer } from '../helpers/faulty-server.js';
import { pushTwoPlatformIndex } from '../helpers/images.js';
import { startRegistry } from '../helpers/registry.js';
import { startThrottle } from '../helpers/throttle.js';
import { rng } from '../helpers/random.js';

/**
 * Issue 15: runs interrupted in sequence (a killed resume, resumed again; a failed resume), side
 * by side (two runs on one destination), and a damaged prefix. Every chain must end in the
 * archive an uninterrupted run writes, byte for byte, and no run may exit 0 on less.
 */
const reg = await startRegistry();
t.teardown(() => reg.stop());
await pushTwoPlatformIndex(reg.host, 'chain/src', 'v1', { seed: 1500, layerSize: 1_500_000 });
await pushTwoPlatformIndex(reg.host, 'chain/other', 'v1', { seed: 1501, layerSize: 1_500_000 });
const slow = await startThrottle(reg.host, 6_000_000);
t.teardown(() => slow.stop());
const IMAGE = `${reg.host}/chain/src:v1`;
const SLOW = `${slow.host}/chain/src:v1`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
const runStarts = (cp: string) => (existsSync(cp) ? readFileSync(cp, 'utf8').split('run-start').length - 1 : 0);

const full = join(t.testdir({}), 'full.tar');
t.equal((await runCli(['mirror', 'serialize', IMAGE, full, '-q'])).code, 0);
const fullBytes = readFileSync(full);

/**
 * One run of serialize through the throttle, killed with SIGKILL: `at` 'early' kills it `ms`
 * after it started (while it reads the ledger, walks the file, plans), or once it has begun its
 * own run (a new run-start in the ledger) and DEST holds `bytes`.
 */
async function killedRun(dest: string, cp: string, resume: boolean, kill: { ms: number } | { bytes: number }): Promise<string> {
  const starts = runStarts(cp);
  const args = [BIN, 'mirror', 'serialize', SLOW, dest, '--checkpoint', cp, '-m', '256Ki', '-b', '64Ki', '-q'];
  if (resume) args.push('--resume-from-checkpoint', cp);
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  let exit: number | null | undefined;
  const exited = new Promise<void>((r) => child.on('exit', (code) => ((exit = code), r())));
  const began = Date.now();
  for (;;) {
    if (exit !== undefined) return `exited ${exit}`;
    const due = 'ms' in kill ? Date.now() - began >= kill.ms : runStarts(cp) > starts && size(dest) >= kill.bytes;
    if (due) break;
    await sleep(2);
  }
  child.kill('SIGKILL');
  await exited;
  return 'ms' in kill ? `killed after ${kill.ms} ms` : `killed at ${size(dest)} bytes`;
}

async function resumeToEnd(dest: string, cp: string, extra: string[] = []) {
  return runCli(['mirror', 'serialize', IMAGE, dest, '--checkpoint', cp, '--resume-from-checkpoint', cp, '--no-term', ...extra]);
}

t.test('killed, then its resume killed (once or twice), then resumed: byte-identical every time', async (t) => {
  const random = rng(20261206);
  for (let i = 0; i < 12; i++) {
    const dir = t.testdir({});
    const dest = join(dir, 'out.tar');
    const cp = join(dir, 'cp.jsonl');
    const story = [await killedRun(dest, cp, false, { bytes: Math.floor(random() * fullBytes.length) })];
    const kills = i % 3 === 2 ? 2 : 1;
    for (let k = 0; k < kills; k++) {
      // Half the resumes die while they start (reading the ledger and the file: the "measure"),
      // half once they write, often inside their first blob (the case that lost data).
      const early = random() < 0.35;
      const from = size(dest);
      const kill = early ? { ms: Math.floor(random() * 400) } : { bytes: from + Math.floor(random() * random() * (fullBytes.length - from)) };
      story.push(await killedRun(dest, cp, true, kill));
    }
    const r = await resumeToEnd(dest, cp);
    t.equal(r.code, 0, `trial ${i} (${story.join(', ')}): the last resume exits 0 ${r.stderr}`);
    t.ok(readFileSync(dest).equals(fullBytes), `trial ${i} (${story.join(', ')}): byte-identical to an uninterrupted run`);
  }
});

t.test('a failed resume (the registry serves corrupt blobs) leaves a ledger the next resume takes', async (t) => {
  const dir = t.testdir({});
  const dest = join(dir, 'out.tar');
  const cp = join(dir, 'cp.jsonl');
  await killedRun(dest, cp, false, { bytes: Math.floor(fullBytes.length / 3) });
  const bad = await startFaultyServer({ upstream: reg.host, mode: 'wrong-digest' });
  t.teardown(() => bad.stop());
  const failed = await runCli(['mirror', 'serialize', `${bad.host}/chain/src:v1`, dest, '--checkpoint', cp, '--resume-from-checkpoint', cp, '--no-term']);
  t.equal(failed.code, 1, 'the failed resume exits 1');
  t.match(failed.stderr, /digest mismatch/);
  const m = /(ace-dt mirror serialize .*--resume-from-checkpoint \S+)/.exec(failed.stdout + failed.stderr);
  t.ok(m, 'it prints the resume command');
  const again = await runCli(m![1].split(' ').slice(1).map((a) => a.replace(bad.host, reg.host)).concat('--no-term'));
  t.equal(again.code, 0, `the printed command resumes: ${again.stderr}`);
  t.ok(readFileSync(dest).equals(fullBytes), 'byte-identical to an uninterrupted run');
});

t.test('two runs on one destination or checkpoint: the second is refused, naming the first; the first is intact', async (t) => {
  const dir = t.testdir({});
  const dest = join(dir, 'out.tar');
  const cp = join(dir, 'cp.jsonl');
  // Slow enough (about 20 s) that the first run is still writing while the others try.
  const crawl = await startThrottle(reg.host, Math.ceil(fullBytes.length / 20));
  t.teardown(() => crawl.stop());
  const first = spawn(process.execPath, [BIN, 'mirror', 'serialize', `${crawl.host}/chain/src:v1`, dest, '--checkpoint', cp, '-q'], { stdio: 'ignore' });
  let firstDone = false;
  const firstExit = new Promise<number | null>((r) => first.on('exit', (c) => ((firstDone = true), r(c))));
  while (runStarts(cp) === 0) await sleep(10);
  // Held mid-archive while the others try, however long a loaded machine takes to start them.
  crawl.hold();
  const other = `${reg.host}/chain/other:v1`;
  const [same, sameDest, sameCp, resume] = await Promise.all([
    runCli(['mirror', 'serialize', other, dest, '--checkpoint', cp, '-q']),
    runCli(['mirror', 'serialize', other, dest, '-q']),
    runCli(['mirror', 'serialize', other, join(dir, 'b.tar'), '--checkpoint', cp, '-q']),
    resumeToEnd(dest, cp),
  ]);
  t.notOk(firstDone, 'the first run was still going while the others tried');
  crawl.release();
  t.equal(same.code, 1, 'same destination and checkpoint: refused');
  t.match(same.stderr, new RegExp(`in use by another ace-dt run \\(pid ${first.pid}: .*mirror serialize`));
  t.equal(sameDest.code, 1, 'same destination, no checkpoint: refused');
  t.match(sameDest.stderr, /the destination .*out\.tar is in use/);
  t.equal(sameCp.code, 1, 'same checkpoint, another destination: refused');
  t.match(sameCp.stderr, /the checkpoint .*cp\.jsonl is in use/);
  t.notOk(existsSync(join(dir, 'b.tar')), 'the refused run left no file behind');
  t.equal(resume.code, 1, 'a resume while the run still goes: refused');
  t.match(resume.stderr, /is in use by another ace-dt run/);
  t.equal(runStarts(cp), 1, 'the ledger holds the first run only');
  t.equal(await firstExit, 0, 'the first run finishes');
  t.ok(readFileSync(dest).equals(fullBytes), 'its archive is intact');

  // A lock dies with its holder: after kill -9, the next run is not blocked.
  const d2 = join(dir, 'k.tar');
  const cp2 = join(dir, 'k.jsonl');
  await killedRun(d2, cp2, false, { bytes: 1 });
  const after = await resumeToEnd(d2, cp2);
  t.equal(after.code, 0, `no stale lock after kill -9: ${after.stderr}`);
  t.ok(readFileSync(d2).equals(fullBytes));
});

/** Offsets of the blob entries' headers in a tar (uncompressed, no PAX). */
function blobHeaders(bytes: Buffer): { at: number; size: number }[] {
  const out: { at: number; size: number }[] = [];
  for (let at = 0; at + 512 <= bytes.length; ) {
    const name = bytes.toString('latin1', at, at + 100).replace(/\0.*$/s, '');
    if (!name) break;
    const size = parseInt(bytes.toString('latin1', at + 124, at + 136).replace(/\0.*$/s, '').trim() || '0', 8);
    if (name.startsWith('blobs/sha256/')) out.push({ at, size });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

t.test('a damaged prefix is cut back at the damage and written again, said at the default verbosity', async (t) => {
  for (const damage of ['header', 'body'] as const) {
    const dir = t.testdir({});
    const dest = join(dir, 'out.tar');
    const cp = join(dir, 'cp.jsonl');
    await killedRun(dest, cp, false, { bytes: Math.floor(fullBytes.length * 0.8) });
    const bytes = readFileSync(dest);
    const blobs = blobHeaders(bytes).filter((b) => b.at + 512 + b.size <= bytes.length);
    t.ok(blobs.length >= 3, `${damage}: the cut archive holds whole blobs (${blobs.length})`);
    const victim = blobs[1];
    // A flipped byte in the second blob's name (its checksum no longer matches) or in its data.
    const at = damage === 'header' ? victim.at + 20 : victim.at + 512 + Math.floor(victim.size / 2);
    bytes[at] ^= 0x55;
    writeFileSync(dest, bytes);
    const r = await resumeToEnd(dest, cp, damage === 'body' ? ['--resume-rehash'] : []);
    t.equal(r.code, 0, `${damage}: resume exits 0 once repaired ${r.stderr}`);
    t.match(r.stderr, /WARN .*kept up to byte \d+ and \d+ blobs? the checkpoint recorded there (is|are) written again/, `${damage}: the cut is a warning`);
    t.match(r.stdout, new RegExp(`kept bytes 0-${victim.at} `), `${damage}: kept everything before the damaged entry`);
    t.ok(readFileSync(dest).equals(fullBytes), `${damage}: byte-identical to an uninterrupted run`);
  }
});

t.test('resuming into a copy continues the copy; a file that is not the archive is refused, untouched', async (t) => {
  const dir = t.testdir({});
  const dest = join(dir, 'out.tar');
  const cp = join(dir, 'cp.jsonl');
  await killedRun(dest, cp, false, { bytes: Math.floor(fullBytes.length / 2) });
  const copy = join(dir, 'copy.tar');
  copyFileSync(dest, copy);
  const r = await runCli(['mirror', 'serialize', IMAGE, copy, '--checkpoint', cp, '--resume-from-checkpoint', cp, '--no-term']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /a copy of .*out\.tar: the copy is continued/);
  t.ok(readFileSync(copy).equals(fullBytes), 'the copy is the whole archive');

  const d2 = join(dir, 'o2.tar');
  const cp2 = join(dir, 'cp2.jsonl');
  await killedRun(d2, cp2, false, { bytes: Math.floor(fullBytes.length / 2) });
  const foreign = join(dir, 'notes.txt');
  writeFileSync(foreign, 'precious operator notes\n'.repeat(100));
  const refused = await runCli(['mirror', 'serialize', IMAGE, foreign, '--checkpoint', cp2, '--resume-from-checkpoint', cp2, '--no-term']);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /notes\.txt holds 2400 bytes that are not this job's archive/);
  t.equal(readFileSync(foreign, 'utf8'), 'precious operator notes\n'.repeat(100), 'untouched');
});
