import t from 'tap';
import { formatBytes, parseBytes } from '../../src/util/bytes.js';

t.test('parses SI and IEC suffixes like go-humanize', async (t) => {
  t.equal(parseBytes('1Mi'), 1048576);
  t.equal(parseBytes('1M'), 1000000);
  t.equal(parseBytes('1MB'), 1000000);
  t.equal(parseBytes('1.5Gi'), 1610612736);
  t.equal(parseBytes('6 Gi'), 6442450944);
  t.equal(parseBytes('512'), 512);
  t.equal(parseBytes('1,024'), 1024);
  for (const bad of ['', ' 1M', '-1', '1e6', '1Q', 'abc']) t.throws(() => parseBytes(bad), bad);
});

t.test('prints like the original', async (t) => {
  t.equal(formatBytes(1048576), '1.0 MB (1048576 B)');
  t.equal(formatBytes(0), '0 B (0 B)');
  t.equal(formatBytes(6442450944), '6.4 GB (6442450944 B)');
  t.equal(formatBytes(999), '999 B (999 B)');
});
