/**
 * The hashing policy holds at the source level: node:crypto's createHash appears in one module
 * of src/ (src/oci/verify.ts, where the policy is written), so a digest computed anywhere else
 * goes through digestBytes or verifyingWriter (issue 13 item 1); the addon has no
 * hasher of its own any more.
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
  t.match(readFileSync(join(root, 'native/README.md'), 'utf8'), /hashing policy at the top\s+of src\/oci\/verify\.ts/, 'native/README.md says why there is no native hasher');
});

t.test('no hasher in the addon: no sources, no build entries, no OpenSSL', async (t) => {
  for (const f of ['CMakeLists.txt', 'binding.gyp']) t.notMatch(readFileSync(join(root, f), 'utf8'), /hasher|openssl/i, f);
  const native = (dir: string): string[] => readdirSync(join(root, dir), { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? native(join(dir, d.name)) : [join(dir, d.name)]));
  t.same(native('native').filter((f) => /hasher|openssl/i.test(f) || /#include <openssl/.test(readFileSync(join(root, f), 'utf8'))), []);
});
