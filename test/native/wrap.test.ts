/**
 * The addon's raw surface (native/wrap/) is safe to misuse: arguments of the wrong type or range
 * throw a TypeError or RangeError with Node's code, a method called on another object (a plain
 * one, or another class's wrap) throws a TypeError, and the process lives on. Failures that are
 * not misuse come as codes and facts, worded in TypeScript (src/sink/errors.ts).
 */
import t from 'tap';
import fs from 'node:fs';
import { native, type RawWriterOptions } from '../../src/sink/native.js';
import { NativeError } from '../../src/sink/errors.js';

const addon = native();
const devNull = (): number => fs.openSync('/dev/null', 'w');
const options = (fd: number): RawWriterOptions => ({ fd, stdout: false, seekEnd: false, blockSize: 4096, bufferSize: 4096, hwm: 90, direct: false });
const typeError = (code: string) => ({ name: 'TypeError', code });
const rangeError = { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' };

/** A live writer on /dev/null, and a promise of its 'done' event. */
function openWriter() {
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const w = new addon.Writer(options(devNull()), (event) => event === 'done' && done());
  // ref(): the writer's events keep the process up until 'done' (NativeSink does the same).
  return { w, finish: () => (w.ref(), w.end(), finished) };
}

// V8 checks a method's receiver first (napi_define_class gives instance methods a signature) and
// throws "Illegal invocation"; the type tag behind it (native/wrap/common.h TaggedWrap) guards
// every unwrap all the same, so no other object's pointer is ever cast to the wrong class.
const wrongThis = { name: 'TypeError' };

t.test('a method called on another object is a TypeError, not a wrong cast', async (t) => {
  const { w, finish } = openWriter();
  const writerProto = addon.Writer.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  t.throws(() => writerProto.stats.call({}), wrongThis, 'a plain object');
  t.throws(() => writerProto.stats.call(Object.create(addon.Writer.prototype)), wrongThis, 'an object with the prototype only');
  t.throws(() => writerProto.stats.call(undefined), wrongThis, 'no object at all');
  if (addon.Zstd) {
    const zstdProto = addon.Zstd.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const z = new addon.Zstd(3, 0);
    t.throws(() => writerProto.stats.call(z), wrongThis, "the compressor's wrap as a writer");
    t.throws(() => writerProto.push.call(z, Buffer.alloc(8), 0), wrongThis);
    t.throws(() => zstdProto.compress.call(w, Buffer.alloc(1), 0), wrongThis, "the writer's wrap as a compressor");
  }
  t.equal(w.stats().accepted, 0, 'the real objects still work');
  t.equal(w.push(Buffer.alloc(10), 0), 10);
  await finish();
});

t.test('the writer takes one options object, checked; a bad one closes the descriptor it was given', async (t) => {
  const cb = () => undefined;
  const positional = addon.Writer as unknown as new (...a: unknown[]) => unknown;
  t.throws(() => new positional(devNull(), false, false, 4096, 4096, 90, false, cb), typeError('ERR_MISSING_ARGS'), 'the old positional form');
  t.throws(() => new positional(3, cb), typeError('ERR_INVALID_ARG_TYPE'), 'options not an object');
  for (const [key, value] of [['blockSize', '4096'], ['direct', 1], ['seekEnd', undefined], ['hwm', null]] as const) {
    const fd = devNull();
    t.throws(() => new positional({ ...options(fd), [key]: value }, cb), typeError('ERR_INVALID_ARG_TYPE'), `${key}: ${String(value)}`);
    t.throws(() => fs.fstatSync(fd), { code: 'EBADF' }, 'the descriptor was closed');
  }
  for (const [key, value] of [['blockSize', 0], ['bufferSize', -1], ['bufferSize', 1.5], ['fd', -1]] as const) {
    const fd = devNull();
    t.throws(() => new positional({ ...options(fd), [key]: value }, cb), rangeError, `${key}: ${value}`);
    if (key !== 'fd') t.throws(() => fs.fstatSync(fd), { code: 'EBADF' }, 'the descriptor was closed');
    else fs.closeSync(fd);
  }
  t.throws(() => new positional(options(devNull()), 'not a function'), typeError('ERR_INVALID_ARG_TYPE'), 'onEvent');
});

t.test("methods check their arguments' types and ranges", async (t) => {
  const { w, finish } = openWriter();
  const raw = w as unknown as Record<string, (...a: unknown[]) => unknown>;
  t.throws(() => raw.push('bytes', 0), typeError('ERR_INVALID_ARG_TYPE'), 'a string is not a chunk');
  t.throws(() => raw.push(new Uint16Array(4), 0), typeError('ERR_INVALID_ARG_TYPE'), 'nor a Uint16Array');
  t.throws(() => raw.push(Buffer.alloc(4)), typeError('ERR_MISSING_ARGS'));
  t.throws(() => raw.commit(-1, 0), rangeError);
  t.throws(() => raw.requestSpace('a lot'), typeError('ERR_INVALID_ARG_TYPE'));
  t.throws(() => raw.pumpFrom(0, true, 1 << 20, false), typeError('ERR_MISSING_ARGS'));
  t.throws(() => raw.pumpFrom({ fd: 0, stdin: 'yes', readSize: 1 << 20, direct: false }), typeError('ERR_INVALID_ARG_TYPE'));
  await finish();

  if (addon.Zstd) {
    t.throws(() => new (addon.Zstd as unknown as new (...a: unknown[]) => unknown)('3', 0), typeError('ERR_INVALID_ARG_TYPE'));
    const z = new addon.Zstd(3, 0);
    t.throws(() => (z as unknown as { compress(c: unknown, m: number): void }).compress(Buffer.alloc(1), 3), rangeError, 'mode 0..2');
  }
  t.throws(() => (addon.tapeStatus as (p: unknown) => unknown)(42), typeError('ERR_INVALID_ARG_TYPE'));
  t.throws(() => (addon.lockExclusive as (fd: unknown) => unknown)('3'), typeError('ERR_INVALID_ARG_TYPE'));
  t.throws(() => addon.spaceRecords(-1, 1), rangeError);
  t.throws(() => addon.spaceRecords(0, -1), rangeError);
});

t.test('failures arrive as codes and facts, worded by src/sink/errors.ts', async (t) => {
  t.equal(addon.errnoText(28), 'No space left on device', "the C library's words for ENOSPC");
  let caught: unknown;
  try {
    addon.tapeStatus('/nonexistent/ace-dt-drive');
  } catch (e) {
    caught = e;
  }
  t.type(caught, NativeError);
  t.match(caught, { code: 'ENOENT', errno: 2, syscall: 'open', facts: { path: '/nonexistent/ace-dt-drive' }, message: '/nonexistent/ace-dt-drive: No such file or directory' });
});
