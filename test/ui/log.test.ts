import t from 'tap';
import { LEVEL, Logger, VerbosityError, formatFields, levelName, parseVerbosity } from '../../src/util/log.js';

t.test('verbosity as the original computes it: error minus the sum of the values (behaviour note 7.2)', async (t) => {
  const env = {};
  t.equal(parseVerbosity(undefined, env), LEVEL.warn, 'default warn');
  t.equal(parseVerbosity([], env), LEVEL.warn, 'no values: default warn');
  t.equal(parseVerbosity([true], env), LEVEL.warn, 'bare -v is warn');
  t.equal(parseVerbosity([true, true], env), LEVEL.info, '-v -v is warn + warn = info');
  t.equal(parseVerbosity(['error'], env), LEVEL.error);
  t.equal(parseVerbosity(['info'], env), LEVEL.info);
  t.equal(parseVerbosity(['debug'], env), LEVEL.debug);
  t.equal(parseVerbosity(['DEBUG'], env), LEVEL.debug, 'aliases ignore case');
  t.equal(parseVerbosity(['12'], env), LEVEL.debug, 'numbers');
  t.equal(parseVerbosity(['info', '4'], env), LEVEL.debug, 'sums');
  t.equal(parseVerbosity(['-4'], env), 12, 'negative numbers raise the level above error');
  t.equal(parseVerbosity(['info,debug'], env), LEVEL.error - 20, '-v=info,debug is a comma list, as pflag reads it: info + debug');
  t.equal(parseVerbosity(['warn,', true], env), LEVEL.info, 'empty items are dropped; lists mix with bare -v');
  t.throws(() => parseVerbosity(['info,loud'], env), /"loud" is not a verbosity/);
  t.equal(parseVerbosity(undefined, { ACE_DT_VERBOSITY: 'info' }), LEVEL.info, 'ACE_DT_VERBOSITY when no flag');
  t.equal(parseVerbosity(undefined, { ACE_DT_VERBOSITY: 'info,4' }), LEVEL.debug, 'ACE_DT_VERBOSITY is a comma list');
  t.equal(parseVerbosity(undefined, { ACE_DT_VERBOSITY: '' }), LEVEL.warn, 'empty ACE_DT_VERBOSITY is unset');
  t.equal(parseVerbosity(['error'], { ACE_DT_VERBOSITY: 'debug' }), LEVEL.error, 'the flag wins over the environment');
  t.throws(() => parseVerbosity(['loud'], env), { name: 'VerbosityError' });
  t.ok(new VerbosityError('x') instanceof Error);
  t.throws(() => parseVerbosity(undefined, { ACE_DT_VERBOSITY: 'chatty' }), /ACE_DT_VERBOSITY: "chatty" is not a verbosity/);
  t.equal(levelName(LEVEL.info), 'info');
  t.equal(levelName(-8), 'debug');
  t.equal(levelName(12), 'error');
});

t.test('log lines: level message key=value, filtered by level, secrets redacted', async (t) => {
  const lines: string[] = [];
  const log = new Logger({ level: LEVEL.info, write: (l) => lines.push(l) });
  log.debug('hidden');
  log.info('fetching', { ref: 'reg.example.com/a/b:v1', size: 12, note: 'two words', url: 'https://user:hunter2@reg.example.com/v2/?X-Amz-Signature=abc' });
  log.warn('token', { header: 'Bearer abc.def.ghi' });
  log.error('with https://bob:pw@h/x in the message');
  t.same(lines, [
    'INFO  fetching ref=reg.example.com/a/b:v1 size=12 note="two words" url=https://***@reg.example.com/v2/?***\n',
    'WARN  token header="Bearer ***"\n',
    'ERROR with https://***@h/x in the message\n',
  ]);
  t.equal(formatFields({ a: '', b: { c: 1 }, d: undefined, e: new Error('x y') }), 'a="" b={"c":1} e="x y"');
  const stamped: string[] = [];
  new Logger({ level: LEVEL.warn, write: (l) => stamped.push(l), timestamps: true, now: () => Date.UTC(2026, 0, 2, 3, 4, 5, 678) }).warn('w');
  t.same(stamped, ['2026-01-02T03:04:05Z WARN  w\n']);
});
