import t from 'tap';
import { fuzzCase, MUTATIONS, type CaseResult } from '../fuzz/deserialize-fuzz.js';

/**
 * The big deserialize fuzz (excluded from the normal run): `npx tap test/slow/fuzz-deserialize.test.ts`.
 * ACE_DT_FUZZ_CASES sets cases per mutation (default 5000), ACE_DT_FUZZ_SEED the first seed,
 * layers of 70 kB so bodies span many chunks and zstd/gzip blocks.
 */
const PER_MUTATION = Number(process.env.ACE_DT_FUZZ_CASES ?? 5000);
const FIRST = Number(process.env.ACE_DT_FUZZ_SEED ?? 1_000_000);

for (const mutation of MUTATIONS) {
  t.test(`slow fuzz: ${mutation} x ${PER_MUTATION}`, async (t) => {
    const outcomes: Record<string, number> = {};
    const failures: CaseResult[] = [];
    for (let i = 0; i < PER_MUTATION; i++) {
      const seed = FIRST + 100_000 * MUTATIONS.indexOf(mutation) + i;
      const r = await fuzzCase(seed, mutation, { layerSize: i % 2 ? 70_000 : 300 });
      const key = r.outcome === 'error' ? `error ${r.code}` : r.outcome;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      if (r.failure) failures.push(r);
    }
    t.same(failures.map((f) => `seed ${f.seed} ${f.mutation}: ${f.failure}`), [], 'no property failed');
    t.comment(JSON.stringify(outcomes));
  });
}
