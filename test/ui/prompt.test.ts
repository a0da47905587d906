import t from 'tap';
import { PassThrough } from 'node:stream';
import { volumePrompt } from '../../src/ui/prompt.js';
import { InterruptedError, UserError } from '../../src/errors.js';

// The prompt for the next tape (issue 14 item 1): Enter continues, `q` or the end of input stops
// the run as a failing --next-volume command does (ENEXTVOLUME, exit 1 and the resume command),
// and an interrupt while it waits ends as an interrupted run. The Ctrl-C case on a real pty is in
// test/tape/volumes.test.ts.
function terminal() {
  const input = new PassThrough();
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  return { input, out, get text() { return text; } };
}

t.test('Enter continues, and the question names the volume and the device', async (t) => {
  const term = terminal();
  const asked = volumePrompt(term.input, term.out)(2, '/dev/nst0', new AbortController().signal);
  term.input.write('\n');
  await asked;
  t.equal(term.text, 'Load volume 2 into /dev/nst0 and press Enter (q to stop): ');
});

t.test('any other answer than q continues too (the operator typed on before pressing Enter)', async (t) => {
  const term = terminal();
  const asked = volumePrompt(term.input, term.out)(3, '/dev/nst0', new AbortController().signal);
  term.input.write('yes\n');
  await t.resolves(asked);
});

for (const answer of ['q\n', ' Q \n']) {
  t.test(`${JSON.stringify(answer)} stops the run with ENEXTVOLUME`, async (t) => {
    const term = terminal();
    const asked = volumePrompt(term.input, term.out)(3, '/dev/nst0', new AbortController().signal);
    term.input.write(answer);
    const e = await asked.then(() => undefined, (err: unknown) => err);
    t.ok(e instanceof UserError, 'a user error: exit 1 with the resume command');
    t.equal((e as UserError).code, 'ENEXTVOLUME');
    t.equal((e as Error).message, 'stopped at the prompt for volume 3');
  });
}

t.test('the end of input (no operator: a closed terminal, stdin at EOF) stops the run, never continues', async (t) => {
  const term = terminal();
  const asked = volumePrompt(term.input, term.out)(2, '/dev/nst0', new AbortController().signal);
  term.input.end();
  const e = await asked.then(() => undefined, (err: unknown) => err);
  t.ok(e instanceof UserError);
  t.equal((e as UserError).code, 'ENEXTVOLUME');
  t.match((e as Error).message, /no answer at the prompt for volume 2 \(end of input\)/);
});

t.test('an interrupt while it waits, or before it asks, ends as an interrupted run', async (t) => {
  const term = terminal();
  const ac = new AbortController();
  const asked = volumePrompt(term.input, term.out)(2, '/dev/nst0', ac.signal);
  ac.abort('SIGTERM');
  const e = await asked.then(() => undefined, (err: unknown) => err);
  t.ok(e instanceof InterruptedError, 'InterruptedError: exit 130/143 with the resume command');
  t.equal((e as Error).message, 'interrupted by SIGTERM');
  // A line arriving afterwards changes nothing (the listener is gone).
  term.input.write('\n');

  const before = terminal();
  const late = volumePrompt(before.input, before.out)(2, '/dev/nst0', ac.signal);
  await t.rejects(late, InterruptedError);
  t.equal(before.text, '', 'nothing is asked once the run is interrupted');
});
