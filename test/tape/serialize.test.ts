import t from 'tap';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT, runCli } from '../helpers/cli.js';
import { buildLayeredImage, buildTwoPlatformIndex, writeOciLayout, MT } from '../helpers/images.js';
import { startRegistry } from '../helpers/registry.js';
import { listTar } from '../helpers/tar.js';
import { runInTapeVm, tapeVmAvailable } from '../helpers/tape-vm.js';

const why = tapeVmAvailable();
if (why) {
  t.test('tape serialize suite', { skip: `tape serialize suite: ${why}` }, async () => {});
} else {
  // The working directory is shared with the guest read-write; /tmp is not (a tmpfs there).
  const dir = t.testdir({});
  const set = buildTwoPlatformIndex('v1', { seed: 4242, layerSize: 4_000_000 });
  await writeOciLayout(join(dir, 'layout'), set);
  // The image of the kill -9 sequence: eight layers, so that each run stalls at a layer of its own.
  const layered = buildLayeredImage('v1', 8, { seed: 88, layerSize: 2_000_000 });
  await writeOciLayout(join(dir, 'layered'), layered);
  // Where the interrupted runs stall (the guest makes these blobs FIFOs in copies of the
  // layouts): the last layer of the two-platform image, the fifth and the eighth of the other.
  const hex = (b: { desc: { digest: string } }) => b.desc.digest.slice(7);
  const twoLast = set.blobs.find((b) => b.desc.size === 4_000_033)!;
  writeFileSync(join(dir, 'stuck.env'), `TWO_LAST=${hex(twoLast)}\nLAYERED_5=${hex(layered.blobs[4])}\nLAYERED_8=${hex(layered.blobs[7])}\n`);
  const script = (name: string) => readFileSync(join(ROOT, 'test/tape/guest', name), 'utf8');
  const env = { ACE: BIN };
  const read = (f: string) => readFileSync(join(dir, f), 'utf8').trim();
  const ledger = (f: string) => read(f).split('\n').map((l) => JSON.parse(l));
  const runEnd = (f: string) => JSON.parse(ledger(f).at(-1).annotations['vnd.act3-ace.dt-ts.run']);

  t.test('a medium too small for the image fills: end of volume, exact bytes, resume command', async (t) => {
    const r = await runInTapeVm(script('serialize-eov.sh'), { cwd: dir, size: '8M', env, timeout: 900 });
    t.equal(r.code, 0, `tape-vm ran: ${r.stderr.slice(-2000)}`);
    t.equal(read('run1.rc'), '1', 'the run fails (incomplete)');
    const err = read('run1.err');
    t.match(err, /End of volume: \d+ bytes in \d+ records reached \/dev\/nst0/);
    t.match(err, /--resume-from-checkpoint cp\.jsonl/);
    const end = runEnd('cp.jsonl');
    t.equal(end.reason, 'ENOSPC');
    const size = statSync(join(dir, 'piece1.tar')).size;
    t.equal(end.mediumBytes, size, 'the ledger says exactly what the tape holds');
    t.equal(size % (64 * 1024), 0, 'whole 64 KiB records');
    t.equal(read('tell1.txt'), `At block ${size / 65536 + 1}.`, 'mt tell: the records and the one filemark');
    t.equal(end.records, size / 65536, 'records = MTIOCPOS end - start - filemark');
  });

  t.test('the resume on a second medium completes; the pieces deserialize to the source digests', async (t) => {
    const r = await runInTapeVm(script('serialize-resume.sh'), { cwd: dir, size: '64M', env, timeout: 900 });
    t.equal(r.code, 0, `tape-vm ran: ${r.stderr.slice(-2000)}`);
    t.equal(read('run2.rc'), '0', read('run2.err'));
    const piece2 = await listTar(join(dir, 'piece2.tar'));
    const names2 = new Set(piece2.map((e) => e.path));
    t.equal(piece2[0].path, 'oci-layout', 'the rest went out as a new archive');
    // The ledger's first run: records at or below its medium bytes are on tape 1.
    const all = ledger('cp.jsonl');
    const firstEnd = all.findIndex((l) => /run-end/.test(l.mediaType));
    const medium = JSON.parse(all[firstEnd].annotations['vnd.act3-ace.dt-ts.run']).mediumBytes;
    const onTape1 = all.slice(1, firstEnd).filter((l) => Number(l.annotations['vnd.act3-ace.data.offset']) <= medium);
    t.ok(onTape1.length > 0, 'some blobs reached tape 1');
    for (const l of onTape1) t.notOk(names2.has(`blobs/sha256/${l.digest.slice(7)}`), `${l.digest} (on tape 1) not re-sent`);
    const all2 = new Set([...set.blobs, ...set.manifests].map((x) => x.desc.digest));
    for (const d of all2) {
      t.ok(names2.has(`blobs/sha256/${d.slice(7)}`) || onTape1.some((l) => l.digest === d), `${d} is on one of the tapes`);
    }
    t.equal(read('run3.rc'), '130', `SIGINT: ${read('run3.err')}`);
    t.match(read('run3.err'), /--resume-from-checkpoint cp3\.jsonl/);
    t.equal(read('run4.rc'), '0', read('run4.err'));

    const reg = await startRegistry();
    t.teardown(() => reg.stop());
    const rootOf = (s: typeof set) => s.manifests.find((m) => m.tag === 'v1')!.desc.digest;
    t.equal(read('run5.rc'), '137', 'kill -9');
    t.equal(read('run6.rc'), '1', 'a rewound tape is not mistaken for the interrupted one');
    t.match(read('run6.err'), /cannot measure what the interrupted run wrote to \/dev\/nst0: the drive is at block 0/);
    t.equal(read('tell6.txt'), 'At block 0.', 'and nothing was written');
    t.equal(read('run7.rc'), '0', `resume after kill -9 measures the tape: ${read('run7.err')}`);
    t.match(read('run7.err') + read('run7.out'), /tape-position/, 'the medium was measured from the tape position');
    t.equal(read('run8.rc'), '137', 'kill -9 of the first run');
    t.equal(read('run9.rc'), '137', 'kill -9 of its resume before that wrote a record');
    t.equal(read('run10.rc'), '137', 'kill -9 of the next resume inside its piece');
    const ends = ledger('cp8.jsonl').filter((l) => /run-end/.test(l.mediaType)).map((l) => JSON.parse(l.annotations['vnd.act3-ace.dt-ts.run']));
    t.ok(ends.some((e) => /nothing written/.test(e.reason) && e.mediumBytes === 0), `the resume measured that run9 wrote nothing: ${JSON.stringify(ends)}`);
    t.equal(read('run11.rc'), '0', `the resume of the killed resumes: ${read('run11.err')}`);
    const runs = ledger('cp8.jsonl').filter((l) => /run-start/.test(l.mediaType)).length;
    t.equal(runs, 4, 'one ledger holds the four runs');
    // run9 wrote nothing: the tape files after run7's are the pieces of run8, run10 and run11.
    for (const [piece, run] of [[7, 8], [8, 10], [9, 11]]) t.ok(statSync(join(dir, `piece${piece}.tar`)).size > 0, `run${run} left a piece of its own on the tape`);
    const cases = [['eov', ['piece1.tar', 'piece2.tar'], set], ['sigint', ['piece3.tar', 'piece4.tar'], set], ['kill', ['piece5.tar', 'piece6.tar'], set], ['kill2', ['piece7.tar', 'piece8.tar', 'piece9.tar'], layered]] as const;
    for (const [name, pieces, source] of cases) {
      const d = await runCli(['mirror', 'deserialize', ...pieces.map((p) => join(dir, p)), `${reg.host}/tape/${name}:v1`, '-q']);
      t.equal(d.code, 0, `${name}: deserialize of both pieces: ${d.stderr}`);
      const res = await fetch(`${reg.url}/v2/tape/${name}/manifests/v1`, { method: 'HEAD', headers: { Accept: [MT.OciIndex, MT.OciManifest].join(', ') } });
      t.equal(res.headers.get('docker-content-digest'), rootOf(source), `${name}: the registry holds the source root`);
    }
  });
}
