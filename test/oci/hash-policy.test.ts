/**
 * The hashing policy holds at the source level: node:crypto's createHash appears in one module
 * of src/ (src/oci/verify.ts, where the policy is written), so a digest computed anywhere else
 * goes through digestBytes, nodeHasher, verifyingWriter or the native Hasher (issue 13 item 1).
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const HOME = 'src/oci/verify.ts';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return sources(p);
    return /\.(ts|mts|cts|js|mjs)$/.test(d.name) ? [p] : [];
  });
}

t.test('createHash is used in src/oci/verify.ts and nowhere else in src/', async (t) => {
  const files = sources(join(root, 'src')).map((f) => relative(root, f));
  t.ok(files.length > 50, `walked src/ (${files.length} files)`);
  t.ok(files.includes(HOME));
  // Any mention counts (an import, crypto.createHash, a require): the policy's module is the one place.
  const uses = files.filter((f) => /\bcreateHash\b/.test(readFileSync(join(root, f), 'utf8')));
  t.same(uses, [HOME]);
});

t.test('the policy comment is in src/oci/verify.ts; the other hashing comments point to it', async (t) => {
  t.match(readFileSync(join(root, HOME), 'utf8'), /The hashing policy/);
  for (const f of ['native/core/hasher.h']) {
    t.match(readFileSync(join(root, f), 'utf8'), /hashing policy at the top of src\/oci\/verify\.ts/, f);
  }
});
