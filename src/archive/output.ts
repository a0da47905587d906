import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { createGzip } from 'node:zlib';
import { AceError } from '../errors.js';
import { pipeIterable } from '../stream/blob-stream.js';
import type { ChunkWriter, Landing } from '../stream/blob-stream.js';

/**
 * A streaming zstd compressor at a level: the addon's (libzstd), which the service hands in from
 * src/sink when this build has one (sink/index.ts createZstdCompressor). Each endFrame() closes an
 * independent frame.
 */
export type ZstdFactory = (level: number) => { write(chunk: Uint8Array): Promise<Buffer>; endFrame(): Promise<Buffer> };

/** Where archive bytes go: the native sink's write(), which signals backpressure with a promise. */
export interface ByteSink {
  write(chunk: Uint8Array): Promise<void> | undefined;
  /** The sink's own memory to receive bytes into (see Landing), when it has any. */
  landing?(max: number): Buffer | undefined;
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
    /** zstd in this process; without it, the zstd program compresses. */
    private readonly zstd?: ZstdFactory,
  ) {
    this.offset = startOffset;
  }

  /** Hand a chunk to the sink now; a promise when the sink wants the caller to wait. */
  private write = (chunk: Uint8Array): Promise<void> | undefined => {
    this.offset += chunk.length;
    return this.sink.write(chunk);
  };

  private async put(chunk: Uint8Array): Promise<void> {
    const wait = this.write(chunk);
    if (wait) await wait;
  }

  /** Write one frame of these chunks. */
  chunks(chunks: Iterable<Uint8Array>): Promise<void> {
    return this.frame((write) => pipeIterable(chunks, write));
  }

  /**
   * Write one frame whose uncompressed content `produce` writes. Chunks are lent (ChunkWriter):
   * uncompressed they go straight to the sink, which copies them into its ring, and the sink's
   * landing (if any) lets a producer receive them in the ring in the first place. Compressed,
   * there is no landing: the compressor's output is what reaches the sink.
   */
  async frame(produce: (write: ChunkWriter, landing?: Landing) => Promise<void>): Promise<void> {
    if (!this.compression) {
      const sink = this.sink;
      await produce(this.write, sink.landing ? (max) => sink.landing!(max) : undefined);
      return;
    }
    if (this.compression === 'gzip') {
      // gzip -9 as the original (behaviour note 1.3).
      await this.through(createGzip({ level: 9 }), produce);
      return;
    }
    // Node 20 has no zstd: the addon's libzstd stream when it was built with it, else the zstd
    // program, one process per frame. Level 11 is close to klauspost's SpeedBestCompression,
    // which the original uses.
    if (this.zstd) {
      const z = this.zstd(11);
      await produce(async (chunk) => {
        const out = await z.write(chunk); // the chunk stays lent until this settles
        if (out.length) await this.put(out);
      });
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
    exited.catch(() => undefined); // awaited below
    child.stdin.on('error', () => undefined); // a dead zstd shows in its exit status
    await this.through(Duplex.from({ writable: child.stdin, readable: child.stdout }), produce);
    const code = await exited;
    if (code !== 0) throw new AceError('ECOMPRESS', `zstd exited with status ${code}`);
  }

  /** Feed `produce`'s chunks (copied: they are lent) through a compressor into the sink. */
  private async through(compressor: Duplex, produce: (write: ChunkWriter) => Promise<void>): Promise<void> {
    const drained = (async () => {
      for await (const chunk of compressor) await this.put(chunk as Buffer);
    })();
    drained.catch(() => undefined); // awaited below
    try {
      await produce((chunk) => (compressor.write(Buffer.from(chunk)) ? undefined : once(compressor, 'drain').then(() => undefined)));
      compressor.end();
    } catch (e) {
      compressor.destroy();
      await drained.catch(() => undefined);
      throw e;
    }
    await drained;
  }
}
