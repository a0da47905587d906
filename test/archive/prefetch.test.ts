/**
 * The prefetch window (src/archive/prefetch.ts, issue 11) end to end: the real CLI against a real
 * docker-registry behind a loopback proxy that holds every request 20 ms (a WAN), and faults
 * injected by a real misbehaving server in front of that proxy, so each fault lands while the
 * window is full. Behaviour only, no timing: requests in flight, connections, archive bytes,
 * ledgers, errors and exit codes.
 */
import t, { type Test } from 'tap';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { startRegistry } from '../helpers/registry.js';
import { pushImage } from '../helpers/images.js';
import { startLatencyProxy } from '../helpers/latency-proxy.js';
import { startFaultyServer } from '../helpers/faulty-server.js';

const reg = await startRegistry();
t.teardown(() => reg.stop());

// 300 small layers (the undici pool) with two 2 MiB ones among them (the bare socket), so the
// window holds both kinds at once.
const layers = Array.from({ length: 300 }, (_, i) => (i === 100 || i === 200 ? { size: 2 << 20, seed: 5000 + i } : { size: 4096 + i, seed: 5000 + i }));
const img = await pushImage(reg.host, 'win/img', 'v1', layers);
const middle = img.blobs[150]; // a small layer well inside the window
const IMAGE = `${reg.host}/win/img:v1`;

const dir = t.testdir({});
const sequential = join(dir, 'sequential.tar');
const sequentialLedger = join(dir, 'sequential.jsonl');
const seq = await runCli(['mirror', 'serialize', IMAGE, sequential, '--concurrency', '1', '--checkpoint', sequentialLedger, '-q']);
if (seq.code !== 0) throw new Error(`sequential run failed: ${seq.stderr}`);

/** Ledger lines without the run records (their ids and times differ between runs). */
function blobRecords(path: string): string[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .filter((l) => !l.includes('vnd.act3-ace.dt-ts.run'));
}

/** The command's error line (the fault's message), without the resume hint. */
const errorLine = (stderr: string) => stderr.split('\n').find((l) => l.startsWith('ace-dt: error:'));

t.test('through a WAN: requests in flight reach the limit, connections stay bounded, archive and ledger byte-identical', async (t) => {
  const proxy = await startLatencyProxy(reg.host, 20);
  t.teardown(() => proxy.stop());
  const out = join(dir, 'window.tar');
  const ledger = join(dir, 'window.jsonl');
  const r = await runCli(['mirror', 'serialize', `${proxy.host}/win/img:v1`, out, '--concurrency', '8', '--checkpoint', ledger, '-q']);
  t.equal(r.code, 0, r.stderr);
  t.equal(proxy.stats.peakInFlight, 8, 'the requests in flight reach --concurrency and never pass it');
  t.ok(proxy.stats.requests > img.blobs.length, `every blob was fetched (${proxy.stats.requests} requests)`);
  t.ok(proxy.stats.connections <= 8 + 4, `${proxy.stats.connections} TCP connections for ${proxy.stats.requests} requests`);
  t.ok(readFileSync(out).equals(readFileSync(sequential)), 'archive byte-identical to --concurrency 1');
  // The same archive offsets: each blob recorded once its bytes reached the sink, in order.
  t.same(blobRecords(ledger), blobRecords(sequentialLedger), 'ledger identical to --concurrency 1');
});

t.test('a small byte budget still makes progress and keeps the order', async (t) => {
  const out = join(dir, 'budget.tar');
  const r = await runCli(['mirror', 'serialize', IMAGE, out, '--prefetch-size', '64Ki', '-q']);
  t.equal(r.code, 0, r.stderr);
  t.ok(readFileSync(out).equals(readFileSync(sequential)), 'byte-identical');
});

/** The fault server in front of the latency proxy: the fault lands while the window is full. */
async function faulty(t: Test, opts: Omit<Parameters<typeof startFaultyServer>[0], 'upstream'>) {
  const proxy = await startLatencyProxy(reg.host, 20);
  const f = await startFaultyServer({ upstream: proxy.host, ...opts });
  t.teardown(async () => {
    await f.stop();
    await proxy.stop();
  });
  return { f, proxy, image: `${f.host}/win/img:v1` };
}

t.test('corrupt blob in a full window: the error and ledger of a sequential run', async (t) => {
  const { image, proxy } = await faulty(t, { mode: 'wrong-digest', digest: middle.digest });
  const runs: { stderr: string; ledger: string[]; code: number | null }[] = [];
  for (const concurrency of ['1', '16']) {
    const ledger = join(dir, `corrupt-${concurrency}.jsonl`);
    const r = await runCli(['mirror', 'serialize', image, join(dir, `corrupt-${concurrency}.tar`), '--concurrency', concurrency, '--checkpoint', ledger, '-q']);
    runs.push({ stderr: r.stderr, ledger: blobRecords(ledger), code: r.code });
  }
  t.ok(proxy.stats.peakInFlight >= 8, `the window was full (${proxy.stats.peakInFlight} in flight)`);
  for (const r of runs) {
    t.equal(r.code, 1);
    t.match(errorLine(r.stderr), new RegExp(`digest mismatch for ${middle.digest}`));
  }
  t.equal(errorLine(runs[1].stderr), errorLine(runs[0].stderr), 'the same error');
  t.same(runs[1].ledger, runs[0].ledger, 'the same ledger: every blob before the corrupt one, nothing after');
  t.equal(runs[0].ledger.length, blobRecords(sequentialLedger).findIndex((l) => l.includes(middle.digest)));
});

t.test('connection cut in a full window: resumed with Range, byte-identical', async (t) => {
  const big = img.blobs[101]; // the first 2 MiB layer (config is blobs[0])
  const { image, f } = await faulty(t, { mode: 'drop-once', digest: big.digest, afterBytes: 700_000 });
  const out = join(dir, 'drop.tar');
  const r = await runCli(['mirror', 'serialize', image, out, '-q']);
  t.equal(r.code, 0, r.stderr);
  t.ok(readFileSync(out).equals(readFileSync(sequential)), 'byte-identical');
  t.same(
    f.requests.filter((q) => q.url.includes(big.digest)).map((q) => q.headers.range),
    [undefined, 'bytes=700000-'],
    'the cut download resumed where it stopped',
  );
});

t.test('5xx and 429 in a full window: retried, byte-identical', async (t) => {
  for (const mode of ['500-then-ok', '429-then-ok'] as const) {
    const { image, proxy } = await faulty(t, { mode, passFirst: 60, failures: 6 });
    const out = join(dir, `${mode}.tar`);
    const r = await runCli(['mirror', 'serialize', image, out, '--concurrency', '16', '-q']);
    t.equal(r.code, 0, `${mode}: ${r.stderr}`);
    t.ok(proxy.stats.peakInFlight >= 8, `${mode}: the window was full (${proxy.stats.peakInFlight} in flight)`);
    t.ok(readFileSync(out).equals(readFileSync(sequential)), `${mode}: byte-identical`);
  }
});

t.test('registry gone mid-run: exit 1, a complete ledger, and the printed command resumes to the same archive', async (t) => {
  let proxy = await startLatencyProxy(reg.host, 20, {
    onRequest: (n) => {
      if (n === 120) void proxy.kill();
    },
  });
  const port = Number(proxy.host.split(':')[1]);
  const out = join(dir, 'gone.tar');
  const ledger = join(dir, 'gone.jsonl');
  const r = await runCli(['mirror', 'serialize', `${proxy.host}/win/img:v1`, out, '--checkpoint', ledger, '--no-term']);
  t.equal(r.code, 1, 'exit 1');
  t.match(errorLine(r.stderr), /ENETWORK|ECONNREFUSED|connection/i, 'a network error');
  const m = /(ace-dt mirror serialize .*--resume-from-checkpoint \S+)/.exec(r.stderr);
  t.ok(m, `prints the resume command: ${r.stderr}`);
  const written = blobRecords(ledger);
  t.ok(written.length > 0 && written.length < img.blobs.length + 1, `${written.length} blobs recorded before the registry went away`);
  t.same(written, blobRecords(sequentialLedger).slice(0, written.length), 'the ledger is a prefix of the sequential one');

  proxy = await startLatencyProxy(reg.host, 20, { port });
  t.teardown(() => proxy.stop());
  const args = m![1].split(' ').slice(1);
  const again = await runCli(args);
  t.equal(again.code, 0, again.stderr);
  t.ok(existsSync(out) && readFileSync(out).equals(readFileSync(sequential)), 'resumed archive byte-identical to an uninterrupted run');
});
