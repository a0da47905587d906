/**
 * `mirror inspect` on the deserialize fuzz's archives (test/fuzz/deserialize-fuzz.ts: shuffled,
 * cut, duplicated and bogus entries, random header bytes, hostile entries, cut gzip, spliced
 * archives), read from files so that the seeking path is the one exercised. Properties: never a
 * crash (only AceErrors with a code) or a hang; hostile entries refused; and where the archive is
 * intact but reordered, every blob and manifest of the set is listed, nothing is missing, and the
 * bytes at every reported offset hash to the blob's digest.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AceError } from '../../src/errors.js';
import { inspectArchives } from '../../src/inspect/index.js';
import { caseBytes, MUTATIONS } from '../fuzz/deserialize-fuzz.js';

const PER_MUTATION = Number(process.env.ACE_DT_FUZZ_CASES ?? 60);
const dir = t.testdir({});

for (const mutation of MUTATIONS) {
  t.test(`inspect fuzz: ${mutation} x ${PER_MUTATION}`, async (t) => {
    const outcomes: Record<string, number> = {};
    const failures: string[] = [];
    for (let i = 0; i < PER_MUTATION; i++) {
      const seed = 1000 * (MUTATIONS.indexOf(mutation) + 1) + i;
      const c = caseBytes(seed, mutation);
      const file = join(dir, `${mutation}-${i}.tar`);
      writeFileSync(file, c.bytes);
      const fail = (why: string) => failures.push(`seed ${seed} ${mutation}: ${why}`);
      let timer: NodeJS.Timeout | undefined;
      try {
        const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('hang: no report after 20 s')), 20_000)));
        const r = await Promise.race([inspectArchives([file]), hang]);
        const key = r.endsCut ? 'cut' : r.missing.length ? 'missing' : 'whole';
        outcomes[key] = (outcomes[key] ?? 0) + 1;
        if (c.mustReject) fail(`expected ${c.mustReject}, got a report`);
        if (c.mustSucceed) {
          const want = c.blobs;
          const listed = new Set(r.blobs.filter((b) => !b.cut).map((b) => b.digest));
          const absent = want.filter((d) => !listed.has(d));
          if (absent.length) fail(`not listed: ${absent.join(', ')}`);
          if (r.missing.length) fail(`missing reported: ${r.missing.map((m) => m.digest).join(', ')}`);
          const bytes = Buffer.from(c.bytes);
          for (const b of r.blobs) {
            const got = 'sha256:' + createHash('sha256').update(bytes.subarray(b.offset, b.offset + b.size)).digest('hex');
            if (want.includes(b.digest) && got !== b.digest) fail(`${b.digest} at offset ${b.offset}: the bytes there hash to ${got}`);
          }
        }
      } catch (e) {
        if (e instanceof AceError) {
          outcomes[`error ${e.code}`] = (outcomes[`error ${e.code}`] ?? 0) + 1;
          if (c.mustSucceed) fail(`expected a report, got ${e.code}: ${e.message}`);
          if (c.mustReject && e.code !== c.mustReject) fail(`expected ${c.mustReject}, got ${e.code}`);
        } else {
          fail(`crash: ${(e as Error)?.stack ?? String(e)}`);
        }
      } finally {
        clearTimeout(timer);
      }
    }
    t.same(failures, [], 'no property failed');
    t.comment(JSON.stringify(outcomes));
  });
}
