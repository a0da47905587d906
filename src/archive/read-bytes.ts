/**
 * A pull reader over a stream of byte chunks: the tar parser asks for exactly the bytes it needs
 * (a 512-byte header, a body of `size` bytes) without ever holding more than the chunk in hand.
 *
 * Chunks handed out by `take()` are sub-arrays of the source's chunks, never copies, so a source
 * must give each chunk its own buffer (a consumer such as an HTTP upload may still hold it).
 */
const EMPTY = new Uint8Array(0);

/**
 * A chunk source that can also move forward without delivering bytes (a regular file read at
 * offsets, a tape that spaces over records): `skipAhead(n)` discards the next n bytes that the
 * iterator has not yet delivered and returns how many it discarded (fewer at the end of the
 * source). `mirror inspect` reads headers and jumps over blob bodies this way.
 */
export interface SeekableChunks extends AsyncIterable<Uint8Array> {
  skipAhead(n: number): Promise<number>;
}

function seekerOf(source: AsyncIterable<Uint8Array>): SeekableChunks['skipAhead'] | undefined {
  const s = (source as Partial<SeekableChunks>).skipAhead;
  return typeof s === 'function' ? s.bind(source) : undefined;
}

export class ByteReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private buf: Uint8Array = EMPTY;
  private pos = 0;
  private ended = false;
  /** Bytes consumed so far: the offset of the next byte in the source. */
  offset = 0;

  /** Set when the source can skip bytes without delivering them. */
  private readonly seek: SeekableChunks['skipAhead'] | undefined;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
    this.seek = seekerOf(source);
  }

  /** Make at least one unread byte available; false at the end of the source. */
  private async fill(): Promise<boolean> {
    while (this.pos >= this.buf.length) {
      if (this.ended) return false;
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        this.buf = EMPTY;
        this.pos = 0;
        return false;
      }
      this.buf = r.value;
      this.pos = 0;
    }
    return true;
  }

  /** Exactly n bytes, or fewer only at the end of the source. Copies only when n spans chunks. */
  async read(n: number): Promise<Uint8Array> {
    if (!(await this.fill())) return EMPTY;
    if (this.buf.length - this.pos >= n) {
      const out = this.buf.subarray(this.pos, this.pos + n);
      this.pos += n;
      this.offset += n;
      return out;
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n && (await this.fill())) {
      const k = Math.min(n - got, this.buf.length - this.pos);
      out.set(this.buf.subarray(this.pos, this.pos + k), got);
      this.pos += k;
      got += k;
      this.offset += k;
    }
    return got === n ? out : out.subarray(0, got);
  }

  /** Up to n bytes without consuming them. */
  async peek(n: number): Promise<Uint8Array> {
    const bytes = await this.read(n);
    this.unshift(bytes);
    return bytes;
  }

  /** Put bytes back in front (only what was just read). */
  private unshift(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const rest = this.buf.subarray(this.pos);
    if (rest.length === 0) {
      this.buf = bytes;
    } else {
      const merged = new Uint8Array(bytes.length + rest.length);
      merged.set(bytes, 0);
      merged.set(rest, bytes.length);
      this.buf = merged;
    }
    this.pos = 0;
    this.offset -= bytes.length;
  }

  /** Yield up to n bytes as they arrive (sub-arrays, no copies); stops early at the end. */
  async *take(n: number): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0 && (await this.fill())) {
      const k = Math.min(left, this.buf.length - this.pos);
      const out = this.buf.subarray(this.pos, this.pos + k);
      this.pos += k;
      this.offset += k;
      left -= k;
      yield out;
    }
  }

  /** Discard up to n bytes; returns how many were discarded. */
  async skip(n: number): Promise<number> {
    let left = n;
    // What is in hand first, then a seekable source skips the rest without reading it.
    const inHand = Math.min(left, this.buf.length - this.pos);
    this.pos += inHand;
    this.offset += inHand;
    left -= inHand;
    if (left > 0 && this.seek && !this.ended) {
      const k = await this.seek(left);
      this.offset += k;
      left -= k;
    }
    while (left > 0 && (await this.fill())) {
      const k = Math.min(left, this.buf.length - this.pos);
      this.pos += k;
      this.offset += k;
      left -= k;
    }
    return n - left;
  }

  /** Everything not yet consumed, as a chunk stream (hands the source over, e.g. to a decompressor). */
  async *rest(): AsyncGenerator<Uint8Array> {
    while (await this.fill()) {
      const out = this.buf.subarray(this.pos);
      this.offset += out.length;
      this.pos = this.buf.length;
      yield out;
    }
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill());
  }

  /** Stop the underlying source (closes files, kills a decompressor). */
  async close(): Promise<void> {
    this.ended = true;
    this.buf = EMPTY;
    this.pos = 0;
    await this.it.return?.();
  }
}
