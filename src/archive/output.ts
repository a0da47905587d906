import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { AceError } from '../errors.js';

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
    // Node 20 has no zstd; the zstd CLI (Debian package zstd) makes one frame per call.
    // Level 11 is close to klauspost's SpeedBestCompression that the original uses.
    const child = spawn('zstd', ['-q', '-c', '-11', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number>((resolve, reject) => {
      child.once('error', (e: NodeJS.ErrnoException) =>
        reject(new AceError('ECOMPRESS', e.code === 'ENOENT' ? 'zstd compression needs the zstd program (apt-get install zstd)' : `zstd: ${e.message}`)),
      );
      child.once('close', (code) => resolve(code ?? 1));
    });
    await Promise.all([pipeline(Readable.from(content, { objectMode: false }), child.stdin), put(child.stdout), exited.then((code) => {
      if (code !== 0) throw new AceError('ECOMPRESS', `zstd exited with status ${code}`);
    })]);
  }
}
