import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';

/**
 * Decompression of whole archives, which reader.ts detects by magic (detectCompression). gzip
 * uses node's zlib; zstd runs the `zstd` CLI (Debian package zstd) as a child process because
 * Node 20 has no zstd and the native addon has no decompressor. reader.ts loads this module only
 * when an archive is compressed.
 *
 * A compressed stream that ends early or breaks is not an error here: the output up to that
 * point is delivered and `problem` says why it stopped. Nothing downstream trusts these bytes
 * (every blob is verified by digest), so a cut piece reads as a truncated archive, which is what
 * an interrupted serialize produces.
 */
export interface Decompressed {
  chunks: AsyncIterable<Uint8Array>;
  /** Set once the output ended because the input was cut or corrupt. */
  problem(): string | undefined;
}

export function decompress(kind: 'gzip' | 'zstd', input: AsyncIterable<Uint8Array>): Decompressed {
  return kind === 'gzip' ? gunzip(input) : unzstd(input);
}

function gunzip(input: AsyncIterable<Uint8Array>): Decompressed {
  let problem: string | undefined;
  // Z_SYNC_FLUSH at the end delivers everything decodable from a cut stream instead of failing.
  const z = zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH, chunkSize: 256 << 10 });
  const src = Readable.from(input, { objectMode: false });
  src.on('error', (e) => z.destroy(e));
  src.pipe(z);
  const chunks = (async function* () {
    try {
      for await (const c of z) yield c as Uint8Array;
    } catch (e) {
      problem = `gzip: ${(e as Error).message}`;
    } finally {
      src.destroy();
      z.destroy();
    }
  })();
  return { chunks, problem: () => problem };
}

function unzstd(input: AsyncIterable<Uint8Array>): Decompressed {
  let problem: string | undefined;
  // --no-progress -q: no terminal output; stdin/stdout pipes: no temp files.
  const child = spawn('zstd', ['-d', '-c', '-q', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (e) => {
      problem = `zstd: cannot run the zstd program (${e.message}); install Debian's zstd package`;
      resolve(null);
    });
    child.on('close', (code) => resolve(code));
  });
  // EPIPE when zstd quits early (corrupt input) is expected; the exit status says what happened.
  child.stdin.on('error', () => {});
  const feeding = (async () => {
    try {
      for await (const c of input) {
        if (!child.stdin.write(c)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              child.stdin.off('drain', done);
              child.stdin.off('close', done);
              resolve();
            };
            child.stdin.on('drain', done);
            child.stdin.on('close', done);
          });
          if (child.stdin.destroyed) break;
        }
      }
    } catch (e) {
      problem ??= `reading input: ${(e as Error).message}`;
    } finally {
      child.stdin.end();
    }
  })();
  const chunks = (async function* () {
    let finished = false;
    try {
      for await (const c of child.stdout) yield c as Uint8Array;
      const code = await exited;
      await feeding;
      if (code !== 0 && code !== null) problem ??= `zstd: ${stderr.trim().split('\n').pop() || `exit status ${code}`}`;
      finished = true;
    } finally {
      if (!finished && child.exitCode === null) child.kill('SIGTERM');
    }
  })();
  return { chunks, problem: () => problem };
}
