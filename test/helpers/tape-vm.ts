import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Test } from 'tap';
import { ROOT } from './cli.js';

/** The project's tape rig (test/tape/rig/README.md), or another one named by $TAPE_VM. */
export const TAPE_VM = process.env.TAPE_VM || resolve(ROOT, 'test/tape/rig/tape-vm');

/** Why the tape suite cannot run here (not root, not Linux), or undefined. A missing rig is an error, not a skip. */
export function tapeVmAvailable(): string | undefined {
  if (!existsSync(TAPE_VM)) throw new Error(`tape rig not found at ${TAPE_VM} (TAPE_VM=${process.env.TAPE_VM ?? ''})`);
  if (process.getuid?.() !== 0) return 'the tape rig needs root';
  if (process.platform !== 'linux') return 'the tape rig needs Linux';
  return undefined;
}

export interface TapeVmResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run a shell script inside a fresh tape-vm guest (a real st driver on /dev/nst0), with `cwd`
 * shared read-write. One call boots one guest with one medium, or `tapes` fresh media (or the
 * `media` files, comma-separated) between which the guest switches with `$TAPE_VM_LOAD N|next`.
 */
export function runInTapeVm(
  script: string,
  opts: { cwd: string; size?: string; timeout?: number; env?: NodeJS.ProcessEnv; keepMedia?: string; media?: string; tapes?: number },
): Promise<TapeVmResult> {
  const args = [TAPE_VM, '--timeout', String(opts.timeout ?? 600)];
  if (opts.size) args.push('--size', opts.size);
  if (opts.keepMedia) args.push('--keep-media', opts.keepMedia);
  if (opts.media) args.push('--media', opts.media);
  if (opts.tapes) args.push('--tapes', String(opts.tapes));
  args.push('--', 'bash', '-c', script);
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/**
 * Run a guest script that prints TAP lines (test/tape/guest/*.mjs) in one tape-vm guest, with the
 * repository as its working directory, and turn each of its results into an assertion here; skip
 * with the reason when the rig or the build is not there.
 */
export async function runGuestSuite(t: Test, name: string, script: string, opts: { size: string; timeout: number; minChecks: number }): Promise<void> {
  const why = tapeVmAvailable() ?? (existsSync(resolve(ROOT, 'dist/cli/main.js')) ? undefined : 'dist/ is not built (npm run build)');
  if (why) {
    t.test(`tape ${name} suite`, { skip: `tape ${name} suite: ${why}` }, async () => {});
    return;
  }
  const started = Date.now();
  const run = await runInTapeVm(`node ${JSON.stringify(resolve(ROOT, script))}`, { cwd: ROOT, size: opts.size, timeout: opts.timeout });
  t.comment(`tape-vm ${name} suite took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const lines = run.stdout.split('\n');
  const results = lines.filter((l) => /^(not )?ok \d+ - /.test(l));
  t.ok(results.length >= opts.minChecks, `the guest reported its checks (exit ${run.code}): ${run.stderr.slice(-2000)}`);
  for (const [i, line] of lines.entries()) {
    const m = /^(not )?ok \d+ - (.*)$/.exec(line);
    if (!m) continue;
    const detail = lines.slice(i + 1).filter((l, j, a) => l.startsWith('  #') && a.slice(0, j).every((x) => x.startsWith('  #'))).join('\n');
    t.ok(!m[1], detail ? `${m[2]}\n${detail}` : m[2]);
  }
  t.equal(run.code, 0, 'guest exit status');
}
