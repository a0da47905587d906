/**
 * A blob cut on every attempt while the prefetch window is full (issue 11): a real misbehaving
 * server closes the connection after N bytes of that one blob each time, its Range resumes
 * included, while every other blob in the window is served; behind it the loopback latency proxy
 * (a WAN) and a real registry. The run ends as a sequential one does: the same error and exit
 * code, a ledger holding exactly the blobs before the cut one in archive order; and once the
 * server behaves again, the command it printed resumes to an archive identical to an
 * uninterrupted run's. Once for a small blob, downloaded whole ahead of the writer, and once for
 * a large one with a byte budget that only lets its response be opened ahead (streamed at the
 * head, on the bare socket).
 *
 * For the small victim, the body of the 8 MiB blob before it is held (test/helpers/throttle.ts)
 * until the victim has been tried as often as the sequential run tried it: its failure is known
 * well ahead of the writer, and must still surface only when the writer reaches it. Bodies are
 * paced as well, so the window stays full while the victim is tried.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { startRegistry } from '../helpers/registry.js';
import { pushImage } from '../helpers/images.js';
import { startLatencyProxy } from '../helpers/latency-proxy.js';
import { startFaultyServer } from '../helpers/faulty-server.js';
import { startThrottle } from '../helpers/throttle.js';

const reg = await startRegistry();
t.teardown(() => reg.stop());
// 120 small layers, one of 8 MiB and one of 2 MiB; blobs[0] is the config, layer i is blobs[i + 1].
const layers = Array.from({ length: 120 }, (_, i) => ({ size: i === 40 ? 8 << 20 : i === 80 ? 2 << 20 : 4096 + i, seed: 7000 + i }));
const img = await pushImage(reg.host, 'cut/img', 'v1', layers);
// 700 KB/s per response: the 8 MiB blob takes about 12 s.
const big = img.blobs[41];
const paced = await startThrottle(reg.host, 700_000);
t.teardown(() => paced.stop());

const dir = t.testdir({});
const full = join(dir, 'full.tar');
const fullLedger = join(dir, 'full.jsonl');
const uninterrupted = await runCli(['mirror', 'serialize', `${reg.host}/cut/img:v1`, full, '--checkpoint', fullLedger, '-q']);
if (uninterrupted.code !== 0) throw new Error(`uninterrupted run failed: ${uninterrupted.stderr}`);

/** Ledger lines without the run records (their ids and times differ between runs). */
const blobRecords = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .filter((l) => !l.includes('vnd.act3-ace.dt-ts.run'));
const errorLine = (stderr: string) => stderr.split('\n').find((l) => l.startsWith('ace-dt: error:'));

for (const { kind, victim, afterBytes, window } of [
  { kind: 'small', victim: img.blobs[61], afterBytes: 1000, window: [] },
  // 4 MiB: blobs over 1 MiB are not held whole ahead, only their responses opened.
  { kind: 'large', victim: img.blobs[81], afterBytes: 700_000, window: ['--prefetch-size', '4Mi'] },
]) {
  t.test(`a ${kind} blob cut on every attempt in a full window: the sequential run's end, then a resume to the same archive`, async (t) => {
    const proxy = await startLatencyProxy(paced.host, 20);
    const f = await startFaultyServer({ upstream: proxy.host, mode: 'short', digest: victim.digest, afterBytes });
    t.teardown(async () => {
      await f.stop();
      await proxy.stop();
    });
    const image = `${f.host}/cut/img:v1`;
    const sequential = await runCli(['mirror', 'serialize', image, join(t.testdir({}), 'seq.tar'), '--concurrency', '1', '-q']);
    t.equal(sequential.code, 1, 'the sequential run fails');

    const triesOf = () => f.requests.filter((q) => q.url.includes(victim.digest)).length;
    const sequentialTries = triesOf();
    const peakBefore = proxy.stats.peakInFlight;
    const out = join(t.testdir({}), 'out.tar');
    const ledger = `${out}.jsonl`;
    // The small victim is opened ahead of the 8 MiB blob's end; the large one only within the
    // byte budget, which the held 8 MiB blob would fill for good.
    let ended = false;
    let heldUntilGivenUp = false;
    const hold = async () => {
      if (kind !== 'small') return;
      paced.hold(big.digest);
      while (!ended && triesOf() - sequentialTries < sequentialTries) await new Promise((r) => setTimeout(r, 50));
      heldUntilGivenUp = !ended;
      paced.release();
    };
    const holding = hold();
    const r = await runCli(['mirror', 'serialize', image, out, ...window, '--checkpoint', ledger, '--no-term']);
    ended = true;
    await holding;
    if (kind === 'small') t.ok(heldUntilGivenUp, `the run was still going when the victim had been tried ${sequentialTries} times, the blob before it held`);
    t.equal(r.code, 1, 'exit code 1');
    t.ok(proxy.stats.peakInFlight >= 16 && peakBefore === 1, `the window was full (${proxy.stats.peakInFlight} requests in flight; sequential ${peakBefore})`);
    const error = errorLine(r.stderr);
    t.match(error, new RegExp(`fetch blob, ${victim.digest}, .*: connection dropped after ${afterBytes} of ${victim.size} bytes; gave up`), 'names the blob and where it was cut');
    t.equal(error, errorLine(sequential.stderr), 'the same error as the sequential run');
    const cutAt = blobRecords(fullLedger).findIndex((l) => l.includes(victim.digest));
    t.ok(cutAt > 0, 'the uninterrupted ledger has the blob');
    t.same(blobRecords(ledger), blobRecords(fullLedger).slice(0, cutAt), 'the ledger holds exactly the blobs before the cut one, in archive order');
    t.ok(f.requests.filter((q) => q.url.includes(victim.digest)).length > 1, 'the cut blob was tried again (Range)');

    f.heal();
    const m = /(ace-dt mirror serialize .*--resume-from-checkpoint \S+)/.exec(r.stderr);
    t.ok(m, 'prints the command that resumes');
    const again = await runCli(m![1].split(' ').slice(1));
    t.equal(again.code, 0, again.stderr);
    t.ok(readFileSync(out).equals(readFileSync(full)), 'the resumed archive is byte-identical to an uninterrupted run');
  });
}
