/**
 * Blob streams (a neutral module: image sources, the registry client and the archive writer
 * all use these; none of them owns the others).
 *
 * Blob streams that can be consumed two ways: pulled with `for await` (each chunk handed over to
 * the consumer), or pushed with `pipeTo(write)` (each chunk lent: the producer reuses its memory
 * once `write` returns, or once the promise `write` returned settles). Lending is the fast path:
 * the registry's socket or the layout's file is read straight into the native ring where the
 * consumer offers it (Landing below), else into one buffer that the consumer copies from, and
 * no per-chunk promise or allocation is made while the ring has room.
 */

/**
 * Receives a blob's bytes in order. The chunk is lent: its memory may be reused once this returns,
 * or, when this returns a promise, once that settles (the producer waits for it).
 */
export type ChunkWriter = (chunk: Uint8Array) => Promise<void> | undefined;

/**
 * Memory the consumer offers for the producer to receive the next bytes into, so that they need
 * no copy: a view of at most `max` bytes (the free space at the head of the native ring), or
 * undefined (then the producer uses its own buffer). Bytes received into a view go to the
 * ChunkWriter as a subarray that starts at the view's first byte, before anything else is
 * written, and the consumer then keeps them in place. A producer asks again for every read and
 * must not use a view once it has written anything else or stopped reading.
 */
export type Landing = (max: number) => Buffer | undefined;

/** A blob's bytes, to be consumed once: iterated (chunks handed over) or piped (chunks lent). */
export interface BlobStream extends AsyncIterable<Uint8Array> {
  pipeTo(write: ChunkWriter, landing?: Landing): Promise<void>;
}

/** Push every chunk of `source` to `write`, waiting whenever `write` returns a promise. */
export async function pipeIterable(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, write: ChunkWriter): Promise<void> {
  if (Symbol.iterator in source) {
    // An array of headers and padding: `for await` would cost a promise and a tick per chunk.
    for (const chunk of source) {
      const wait = write(chunk);
      if (wait) await wait;
    }
    return;
  }
  for await (const chunk of source) {
    const wait = write(chunk);
    if (wait) await wait;
  }
}

/**
 * A BlobStream over a push producer. Iterating it copies each lent chunk into a queue, which holds
 * at most about `highWaterMark` bytes before the producer is made to wait.
 */
export function pushBlobStream(pipeTo: (write: ChunkWriter, landing?: Landing) => Promise<void>, highWaterMark = 4 << 20): BlobStream {
  return {
    pipeTo,
    async *[Symbol.asyncIterator]() {
      const queue: Uint8Array[] = [];
      let queued = 0;
      let finished = false;
      let failure: { error: unknown } | undefined;
      let wakeConsumer: (() => void) | undefined;
      let wakeProducer: (() => void) | undefined;
      let stopped = false;
      const wake = () => {
        const w = wakeConsumer;
        wakeConsumer = undefined;
        w?.();
      };
      const producing = pipeTo((chunk) => {
        if (stopped) throw new Error('blob stream consumer stopped');
        queue.push(new Uint8Array(chunk)); // a copy: the producer reuses the chunk's memory
        queued += chunk.length;
        wake();
        if (queued < highWaterMark) return undefined;
        return new Promise<void>((resolve) => (wakeProducer = resolve));
      }).then(
        () => {
          finished = true;
          wake();
        },
        (error: unknown) => {
          failure = { error };
          wake();
        },
      );
      try {
        for (;;) {
          const chunk = queue.shift();
          if (chunk) {
            queued -= chunk.length;
            if (wakeProducer && queued < highWaterMark / 2) {
              const w = wakeProducer;
              wakeProducer = undefined;
              w();
            }
            yield chunk;
            continue;
          }
          if (failure) throw failure.error;
          if (finished) return;
          await new Promise<void>((resolve) => (wakeConsumer = resolve));
        }
      } finally {
        // Stopped early: the producer's next write fails, which makes it release its connection
        // (not awaited: that may wait for the network; `producing` cannot reject unhandled).
        stopped = true;
        const w = wakeProducer;
        wakeProducer = undefined;
        w?.();
        void producing;
      }
    },
  };
}
