import t from 'tap';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BlobLocations, MAX_ENTRIES, MAX_REPOS_PER_BLOB, defaultLocationsPath } from '../../src/deserialize/blob-locations.js';

/** The blob-location cache (issue 16): XDG path, bounds, merge with another run, never an error. */
const digest = (i: number) => `sha256:${i.toString(16).padStart(64, '0')}`;

t.test('the XDG cache convention', async (t) => {
  t.equal(defaultLocationsPath({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' }), '/x/cache/ace-dt/blob-locations.json');
  t.equal(defaultLocationsPath({ HOME: '/home/u' }), '/home/u/.cache/ace-dt/blob-locations.json');
  // The XDG spec: a relative value is invalid and ignored.
  t.equal(defaultLocationsPath({ XDG_CACHE_HOME: 'rel', HOME: '/home/u' }), '/home/u/.cache/ace-dt/blob-locations.json');
});

t.test('record, most recent first, bounded per blob; forget; saved and merged with another run', async (t) => {
  const file = join(t.testdir({}), 'ace-dt', 'blob-locations.json');
  const a = BlobLocations.load(file);
  for (let i = 0; i < MAX_REPOS_PER_BLOB + 2; i++) a.record('reg:5000', digest(1), `repo/${i}`, 1000 + i);
  t.equal(a.repositories('reg:5000', digest(1)).length, MAX_REPOS_PER_BLOB);
  t.equal(a.repositories('reg:5000', digest(1))[0], `repo/${MAX_REPOS_PER_BLOB + 1}`, 'newest first');
  t.same(a.repositories('other:5000', digest(1)), [], 'per registry');
  a.forget('reg:5000', digest(1), `repo/${MAX_REPOS_PER_BLOB + 1}`);
  // Another run saves meanwhile: both runs' entries survive.
  const b = BlobLocations.load(file);
  b.record('reg:5000', digest(2), 'other/repo', 5000);
  t.ok(b.save());
  t.ok(a.save());
  const c = BlobLocations.load(file);
  t.same(c.repositories('reg:5000', digest(2)), ['other/repo']);
  t.notOk(c.repositories('reg:5000', digest(1)).includes(`repo/${MAX_REPOS_PER_BLOB + 1}`), 'forgotten');
  t.same(readdirSync(join(file, '..')), ['blob-locations.json'], 'no temporary file left');
});

t.test('bounded in all: the oldest entries go', async (t) => {
  const file = join(t.testdir({}), 'l.json');
  const a = BlobLocations.load(file);
  for (let i = 0; i < MAX_ENTRIES + 10; i++) a.record('r', digest(i), 'x', i);
  t.ok(a.save());
  const b = BlobLocations.load(file);
  t.same(b.repositories('r', digest(0)), [], 'oldest dropped');
  t.same(b.repositories('r', digest(MAX_ENTRIES + 9)), ['x'], 'newest kept');
  t.equal((JSON.parse(readFileSync(file, 'utf8')) as { registries: { r: object } }).registries.r && Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { registries: { r: object } }).registries.r).length, MAX_ENTRIES);
});

t.test('missing, corrupt or unwritable: never an error', async (t) => {
  const dir = t.testdir({});
  t.same(BlobLocations.load(join(dir, 'none.json')).repositories('r', digest(1)), []);
  const bad = join(dir, 'bad.json');
  for (const text of ['', '{', 'null', '[]', '{"version":2,"registries":{}}', `{"version":1,"registries":{"r":{"${digest(1)}":{"x":"soon"},"not-a-digest":{"y":1}}}}`]) {
    writeFileSync(bad, text);
    t.same(BlobLocations.load(bad).repositories('r', digest(1)), [], JSON.stringify(text));
  }
  const ro = join(dir, 'ro');
  mkdirSync(ro);
  chmodSync(ro, 0o500);
  const l = BlobLocations.load(join(ro, 'sub', 'l.json'));
  l.record('r', digest(1), 'x');
  // As root the directory is writable anyway; otherwise save() says false and nothing throws.
  const saved = l.save();
  t.equal(saved, existsSync(join(ro, 'sub', 'l.json')));
  t.same(BlobLocations.load(undefined).repositories('r', digest(1)), [], 'no file: memory only');
});
