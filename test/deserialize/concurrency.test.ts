import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runCli, ROOT } from '../helpers/cli.js';
import { startRegistry } from '../helpers/registry.js';
import { deserializeArchives } from '../../src/deserialize/index.js';
import { openRegistryTarget } from '../../src/source/registry.js';
import type { Descriptor } from '../../src/oci/descriptor.js';

/**
 * Uploads run with bounded concurrency (issue 16): small blobs go up while the archive reads on,
 * never more than `concurrency` at once. A real registry; the target is the real registry target,
 * only counted (each call passes straight through).
 */
const reg = await startRegistry();
t.teardown(() => reg.stop());

t.test('at most `concurrency` uploads in flight, more than one at a time, digests intact', async (t) => {
  const dir = t.testdir({});
  execFileSync(process.execPath, [join(ROOT, 'test/slow/bench-make-layout.mjs'), join(dir, 'layout'), '12', String(1 << 20)]);
  const file = join(dir, 'a.tar');
  const s = await runCli(['mirror', 'serialize', `oci:${join(dir, 'layout')}:v1`, file, '-q']);
  t.equal(s.code, 0, s.stderr);
  const target = await openRegistryTarget(`${reg.host}/conc/copy:v1`);
  t.teardown(() => target.close());
  let inFlight = 0;
  let most = 0;
  const counted = {
    ...target,
    pushBlob: async (d: Descriptor, data: AsyncIterable<Uint8Array>, verify: () => Promise<boolean>, session?: Parameters<typeof target.pushBlob>[3]) => {
      most = Math.max(most, ++inFlight);
      try {
        await target.pushBlob(d, data, verify, session);
      } finally {
        inFlight--;
      }
    },
  };
  const r = await deserializeArchives([file], { target: counted, tag: 'v1', concurrency: 3, locations: false });
  t.ok(r.complete, r.problems.join('; '));
  t.equal(r.blobs.pushed, 13, '12 layers and the config uploaded');
  t.ok(most <= 3, `at most 3 at once (saw ${most})`);
  t.ok(most > 1, `more than one at once (saw ${most})`);
  const res = await fetch(`${reg.url}/v2/conc/copy/manifests/v1`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  t.equal(res.headers.get('docker-content-digest'), r.root?.digest, 'tag = the archive root');
});
