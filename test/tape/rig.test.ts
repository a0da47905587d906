/**
 * The tape rig's medium change (test/tape/rig/README.md), which issue 14's multi-volume runs
 * stand on: three fresh media in one guest, switched by the guest itself with $TAPE_VM_LOAD
 * (the host swaps tgt's backing file); each medium keeps its own data, a medium that does not
 * exist and a change while the drive is open are refused, and --keep-media keeps all three.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/cli.js';
import { runInTapeVm, tapeVmAvailable } from '../helpers/tape-vm.js';

const why = tapeVmAvailable();
if (why) {
  t.test('tape rig media', { skip: `tape rig media: ${why}` }, async () => {});
} else {
  fs.mkdirSync(path.join(ROOT, 'build'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(ROOT, 'build', 'tape-rig-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // One 512-byte record per medium, named after it; then each medium read back in another order.
  const script = `
    set -u
    w() { printf '%-512s' "$1" | dd of=/dev/nst0 bs=512 2>/dev/null; }
    r() { dd if=/dev/nst0 bs=512 count=1 2>/dev/null | tr -d ' '; }
    echo "media=$TAPE_VM_MEDIA" >out.txt
    w one; $TAPE_VM_LOAD next && w two && $TAPE_VM_LOAD next && w three
    for n in 2 3 1; do $TAPE_VM_LOAD $n && echo "medium $n: $(r)" >>out.txt; done
    $TAPE_VM_LOAD 4 2>>err.txt; echo "load 4: exit $?" >>out.txt
    exec 3</dev/nst0
    $TAPE_VM_LOAD next 2>>err.txt; echo "load while open: exit $?" >>out.txt
    exec 3<&-
    mt -f /dev/nst0 rewind; echo "still: $(r)" >>out.txt
  `;
  const kept = path.join(dir, 'kept.img');
  const run = await runInTapeVm(script, { cwd: dir, size: '8M', tapes: 3, keepMedia: kept, timeout: 600 });
  t.equal(run.code, 0, `guest exit status (stderr: ${run.stderr.slice(-2000)})`);
  const out = fs.readFileSync(path.join(dir, 'out.txt'), 'utf8');
  t.equal(
    out,
    ['media=3', 'medium 2: two', 'medium 3: three', 'medium 1: one', 'load 4: exit 1', 'load while open: exit 1', 'still: one', ''].join('\n'),
    'each medium holds its own record; refusals leave medium 1 in the drive',
  );
  const err = fs.readFileSync(path.join(dir, 'err.txt'), 'utf8');
  t.match(err, /no medium '4' \(media 1\.\.3, medium 1 is in the drive\)/);
  t.match(err, /\/dev\/nst0 is open \(close it before a medium change\)/);
  for (const [file, word] of [[kept, 'one'], [`${kept}.2`, 'two'], [`${kept}.3`, 'three']]) {
    t.ok(fs.readFileSync(file).includes(Buffer.from(word.padEnd(512))), `${path.basename(file)} holds "${word}"`);
  }
}
