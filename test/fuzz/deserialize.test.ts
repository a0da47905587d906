import t from 'tap';
import { fuzzCase, MUTATIONS, type CaseResult } from './deserialize-fuzz.js';

/**
 * Fast fuzz of deserialize (seeded, a few thousand cases): shuffled, truncated, duplicated and
 * bogus entries, random header bytes, hostile entries, cut gzip, spliced archives. Never a crash
 * or a hang, never an unverified blob pushed. More cases: test/slow/fuzz-deserialize.test.ts.
 */
const PER_MUTATION = Number(process.env.ACE_DT_FUZZ_CASES ?? 350);

for (const mutation of MUTATIONS) {
  t.test(`fuzz: ${mutation} x ${PER_MUTATION}`, async (t) => {
    const outcomes: Record<string, number> = {};
    const failures: CaseResult[] = [];
    for (let i = 0; i < PER_MUTATION; i++) {
      const seed = 1000 * (MUTATIONS.indexOf(mutation) + 1) + i;
      const r = await fuzzCase(seed, mutation);
      const key = r.outcome === 'error' ? `error ${r.code}` : r.outcome;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      if (r.failure) failures.push(r);
    }
    t.same(failures.map((f) => `seed ${f.seed} ${f.mutation}: ${f.failure}`), [], 'no property failed');
    t.comment(JSON.stringify(outcomes));
  });
}
