/**
 * verify and deserialize reading a real tape (test/tape/guest/deserialize.mjs, run inside one
 * tape-vm guest with its own docker-registry on the guest's loopback). The guest prints TAP
 * lines; each becomes an assertion here.
 */
import t from 'tap';
import { runGuestSuite } from '../helpers/tape-vm.js';

await runGuestSuite(t, 'deserialize', 'test/tape/guest/deserialize.mjs', { size: '256M', timeout: 1500, minChecks: 10 });
