/**
 * `mirror inspect` of a real tape (test/tape/guest/inspect.mjs, run inside one tape-vm guest):
 * archives written with `-b` in variable- and fixed-block mode, a cut piece and its resumed run,
 * each compared with inspect of the same archive as a file, and records spaced over (MTFSR)
 * rather than read. The guest prints TAP lines; each becomes an assertion here.
 */
import t from 'tap';
import { runGuestSuite } from '../helpers/tape-vm.js';

await runGuestSuite(t, 'inspect', 'test/tape/guest/inspect.mjs', { size: '256M', timeout: 1200, minChecks: 20 });
