import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { AceError } from '../errors.js';

type ZstdFactory = (level: number) => { write(chunk: Uint8Array): Promise<Buffer>; endFrame(): Promise<Buffer> };
let zstdFactory: Promise<ZstdFactory | undefined> | undefined;

/** The addon's zstd compressor, if this build has one. */
function nativeZstd(): Promise<ZstdFactory | undefined> {
  zstdFactory ??= import('../sink/index.js').then(
    (sink) => (sink.zstdAvailable() ? (level: number) => sink.createZstdCompressor(level) : undefined),
    () => undefined,
  );
  return zstdFactory;
}

/** Where archive bytes go: the native sink's write(), which signals backpressure with a promise. */
export interface ByteSink {
  write(chunk: Uint8Array): Promise<void> | undefined;
}

export type Compression = 'gzip' | 'zstd';

/**
 * The archive's byte stream, in frames. Uncompressed, a frame is a pass-through. Compressed, each
 * frame (the prefix, each blob entry, the suffix) is one complete gzip member or zstd frame, so the
 * byte count after a frame is an exact cut point: the pieces before it decompress on their own and
 * a resumed run can append new frames (behaviour note 11.6; the original counts bytes before its
 * whole-stream compressor, which is unsafe at a cut).
 */
export class ArchiveOutput {
  /** Bytes handed to the sink: the archive offset the ledger records. */
  offset: number;

  constructor(
    private readonly sink: ByteSink,
    readonly compression: Compression | undefined,
    startOffset = 0,
  ) {
    this.offset = startOffset;
  }

  private async put(chunk: Uint8Array): Promise<void> {
    this.offset += chunk.length;
    const p = this.sink.write(chunk);
    if (p) await p;
  }

  /** Write one frame whose uncompressed content is `content`. */
  async frame(content: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    if (!this.compression) {
      for await (const chunk of content) await this.put(chunk);
      return;
    }
    const put = async (compressed: AsyncIterable<Buffer>) => {
      for await (const chunk of compressed) await this.put(chunk);
    };
    if (this.compression === 'gzip') {
      // gzip -9 as the original (behaviour note 1.3).
      await pipeline(Readable.from(content, { objectMode: false }), createGzip({ level: 9 }), put);
      return;
    }
    // Node 20 has no zstd: the addon's libzstd stream when it was built with it, else the zstd
    // program, one process per frame. Level 11 is close to klauspost's SpeedBestCompression,
    // which the original uses.
    const native = await nativeZstd();
    if (native) {
      const z = native(11);
      for await (const chunk of content) {
        const out = await z.write(chunk);
        if (out.length) await this.put(out);
      }
      const end = await z.endFrame();
      if (end.length) await this.put(end);
      return;
    }
    const child = spawn('zstd', ['-q', '-c', '-11', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number>((resolve, reject) => {
      child.once('error', (e: NodeJS.ErrnoException) =>
        reject(new AceError('ECOMPRESS', e.code === 'ENOENT' ? 'zstd compression needs the zstd program (apt-get install zstd) or an addon built with libzstd-dev' : `zstd: ${e.message}`)),
      );
      child.once('close', (code) => resolve(code ?? 1));
    });
    await Promise.all([pipeline(Readable.from(content, { objectMode: false }), child.stdin), put(child.stdout), exited.then((code) => {
      if (code !== 0) throw new AceError('ECOMPRESS', `zstd exited with status ${code}`);
    })]);
  }
}
